"""The live legacy `raw_data` table: which columns it has, lacks and adds.

Real legacy tables drift from SPEC §4, so the migration reflects the table as it is:
known columns that are missing read as NULL, unknown extra columns are carried into
`extra_features`, and a table without `user_id`/`course_id` cannot be migrated at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from dropout_pipelines.warehouse.legacy_schema import (
    LEGACY_COLUMN_NAMES,
    LEGACY_TABLE_NAME,
    REQUIRED_LEGACY_COLUMNS,
)
from dropout_pipelines.warehouse.urls import mask_url


class LegacyTableError(RuntimeError):
    """The legacy table is absent or unusable; the message names table and database."""


@dataclass(frozen=True)
class LegacyTable:
    table: sa.Table
    present: tuple[str, ...]
    missing: tuple[str, ...]
    extra: tuple[str, ...]

    def has(self, column: str) -> bool:
        return column in self.present

    def column(self, column: str) -> sa.ColumnElement:
        """The column, or a NULL literal when the legacy table lacks it."""
        return self.table.c[column] if self.has(column) else sa.null()


def reflect_legacy_table(engine: sa.Engine, table_name: str = LEGACY_TABLE_NAME) -> LegacyTable:
    """Reflect `table_name`, or fail with a message naming it and the (masked) database."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(table_name):
            raise LegacyTableError(
                f"legacy table {table_name!r} not found in database {mask_url(engine.url)}: "
                "point DROPOUT_DB_URL (or the run's warehouse db_url) at the database that "
                "holds the v1 raw_data table"
            )
        table = sa.Table(table_name, sa.MetaData(), autoload_with=connection)
    names = tuple(column.name for column in table.columns)
    lacking_required = [name for name in REQUIRED_LEGACY_COLUMNS if name not in names]
    if lacking_required:
        raise LegacyTableError(
            f"legacy table {table_name!r} in {mask_url(engine.url)} has no "
            f"{', '.join(lacking_required)} column: rows cannot be keyed per student and course"
        )
    return LegacyTable(
        table=table,
        present=tuple(name for name in LEGACY_COLUMN_NAMES if name in names),
        missing=tuple(name for name in LEGACY_COLUMN_NAMES if name not in names),
        extra=tuple(name for name in names if name not in LEGACY_COLUMN_NAMES),
    )
