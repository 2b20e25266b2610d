"""The monitoring domain's Definitions: the freshness job and its schedule, and the run
failure sensor."""

from dagster import Definitions

from dropout_pipelines.monitoring.jobs import freshness_check_job
from dropout_pipelines.monitoring.schedules import predictions_freshness_schedule
from dropout_pipelines.monitoring.sensors import run_failure_logger

defs = Definitions(
    jobs=[freshness_check_job],
    schedules=[predictions_freshness_schedule],
    sensors=[run_failure_logger],
)
