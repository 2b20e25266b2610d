"""Retire the legacy table after a verified migration: a rename, never a drop.

This is the only code that may touch `raw_data` itself, and only with `confirm: true` in
its run config and a completed migration whose fingerprint still matches the table.
"""

import sqlalchemy as sa
from dagster import Config, Failure, OpExecutionContext, Output, job, op
from pydantic import Field

from dropout_pipelines.clock import utc_now
from dropout_pipelines.migration.legacy_table import reflect_legacy_table
from dropout_pipelines.migration.migrate import MigrationSettings, build_selects, find_marker
from dropout_pipelines.migration.profile import profile_source
from dropout_pipelines.warehouse.pool import WAREHOUSE_POOL
from dropout_pipelines.warehouse.resource import WarehouseResource


class RetireConfig(Config):
    confirm: bool = Field(default=False, description="Must be true: renames the legacy table.")
    legacy_table: str = "raw_data"


@op(pool=WAREHOUSE_POOL)
def retire_legacy_table(
    context: OpExecutionContext, config: RetireConfig, warehouse: WarehouseResource
) -> Output[None]:
    """Rename raw_data to raw_data_retired_<timestamp> once the migration is verified."""
    if not config.confirm:
        raise Failure(
            f"retiring {config.legacy_table} renames it: set confirm: true in the run config"
        )
    engine = warehouse.get_engine()
    legacy = reflect_legacy_table(engine, config.legacy_table)
    with engine.connect() as connection:
        marker = find_marker(connection, legacy.table.name)
        if marker is None:
            raise Failure(f"{legacy.table.name} has not been migrated: run legacy_migration_job")
        selects, _ = build_selects(
            connection, legacy, MigrationSettings(semesters=warehouse.semester_rule()), utc_now()
        )
        if profile_source(connection, selects).fingerprint != marker.source_fingerprint:
            raise Failure(f"{legacy.table.name} changed since its migration: not retired")
    new_name = f"{legacy.table.name}_retired_{utc_now():%Y%m%dT%H%M%S}"
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as connection:
        connection.execute(
            sa.text(f"ALTER TABLE {quote(legacy.table.name)} RENAME TO {quote(new_name)}")
        )
    context.log.info(f"{legacy.table.name} renamed to {new_name}")
    return Output(None, metadata={"renamed_to": new_name})


@job(description="Rename raw_data after a verified migration (requires confirm: true).")
def legacy_retire_job() -> None:
    retire_legacy_table()
