"""Model comparison on a course and a student's risk timeline: the read API's use cases."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.sql_files import named_query


def _plain(row) -> dict:
    """JSON-ready values (MySQL returns DECIMAL for AVG/SUM)."""
    return {
        key: float(value) if isinstance(value, Decimal) else value for key, value in row.items()
    }


def compare_models(engine: sa.Engine, course_id: str, run_id: str | None = None) -> dict:
    """Per model (serving per arm, shadow): students, mean risk, level counts; and the
    serving/shadow agreement, over the course's newest run (or `run_id`)."""
    with engine.connect() as connection:
        run_id = (
            run_id
            or connection.execute(
                named_query("latest_prediction_run"),
                {
                    "course_id": course_id,
                    "legacy_run_id": s.LEGACY_RUN_ID,
                    "on_demand_run_id": s.ON_DEMAND_RUN_ID,
                },
            ).scalar()
        )
        if run_id is None:
            return {"course_id": course_id, "run_id": None, "models": [], "agreement": None}
        params = {"course_id": course_id, "run_id": run_id}
        models = connection.execute(named_query("model_comparison"), params).mappings().all()
        agreement = (
            connection.execute(named_query("serving_shadow_agreement"), params).mappings().one()
        )
    return {
        "course_id": course_id,
        "run_id": run_id,
        "models": [_plain(row) for row in models],
        "agreement": _plain(agreement) if agreement["students"] else None,
    }


def risk_timeline(engine: sa.Engine, user_id: int, course_id: str) -> list[dict]:
    """Every prediction of one student in one course, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            named_query("student_risk_timeline"),
            {"user_id": int(user_id), "course_id": course_id},
        ).mappings()
        return [dict(row) for row in rows]
