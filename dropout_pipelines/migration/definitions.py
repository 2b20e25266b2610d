"""The migration domain's Definitions."""

from dagster import Definitions

from dropout_pipelines.migration.jobs import legacy_migration_job
from dropout_pipelines.migration.retire import legacy_retire_job

defs = Definitions(jobs=[legacy_migration_job, legacy_retire_job])
