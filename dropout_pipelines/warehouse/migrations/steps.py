"""Idempotent building blocks for revisions.

A fresh warehouse is created from the current metadata and stamped at the newest revision;
an older one is upgraded revision by revision. Revisions that add a table or a column use
these steps, which skip what is already there, so a revision also holds on a warehouse that
a crash left half-upgraded (MySQL/MariaDB DDL is not transactional).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from alembic import op

from dropout_pipelines.warehouse.schema import metadata


def create_tables_if_missing(connection: sa.Connection, names: Iterable[str]) -> None:
    """Create the named tables (with their indexes) as the metadata defines them."""
    present = set(sa.inspect(connection).get_table_names())
    for name in names:
        if name not in present:
            metadata.tables[name].create(connection)


def add_columns_if_missing(table: str, columns: Iterable[sa.Column]) -> None:
    """Add nullable columns to `table`, skipping those it already has."""
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns(table)}
    for column in columns:
        if column.name not in present:
            op.add_column(table, column)
