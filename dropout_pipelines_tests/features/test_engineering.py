"""Feature engineering: pure pandas, checked on small hand-made frames."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from dropout_pipelines.features.engineering import (
    CourseWindow,
    build_features,
    h5p_summary,
    week_of_course,
)
from dropout_pipelines.warehouse.schema import BASE_FEATURE_NAMES

START = datetime(2026, 9, 28)
WINDOW = CourseWindow(start=START, end=datetime(2027, 1, 18))
AS_OF = datetime(2026, 10, 26, 12)  # day 28.5 → week 5


def _roster() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [1, 2, 3],
            "enrolled_at": [datetime(2026, 9, 20), datetime(2026, 10, 5), datetime(2026, 9, 28)],
            "is_active": [True, True, False],
        }
    )


def _h5p() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2],
            "content_id": ["a", "a", "b", "a"],
            "score_raw": [2.0, 4.0, 3.0, 1.0],
            "score_max": [5.0, 5.0, 3.0, 5.0],
            "completed": [True, True, None, False],
            "duration_s": [60.0, 120.0, 30.0, 600.0],
            "occurred_at": [AS_OF] * 4,
        }
    )


def _features(**overrides) -> pd.DataFrame:
    inputs = {
        "roster": _roster(),
        "grades": pd.DataFrame(
            {
                "user_id": [1, 2],
                "grade_percentage": [81.5, 12.0],
                "passed": [True, False],
                "letter_grade": ["B", None],
            }
        ),
        "completion": pd.DataFrame({"user_id": [1, 2], "completion_rate": [0.9, 0.1]}),
        "h5p": _h5p(),
        "activity": pd.DataFrame(
            {"user_id": [1, 2], "last_activity_at": [datetime(2026, 10, 25), datetime(2026, 10, 6)]}
        ),
        "window": WINDOW,
        "as_of": AS_OF,
    }
    return build_features(**(inputs | overrides)).set_index("user_id")


def test_columns_are_the_schema_feature_columns():
    assert list(_features().columns) == list(BASE_FEATURE_NAMES)


def test_week_of_course():
    assert week_of_course(START, datetime(2026, 9, 27)) == 0
    assert week_of_course(START, START) == 1
    assert week_of_course(START, datetime(2026, 10, 4, 23)) == 1
    assert week_of_course(START, datetime(2026, 10, 5)) == 2
    assert week_of_course(None, START) is None


def test_h5p_best_attempt_per_content_and_rates():
    summary = h5p_summary(_h5p(), contents_in_course=4).set_index("user_id")
    one = summary.loc[1]
    assert one.h5p_total_score == 7.0  # best of a (4) + b (3)
    assert one.h5p_max_score == 8.0
    assert one.h5p_score_rate == pytest.approx(7 / 8)
    assert one.h5p_contents_attempted == 2
    assert one.h5p_completion_rate == pytest.approx(1 / 4)  # only a completed
    assert one.h5p_time_spent_minutes == pytest.approx(3.5)
    assert summary.loc[2].h5p_completion_rate == 0


def test_grades_completion_and_days():
    features = _features()
    assert features.loc[1, "mooc_grade_percentage"] == 81.5
    assert bool(features.loc[1, "mooc_is_passed"]) is True
    assert features.loc[2, "mooc_completion_rate"] == 0.1
    assert features.loc[1, "days_since_last_activity"] == 1
    assert features.loc[2, "days_since_last_activity"] == 20
    assert features.loc[1, "days_enrolled"] == 36
    assert (features["week_of_course"] == 5).all()


def test_withdrawn_student_without_grades_or_activity():
    student = _features().loc[3]
    assert pd.isna(student.mooc_grade_percentage) and pd.isna(student.mooc_is_passed)
    # Silent since the course started (their enrolment day): 28 whole days.
    assert student.days_since_last_activity == 28
    # The course has H5P content: no attempt means none done, not unknown.
    assert student.h5p_contents_attempted == 0 and student.h5p_total_score == 0
    assert pd.isna(student.h5p_score_rate)


def test_ended_course_features_are_as_of_its_end():
    ended = CourseWindow(start=START, end=datetime(2026, 10, 12))
    features = _features(window=ended, as_of=datetime(2027, 3, 1))
    assert (features["week_of_course"] == 3).all()
    assert features.loc[2, "days_since_last_activity"] == 6


def test_course_without_h5p_leaves_h5p_features_null():
    features = _features(h5p=_h5p().iloc[0:0])
    assert features["h5p_total_score"].isna().all()
