"""`predict_hourly`, `predict_daily`, `predict_weekly`: at each tick, refresh then score
every course due at that frequency.

Each tick reads `course_model_mapping` (a change in the table applies at the next tick, no
reload): courses mapped with `auto_predict` and that frequency are due; a known course
with no mapping row follows `DROPOUT_DEFAULT_PREDICT_FREQUENCY` (default `daily`) and is
scored by the default model. `manual` and `auto_predict = false` are left alone. A course
whose final grades were fetched after its end is closed: refreshed once after the end,
then never again. The due courses go to `refresh_courses_job` in batches of
`DROPOUT_REFRESH_BATCH_SIZE` (see `refresh.py` for why batches).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from dropout_pipelines.clock import utc_now
from dropout_pipelines.orchestration.refresh import COURSES_TAG, refresh_courses_job
from dropout_pipelines.partitions import courses_partitions
from dropout_pipelines.settings import default_predict_frequency, refresh_batch_size
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.course_status import course_is_closed
from dropout_pipelines.warehouse.resource import WarehouseResource

CRONS = {"hourly": "0 * * * *", "daily": "0 2 * * *", "weekly": "0 3 * * 1"}


def due_courses(
    engine: sa.Engine,
    known: Iterable[str],
    frequency: str,
    default_frequency: str,
    now: datetime,
) -> list[str]:
    """The known courses to refresh and score at a tick of `frequency`."""
    known = set(known)
    mapping, courses = s.course_model_mapping, s.courses
    with engine.connect() as connection:
        mapped = {
            row.course_id: row.auto_predict and row.predict_frequency == frequency
            for row in connection.execute(
                sa.select(mapping.c.course_id, mapping.c.auto_predict, mapping.c.predict_frequency)
            )
        }
        closed = set(
            connection.execute(
                sa.select(courses.c.course_id).where(course_is_closed(now))
            ).scalars()
        )
    by_default = default_frequency == frequency
    return sorted(course for course in known - closed if mapped.get(course, by_default))


def refresh_requests(
    courses: Sequence[str], batch_size: int, run_key_prefix: str, tags: dict[str, str]
) -> list[RunRequest]:
    """`refresh_courses_job` run requests, `batch_size` courses each."""
    batches = [courses[i : i + batch_size] for i in range(0, len(courses), batch_size)]
    return [
        RunRequest(
            run_key=f"{run_key_prefix}:{index}",
            run_config={"ops": {"plan_course_refresh": {"config": {"course_ids": list(batch)}}}},
            tags={**tags, COURSES_TAG: f"{len(batch)} courses, batch {index + 1}/{len(batches)}"},
        )
        for index, batch in enumerate(batches)
    ]


def _build_schedule(frequency: str):
    @schedule(
        name=f"predict_{frequency}",
        cron_schedule=CRONS[frequency],
        job=refresh_courses_job,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"Refresh then score the courses due {frequency} (mapping, or the default "
        "frequency for unmapped courses).",
    )
    def _refresh_schedule(context: ScheduleEvaluationContext, warehouse: WarehouseResource):
        known = context.instance.get_dynamic_partitions(courses_partitions.name)
        courses = due_courses(
            warehouse.get_engine(), known, frequency, default_predict_frequency(), utc_now()
        )
        if not courses:
            return SkipReason(f"no course due {frequency} ({len(known)} known)")
        tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
        context.log.info(f"{len(courses)} courses due {frequency} at {tick}")
        return refresh_requests(
            courses, refresh_batch_size(), f"refresh_{frequency}:{tick}", {"dropout/tick": tick}
        )

    return _refresh_schedule


predict_hourly = _build_schedule("hourly")
predict_daily = _build_schedule("daily")
predict_weekly = _build_schedule("weekly")
PREDICT_SCHEDULES = [predict_hourly, predict_daily, predict_weekly]
