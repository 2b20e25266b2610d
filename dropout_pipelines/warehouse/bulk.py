"""Set-based writes that skip rows whose key already exists, on both backends.

`INSERT … SELECT … ON CONFLICT DO NOTHING` (SQLite) and `… ON DUPLICATE KEY UPDATE k = k`
(MySQL/MariaDB): unlike `INSERT IGNORE`, the MySQL form still fails on bad data (a value
out of range, a CHECK), so only the key collision is forgiven. MySQL's affected-row count
for that form counts skipped rows too, so the number of new rows is measured as the
table's growth inside the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite


def _execute_counting_new_rows(
    connection: sa.Connection, table: sa.Table, statement: sa.Executable, rows=None
) -> int:
    count = sa.select(sa.func.count()).select_from(table)
    before = connection.execute(count).scalar_one()
    connection.execute(statement, rows)
    return connection.execute(count).scalar_one() - before


def insert_select_skip_existing(
    connection: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    select: sa.Select,
) -> int:
    """Insert the rows of `select` into `table`, leaving rows with an existing key alone."""
    if connection.dialect.name == "sqlite":
        statement = sqlite.insert(table).from_select(columns, select).on_conflict_do_nothing()
    else:
        base = mysql.insert(table).from_select(columns, select)
        first_key = table.primary_key.columns.values()[0].name
        statement = base.on_duplicate_key_update({first_key: table.c[first_key]})
    return _execute_counting_new_rows(connection, table, statement)


def insert_rows_skip_existing(
    connection: sa.Connection, table: sa.Table, rows: Sequence[dict]
) -> int:
    """Bulk-insert `rows` (one executemany), leaving rows with an existing key alone."""
    if not rows:
        return 0
    if connection.dialect.name == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:
        first_key = table.primary_key.columns.values()[0].name
        statement = mysql.insert(table).on_duplicate_key_update({first_key: table.c[first_key]})
    return _execute_counting_new_rows(connection, table, statement, list(rows))
