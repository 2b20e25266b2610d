"""Outcome labels of an ended course, per student: passed, final grade, dropped out.

Pure pandas. Labels describe the end of the course, so they are the only end-of-term values
a training row may carry; the features beside them come from the week of the row.

Decisions:
- a withdrawn student (`is_active` False) is a dropout (when the rule says so) and did not
  pass; their `final_grade` is None: the grade APIs list only active enrollments, so there
  is no final grade to report, and 0 would be indistinguishable from "stayed and scored 0";
- an active student without a gradebook row (should not happen for a closed course) gets
  None for `is_passed` and `final_grade`: an unknown label, not an invented one;
- `is_passed` is the gradebook's pass (ingestion derives it from percent ≥ the lowest
  grade cutoff when the API does not say);
- inactivity: no statement in the last `inactive_days` before the course end (a student
  with no known activity at all is inactive).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from dropout_pipelines.features.engineering import CourseWindow

LABEL_COLUMNS = ("is_passed", "final_grade", "is_dropout")


@dataclass(frozen=True)
class DropoutRule:
    """What counts as dropping out: silence for `inactive_days` before the end, or
    (when `unenrolled_is_dropout`) having withdrawn."""

    inactive_days: int = 30
    unenrolled_is_dropout: bool = True


DEFAULT_RULE = DropoutRule()


def course_labels(
    roster: pd.DataFrame,
    final_grades: pd.DataFrame,
    activity: pd.DataFrame,
    window: CourseWindow,
    rule: DropoutRule = DEFAULT_RULE,
) -> pd.DataFrame:
    """`user_id`, `is_passed`, `final_grade` (0–100), `is_dropout`, one row per rostered
    student.

    `roster`: user_id, is_active. `final_grades`: user_id, grade_percentage (0–100), passed.
    `activity`: user_id, last_activity_at.
    """
    if window.end is None or pd.isna(window.end):
        raise ValueError("labels need the course end")
    frame = roster[["user_id", "is_active"]].drop_duplicates("user_id")
    frame = frame.merge(
        final_grades[["user_id", "grade_percentage", "passed"]], on="user_id", how="left"
    )
    frame = frame.merge(activity[["user_id", "last_activity_at"]], on="user_id", how="left")
    withdrawn = ~frame["is_active"].fillna(True).astype(bool)

    horizon = pd.Timestamp(window.end) - timedelta(days=rule.inactive_days)
    last_seen = pd.to_datetime(frame["last_activity_at"])
    inactive = last_seen.isna() | (last_seen < horizon)
    dropout = inactive | (withdrawn & rule.unenrolled_is_dropout)

    passed = frame["passed"].astype("boolean").mask(withdrawn, False)
    grade = frame["grade_percentage"].astype("Float64").mask(withdrawn, pd.NA)
    return pd.DataFrame(
        {
            "user_id": frame["user_id"].astype("int64"),
            "is_passed": passed,
            "final_grade": grade,
            "is_dropout": dropout.astype(bool),
        }
    )
