"""`refresh_courses_job`: refresh a batch of courses from Open edX and the LRS, then score
each with its model, fresh features first.

One run serves a batch of courses (up to `DROPOUT_REFRESH_BATCH_SIZE`): a run's start-up
(a new process that loads the code location) costs far more than refreshing a course of a
few hundred students, so one run per course would spend most of a daily tick starting
runs. Inside the run each course is its own step (dynamic mapping), so a course that fails
is retried on its own (op retry policy; run retries re-execute only the failed steps), is
reported on its own, and never holds back the others. Each step records the same asset
materializations (`mooc_enrollments` … `feature_snapshots`, `predictions`) for the course
partition as materializing the assets from the UI would.
"""

import hashlib
import re

from dagster import (
    AssetMaterialization,
    Backoff,
    Config,
    DynamicOut,
    DynamicOutput,
    Jitter,
    OpExecutionContext,
    RetryPolicy,
    in_process_executor,
    job,
    op,
)

from dropout_pipelines.ingest.refresh import ingest_course
from dropout_pipelines.ingest.resources import LrsResource, OpenEdxResource
from dropout_pipelines.predict.course_scoring import score_course
from dropout_pipelines.predict.store_resource import ModelStoreResource
from dropout_pipelines.warehouse.resource import WarehouseResource

COURSES_TAG = "dropout/courses"
STEP_RETRIES = RetryPolicy(
    max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)


class RefreshBatchConfig(Config):
    course_ids: list[str]


def mapping_key(index: int, course_id: str) -> str:
    """A dynamic-output key for a course id (keys allow only letters, digits and `_`):
    readable, and unique through the index and a short hash."""
    readable = re.sub(r"[^A-Za-z0-9_]", "_", course_id)[:60]
    digest = hashlib.sha1(course_id.encode()).hexdigest()[:8]
    return f"c{index}_{readable}_{digest}"


@op(out=DynamicOut(str), description="One step per course of the batch.")
def plan_course_refresh(context: OpExecutionContext, config: RefreshBatchConfig):
    context.log.info(f"refreshing {len(config.course_ids)} courses")
    for index, course_id in enumerate(config.course_ids):
        yield DynamicOutput(course_id, mapping_key=mapping_key(index, course_id))


@op(retry_policy=STEP_RETRIES, description="Refresh one course, then score it.")
def refresh_and_score_course(
    context: OpExecutionContext,
    course_id: str,
    openedx: OpenEdxResource,
    lrs: LrsResource,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
) -> str:
    engine = warehouse.get_engine()
    outcome = ingest_course(openedx, lrs, engine, course_id, context.log, warehouse.semester_rule())
    for key, metadata in outcome.metadata().items():
        context.log_event(
            AssetMaterialization(asset_key=key, partition=course_id, metadata=metadata)
        )
    metadata = score_course(engine, model_store.store(), course_id, context.run.run_id, context.log)
    context.log_event(
        AssetMaterialization(asset_key="predictions", partition=course_id, metadata=metadata)
    )
    return course_id


@job(
    executor_def=in_process_executor,
    description="Refresh a batch of courses (incremental ingestion) and score each with its "
    "model. Requested by the predict_* schedules and the course discovery sensor.",
)
def refresh_courses_job():
    plan_course_refresh().map(refresh_and_score_course)
