"""The grade under the grading policy and assessment timing, on a hand-made course."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from dropout_pipelines.features.assessments import (
    assessment_timing,
    policy_grade,
    subsection_scores,
    usage_keys,
)

T0 = datetime(2026, 9, 7)
KEY = "block-v1:ORG+C1+2026_S2+type@problem+block@"
OUTLINE = pd.DataFrame(
    {
        "problem_id": [f"{KEY}hw1_p1", f"{KEY}hw1_p2", f"{KEY}hw2_p1", f"{KEY}exam_p1"],
        "subsection_id": ["hw1", "hw1", "hw2", "exam"],
        "assignment_type": ["Homework", "Homework", "Homework", "Exam"],
        "due": pd.to_datetime([T0 + timedelta(days=7)] * 2 + [T0 + timedelta(days=14)] * 2),
        "points": [2.0, 2.0, 4.0, 10.0],
    }
)
POLICY = pd.DataFrame(
    {"assignment_type": ["Homework", "Exam"], "weight": [0.4, 0.6], "drop_count": [1, 0],
     "min_count": [2, 1]}
)  # fmt: skip
USERS = pd.Series([1, 2, 3])


def attempts(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"user_id": u, "block_id": f"http://lms/xblock/{KEY}{p}", "score_raw": s,
             "score_max": m, "occurred_at": T0 + timedelta(days=d)}
            for u, p, s, m, d in rows
        ]
    )  # fmt: skip


ATTEMPTS = attempts(
    [
        (1, "hw1_p1", 1.0, 2.0, 2), (1, "hw1_p1", 2.0, 2.0, 3), (1, "hw1_p2", 2.0, 2.0, 3),
        (1, "exam_p1", 5.0, 10.0, 13),
        (2, "hw2_p1", 4.0, 4.0, 16),  # two days late
    ]
)  # fmt: skip


def test_usage_keys_come_out_of_activity_iris():
    assert usage_keys(pd.Series([f"http://lms/xblock/{KEY}x", "plain"])).tolist() == [
        f"{KEY}x", "plain",
    ]  # fmt: skip


def test_policy_grade_drops_the_lowest_homework_and_weights_the_types():
    scores = subsection_scores(ATTEMPTS, OUTLINE)
    grade = policy_grade(USERS, scores, OUTLINE, POLICY)
    # ann: homework 1.0 and 0.0 → the lowest dropped → 1.0 × 0.4; exam 0.5 × 0.6 → 70
    assert grade.loc[1] == pytest.approx(70.0)
    # bob: homework 0 and 1 → 1.0 × 0.4 = 40; no exam
    assert grade.loc[2] == pytest.approx(40.0)
    assert grade.loc[3] == 0.0  # nothing submitted


def test_timing_counts_due_submitted_missed_and_lateness():
    scores = subsection_scores(ATTEMPTS, OUTLINE)
    week2 = assessment_timing(USERS, scores, OUTLINE, pd.Timestamp(T0 + timedelta(days=15)))
    week2 = week2.set_index("user_id")
    assert week2["assessments_due"].tolist() == [3, 3, 3]
    assert week2.loc[1, "assessments_submitted"] == 2 and week2.loc[1, "assessments_missed"] == 1
    assert week2.loc[1, "mean_lateness_days"] == pytest.approx(((2 - 7) + (13 - 14)) / 2)
    assert week2.loc[1, "mean_submitted_score"] == pytest.approx((1.0 + 0.5) / 2)
    # bob handed hw2 in two days late: submitted, but missed by its due date
    assert week2.loc[2, "assessments_submitted"] == 0  # not by day 15
    assert week2.loc[3, "assessments_missed"] == 3
    later = assessment_timing(USERS, scores, OUTLINE, pd.Timestamp(T0 + timedelta(days=20)))
    bob = later.set_index("user_id").loc[2]
    assert bob["assessments_submitted"] == 1 and bob["assessments_missed"] == 3
    assert bob["mean_lateness_days"] == pytest.approx(2.0)
    before = assessment_timing(USERS, scores, OUTLINE, pd.Timestamp(T0 + timedelta(days=1)))
    assert before["assessments_due"].tolist() == [0, 0, 0]
