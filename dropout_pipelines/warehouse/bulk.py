"""Set-based writes that skip rows whose key already exists, on both backends.

`INSERT … SELECT … ON CONFLICT DO NOTHING` (SQLite) and `… ON DUPLICATE KEY UPDATE k = k`
(MySQL/MariaDB): unlike `INSERT IGNORE`, the MySQL form still fails on bad data (a value
out of range, a CHECK), so only the key collision is forgiven.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite


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
    return connection.execute(statement).rowcount


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
    return connection.execute(statement, list(rows)).rowcount
