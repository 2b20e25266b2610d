"""The code location: merges each domain's Definitions, nothing else."""

from dagster import Definitions

from dropout_pipelines.ingest import definitions as ingest
from dropout_pipelines.migration import definitions as migration
from dropout_pipelines.monitoring import definitions as monitoring
from dropout_pipelines.orchestration import definitions as orchestration
from dropout_pipelines.predict import definitions as predict
from dropout_pipelines.training import definitions as training
from dropout_pipelines.warehouse import definitions as warehouse

defs = Definitions.merge(
    warehouse.defs,
    migration.defs,
    ingest.defs,
    predict.defs,
    training.defs,
    orchestration.defs,
    monitoring.defs,
)
