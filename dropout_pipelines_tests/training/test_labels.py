"""End-of-course labels from hand-made frames."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from dropout_pipelines.features.engineering import CourseWindow
from dropout_pipelines.training.labels import DEFAULT_RULE, DropoutRule, course_labels

END = datetime(2026, 7, 20, 1, 0)
WINDOW = CourseWindow(start=END - timedelta(days=112), end=END)

ROSTER = pd.DataFrame({"user_id": [1, 2, 3, 4, 5], "is_active": [True, True, False, True, True]})
GRADES = pd.DataFrame(
    {
        "user_id": [1, 2, 4],
        "grade_percentage": [81.0, 40.0, 60.0],
        "passed": [True, False, True],
    }
)
ACTIVITY = pd.DataFrame(
    {
        "user_id": [1, 2, 3, 4],
        "last_activity_at": [
            END - timedelta(days=2),
            END - timedelta(days=31),
            END - timedelta(days=1),  # withdrawn, yet active late
            END - timedelta(days=29),
        ],
    }
)


def labels(rule: DropoutRule = DEFAULT_RULE) -> pd.DataFrame:
    return course_labels(ROSTER, GRADES, ACTIVITY, WINDOW, rule).set_index("user_id")


def test_default_rule():
    out = labels()
    assert out["is_dropout"].tolist() == [False, True, True, False, True]
    assert out.loc[1, "is_passed"] and not out.loc[2, "is_passed"]
    assert out.loc[1, "final_grade"] == pytest.approx(81.0)


def test_withdrawn_did_not_pass_and_has_no_final_grade():
    out = labels()
    assert pd.notna(out.loc[3, "is_passed"]) and not out.loc[3, "is_passed"]
    assert pd.isna(out.loc[3, "final_grade"])


def test_active_student_without_grade_or_activity():
    out = labels()
    assert pd.isna(out.loc[5, "is_passed"]) and pd.isna(out.loc[5, "final_grade"])
    assert out.loc[5, "is_dropout"]  # no known activity at all


def test_rule_is_configurable():
    out = labels(DropoutRule(inactive_days=45, unenrolled_is_dropout=False))
    assert out["is_dropout"].tolist() == [False, False, False, False, True]
    strict = labels(DropoutRule(inactive_days=7))
    assert strict.loc[4, "is_dropout"]


def test_needs_an_end():
    with pytest.raises(ValueError, match="end"):
        course_labels(ROSTER, GRADES, ACTIVITY, CourseWindow(start=None, end=None))
