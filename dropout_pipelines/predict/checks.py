"""Asset checks on `predictions`, evaluated over the whole table after a materialization
(`predictions_are_fresh` also hourly, by `freshness_check_job`: staleness is what happens
when nothing runs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from dropout_pipelines.clock import utc_now
from dropout_pipelines.predict.assets import predictions
from dropout_pipelines.settings import default_predict_frequency
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.course_status import course_is_closed
from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines.warehouse.risk_levels import risk_level_sql


def _count(warehouse: WarehouseResource, query: sa.Select) -> int:
    with warehouse.get_engine().connect() as connection:
        return int(connection.execute(query).scalar_one())


@asset_check(
    asset=predictions,
    description="Every student of a predicted course has a latest serving prediction.",
)
def every_student_has_a_latest_prediction(warehouse: WarehouseResource) -> AssetCheckResult:
    sf, p = s.student_features, s.predictions
    predicted_courses = sa.select(p.c.course_id).distinct()
    latest = sa.exists().where(
        p.c.user_id == sf.c.user_id, p.c.course_id == sf.c.course_id, p.c.latest_serving_slot == 1
    )
    missing = _count(
        warehouse,
        sa.select(sa.func.count())
        .select_from(sf)
        .where(sf.c.course_id.in_(predicted_courses), ~latest),
    )
    return AssetCheckResult(
        passed=missing == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={"students_without_latest": missing},
    )


@asset_check(asset=predictions, description="fail_risk_score within 0–100.")
def scores_within_range(warehouse: WarehouseResource) -> AssetCheckResult:
    p = s.predictions
    outside = _count(
        warehouse,
        sa.select(sa.func.count()).where(
            sa.or_(p.c.fail_risk_score < 0, p.c.fail_risk_score > 100)
        ),
    )
    return AssetCheckResult(passed=outside == 0, metadata={"outside_range": outside})


@asset_check(
    asset=predictions,
    description="risk_level agrees with fail_risk_score (LOW < 40 ≤ MEDIUM < 70 ≤ HIGH).",
)
def risk_level_matches_score(warehouse: WarehouseResource) -> AssetCheckResult:
    p = s.predictions
    expected = risk_level_sql(p.c.fail_risk_score)
    # Legacy rows keep their v1 label; only rows this pipeline made must agree.
    inconsistent = _count(
        warehouse,
        sa.select(sa.func.count()).where(p.c.risk_level != expected, p.c.run_id != s.LEGACY_RUN_ID),
    )
    return AssetCheckResult(passed=inconsistent == 0, metadata={"inconsistent": inconsistent})


FREQUENCY_PERIODS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
}
# A course is stale once it missed a whole scheduled run (one late tick is tolerated).
STALE_AFTER_PERIODS = 2
LISTED_STALE_COURSES = 20


@dataclass(frozen=True)
class StaleCourse:
    course_id: str
    frequency: str
    last_predicted_at: datetime | None  # None: features, but never scored

    def age(self, now: datetime) -> timedelta | None:
        return None if self.last_predicted_at is None else now - self.last_predicted_at

    def describe(self, now: datetime) -> dict:
        age = self.age(now)
        return {
            "course_id": self.course_id,
            "frequency": self.frequency,
            "age_hours": None if age is None else round(age.total_seconds() / 3600, 1),
            "last_predicted_at": (
                None if self.last_predicted_at is None else self.last_predicted_at.isoformat()
            ),
        }


@dataclass(frozen=True)
class FreshnessReport:
    checked: int
    exempt_closed: int
    stale: list[StaleCourse]


def prediction_freshness(
    engine: sa.Engine, now: datetime, default_frequency: str
) -> FreshnessReport:
    """The auto-predicted courses whose serving predictions are older than their frequency
    allows (`STALE_AFTER_PERIODS` periods).

    In scope: courses with features or predictions, mapped with `auto_predict` and an
    hourly/daily/weekly frequency, or unmapped and following `default_frequency`. A closed
    course (ended, final grades fetched after the end) is left alone, as the schedules
    leave it. A course's predictions are as old as its oldest latest serving row: a
    scheduled run rewrites every row of the course, and an on-demand prediction for one
    student must not make a stale course look fresh.
    """
    sf, p, mapping, courses = (
        s.student_features,
        s.predictions,
        s.course_model_mapping,
        s.courses,
    )
    with engine.connect() as connection:
        present = set(sa.inspect(connection).get_table_names())
        if not {sf.name, p.name} <= present:
            return FreshnessReport(0, 0, [])
        featured = set(connection.execute(sa.select(sf.c.course_id).distinct()).scalars())
        last_run = dict(
            connection.execute(
                sa.select(p.c.course_id, sa.func.min(p.c.predicted_at))
                .where(p.c.latest_serving_slot == 1)
                .group_by(p.c.course_id)
            ).all()
        )
        mapped = {}
        if mapping.name in present:
            mapped = {
                row.course_id: row.predict_frequency if row.auto_predict else None
                for row in connection.execute(
                    sa.select(
                        mapping.c.course_id, mapping.c.auto_predict, mapping.c.predict_frequency
                    )
                )
            }
        closed = set()
        if courses.name in present:
            closed = set(
                connection.execute(
                    sa.select(courses.c.course_id).where(course_is_closed(now))
                ).scalars()
            )
    known = featured | set(last_run)
    checked, stale = 0, []
    for course_id in sorted(known - closed):
        frequency = mapped.get(course_id, default_frequency)
        if frequency not in FREQUENCY_PERIODS:
            continue  # manual, or auto_predict off
        checked += 1
        last = last_run.get(course_id)
        if last is None or now - last > STALE_AFTER_PERIODS * FREQUENCY_PERIODS[frequency]:
            stale.append(StaleCourse(course_id, frequency, last))
    return FreshnessReport(checked, len(known & closed), stale)


def _oldest_first(course: StaleCourse, now: datetime) -> timedelta:
    age = course.age(now)
    return timedelta.max if age is None else age


@asset_check(
    asset=predictions,
    description="Every auto-predicted course was scored within two periods of its frequency "
    "(hourly 2 h, daily 48 h, weekly 14 days); closed courses are exempt.",
)
def predictions_are_fresh(warehouse: WarehouseResource) -> AssetCheckResult:
    now = utc_now()
    report = prediction_freshness(warehouse.get_engine(), now, default_predict_frequency())
    stale = sorted(report.stale, key=lambda course: _oldest_first(course, now), reverse=True)
    return AssetCheckResult(
        passed=not stale,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "stale_courses": len(stale),
            "stale": MetadataValue.json(
                [course.describe(now) for course in stale[:LISTED_STALE_COURSES]]
            ),
            "courses_checked": report.checked,
            "closed_courses_exempt": report.exempt_closed,
            "checked_at": now.isoformat(timespec="seconds"),
        },
    )


PREDICTION_CHECKS = [
    every_student_has_a_latest_prediction,
    scores_within_range,
    risk_level_matches_score,
    predictions_are_fresh,
]
