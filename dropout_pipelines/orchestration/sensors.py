"""`course_discovery_sensor`: new Open edX courses become partitions, get ingested and
scored.

Each tick lists the courses Open edX knows (and the courses of `course_model_mapping`),
adds the new ones to the `courses` dynamic partitions and requests their first refresh
(ingestion, then scoring with the mapped or default model), so a new course shows up in the
warehouse, and in the instructors' list, without anybody running anything by hand. From
then on the predict_* schedules refresh it.
"""

from collections.abc import Iterable

import sqlalchemy as sa
from dagster import (
    DefaultSensorStatus,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from dropout_pipelines.ingest.clients.errors import (
    OpenEdxAuthError,
    OpenEdxPermissionError,
    UpstreamError,
)
from dropout_pipelines.ingest.resources import OpenEdxResource
from dropout_pipelines.orchestration.refresh import refresh_courses_job
from dropout_pipelines.orchestration.schedules import refresh_requests
from dropout_pipelines.partitions import courses_partitions
from dropout_pipelines.settings import refresh_batch_size
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.resource import WarehouseResource

DISCOVERY_INTERVAL_S = 300


def mapped_course_ids(warehouse: WarehouseResource) -> set[str]:
    """Courses an engineer mapped to a model, even before Open edX lists them."""
    engine = warehouse.get_engine()
    with engine.connect() as connection:
        return set(connection.execute(sa.select(s.course_model_mapping.c.course_id)).scalars())


def plan_discovery(
    listed: Iterable[str], mapped: Iterable[str], known: Iterable[str]
) -> tuple[list[str], list[str]]:
    """(new partition keys, courses to ingest now): only Open edX courses can be fetched."""
    listed, known = set(listed), set(known)
    new_keys = sorted((listed | set(mapped)) - known)
    return new_keys, sorted(set(new_keys) & listed)


@sensor(
    job=refresh_courses_job,
    minimum_interval_seconds=DISCOVERY_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Adds new Open edX courses as partitions and requests their first refresh "
    "(ingestion, then scoring).",
)
def course_discovery_sensor(
    context: SensorEvaluationContext, openedx: OpenEdxResource, warehouse: WarehouseResource
):
    try:
        listed = openedx.client().list_courses()["course_id"]
    except (OpenEdxAuthError, OpenEdxPermissionError, UpstreamError) as error:
        return SkipReason(f"Open edX course list unavailable: {error}")
    known = context.instance.get_dynamic_partitions(courses_partitions.name)
    new_keys, to_ingest = plan_discovery(listed, mapped_course_ids(warehouse), known)
    if not new_keys:
        return SkipReason(f"no new course ({len(known)} known)")
    context.log.info(f"new courses: {new_keys}; refreshing {len(to_ingest)}")
    first_key = f"first-refresh:{to_ingest[0]}" if to_ingest else "first-refresh"
    return SensorResult(
        run_requests=refresh_requests(
            to_ingest, refresh_batch_size(), first_key, {"dropout/trigger": "discovery"}
        ),
        dynamic_partitions_requests=[courses_partitions.build_add_request(new_keys)],
    )
