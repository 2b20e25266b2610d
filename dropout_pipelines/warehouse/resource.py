"""The warehouse as a Dagster resource: an SQLAlchemy engine from `DROPOUT_DB_URL`."""

from __future__ import annotations

import os

import sqlalchemy as sa
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr, field_validator

from dropout_pipelines.settings import SEMESTER_PATTERN_ENV, SEMESTER_TERMS_ENV, db_url_from_env
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.semesters import SemesterRule
from dropout_pipelines.warehouse.urls import has_password, mask_url


class WarehouseResource(ConfigurableResource):
    """The warehouse database (SQLite file by default, MySQL/MariaDB in production).

    The URL normally comes from `DROPOUT_DB_URL` at run time, so it (and its password)
    never appears in the run config the UI shows. `db_url_env` names another variable to
    read it from; `db_url` may only hold a URL without a password (a SQLite path, a socket).
    """

    db_url: str | None = Field(
        default=None, description="Password-free SQLAlchemy URL; empty = use db_url_env."
    )
    db_url_env: str = Field(
        default="DROPOUT_DB_URL",
        description="Environment variable holding the URL (empty → the embedded SQLite file).",
    )
    ensure_schema: bool = Field(
        default=True,
        description=(
            "Create or upgrade the V2 schema before a step or sensor uses the warehouse. Off "
            "for the legacy migration job, whose own step creates it (a dry run writes nothing)."
        ),
    )
    _schema_ensured: bool = PrivateAttr(default=False)
    semester_pattern: str | None = Field(
        default=None,
        description=(
            "Regex over the course id with a `semester` group; empty = "
            f"{SEMESTER_PATTERN_ENV}, else the run part of the course key."
        ),
    )
    semester_terms: str | None = Field(
        default=None,
        description=f"Term start dates `NAME=YYYY-MM-DD,...`; empty = {SEMESTER_TERMS_ENV}.",
    )

    @field_validator("db_url")
    @classmethod
    def _no_password_in_config(cls, value: str | None) -> str | None:
        if value and has_password(value):
            raise ValueError(
                "db_url holds a password (in its userinfo or a ?password= query), which would "
                "be shown in the Dagster UI: put the URL "
                "in an environment variable and name it in db_url_env"
            )
        return value

    def resolved_url(self) -> str:
        if self.db_url:
            return self.db_url
        if self.db_url_env == "DROPOUT_DB_URL":
            return db_url_from_env()
        url = os.environ.get(self.db_url_env)
        if not url:
            raise RuntimeError(f"environment variable {self.db_url_env} (db_url_env) is not set")
        return url

    def get_engine(self) -> sa.Engine:
        """The engine; the first call of this resource (one per step or sensor tick) also
        creates or upgrades the schema, so the code below never asks whether a table exists
        (idempotent, serialised across processes by `create_schema`).

        On first use rather than in `setup_for_execution`: the run-failure sensor takes
        this resource only to name the warehouse, and must still log when it is down."""
        engine = get_engine(self.resolved_url())
        if self.ensure_schema and not self._schema_ensured:
            create_schema(engine)
            self._schema_ensured = True
        return engine

    def semester_rule(self) -> SemesterRule:
        """Which semester a course belongs to: this resource's fields, else the env vars."""
        return SemesterRule(
            pattern=self.semester_pattern or os.environ.get(SEMESTER_PATTERN_ENV) or None,
            terms=self.semester_terms or os.environ.get(SEMESTER_TERMS_ENV) or None,
        )

    def describe(self) -> str:
        """The database, password masked: for logs and error messages."""
        return mask_url(self.resolved_url())
