"""Ingestion assets: the course catalog and, per course partition, the fetched sources and
the features computed from them.

The five per-course assets are one multi-asset on purpose: they are written in a single
transaction, so a course never shows enrollments of one fetch next to features of another.
"""

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    Failure,
    MaterializeResult,
    asset,
    multi_asset,
)

from dropout_pipelines.clock import utc_now_s
from dropout_pipelines.ingest.refresh import FETCH_ERRORS, ingest_course, page_logger
from dropout_pipelines.ingest.resources import LrsResource, OpenEdxResource
from dropout_pipelines.ingest.table_frames import naive_datetime
from dropout_pipelines.partitions import courses_partitions
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import upsert_rows
from dropout_pipelines.warehouse.pool import WAREHOUSE_POOL
from dropout_pipelines.warehouse.resource import WarehouseResource

INGEST_GROUP = "ingestion"


@asset(group_name=INGEST_GROUP, pool=WAREHOUSE_POOL)
def courses(
    context: AssetExecutionContext, openedx: OpenEdxResource, warehouse: WarehouseResource
) -> MaterializeResult:
    """The course catalog from Open edX: names, dates and semesters of every course."""
    try:
        catalog = openedx.client(on_page=page_logger(context.log)).list_courses()
    except FETCH_ERRORS as error:
        raise Failure(str(error)) from error
    stamp = utc_now_s()
    rows = catalog.rename(columns={"name": "display_name", "start": "start_at", "end": "end_at"})[
        ["course_id", "display_name", "org", "start_at", "end_at"]
    ]
    rule = warehouse.semester_rule()
    rows = rows.assign(
        semester=[
            rule.semester_for(c, naive_datetime(st))
            for c, st in zip(rows.course_id, rows.start_at, strict=True)
        ],
        discovered_at=stamp,
    )
    engine = warehouse.get_engine()
    with engine.begin() as connection:
        upsert_rows(
            connection,
            s.courses,
            rows,
            ["course_id"],
            ["display_name", "org", "start_at", "end_at", "semester"],
        )
    context.log.info(f"catalog: {len(rows)} courses")
    return MaterializeResult(
        metadata={"courses": len(rows), "semesters": rows["semester"].nunique()}
    )


COURSE_ASSET_SPECS = [
    AssetSpec(
        "mooc_enrollments",
        deps=["courses"],
        group_name=INGEST_GROUP,
        description="Enrollments of the course (Open edX enrollment + accounts APIs).",
    ),
    AssetSpec(
        "mooc_grades",
        deps=["courses"],
        group_name=INGEST_GROUP,
        description="Gradebook (percent, letter, pass) and completion of the course.",
    ),
    AssetSpec(
        "h5p_results",
        deps=["courses"],
        group_name=INGEST_GROUP,
        description="Scored H5P attempts from the LRS (one row per xAPI statement).",
    ),
    AssetSpec(
        "student_features",
        deps=["mooc_enrollments", "mooc_grades", "h5p_results"],
        group_name=INGEST_GROUP,
        description="Per-student features, upserted on every fetch.",
    ),
    AssetSpec(
        "feature_snapshots",
        deps=["student_features"],
        group_name=INGEST_GROUP,
        description="The features of each week of course (latest fetch of the week).",
    ),
]


@multi_asset(
    specs=COURSE_ASSET_SPECS,
    partitions_def=courses_partitions,
    pool=WAREHOUSE_POOL,
    can_subset=False,
)
def course_ingestion(
    context: AssetExecutionContext,
    openedx: OpenEdxResource,
    lrs: LrsResource,
    warehouse: WarehouseResource,
):
    """Refresh one course: Open edX sources, the LRS statements stored since the last
    refresh, then features and snapshots, every table in one transaction."""
    outcome = ingest_course(
        openedx,
        lrs,
        warehouse.get_engine(),
        context.partition_key,
        context.log,
        warehouse.semester_rule(),
    )
    for key, metadata in outcome.metadata().items():
        yield MaterializeResult(asset_key=key, metadata=metadata)
