"""Ingestion assets: the course catalog and, per course partition, the fetched sources and
the features computed from them.

The five per-course assets are one multi-asset on purpose: they are written in a single
transaction, so a course never shows enrollments of one fetch next to features of another.
"""

import time
from datetime import datetime

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)

from dropout_pipelines.clock import utc_now_s
from dropout_pipelines.ingest.course_frames import naive_datetime
from dropout_pipelines.ingest.errors import (
    OpenEdxAuthError,
    OpenEdxPermissionError,
    PayloadError,
    UpstreamError,
)
from dropout_pipelines.ingest.fetch import fetch_course
from dropout_pipelines.ingest.partitions import courses_partitions
from dropout_pipelines.ingest.resources import LrsResource, OpenEdxResource
from dropout_pipelines.ingest.store import write_course_bundle
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import frame_records, upsert_rows
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines.warehouse.semesters import semester_for

DB_POOL = "warehouse_db"
INGEST_GROUP = "ingestion"
FETCH_ERRORS = (OpenEdxAuthError, OpenEdxPermissionError, PayloadError, UpstreamError)


def _now() -> datetime:
    return utc_now_s()


@asset(group_name=INGEST_GROUP, pool=DB_POOL)
def courses(
    context: AssetExecutionContext, openedx: OpenEdxResource, warehouse: WarehouseResource
) -> MaterializeResult:
    """The course catalog from Open edX: names, dates and semesters of every course."""
    try:
        catalog = openedx.client(on_page=_page_logger(context)).list_courses()
    except FETCH_ERRORS as error:
        raise Failure(str(error)) from error
    stamp = _now()
    rows = catalog.rename(columns={"name": "display_name", "start": "start_at", "end": "end_at"})[
        ["course_id", "display_name", "org", "start_at", "end_at"]
    ]
    rows = rows.assign(
        semester=[
            semester_for(c, naive_datetime(st))
            for c, st in zip(rows.course_id, rows.start_at, strict=True)
        ],
        discovered_at=stamp,
    )
    engine = warehouse.get_engine()
    create_schema(engine)
    with engine.begin() as connection:
        upsert_rows(
            connection,
            s.courses,
            frame_records(rows),
            ["course_id"],
            ["display_name", "org", "start_at", "end_at", "semester"],
        )
    context.log.info(f"catalog: {len(rows)} courses")
    return MaterializeResult(
        metadata={"courses": len(rows), "semesters": rows["semester"].nunique()}
    )


def _page_logger(context: AssetExecutionContext):
    def on_page(endpoint: str, page_number: int, records: int) -> None:
        context.log.info(f"{endpoint}: page {page_number} ({records} records)")

    return on_page


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
    pool=DB_POOL,
    can_subset=False,
)
def course_ingestion(
    context: AssetExecutionContext,
    openedx: OpenEdxResource,
    lrs: LrsResource,
    warehouse: WarehouseResource,
):
    """Fetch one course (enrollments, grades, completion, xAPI/H5P), compute features and
    write every table in one transaction."""
    course_id = context.partition_key
    started = time.monotonic()
    on_page = _page_logger(context)
    try:
        bundle = fetch_course(
            lambda: openedx.client(on_page=on_page),
            lambda: lrs.client(on_page=on_page),
            course_id,
            _now(),
        )
    except FETCH_ERRORS as error:
        raise Failure(f"{course_id}: {error} (nothing written)") from error
    fetched_s = time.monotonic() - started
    counts = write_course_bundle(warehouse.get_engine(), bundle)
    seconds = time.monotonic() - started
    pages = sum(stat.pages for stat in bundle.stats.values())
    retries = sum(stat.retries for stat in bundle.stats.values())
    context.log.info(
        f"{course_id}: {len(bundle.features)} students, {counts.h5p_new} new H5P results, "
        f"week {bundle.snapshot_week}; {pages} pages, {retries} retries, "
        f"fetch {fetched_s:.1f}s, total {seconds:.1f}s"
    )
    if bundle.unknown_actors:
        context.log.warning(
            f"{course_id}: {bundle.unknown_actors} xAPI statements from actors not enrolled "
            "in the course were ignored (check LRS actor mapping)"
        )
    common = {"pages": pages, "retries": retries, "seconds": round(seconds, 2)}
    yield MaterializeResult(
        asset_key="mooc_enrollments",
        metadata={
            "students": counts.enrollments,
            "active": int(bundle.enrollments["is_active"].sum()),
            **common,
        },
    )
    yield MaterializeResult(
        asset_key="mooc_grades",
        metadata={
            "students": counts.grades,
            "mean_grade": MetadataValue.float(float(bundle.grades["grade_percentage"].mean()))
            if len(bundle.grades)
            else MetadataValue.float(0.0),
        },
    )
    yield MaterializeResult(
        asset_key="h5p_results",
        metadata={"new_results": counts.h5p_new, "results_seen": len(bundle.h5p)},
    )
    yield MaterializeResult(
        asset_key="student_features", metadata={"students": counts.features, **common}
    )
    yield MaterializeResult(
        asset_key="feature_snapshots",
        metadata={"rows": counts.snapshots, "snapshot_week": bundle.snapshot_week or 0},
    )
