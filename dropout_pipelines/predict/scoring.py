"""Scoring rules, pure: the feature matrix, risk score, A/B arm assignment (the level of a
score is `warehouse.risk_levels`).

No database and no Dagster here, so the rules are tested on plain frames and shared by
the batch asset, the on-demand path and the benchmark.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
from catboost import Pool

AB_BUCKETS = 10_000


class MissingFeatureError(ValueError):
    """The model needs a feature the warehouse does not have."""


def feature_matrix(features: pd.DataFrame, model_features: Sequence[str]) -> pd.DataFrame:
    """The columns in the model's order, as floats (NULL → NaN, which CatBoost handles)."""
    missing = [name for name in model_features if name not in features.columns]
    if missing:
        raise MissingFeatureError(
            f"the model needs feature(s) {', '.join(missing)} that student_features lacks"
        )
    matrix = features.loc[:, list(model_features)]
    return matrix.apply(pd.to_numeric, errors="coerce").astype("float64")


REASONS_PER_PREDICTION = 3


def top_reasons(model, matrix: pd.DataFrame, k: int = REASONS_PER_PREDICTION) -> list[list[dict]]:
    """Why each student is flagged: the `k` features that pushed their risk up the most
    (CatBoost SHAP values, in log-odds), with the student's value of each. A feature that
    lowered the risk is no reason to worry and is left out."""
    if matrix.empty:
        return []
    shap = model.get_feature_importance(data=Pool(matrix), type="ShapValues")[:, :-1]
    order = np.argsort(-shap, axis=1)[:, :k]
    rows = np.arange(len(matrix))[:, None]
    contributions = np.round(shap[rows, order], 4)
    values = matrix.to_numpy()[rows, order]
    names = np.asarray(matrix.columns, dtype=object)[order]
    return [
        [
            {
                "feature": name,
                "value": None if np.isnan(value) else round(float(value), 4),
                "contribution": float(contribution),
            }
            for name, value, contribution in zip(row_names, row_values, row_contrib, strict=True)
            if contribution > 0
        ]
        for row_names, row_values, row_contrib in zip(names, values, contributions, strict=True)
    ]


def fail_risk_scores(probabilities_of_fail: np.ndarray) -> np.ndarray:
    """100·P(fail), clipped to [0, 100] and rounded to 0.01 (what instructors read)."""
    return np.round(np.clip(probabilities_of_fail * 100.0, 0.0, 100.0), 2)


def ab_bucket(course_id: str, user_id: int) -> float:
    """A stable position in [0, 1) for (course, user): the same arm on every run and host."""
    digest = hashlib.sha256(f"{course_id}\x1f{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % AB_BUCKETS / AB_BUCKETS


def ab_arms(course_id: str, user_ids: Sequence[int], share_b: float) -> np.ndarray:
    """'B' for about `share_b` of the students (deterministically), 'A' for the rest."""
    buckets = np.fromiter(
        (ab_bucket(course_id, int(u)) for u in user_ids), dtype="float64", count=len(user_ids)
    )
    return np.where(buckets < share_b, "B", "A").astype(object)
