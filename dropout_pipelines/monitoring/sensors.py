"""`run_failure_logger`: one line in the sensor's log per failed run of any job, so a
failed refresh or training is seen (and grepped) without opening each run in the UI."""

from dagster import DefaultSensorStatus, RunFailureSensorContext, run_failure_sensor

from dropout_pipelines.monitoring.failures import (
    FailedRun,
    courses_in_config,
    failure_line,
    first_line,
    is_database_error,
    secret_values,
)
from dropout_pipelines.orchestration.refresh import COURSES_TAG
from dropout_pipelines.warehouse.resource import WarehouseResource

PARTITION_TAG = "dagster/partition"


def describe_failure(context: RunFailureSensorContext, database: str | None) -> FailedRun:
    """The failed run as `failure_line` words it (`database` only named for a database
    error)."""
    run = context.dagster_run
    steps = context.get_step_failure_events()
    errors = [event.step_failure_data.error for event in steps if event.step_failure_data.error]
    if not errors:
        run_error = getattr(context.failure_event.event_specific_data, "error", None)
        errors = [run_error] if run_error is not None else []
    error = first_line(errors[0]) if errors else (context.failure_event.message or "")
    return FailedRun(
        run_id=run.run_id,
        job_name=run.job_name,
        partition=run.tags.get(PARTITION_TAG),
        courses=courses_in_config(run.run_config or {}),
        courses_tag=run.tags.get(COURSES_TAG),
        step_keys=[event.step_key for event in steps if event.step_key],
        error=error,
        database=database if any(is_database_error(e) for e in errors) else None,
    )


def _warehouse_name(warehouse: WarehouseResource) -> str | None:
    try:
        return warehouse.describe()
    except Exception:  # noqa: BLE001 - the line is still worth logging without it
        return None


@run_failure_sensor(
    name="run_failure_logger",
    default_status=DefaultSensorStatus.RUNNING,
    description="Logs one line per failed run (job, course(s), failed steps, first line of "
    "the error; secrets masked).",
)
def run_failure_logger(context: RunFailureSensorContext, warehouse: WarehouseResource) -> None:
    failed = describe_failure(context, _warehouse_name(warehouse))
    context.log.error(failure_line(failed, secret_values()))
