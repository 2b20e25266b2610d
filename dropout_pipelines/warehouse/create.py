"""Create the V2 schema: one idempotent function for SQLite and MySQL/MariaDB.

The migration job and the first ingestion both call `create_schema`; running it again,
or from two processes at once, changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa

from dropout_pipelines.warehouse.schema import metadata
from dropout_pipelines.warehouse.triggers import INSERT_ONLY_TRIGGERS


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


def create_schema(engine: sa.Engine) -> dict[str, list[str]]:
    """Create every missing V2 table, index and trigger; report what was created."""
    return {"tables": _create_tables(engine), "triggers": _create_triggers(engine)}
