"""Refresh one course: fetch what is new, write it, and say what happened.

Shared by the `course_ingestion` asset (one course partition, from the UI or a backfill)
and the batched refresh job (many courses in one run), so both fetch, write, log and report
a course the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from logging import Logger

import sqlalchemy as sa
from dagster import Failure, MetadataValue

from dropout_pipelines.clock import utc_now_s
from dropout_pipelines.ingest.bundle import CourseBundle
from dropout_pipelines.ingest.clients.errors import (
    ApiRequestError,
    OpenEdxAuthError,
    OpenEdxPermissionError,
    PayloadError,
    UpstreamError,
)
from dropout_pipelines.ingest.fetch import fetch_course
from dropout_pipelines.ingest.resources import LrsResource, OpenEdxResource
from dropout_pipelines.ingest.store import (
    ConcurrentRefreshError,
    WriteCounts,
    read_lrs_cursor,
    write_course_bundle,
)
from dropout_pipelines.warehouse.semesters import DEFAULT_SEMESTER_RULE, SemesterRule

FETCH_ERRORS = (
    OpenEdxAuthError,
    OpenEdxPermissionError,
    PayloadError,
    UpstreamError,
    ApiRequestError,
)


def page_logger(log: Logger):
    """A page callback for the clients that logs every page fetched."""

    def on_page(endpoint: str, page_number: int, records: int) -> None:
        log.info(f"{endpoint}: page {page_number} ({records} records)")

    return on_page


@dataclass(frozen=True)
class IngestOutcome:
    """One course refreshed: what was fetched, written and how long it took."""

    bundle: CourseBundle
    counts: WriteCounts
    fetch_s: float
    total_s: float

    def metadata(self) -> dict[str, dict]:
        """Materialization metadata for each asset of the course's ingestion."""
        bundle, counts = self.bundle, self.counts
        pages = sum(stat.pages for stat in bundle.stats.values())
        retries = sum(stat.retries for stat in bundle.stats.values())
        common = {"pages": pages, "retries": retries, "seconds": round(self.total_s, 2)}
        grades = bundle.grades["grade_percentage"]
        return {
            "mooc_enrollments": {
                "students": counts.enrollments,
                "active": int(bundle.enrollments["is_active"].sum()),
                **common,
            },
            "mooc_grades": {
                "students": counts.grades,
                "mean_grade": MetadataValue.float(float(grades.mean()) if len(grades) else 0.0),
            },
            "h5p_results": {
                "new_results": counts.h5p_new,
                "new_statements": counts.new_statements,
                "new_assessment_attempts": counts.attempts_new,
            },
            "student_features": {"students": counts.features, **common},
            "feature_snapshots": {
                "rows": counts.snapshots,
                "snapshot_week": counts.snapshot_week or 0,
                "weeks_rebuilt_rows": counts.rebuilt_snapshots,
            },
        }


def ingest_course(
    openedx: OpenEdxResource,
    lrs: LrsResource,
    engine: sa.Engine,
    course_id: str,
    log: Logger,
    semesters: SemesterRule = DEFAULT_SEMESTER_RULE,
) -> IngestOutcome:
    """Fetch the course's sources and its LRS statements since the last refresh, write
    them in one transaction; a fetch error fails with nothing written."""
    started = time.monotonic()
    on_page = page_logger(log)
    cursor = read_lrs_cursor(engine, course_id)
    try:
        bundle = fetch_course(
            lambda: openedx.client(on_page=on_page),
            lambda: lrs.client(on_page=on_page),
            course_id,
            utc_now_s(),
            cursor=cursor,
            semesters=semesters,
        )
    except FETCH_ERRORS as error:
        # Only an upstream outage (5xx/429/timeouts past the client's own retries) may pass
        # by itself; a bad credential, a missing course or a malformed payload will not.
        raise Failure(
            f"{course_id}: {error} (nothing written)",
            allow_retries=isinstance(error, UpstreamError),
        ) from error
    fetch_s = time.monotonic() - started
    try:
        counts = write_course_bundle(engine, bundle)
    except ConcurrentRefreshError as error:
        raise Failure(str(error)) from error
    outcome = IngestOutcome(bundle, counts, fetch_s, time.monotonic() - started)
    pages = sum(stat.pages for stat in bundle.stats.values())
    retries = sum(stat.retries for stat in bundle.stats.values())
    log.info(
        f"{course_id}: {counts.features} students, {counts.new_statements} new statements "
        f"({counts.h5p_new} H5P results), week {counts.snapshot_week}, "
        f"{counts.rebuilt_snapshots} past-week snapshots rebuilt; {pages} pages, "
        f"{retries} retries, fetch {fetch_s:.1f}s, total {outcome.total_s:.1f}s"
    )
    if bundle.unknown_actors:
        log.warning(
            f"{course_id}: {bundle.unknown_actors} xAPI statements from actors not enrolled "
            "in the course were ignored (check LRS actor mapping)"
        )
    return outcome
