"""Evaluation helpers: student-grouped splits and metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dropout_pipelines.training.evaluate import (
    auc,
    auc_by_week,
    baseline_scores,
    classification_metrics,
    early_weeks,
    inactivity_scores,
    mean_auc,
    split_by_student,
)


def test_split_keeps_every_student_on_one_side():
    rows = pd.DataFrame(
        {
            "course_id": np.repeat(["c1", "c2"], 500),
            "user_id": np.tile(np.repeat(np.arange(50), 10), 2),
            "snapshot_week": np.tile(np.arange(10), 100),
        }
    )
    side = split_by_student(rows)
    # the same students take both courses: a student is on one side in every course
    per_student = side.groupby(rows["user_id"]).nunique()
    assert (per_student == 1).all()
    shares = side.value_counts(normalize=True)
    assert set(shares.index) == {"train", "validation", "test"}
    assert split_by_student(rows).equals(side)  # deterministic


def test_metrics_on_a_known_case():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([0.1, 0.6, 0.4, 0.9])
    metrics = classification_metrics(labels, probabilities)
    assert metrics["roc_auc"] == 0.75
    assert metrics["f1"] == 0.5  # one true positive, one false positive, one false negative
    assert metrics["brier"] == np.mean((probabilities - labels) ** 2)
    assert auc(np.array([1, 1]), np.array([0.2, 0.3])) is None


def test_auc_by_week_and_the_grade_baseline():
    weeks = pd.Series([1] * 30 + [2] * 30)
    labels = np.array([0, 1] * 30)
    scores = np.where(labels == 1, 0.9, 0.1)
    assert auc_by_week(weeks, labels, scores) == {1: 1.0, 2: 1.0}
    rows = pd.DataFrame({"mooc_grade_percentage": [90.0, 10.0, None]})
    assert baseline_scores(rows).tolist() == [0.1, 0.9, 1.0]


def test_early_weeks_and_the_inactivity_baseline():
    assert early_weeks([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]) == list(range(1, 9))
    assert early_weeks([]) == []
    assert mean_auc({1: 0.6, 2: 0.8, 9: 0.99}, [1, 2, 3]) == 0.7
    assert mean_auc({}, [1]) is None
    rows = pd.DataFrame({"days_since_last_activity": [0, 30, None]})
    assert inactivity_scores(rows).tolist() == [0.0, 30.0, 31.0]  # never active = riskiest
