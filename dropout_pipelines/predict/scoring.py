"""Scoring rules, pure: the feature matrix, risk score, A/B arm assignment (the level of a
score is `warehouse.risk_levels`).

No database and no Dagster here, so the rules are tested on plain frames and shared by
the batch asset, the on-demand path and the benchmark.
"""

from __future__ import annotations

import hashlib
import json
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
REASON_DECIMALS = 4


def shap_values(model, matrix: pd.DataFrame) -> np.ndarray:
    """Each feature's SHAP contribution to each student's log-odds of failing (CatBoost's
    exact tree SHAP; the bias column dropped)."""
    return model.get_feature_importance(data=Pool(matrix), type="ShapValues")[:, :-1]


def _json_numbers(values: np.ndarray) -> np.ndarray:
    """Numbers as JSON text, rounded to REASON_DECIMALS; NaN and ±inf (which JSON cannot
    hold, and MariaDB's JSON check would refuse) as null."""
    rounded = np.round(values.astype("float64"), REASON_DECIMALS)
    finite = np.isfinite(rounded)
    text = np.full(len(rounded), "null", dtype=object)
    text[finite] = [repr(value) for value in rounded[finite].tolist()]
    return text


def top_reasons(model, matrix: pd.DataFrame, k: int = REASONS_PER_PREDICTION) -> list[str]:
    """Why each student is flagged, as the JSON text `predictions.reasons` stores: the `k`
    features that pushed their risk up the most (SHAP, in log-odds), with the student's
    value of each, `[{"feature": …, "value": …, "contribution": …}, …]`, both rounded to
    REASON_DECIMALS. A feature that lowered the risk is no reason to worry and is left out.

    The text is built a rank at a time over all students, not as a dict per student
    serialised one by one: for a course of 100,000 that took 1.7 s, nearly as long as the
    model's own SHAP computation (2 s). `json.loads` of each text gives what `json.dumps`
    of the dicts would.
    """
    if matrix.empty:
        return []
    shap = shap_values(model, matrix)
    k = min(k, shap.shape[1])
    order = np.argsort(-shap, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(matrix))[:, None]
    contributions = np.round(shap[rows, order], REASON_DECIMALS)
    values = matrix.to_numpy()[rows, order]
    quoted = np.asarray([json.dumps(str(name)) for name in matrix.columns], dtype=object)
    # Rank r of a student: its JSON object when that feature raised the risk, else "". The
    # ranks are sorted by contribution, so a student's positive ones come first.
    ranks = []
    for rank in range(k):
        raised = np.flatnonzero(contributions[:, rank] > 0)
        entries = np.full(len(matrix), "", dtype=object)
        entries[raised] = (
            (", " if rank else "")
            + ('{"feature": ' + quoted[order[raised, rank]])
            + (', "value": ' + _json_numbers(values[raised, rank]))
            + (', "contribution": ' + _json_numbers(contributions[raised, rank]))
            + "}"
        )
        ranks.append(entries.tolist())
    return ["[" + "".join(parts) + "]" for parts in zip(*ranks, strict=True)]


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
