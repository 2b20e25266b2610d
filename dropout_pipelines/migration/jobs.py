"""`legacy_migration_job`: one flat config (dry_run, source database, legacy model) mapped
onto every op and onto the warehouse resource."""

from dagster import RunConfig, config_mapping, job
from pydantic import Field

from dropout_pipelines.migration.ops import (
    MigrationConfig,
    backup_legacy_table,
    create_compat_views,
    create_v2_schema,
    map_legacy_courses,
    migrate_legacy_rows,
    register_legacy_model_op,
    verify_legacy_migration,
)

OP_NAMES = (
    "backup_legacy_table",
    "create_v2_schema",
    "migrate_legacy_rows",
    "register_legacy_model_op",
    "map_legacy_courses",
    "create_compat_views",
    "verify_legacy_migration",
)


class LegacyMigrationJobConfig(MigrationConfig):
    """The job's run config. The source database defaults to DROPOUT_DB_URL."""

    source_db_url_env: str = Field(
        default="DROPOUT_DB_URL",
        description="Environment variable holding the source database URL.",
    )
    source_db_url: str | None = Field(
        default=None, description="A password-free URL (e.g. sqlite:///path) instead."
    )


@config_mapping
def _map_migration_config(config: LegacyMigrationJobConfig) -> RunConfig:
    op_config = config.model_dump(exclude={"source_db_url_env", "source_db_url"})
    # The job creates the schema in its own step (a dry run must not), not the resource.
    warehouse = {"db_url_env": config.source_db_url_env, "ensure_schema": False}
    if config.source_db_url:
        warehouse["db_url"] = config.source_db_url
    return {
        "ops": {name: {"config": op_config} for name in OP_NAMES},
        "resources": {"warehouse": {"config": warehouse}},
    }


@job(
    config=_map_migration_config,
    description="One-shot legacy raw_data → V2 migration: backup, schema, migrate, legacy "
    "model, course mapping, views, verification. Safe to rerun.",
)
def legacy_migration_job() -> None:
    schema_ready = create_v2_schema(after=backup_legacy_table())
    migration = migrate_legacy_rows(after=schema_ready)
    mapped = map_legacy_courses(after=register_legacy_model_op(after=migration))
    verify_legacy_migration(after=create_compat_views(after=mapped), migration=migration)
