"""Score students of a course with the model chosen for it, and save the predictions.

Shared by the `predictions` asset (a whole course), `predict_student` (one student, on
demand) and the benchmark, so the three can never disagree on how a score is made.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dropout_pipelines.clock import utc_now
from dropout_pipelines.predict.model_store import LoadedModel, ModelStore, default_model_store
from dropout_pipelines.predict.scoring import (
    ab_arms,
    fail_risk_scores,
    feature_matrix,
    top_reasons,
)
from dropout_pipelines.predict.selection import ModelChoice, NoModelError, resolve_model_for_course
from dropout_pipelines.predict.writes import score_and_save
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.risk_levels import risk_levels

# Read for every course, whatever its model needs: the key, what a prediction keeps as its
# snapshot, and the withdrawal flag that overrides a score.
ALWAYS_READ: tuple[str, ...] = (
    "user_id",
    "mooc_grade_percentage",
    "mooc_completion_rate",
    "week_of_course",
    "is_unenrolled",
)


class NoFeaturesError(LookupError):
    """The student (or course) has no row in student_features yet."""


@dataclass
class CourseScores:
    """What one scoring pass produced: the rows saved and numbers for the UI."""

    rows: pd.DataFrame
    serving_model: str
    saved: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float | int | str]:
        serving = self.rows[self.rows["purpose"] == "serving"]
        levels = serving["risk_level"].value_counts()
        return {
            "students": len(serving),
            "mean_risk": round(float(serving["fail_risk_score"].mean()), 2) if len(serving) else 0,
            "high": int(levels.get("HIGH", 0)),
            "medium": int(levels.get("MEDIUM", 0)),
            "low": int(levels.get("LOW", 0)),
            "model": self.serving_model,
            "shadow_rows": int((self.rows["purpose"] == "shadow").sum()),
        }


def read_features(
    engine: sa.Engine,
    course_id: str,
    user_ids: Sequence[int] | None = None,
    columns: Sequence[str] = ALWAYS_READ,
) -> pd.DataFrame:
    """`columns` of a course's student_features rows (or of some of its students).

    Only what scoring uses is read: a course's models need a handful of the ~50 feature
    columns, and reading and decoding the rest cost more than the model itself. A column
    student_features does not have is left out here, for `feature_matrix` to name.
    """
    table = s.student_features
    names = dict.fromkeys(["user_id", *(name for name in columns if name in table.c)])
    query = sa.select(*(table.c[name] for name in names)).where(table.c.course_id == course_id)
    if user_ids is not None:
        query = query.where(table.c.user_id.in_([int(u) for u in user_ids]))
    with engine.connect() as connection:
        # read_sql builds the frame column-wise (3-4x faster than from 100,000 row mappings).
        return pd.read_sql(query, connection)


def _load(store: ModelStore, choice: ModelChoice) -> LoadedModel:
    """The chosen model, from the store (cached per process by the store's loader)."""
    return store.load_registered(choice.model_path, choice.features_csv_path)


def _every_model(choice: ModelChoice) -> list[ModelChoice]:
    """The serving model and its challengers (A/B model B, shadow)."""
    return [
        choice,
        *([choice.ab[0]] if choice.ab is not None else []),
        *([choice.shadow] if choice.shadow is not None else []),
    ]


def columns_to_read(choice: ModelChoice, store: ModelStore) -> list[str]:
    """ALWAYS_READ plus every feature one of the course's models takes, in a stable order."""
    features = (name for model in _every_model(choice) for name in _load(store, model).features)
    return list(dict.fromkeys([*ALWAYS_READ, *features]))


def _score(model: LoadedModel, features: pd.DataFrame) -> np.ndarray:
    matrix = feature_matrix(features, model.features)
    return fail_risk_scores(model.model.predict_proba(matrix)[:, 1])


def _reasons(model: LoadedModel, features: pd.DataFrame) -> list[str]:
    return top_reasons(model.model, feature_matrix(features, model.features))


def _rows(
    features: pd.DataFrame,
    choice: ModelChoice,
    scores: np.ndarray,
    purpose: str,
    arms: np.ndarray | None = None,
    reasons: list[str] | None = None,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": features["user_id"].to_numpy(),
            "model_name": choice.model_name,
            "model_version": choice.model_version,
            "fail_risk_score": scores,
            "risk_level": risk_levels(scores),
            "purpose": purpose,
            "ab_arm": arms if arms is not None else None,
            "snapshot_grade": features["mooc_grade_percentage"].to_numpy(),
            "snapshot_completion_rate": features["mooc_completion_rate"].to_numpy(),
            "snapshot_week": features["week_of_course"].to_numpy(),
            "reasons": reasons if reasons is not None else None,
        }
    )


WITHDRAWN_REASON = json.dumps([{"feature": "is_unenrolled", "value": 1.0, "contribution": None}])


def _withdrawn(features: pd.DataFrame) -> np.ndarray:
    return features["is_unenrolled"].astype("boolean").fillna(False).to_numpy(dtype=bool)


def score_features(
    choice: ModelChoice, course_id: str, features: pd.DataFrame, store: ModelStore
) -> pd.DataFrame:
    """Serving rows (A/B arms when mapped) with their reasons, plus shadow rows when a
    shadow model is mapped.

    A learner who has unenrolled is reported as withdrawn, not scored as if present: risk
    100 (HIGH) with the reason `is_unenrolled`, whatever a model would make of their data.
    """
    serving_scores = _score(_load(store, choice), features)
    reasons = _reasons(_load(store, choice), features)
    arms = None
    if choice.ab is not None:
        ab_choice, share = choice.ab
        arms = ab_arms(course_id, features["user_id"].tolist(), share)
        in_b = arms == "B"
        if in_b.any():
            serving_scores = serving_scores.copy()
            serving_scores[in_b] = _score(_load(store, ab_choice), features[in_b])
            b_reasons = iter(_reasons(_load(store, ab_choice), features[in_b]))
            reasons = [next(b_reasons) if b else own for own, b in zip(reasons, in_b, strict=True)]
    withdrawn = _withdrawn(features)
    if withdrawn.any():
        serving_scores = np.where(withdrawn, 100.0, serving_scores)
        reasons = [
            WITHDRAWN_REASON if gone else own for own, gone in zip(reasons, withdrawn, strict=True)
        ]
    serving = _rows(features, choice, serving_scores, "serving", arms, reasons)
    if choice.ab is not None:
        in_b = serving["ab_arm"].eq("B")
        serving.loc[in_b, "model_name"] = choice.ab[0].model_name
        serving.loc[in_b, "model_version"] = choice.ab[0].model_version
    parts = [serving]
    if choice.shadow is not None:
        shadow_scores = _score(_load(store, choice.shadow), features)
        parts.append(_rows(features, choice.shadow, shadow_scores, "shadow"))
    return pd.concat(parts, ignore_index=True)


def _no_features(course_id: str, user_ids: Sequence[int] | None) -> NoFeaturesError:
    who = f"students {list(user_ids)} of " if user_ids is not None else ""
    return NoFeaturesError(
        f"no student_features for {who}course {course_id}: ingest the course first "
        "(materialize its student_features partition)"
    )


def predict_course(
    engine: sa.Engine,
    course_id: str,
    run_id: str,
    now: datetime,
    user_ids: Sequence[int] | None = None,
    store: ModelStore | None = None,
) -> CourseScores:
    """Score the course's students (all, or `user_ids`) and save the predictions; models
    come from `store` (default: the local store under DROPOUT_MODELS_DIR).

    The models are chosen first, so only the feature columns they take are read. A course
    that has neither features nor a model is reported as not ingested: that comes first.
    """
    store = store or default_model_store()
    try:
        with engine.connect() as connection:
            choice = resolve_model_for_course(connection, course_id)
    except NoModelError:
        if read_features(engine, course_id, user_ids).empty:
            raise _no_features(course_id, user_ids) from None
        raise
    features = read_features(engine, course_id, user_ids, columns_to_read(choice, store))
    if features.empty:
        raise _no_features(course_id, user_ids)
    rows, saved = score_and_save(
        engine,
        course_id,
        lambda: score_features(choice, course_id, features, store),
        run_id,
        now,
        only_users=user_ids,
    )
    return CourseScores(rows, f"{choice.model_name}:{choice.model_version}", saved)


def latest_prediction(engine: sa.Engine, user_id: int, course_id: str) -> dict | None:
    predictions = s.predictions
    with engine.connect() as connection:
        row = (
            connection.execute(
                sa.select(predictions).where(
                    predictions.c.user_id == int(user_id),
                    predictions.c.course_id == course_id,
                    predictions.c.latest_serving_slot == 1,
                )
            )
            .mappings()
            .one_or_none()
        )
    return dict(row) if row is not None else None


def predict_student(
    engine: sa.Engine,
    user_id: int,
    course_id: str,
    now: datetime | None = None,
    run_id: str = s.ON_DEMAND_RUN_ID,
    store: ModelStore | None = None,
) -> dict:
    """The student's latest serving prediction; made (and saved) now when there is none.

    What the read API calls for a student whose course was ingested after the last
    scheduled prediction run.
    """
    saved = latest_prediction(engine, user_id, course_id)
    if saved is not None:
        return saved
    predict_course(
        engine,
        course_id,
        run_id,
        (now or utc_now()).replace(microsecond=0),
        user_ids=[user_id],
        store=store,
    )
    made = latest_prediction(engine, user_id, course_id)
    assert made is not None, "a saved serving prediction must be latest"
    return made
