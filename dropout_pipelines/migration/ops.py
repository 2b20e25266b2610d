"""The ops of `legacy_migration_job`: backup → schema → migrate → model → mapping → views
→ verify. Each op logs what it did and attaches it as metadata; the heavy lifting lives in
the plain modules next to this one so it is testable without Dagster.
"""

from pathlib import Path

import sqlalchemy as sa
from dagster import Config, Failure, In, MetadataValue, Nothing, OpExecutionContext, Output, op
from pydantic import Field

from dropout_pipelines.clock import utc_now
from dropout_pipelines.migration.backup import BackupError, backup_legacy_data
from dropout_pipelines.migration.legacy_model import map_courses_to_model, register_legacy_model
from dropout_pipelines.migration.legacy_table import (
    LegacyTable,
    LegacyTableError,
    reflect_legacy_table,
)
from dropout_pipelines.migration.migrate import (
    MigrationError,
    MigrationSettings,
    build_selects,
    find_marker,
    migrate_legacy,
)
from dropout_pipelines.migration.profile import SourceProfile, profile_source
from dropout_pipelines.migration.report import checks_markdown, planned_counts, summary_line
from dropout_pipelines.migration.verify import verify_migration
from dropout_pipelines.settings import DATA_DIR, models_dir_from_env
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.pool import WAREHOUSE_POOL
from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines.warehouse.sql_files import create_views, view_names


class MigrationConfig(Config):
    """Options of one migration run (the job's config maps onto every op)."""

    dry_run: bool = Field(default=False, description="Report what would happen; write nothing.")
    legacy_table: str = Field(default="raw_data", description="The v1 table to migrate.")
    legacy_model_name: str = "fm101_v4"
    legacy_model_version: str = "1"
    legacy_model_path: str | None = Field(
        default=None,
        description="The legacy model file; default <DROPOUT_MODELS_DIR>/<name>/<version>/"
        "model.cbm",
    )
    backup_dir: str | None = Field(
        default=None, description="Where dumps and SQLite backups go; default data/backups."
    )

    def settings(self, warehouse: WarehouseResource) -> MigrationSettings:
        return MigrationSettings(
            self.legacy_model_name, self.legacy_model_version, warehouse.semester_rule()
        )

    def model_path(self) -> Path:
        if self.legacy_model_path:
            return Path(self.legacy_model_path)
        return (
            models_dir_from_env()
            / self.legacy_model_name
            / self.legacy_model_version
            / ("model.cbm")
        )

    def backup_path(self) -> Path:
        return Path(self.backup_dir) if self.backup_dir else DATA_DIR / "backups"


def _legacy(warehouse: WarehouseResource, config: MigrationConfig) -> LegacyTable:
    try:
        return reflect_legacy_table(warehouse.get_engine(), config.legacy_table)
    except LegacyTableError as error:
        raise Failure(str(error)) from error


def _migrated_already(engine: sa.Engine, table_name: str) -> sa.Row | None:
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(s.legacy_migrations.name):
            return None
        return find_marker(connection, table_name)


@op(pool=WAREHOUSE_POOL)
def backup_legacy_table(
    context: OpExecutionContext, config: MigrationConfig, warehouse: WarehouseResource
) -> Output[None]:
    """Back up raw_data before anything is written (skipped when already migrated)."""
    engine = warehouse.get_engine()
    legacy = _legacy(warehouse, config)
    context.log.info(f"legacy table {legacy.table.name} found in {warehouse.describe()}")
    marker = _migrated_already(engine, legacy.table.name)
    if marker is not None:
        context.log.info(f"{legacy.table.name} was migrated at {marker.migrated_at}: no backup")
        return Output(None, metadata={"backup": "skipped (already migrated)"})
    if config.dry_run:
        context.log.info("dry run: no backup taken")
        return Output(None, metadata={"backup": "skipped (dry run)"})
    try:
        result = backup_legacy_data(engine, legacy.table.name, config.backup_path())
    except BackupError as error:
        raise Failure(f"backup failed, nothing migrated: {error}") from error
    context.log.info(f"backup of {legacy.table.name} by {result.method}: {result.location}")
    return Output(
        None,
        metadata={
            "backup_method": result.method,
            "backup_location": MetadataValue.path(result.location),
        },
    )


@op(ins={"after": In(Nothing)}, pool=WAREHOUSE_POOL)
def create_v2_schema(
    context: OpExecutionContext, config: MigrationConfig, warehouse: WarehouseResource
) -> Output[None]:
    """Create the V2 tables, indexes and triggers that are missing (idempotent)."""
    engine = warehouse.get_engine()
    if config.dry_run:
        with engine.connect() as connection:
            present = set(sa.inspect(connection).get_table_names())
        missing = sorted(set(s.metadata.tables) - present)
        context.log.info(f"dry run: would create tables {missing or 'none'}")
        return Output(None, metadata={"would_create": ", ".join(missing) or "none"})
    created = create_schema(engine)
    context.log.info(
        f"schema: created tables {created['tables'] or 'none'}, "
        f"triggers {created['triggers'] or 'none'}"
    )
    return Output(
        None,
        metadata={
            "tables_created": len(created["tables"]),
            "triggers_created": len(created["triggers"]),
        },
    )


@op(ins={"after": In(Nothing)}, pool=WAREHOUSE_POOL)
def migrate_legacy_rows(
    context: OpExecutionContext, config: MigrationConfig, warehouse: WarehouseResource
) -> Output[dict]:
    """Move raw_data into the V2 tables in one transaction (or report, in a dry run)."""
    engine = warehouse.get_engine()
    legacy = _legacy(warehouse, config)
    if legacy.missing:
        context.log.warning(f"legacy columns missing (read as NULL): {', '.join(legacy.missing)}")
    if legacy.extra:
        context.log.info(f"extra legacy columns kept in extra_features: {', '.join(legacy.extra)}")
    if config.dry_run:
        with engine.connect() as connection:
            selects, _ = build_selects(connection, legacy, config.settings(warehouse), utc_now())
            profile = profile_source(connection, selects)
        written, already = planned_counts(profile), False
    else:
        try:
            outcome = migrate_legacy(
                engine, legacy, config.settings(warehouse), context.run_id, context.log.info
            )
        except MigrationError as error:
            raise Failure(str(error)) from error
        profile, written, already = outcome.profile, outcome.written, outcome.already_migrated
    if profile.duplicate_keys:
        context.log.warning(
            f"{profile.duplicate_keys} (user_id, course_id) keys are duplicated "
            f"({profile.duplicate_rows} older rows; the newest wins), e.g. "
            f"{profile.duplicate_sample[:3]}"
        )
    line = summary_line(profile, written, dry_run=config.dry_run)
    context.log.info(("already migrated, no change: " if already else "") + line)
    return Output(
        {"written": written, "already_migrated": already, "profile": profile.as_metadata()},
        metadata={
            **{f"rows_{table}": count for table, count in written.items()},
            "raw_rows": profile.raw_rows,
            "duplicate_keys": profile.duplicate_keys,
            "already_migrated": already,
            "dry_run": config.dry_run,
            "missing_columns": ", ".join(profile.missing_columns) or "none",
            "extra_columns": ", ".join(profile.extra_columns) or "none",
        },
    )


@op(ins={"after": In(Nothing)}, pool=WAREHOUSE_POOL)
def register_legacy_model_op(
    context: OpExecutionContext, config: MigrationConfig, warehouse: WarehouseResource
) -> Output[None]:
    """Register the legacy model; a missing file leaves it inactive with a warning."""
    path = config.model_path()
    if config.dry_run:
        context.log.info(f"dry run: would register {config.legacy_model_name} from {path}")
        return Output(None, metadata={"model_file_found": path.is_file()})
    result = register_legacy_model(
        warehouse.get_engine(),
        config.legacy_model_name,
        config.legacy_model_version,
        path,
        context.run_id,
    )
    if result.status == "registered" and not result.is_active:
        context.log.warning(
            f"{result.problem or f'model file {path} not found'}: {config.legacy_model_name} "
            f"v{config.legacy_model_version} is registered INACTIVE and not default; register "
            "a model file (or train one) before predicting"
        )
    context.log.info(
        f"legacy model {config.legacy_model_name} v{config.legacy_model_version}: "
        f"{result.status}, active={result.is_active}, default={result.is_default}"
    )
    return Output(
        None,
        metadata={
            "status": result.status,
            "is_active": result.is_active,
            "is_default": result.is_default,
            "model_path": result.model_path,
        },
    )


@op(ins={"after": In(Nothing)}, pool=WAREHOUSE_POOL)
def map_legacy_courses(
    context: OpExecutionContext, config: MigrationConfig, warehouse: WarehouseResource
) -> Output[None]:
    """Map every legacy course without a mapping to the legacy model (daily, auto)."""
    engine = warehouse.get_engine()
    legacy = _legacy(warehouse, config)
    with engine.connect() as connection:
        course_ids = sorted(
            connection.execute(sa.select(legacy.table.c.course_id).distinct()).scalars()
        )
    if config.dry_run:
        context.log.info(f"dry run: would map {len(course_ids)} courses")
        return Output(None, metadata={"courses": len(course_ids)})
    mapped = map_courses_to_model(
        engine, course_ids, config.legacy_model_name, config.legacy_model_version
    )
    context.log.info(
        f"course_model_mapping: {mapped} new of {len(course_ids)} courses → "
        f"{config.legacy_model_name} (daily, auto_predict)"
    )
    return Output(None, metadata={"courses": len(course_ids), "new_mappings": mapped})


@op(ins={"after": In(Nothing)}, pool=WAREHOUSE_POOL)
def create_compat_views(
    context: OpExecutionContext, config: MigrationConfig, warehouse: WarehouseResource
) -> Output[None]:
    """(Re)create the backward-compatible views, e.g. raw_data_v2."""
    if config.dry_run:
        context.log.info(f"dry run: would create views {view_names()}")
        return Output(None)
    views = create_views(warehouse.get_engine())
    context.log.info(f"views created: {', '.join(views)}")
    return Output(None, metadata={"views": ", ".join(views)})


@op(ins={"after": In(Nothing)}, pool=WAREHOUSE_POOL)
def verify_legacy_migration(
    context: OpExecutionContext,
    config: MigrationConfig,
    warehouse: WarehouseResource,
    migration: dict,
) -> Output[None]:
    """Compare counts and checksums between raw_data and the V2 tables; fail on a mismatch."""
    profile = migration["profile"]
    if config.dry_run:
        line = summary_line_from(migration, dry_run=True)
        context.log.info(f"dry run, nothing written: {line}")
        return Output(None, metadata={"summary": line, "dry_run": True})
    engine = warehouse.get_engine()
    legacy = _legacy(warehouse, config)
    with engine.connect() as connection:
        selects, _ = build_selects(connection, legacy, config.settings(warehouse), utc_now())
    # After a no-op rerun, ingestion may have refreshed student_features on purpose.
    checks = verify_migration(engine, selects, mutable_values_too=not migration["already_migrated"])
    failed = [check for check in checks if not check.ok]
    table = checks_markdown(checks)
    context.log.info(f"verification: {len(checks) - len(failed)}/{len(checks)} checks agree")
    if failed:
        raise Failure(
            f"verification failed: {len(failed)} of {len(checks)} checks differ",
            metadata={"checks": MetadataValue.md(table)},
        )
    line = summary_line_from(migration, dry_run=False)
    if migration["already_migrated"]:
        line = f"already migrated, no change: {line}"
    context.log.info(line)
    return Output(
        None,
        metadata={
            "summary": line,
            "checks": MetadataValue.md(table),
            "raw_rows": profile["raw_rows"],
            **{f"rows_{name}": count for name, count in migration["written"].items()},
        },
    )


def summary_line_from(migration: dict, *, dry_run: bool) -> str:
    """The summary line from the migrate op's output (a plain dict between ops)."""
    profile = SourceProfile(**migration["profile"])
    return summary_line(profile, migration["written"], dry_run=dry_run)
