"""Set-based writes that skip rows whose key already exists, on both backends.

`INSERT … SELECT … ON CONFLICT DO NOTHING` (SQLite) and `… ON DUPLICATE KEY UPDATE k = k`
(MySQL/MariaDB): unlike `INSERT IGNORE`, the MySQL form still fails on bad data (a value
out of range, a CHECK), so only the key collision is forgiven. MySQL's affected-row count
for that form counts skipped rows too, so the number of new rows is measured as the
table's growth inside the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite

from dropout_pipelines.distinct import per_distinct


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


UPSERT_CHUNK_ROWS = 5_000


def frame_records(frame) -> list[dict]:
    """DataFrame rows as dicts of plain Python values, missing values as None (vectorised)."""
    plain = frame.astype(object)
    return plain.where(frame.notna(), None).to_dict("records")


# Rows to write: dicts sharing their keys, or a frame (its columns are the keys). A frame
# goes to the driver a column at a time, never through one dict per row.
Rows = Sequence[dict] | pd.DataFrame


def _chunks(rows: Rows, size: int) -> Iterator[Rows]:
    for start in range(0, len(rows), size):
        if isinstance(rows, pd.DataFrame):
            yield rows.iloc[start : start + size]
        else:
            yield rows[start : start + size]


def upsert_rows(
    connection: sa.Connection,
    table: sa.Table,
    rows: Rows,
    key_columns: Sequence[str],
    update_columns: Sequence[str],
) -> int:
    """Insert `rows`, or update `update_columns` where the key exists: one statement per
    chunk (`ON CONFLICT DO UPDATE` / `ON DUPLICATE KEY UPDATE`), never a row-by-row loop."""
    if len(rows) == 0:
        return 0
    if connection.dialect.name == "sqlite":
        base = sqlite.insert(table)
        statement = base.on_conflict_do_update(
            index_elements=list(key_columns),
            set_={column: base.excluded[column] for column in update_columns},
        )
    else:
        base = mysql.insert(table)
        statement = base.on_duplicate_key_update(
            {column: base.inserted[column] for column in update_columns}
        )
    for chunk in _chunks(rows, UPSERT_CHUNK_ROWS):
        execute_rows(connection, statement, chunk)
    return len(rows)


# A column's values: a list of Python values (rows given as dicts) or a frame's column.
Values = list[Any] | pd.Series


def _column_values(values: Values) -> list[Any]:
    """Python values for the driver: NaN, NA and NaT become None, numpy scalars native."""
    if isinstance(values, list):
        return values
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.to_numpy(dtype="datetime64[us]").astype(object).tolist()
    return values.to_numpy(dtype=object, na_value=None).tolist()


def _processed(values: Values, process: Callable[[Any], Any], impl: sa.types.TypeEngine) -> list:
    """`process` (a column type's bind processor) applied to every present value.

    A first ingestion writes millions of values through these one at a time; two kinds of
    frame column are converted in bulk instead:
    - a datetime64 column for SQLite (stored as text) is formatted by numpy at once,
      checked against the processor on its first value;
    - flags and calendar days (a handful of distinct values in many rows) are converted
      once per distinct value."""
    if isinstance(values, pd.Series):
        if isinstance(impl, sqlite.DATETIME) and pd.api.types.is_datetime64_any_dtype(values):
            formatted = _sqlite_datetimes(values, process)
            if formatted is not None:
                return formatted
        elif isinstance(impl, (sa.Boolean, sa.Date)):
            return per_distinct(values, lambda distinct: _each(distinct, process)).tolist()
    return [None if value is None else process(value) for value in _column_values(values)]


def _each(values: pd.Series, process: Callable[[Any], Any]) -> pd.Series:
    converted = [None if value is None else process(value) for value in values.tolist()]
    return pd.Series(converted, dtype=object)


def _sqlite_datetimes(values: pd.Series, process: Callable[[Any], Any]) -> list | None:
    """SQLite's text form of each timestamp, made by numpy; None when it would differ from
    what `process` makes (a custom storage format)."""
    stamps = values.to_numpy(dtype="datetime64[us]")
    present = ~pd.isna(stamps)
    text = np.char.replace(np.datetime_as_string(stamps, unit="us"), "T", " ")
    formatted = np.where(present, text.astype(object), None)
    first = int(present.argmax())
    if present.any() and formatted[first] != process(stamps[first].astype(object)):
        return None
    return formatted.tolist()


def insert_frame_params(
    dialect: sa.Dialect,
    table: sa.Table,
    frame: pd.DataFrame,
    constants: Mapping[str, Any] | None = None,
    encoded: Collection[str] = (),
) -> tuple[str, list[tuple] | list[dict]]:
    """The compiled INSERT and its executemany parameters for `frame`'s rows (+ `constants`
    for every row), built a column at a time with the dialect's own bind processors.

    `Connection.execute(insert, list_of_dicts)` does per-row work in SQLAlchemy (about 25 s
    per million rows); the driver gets exactly the same values this way, in seconds. Run the
    result with `connection.exec_driver_sql(sql, params[i:j])`. Columns named in `encoded`
    already hold what the driver takes (JSON text made in bulk, say) and skip their
    column type's processor.
    """
    constants = dict(constants or {})
    return _statement_params(
        dialect,
        sa.insert(table),
        [*frame.columns, *constants],
        lambda key: frame[key],
        len(frame),
        constants,
        encoded,
    )


def execute_rows(connection: sa.Connection, statement: sa.Insert, rows: Rows) -> None:
    """`connection.execute(statement, rows)` (one executemany of an INSERT, upserts
    included) with the parameters built a column at a time, as `insert_frame_params` does:
    dicts share their keys (they come from one frame), a frame is read column-wise."""
    if len(rows) == 0:
        return
    if isinstance(rows, pd.DataFrame):
        frame = rows
        keys, column = list(frame.columns), lambda key: frame[key]
    else:
        keys, column = list(rows[0]), lambda key: [row[key] for row in rows]
    sql, params = _statement_params(connection.dialect, statement, keys, column, len(rows))
    connection.exec_driver_sql(sql, params)


def _statement_params(
    dialect: sa.Dialect,
    statement: sa.Insert,
    keys: Sequence[str],
    column: Callable[[str], Values],
    count: int,
    constants: Mapping[str, Any] | None = None,
    encoded: Collection[str] = (),
) -> tuple[str, list[tuple] | list[dict]]:
    """`statement` compiled for `keys`, and its parameters: `column(key)` gives a key's
    values, converted by the bind processor of its column type once per column; a value
    that is the same for every row (one of `constants`, or bound in the statement itself)
    is converted once."""
    constants = constants or {}
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
    given = set(keys) - set(constants)
    columns = []
    for name in names:
        bind = compiled.binds[name]
        impl = bind.type.dialect_impl(dialect)
        process = impl.bind_processor(dialect)
        if bind.key in given:
            values = column(bind.key)
            if process is not None and bind.key not in encoded:
                values = _processed(values, process, impl)
            else:
                values = _column_values(values)
        else:
            value = constants.get(bind.key, bind.effective_value)
            if process is not None and value is not None and bind.key not in encoded:
                value = process(value)
            values = [value] * count
        columns.append(values)
    rows = list(zip(*columns, strict=True))
    if compiled.positional:
        return compiled.string, rows
    keys = [compiled.escaped_bind_names.get(name, name) for name in names]
    return compiled.string, [dict(zip(keys, row, strict=True)) for row in rows]


def insert_new_rows(connection: sa.Connection, table: sa.Table, rows: Rows, key: str) -> int:
    """Insert the rows whose `key` is not in `table` yet (the last of rows sharing a key);
    returns how many were new.

    The keys are looked up in chunks (index seeks, cost ∝ the rows given, never a count of
    the whole table); the insert still forgives a key a concurrent writer added meanwhile.
    """
    if len(rows) == 0:
        return 0
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    given = frame.drop_duplicates(subset=[key], keep="last")
    keys = given[key].tolist()
    existing: set = set()
    for start in range(0, len(keys), LOOKUP_CHUNK_KEYS):
        chunk = keys[start : start + LOOKUP_CHUNK_KEYS]
        existing.update(
            connection.execute(sa.select(table.c[key]).where(table.c[key].in_(chunk))).scalars()
        )
    new = given[~given[key].isin(existing)]
    if new.empty:
        return 0
    if connection.dialect.name == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:
        statement = mysql.insert(table).on_duplicate_key_update({key: table.c[key]})
    for chunk in _chunks(new, UPSERT_CHUNK_ROWS):
        execute_rows(connection, statement, chunk)
    return len(new)


LOOKUP_CHUNK_KEYS = 1_000
ACCUMULATE_RULES = ("sum", "max", "min")


def upsert_accumulate(
    connection: sa.Connection,
    table: sa.Table,
    rows: Rows,
    key_columns: Sequence[str],
    rules: Mapping[str, str],
) -> int:
    """Insert `rows`, or fold them into the existing row with the same key: each column of
    `rules` is combined with the stored value by `sum`, `max` or `min` (incremental
    aggregates: a day's statement count grows as later refreshes bring more)."""
    if len(rows) == 0:
        return 0
    unknown = set(rules.values()) - set(ACCUMULATE_RULES)
    if unknown:
        raise ValueError(f"unknown accumulate rules {sorted(unknown)}")
    sqlite_dialect = connection.dialect.name == "sqlite"
    base = sqlite.insert(table) if sqlite_dialect else mysql.insert(table)
    incoming = base.excluded if sqlite_dialect else base.inserted
    greatest = sa.func.max if sqlite_dialect else sa.func.greatest
    least = sa.func.min if sqlite_dialect else sa.func.least
    combine = {
        "sum": lambda old, new: old + new,
        "max": lambda old, new: greatest(old, new),
        "min": lambda old, new: least(old, new),
    }
    updates = {
        column: combine[rule](table.c[column], incoming[column]) for column, rule in rules.items()
    }
    if sqlite_dialect:
        statement = base.on_conflict_do_update(index_elements=list(key_columns), set_=updates)
    else:
        statement = base.on_duplicate_key_update(updates)
    for chunk in _chunks(rows, UPSERT_CHUNK_ROWS):
        execute_rows(connection, statement, chunk)
    return len(rows)
