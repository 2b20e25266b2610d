"""Honest evaluation: splits that keep a student on one side, and the metrics we report.

Rows of one student (every snapshot week of a course) are near-duplicates of each other;
a split that let a student's week 5 train and week 6 test would grade the model on what it
memorised. Splits here are by (course, student) group, deterministic from a hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
from catboost.utils import eval_metric

DECISION_THRESHOLD = 0.5


def group_fraction(course_ids: pd.Series, user_ids: pd.Series, salt: str = "") -> np.ndarray:
    """A stable number in [0, 1) per (course, student): the same group, the same side."""
    keys = course_ids.astype(str) + "\x1f" + user_ids.astype(str) + "\x1f" + salt
    return np.fromiter(
        (int.from_bytes(hashlib.sha256(k.encode()).digest()[:8], "big") / 2**64 for k in keys),
        dtype="float64",
        count=len(keys),
    )


def split_by_student(
    rows: pd.DataFrame, validation: float = 0.15, test: float = 0.2, salt: str = ""
) -> pd.Series:
    """'train' | 'validation' | 'test' per row; all rows of a student on the same side."""
    fraction = group_fraction(rows["course_id"], rows["user_id"], salt)
    side = np.where(
        fraction < test, "test", np.where(fraction < test + validation, "validation", "train")
    )
    return pd.Series(side, index=rows.index)


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC-AUC, or None when only one class is present (undefined, not 0.5)."""
    if len(np.unique(labels)) < 2:
        return None
    return float(eval_metric(labels.astype(float), scores.astype(float), "AUC")[0])


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray
) -> dict[str, float | None]:
    """ROC-AUC, PR-AUC, F1 at 0.5, Brier score and the share of positives."""
    labels = labels.astype(int)
    predicted = probabilities >= DECISION_THRESHOLD
    true_positive = int(np.sum(predicted & (labels == 1)))
    precision_base = int(predicted.sum())
    recall_base = int((labels == 1).sum())
    f1 = (
        2 * true_positive / (precision_base + recall_base) if precision_base + recall_base else None
    )
    pr_auc = (
        float(eval_metric(labels.astype(float), probabilities.astype(float), "PRAUC")[0])
        if len(np.unique(labels)) == 2
        else None
    )
    return {
        "roc_auc": auc(labels, probabilities),
        "pr_auc": pr_auc,
        "f1": f1,
        "brier": float(np.mean((probabilities - labels) ** 2)) if len(labels) else None,
        "positives": float(labels.mean()) if len(labels) else None,
        "rows": int(len(labels)),
    }


def auc_by_week(
    weeks: pd.Series, labels: np.ndarray, scores: np.ndarray, min_rows: int = 20
) -> dict[int, float]:
    """The early-warning curve: AUC of the rows of each snapshot week."""
    frame = pd.DataFrame({"week": weeks.to_numpy(), "label": labels, "score": scores})
    curve = {}
    for week, group in frame.dropna(subset=["week"]).groupby("week"):
        value = auc(group["label"].to_numpy(), group["score"].to_numpy())
        if value is not None and len(group) >= min_rows:
            curve[int(week)] = round(value, 4)
    return curve


def baseline_scores(rows: pd.DataFrame, grade_column: str = "mooc_grade_percentage") -> np.ndarray:
    """The grade-so-far baseline: lower grade so far = higher risk (NULL = no grade = 100)."""
    return (100.0 - rows[grade_column].astype("float64").fillna(0.0)).to_numpy() / 100.0


def pick_weeks(curve: dict[int, float], weeks: Sequence[int]) -> dict[int, float | None]:
    """The curve at the weeks a report asks for (None where the week has no value)."""
    return {week: curve.get(week) for week in weeks}
