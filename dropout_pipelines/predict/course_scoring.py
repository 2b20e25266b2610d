"""Score one course and describe it: shared by the `predictions` asset (one partition) and
the batched refresh job, so both log and report a scored course the same way."""

from __future__ import annotations

from logging import Logger

import sqlalchemy as sa
from dagster import Failure, MetadataValue

from dropout_pipelines.clock import utc_now_s
from dropout_pipelines.predict.comparison import compare_models
from dropout_pipelines.predict.model_store import ModelStore
from dropout_pipelines.predict.scoring import MissingFeatureError
from dropout_pipelines.predict.selection import NoModelError
from dropout_pipelines.predict.service import NoFeaturesError, predict_course


def score_course(
    engine: sa.Engine, store: ModelStore, course_id: str, run_id: str, log: Logger
) -> dict:
    """Score every student of the course with its model; the materialization metadata."""
    try:
        scores = predict_course(engine, course_id, run_id, utc_now_s(), store=store)
    except (NoModelError, NoFeaturesError, MissingFeatureError) as error:
        raise Failure(f"{course_id}: {error}", allow_retries=False) from error
    summary = scores.summary()
    log.info(
        f"{course_id}: {summary['students']} students scored with {summary['model']}: "
        f"mean risk {summary['mean_risk']}, HIGH {summary['high']}, MEDIUM {summary['medium']}, "
        f"LOW {summary['low']}; {summary['shadow_rows']} shadow rows"
    )
    comparison = {}
    if summary["shadow_rows"] or scores.rows["ab_arm"].notna().any():
        comparison = {
            "model_comparison": MetadataValue.json(compare_models(engine, course_id, run_id))
        }
    return {
        **comparison,
        "students": summary["students"],
        "mean_risk": MetadataValue.float(float(summary["mean_risk"])),
        "high_risk": summary["high"],
        "medium_risk": summary["medium"],
        "low_risk": summary["low"],
        "model": summary["model"],
        "shadow_rows": summary["shadow_rows"],
    }
