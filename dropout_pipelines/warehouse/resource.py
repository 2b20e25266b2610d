"""The warehouse as a Dagster resource: an SQLAlchemy engine from `DROPOUT_DB_URL`."""

from __future__ import annotations

import sqlalchemy as sa
from dagster import ConfigurableResource
from pydantic import Field

from dropout_pipelines.settings import db_url_from_env
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.urls import mask_url


class WarehouseResource(ConfigurableResource):
    """The warehouse database (SQLite file by default, MySQL/MariaDB in production).

    `db_url` is left empty in the definitions so the URL (and its password) is read from
    `DROPOUT_DB_URL` at run time and never appears in run config shown in the UI; set it in
    run config only to point one run at another database.
    """

    db_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; empty = DROPOUT_DB_URL, else the embedded SQLite file.",
    )

    def resolved_url(self) -> str:
        return self.db_url or db_url_from_env()

    def get_engine(self) -> sa.Engine:
        return get_engine(self.resolved_url())

    def describe(self) -> str:
        """The database, password masked: for logs and error messages."""
        return mask_url(self.resolved_url())

    @property
    def dialect_name(self) -> str:
        return self.get_engine().dialect.name
