"""Per-student features from one course's fetched data: pandas in, pandas out.

Pure and vectorised (no Dagster, no database, no loops over students), so the same code
computes today's features during ingestion and rebuilds past weeks from timestamped LRS
history for point-in-time training data: pass the data as it was and `as_of` the moment.

Inputs are the tidy frames ingestion builds, keyed by `user_id`:
- `roster`: user_id, enrolled_at (datetime), is_active (bool);
- `grades`: user_id, grade_percentage (0–100), passed (bool/None), letter_grade;
- `completion`: user_id, completion_rate (0–1);
- `h5p`: one row per scored H5P attempt: user_id, content_id, score_raw, score_max,
  completed (bool/None), duration_s, occurred_at;
- `activity`: user_id, last_activity_at (newest xAPI statement of any kind).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from dropout_pipelines.warehouse.schema import BASE_FEATURE_NAMES

SECONDS_PER_DAY = 86_400.0
H5P_ZERO_WHEN_ABSENT = (
    "h5p_total_score",
    "h5p_max_score",
    "h5p_contents_attempted",
    "h5p_completion_rate",
    "h5p_time_spent_minutes",
)


@dataclass(frozen=True)
class CourseWindow:
    """A course's dates; `as_of` of features for an ended course is clamped to its end."""

    start: datetime | None
    end: datetime | None

    def clamp(self, moment: datetime) -> datetime:
        if self.end is not None and not pd.isna(self.end) and moment > self.end:
            return self.end
        return moment


def week_of_course(start: datetime | None, as_of: datetime) -> int | None:
    """1 during the first seven days after start, 2 in the next seven…; 0 before start."""
    if start is None or pd.isna(start):
        return None
    elapsed_days = (pd.Timestamp(as_of) - pd.Timestamp(start)).total_seconds() / SECONDS_PER_DAY
    return 0 if elapsed_days < 0 else int(elapsed_days // 7) + 1


def _whole_days(later: pd.Timestamp, earlier: pd.Series) -> pd.Series:
    days = (later - pd.to_datetime(earlier)).dt.total_seconds() / SECONDS_PER_DAY
    return np.floor(days.clip(lower=0)).astype("Int64")


def h5p_summary(h5p: pd.DataFrame, contents_in_course: int | None) -> pd.DataFrame:
    """Per student: best attempt per content summed, contents attempted/completed, time."""
    columns = [
        "h5p_total_score",
        "h5p_max_score",
        "h5p_score_rate",
        "h5p_contents_attempted",
        "h5p_completion_rate",
        "h5p_time_spent_minutes",
    ]
    if h5p.empty:
        return pd.DataFrame(columns=["user_id", *columns])
    scored = h5p.assign(
        scaled=np.where(h5p["score_max"] > 0, h5p["score_raw"] / h5p["score_max"], np.nan),
        completed=h5p["completed"].fillna(False).astype(bool),
    )
    best = (
        scored.sort_values(["user_id", "content_id", "scaled"], na_position="first")
        .drop_duplicates(["user_id", "content_id"], keep="last")
        .groupby("user_id")
        .agg(h5p_total_score=("score_raw", "sum"), h5p_max_score=("score_max", "sum"))
    )
    per_student = scored.groupby("user_id").agg(
        h5p_contents_attempted=("content_id", "nunique"),
        seconds=("duration_s", "sum"),
    )
    completed = (
        scored[scored["completed"]].groupby("user_id")["content_id"].nunique().rename("done")
    )
    out = best.join(per_student).join(completed).fillna({"done": 0})
    total = contents_in_course or h5p["content_id"].nunique()
    out["h5p_score_rate"] = np.where(
        out["h5p_max_score"] > 0, out["h5p_total_score"] / out["h5p_max_score"], np.nan
    )
    out["h5p_completion_rate"] = out["done"] / total if total else np.nan
    out["h5p_time_spent_minutes"] = out["seconds"] / 60.0
    return out[columns].reset_index()


def build_features(
    roster: pd.DataFrame,
    grades: pd.DataFrame,
    completion: pd.DataFrame,
    h5p: pd.DataFrame,
    activity: pd.DataFrame,
    window: CourseWindow,
    as_of: datetime,
    h5p_contents_in_course: int | None = None,
) -> pd.DataFrame:
    """One row per rostered student: `user_id` + every feature column of the schema.

    Days since last activity counts from the newest xAPI statement; a student with none
    counts from enrolment (or course start, whichever is later): silence since joining is
    the strongest early signal there is, so it must not read as "unknown".
    """
    moment = pd.Timestamp(window.clamp(as_of))
    frame = roster[["user_id", "enrolled_at"]].drop_duplicates("user_id")
    frame = frame.merge(
        grades[["user_id", "grade_percentage", "passed", "letter_grade"]], on="user_id", how="left"
    )
    frame = frame.merge(completion[["user_id", "completion_rate"]], on="user_id", how="left")
    frame = frame.merge(h5p_summary(h5p, h5p_contents_in_course), on="user_id", how="left")
    frame = frame.merge(activity[["user_id", "last_activity_at"]], on="user_id", how="left")

    enrolled = pd.to_datetime(frame["enrolled_at"])
    if window.start is not None and not pd.isna(window.start):
        quiet_since = enrolled.where(
            enrolled > pd.Timestamp(window.start), pd.Timestamp(window.start)
        )
    else:
        quiet_since = enrolled
    last_seen = pd.to_datetime(frame["last_activity_at"]).fillna(quiet_since)

    features = pd.DataFrame({"user_id": frame["user_id"].astype("int64")})
    features["mooc_grade_percentage"] = frame["grade_percentage"].astype("Float64")
    features["mooc_completion_rate"] = frame["completion_rate"].astype("Float64")
    features["mooc_is_passed"] = frame["passed"].astype("boolean")
    features["mooc_letter_grade"] = frame["letter_grade"].astype("object")
    for column in (
        "h5p_total_score",
        "h5p_max_score",
        "h5p_score_rate",
        "h5p_completion_rate",
        "h5p_time_spent_minutes",
    ):
        features[column] = frame[column].astype("Float64")
    features["h5p_contents_attempted"] = frame["h5p_contents_attempted"].astype("Int64")
    if not h5p.empty or h5p_contents_in_course:
        # The course has H5P content: a student with no attempt has done none of it.
        features = features.fillna(dict.fromkeys(H5P_ZERO_WHEN_ABSENT, 0))
    features["days_since_last_activity"] = _whole_days(moment, last_seen)
    features["days_enrolled"] = _whole_days(moment, enrolled)
    week = week_of_course(window.start, moment)
    features["week_of_course"] = pd.Series(week, index=features.index, dtype="Int64")
    return features[["user_id", *BASE_FEATURE_NAMES]]
