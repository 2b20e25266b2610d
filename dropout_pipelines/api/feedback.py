"""Instructors' "useful / not useful" on a flagged student, kept in `prediction_feedback`.

The judgement is tied to the prediction it was given on (and so to the model that made
it): the model comparison can then say which model's flags instructors found useful.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from dropout_pipelines.api.errors import Conflict
from dropout_pipelines.api.reads import require_course
from dropout_pipelines.api.shapes import FeedbackSaved
from dropout_pipelines.predict.service import latest_prediction
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import upsert_rows

JUDGEMENT_KEY = ("prediction_id", "given_by")


def record_feedback(
    engine: sa.Engine,
    user_id: int,
    course_id: str,
    useful: bool,
    given_by: str,
    now: datetime,
) -> FeedbackSaved:
    """Save one instructor's judgement of the student's latest serving prediction (a second
    click by the same instructor replaces the first)."""
    with engine.connect() as connection:
        require_course(connection, course_id)
    prediction = latest_prediction(engine, user_id, course_id)
    if prediction is None:
        raise Conflict(
            f"student {user_id} of course {course_id!r} has no prediction to judge yet: "
            "open the student first (it is predicted on demand)"
        )
    row = {
        "prediction_id": prediction["id"],
        "user_id": user_id,
        "course_id": course_id,
        "model_name": prediction["model_name"],
        "model_version": prediction["model_version"],
        "useful": useful,
        "given_by": given_by,
        "given_at": now,
    }
    with engine.begin() as connection:
        upsert_rows(
            connection,
            s.prediction_feedback,
            [row],
            JUDGEMENT_KEY,
            ["useful", "given_at"],
        )
    return FeedbackSaved(**{key: row[key] for key in FeedbackSaved.model_fields})
