"""Honest evaluation: splits that keep a student on one side, and the metrics we report.

Rows of one student (every snapshot week of every course they take) are near-duplicates of
each other; a split that let a student's week 5 train and week 6 test, or their course A
train and course B test, would grade the model on what it memorised. Splits here are by
student (the Open edX user id, the same in every course), deterministic from a hash.

What decides is what instructors get: the mean AUC over the first half of the course
weeks, while there is still time to act, beside two baselines a model must beat (the grade
so far, and the days since the last activity).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
from catboost.utils import eval_metric

DECISION_THRESHOLD = 0.5


def group_fraction(user_ids: pd.Series, salt: str = "") -> np.ndarray:
    """A stable number in [0, 1) per student: the same student, the same side."""
    keys = user_ids.astype(str) + "\x1f" + salt
    return np.fromiter(
        (int.from_bytes(hashlib.sha256(k.encode()).digest()[:8], "big") / 2**64 for k in keys),
        dtype="float64",
        count=len(keys),
    )


def split_by_student(
    rows: pd.DataFrame, validation: float = 0.15, test: float = 0.2, salt: str = ""
) -> pd.Series:
    """'train' | 'validation' | 'test' per row; all rows of a student, in every course, on
    the same side."""
    fraction = group_fraction(rows["user_id"], salt)
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


def inactivity_scores(rows: pd.DataFrame) -> np.ndarray:
    """The one-feature baseline of the click-stream: more days since the last activity =
    higher risk (NULL = never active = the highest)."""
    days = rows["days_since_last_activity"].astype("float64")
    return days.fillna(days.max() + 1 if days.notna().any() else 0.0).to_numpy()


BASELINES = {"grade_so_far": baseline_scores, "days_since_last_activity": inactivity_scores}


def early_weeks(weeks: Sequence[int]) -> list[int]:
    """The first half of the course weeks present (rounded up): where a warning still helps."""
    present = sorted({int(week) for week in weeks})
    if not present:
        return []
    half = -(-present[-1] // 2)
    return [week for week in present if week <= half]


def mean_auc(curve: dict[int, float], weeks: Sequence[int]) -> float | None:
    """The mean of the curve over `weeks` (those with a value), or None."""
    values = [curve[week] for week in weeks if week in curve]
    return round(float(np.mean(values)), 4) if values else None
