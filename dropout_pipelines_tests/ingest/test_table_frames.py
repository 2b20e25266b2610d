"""Grades rows: who decides pass/fail, in order of authority."""

from __future__ import annotations

import pandas as pd

from dropout_pipelines.ingest.table_frames import grades_frame

CUTOFFS = {"A": 0.85, "Pass": 0.5}


def _gradebook() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [1, 2, 3, 4],
            "username": ["ann", "bob", "cat", "dan"],
            "percent": [0.9, 0.6, 0.4, 0.7],
            "section_breakdown": [[], [], [], []],
            "letter_grade": [None, None, None, None],
            "passed": [None, None, True, None],  # a fork's field for cat
        }
    )


def test_open_edx_decides_then_the_gradebook_then_the_cutoff():
    # Open edX failed bob despite 60 % (a missed final exam), and knows nothing of dan
    decisions = pd.DataFrame({"username": ["ann", "bob"], "passed": [True, False]})
    grades = grades_frame(_gradebook(), CUTOFFS, 0.5, decisions).set_index("user_id")
    assert grades["passed"].tolist() == [True, False, True, True]
    assert grades["passed_source"].tolist() == ["open_edx", "open_edx", "gradebook", "cutoff"]
    assert grades.loc[1, "letter_grade"] == "A" and grades.loc[1, "grade_percentage"] == 90.0


def test_without_decisions_or_cutoffs_nothing_is_invented():
    grades = grades_frame(_gradebook(), {}, None).set_index("user_id")
    assert grades["passed"].isna().tolist() == [True, True, False, True]
    assert grades["passed_source"].tolist() == [None, None, "gradebook", None]
