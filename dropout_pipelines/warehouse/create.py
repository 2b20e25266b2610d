"""Create or upgrade the V2 schema: one idempotent function for SQLite and MySQL/MariaDB.

The migration job and every ingestion call `create_schema`; running it again, or from two
processes at once, changes nothing. A fresh warehouse is created from the metadata and
stamped at the newest Alembic revision; a warehouse of an earlier release is upgraded in
place, revision by revision (`warehouse/migrations/`), with no data lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from dropout_pipelines.warehouse.schema import metadata
from dropout_pipelines.warehouse.triggers import INSERT_ONLY_TRIGGERS

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The revision of a warehouse created before Alembic (it has no alembic_version table).
PRE_ALEMBIC_REVISION = "0001_release_20261202"
SCHEMA_LOCK = "dropout_pipelines_schema"
SCHEMA_LOCK_TIMEOUT_S = 120


def existing_triggers(connection: sa.Connection) -> set[str]:
    """Names of the triggers present in the connected database."""
    if connection.dialect.name == "sqlite":
        query = sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    else:
        query = sa.text(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"
        )
    return {row[0] for row in connection.execute(query)}


def _create_tables(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        before = set(sa.inspect(connection).get_table_names())
    try:
        metadata.create_all(engine, checkfirst=True)
    except sa.exc.OperationalError as error:
        # Another process created a table between our check and our CREATE: check again.
        if "already exists" not in str(error).lower():
            raise
        metadata.create_all(engine, checkfirst=True)
    return sorted(set(metadata.tables) - before)


def _create_triggers(engine: sa.Engine) -> list[str]:
    created = []
    with engine.begin() as connection:
        present = existing_triggers(connection)
        for trigger in INSERT_ONLY_TRIGGERS:
            if trigger.name not in present:
                connection.exec_driver_sql(trigger.ddl(connection.dialect.name))
                created.append(trigger.name)
    return created


def alembic_config(connection: sa.Connection) -> Config:
    """Alembic on this connection (no alembic.ini: the URL never leaves the engine)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None, "the warehouse migrations have no head revision"
    return head


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _schema_lock(engine: sa.Engine) -> Iterator[None]:
    """One schema change at a time across processes (MySQL DDL is not transactional;
    SQLite serialises writers itself)."""
    if engine.dialect.name == "sqlite":
        yield
        return
    with engine.connect() as connection:
        got = connection.execute(
            sa.text("SELECT GET_LOCK(:name, :timeout)"),
            {"name": SCHEMA_LOCK, "timeout": SCHEMA_LOCK_TIMEOUT_S},
        ).scalar()
        if got != 1:
            raise RuntimeError(f"could not take the schema lock within {SCHEMA_LOCK_TIMEOUT_S}s")
        try:
            yield
        finally:
            connection.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": SCHEMA_LOCK})


def _upgrade(engine: sa.Engine) -> list[str]:
    """Bring an existing warehouse to the newest revision; the revisions applied."""
    before = current_revision(engine)
    with engine.begin() as connection:
        config = alembic_config(connection)
        if before is None:
            command.stamp(config, PRE_ALEMBIC_REVISION)
        command.upgrade(config, "head")
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    applied = [
        revision.revision
        for revision in script.iterate_revisions("head", before or PRE_ALEMBIC_REVISION)
        if revision.revision != (before or PRE_ALEMBIC_REVISION)
    ]
    return list(reversed(applied))


def _stamp_head(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        command.stamp(alembic_config(connection), "head")


def create_schema(engine: sa.Engine) -> dict[str, list[str]]:
    """Create every missing V2 table, index and trigger, or upgrade an earlier release's
    warehouse in place; report what was created and which revisions were applied."""
    with _schema_lock(engine):
        with engine.connect() as connection:
            present = set(sa.inspect(connection).get_table_names()) & set(metadata.tables)
        if current_revision(engine) == head_revision():
            revisions: list[str] = []
        elif present:
            revisions = _upgrade(engine)
        else:
            revisions = []
        tables = _create_tables(engine)
        if not present:
            _stamp_head(engine)
        triggers = _create_triggers(engine)
    return {"tables": tables, "triggers": triggers, "revisions": revisions}
