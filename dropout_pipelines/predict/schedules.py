"""`predict_hourly`, `predict_daily`, `predict_weekly`: read course_model_mapping at every
tick (a change in the table applies at the next tick, no reload) and request a predictions
run for each course with `auto_predict` and that frequency. `manual` courses never run."""

import sqlalchemy as sa
from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)

from dropout_pipelines.ingest.partitions import courses_partitions
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.resource import WarehouseResource

predict_course_job = define_asset_job(
    "predict_course_job",
    selection=AssetSelection.assets("predictions"),
    description="Score every student of one course with the course's model.",
)

CRONS = {"hourly": "0 * * * *", "daily": "0 2 * * *", "weekly": "0 3 * * 1"}


def courses_to_predict(warehouse: WarehouseResource, frequency: str) -> list[str]:
    mapping = s.course_model_mapping
    engine = warehouse.get_engine()
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(mapping.name):
            return []
        return sorted(
            connection.execute(
                sa.select(mapping.c.course_id).where(
                    mapping.c.auto_predict.is_(True), mapping.c.predict_frequency == frequency
                )
            ).scalars()
        )


def _build_schedule(frequency: str):
    @schedule(
        name=f"predict_{frequency}",
        cron_schedule=CRONS[frequency],
        job=predict_course_job,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"Predictions for the courses mapped with predict_frequency={frequency}.",
    )
    def _predict_schedule(context: ScheduleEvaluationContext, warehouse: WarehouseResource):
        courses = courses_to_predict(warehouse, frequency)
        known = set(context.instance.get_dynamic_partitions(courses_partitions.name))
        not_ingested = [course for course in courses if course not in known]
        if not_ingested:
            context.log.warning(f"not a partition yet (never ingested), skipped: {not_ingested}")
        runnable = [course for course in courses if course in known]
        if not runnable:
            return SkipReason(f"no course with auto_predict and frequency {frequency}")
        tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
        return [
            RunRequest(partition_key=course, run_key=f"predict_{frequency}:{tick}:{course}")
            for course in runnable
        ]

    return _predict_schedule


predict_hourly = _build_schedule("hourly")
predict_daily = _build_schedule("daily")
predict_weekly = _build_schedule("weekly")
PREDICT_SCHEDULES = [predict_hourly, predict_daily, predict_weekly]
