"""`predictions_freshness_schedule`: the freshness check every hour, between the predict_*
ticks (minute 0 and 02:00/03:00), so a course nobody scores turns red within the hour."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from dropout_pipelines.monitoring.jobs import freshness_check_job

predictions_freshness_schedule = ScheduleDefinition(
    name="predictions_freshness_schedule",
    cron_schedule="30 * * * *",
    job=freshness_check_job,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Hourly: evaluate predictions_are_fresh (independent of materializations).",
)
