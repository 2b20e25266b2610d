"""Asset checks on `predictions`, evaluated over the whole table after a materialization."""

import sqlalchemy as sa
from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

from dropout_pipelines.predict.assets import predictions
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines.warehouse.schema import HIGH_RISK_FROM, MEDIUM_RISK_FROM


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
    expected = sa.case(
        (p.c.fail_risk_score >= HIGH_RISK_FROM, "HIGH"),
        (p.c.fail_risk_score >= MEDIUM_RISK_FROM, "MEDIUM"),
        else_="LOW",
    )
    # Legacy rows keep their v1 label; only rows this pipeline made must agree.
    inconsistent = _count(
        warehouse,
        sa.select(sa.func.count()).where(
            p.c.risk_level != expected, p.c.run_id != "legacy_migration"
        ),
    )
    return AssetCheckResult(passed=inconsistent == 0, metadata={"inconsistent": inconsistent})


PREDICTION_CHECKS = [
    every_student_has_a_latest_prediction,
    scores_within_range,
    risk_level_matches_score,
]
