"""Engagement features from the daily click-stream, as of a moment: pandas in, pandas out.

Real learners leave a click-stream long before they leave grades: activity that thins out
weeks before withdrawal is the earliest warning there is. Every measure here is computed
from `learner_activity_daily` (statements per student, UTC day and activity kind) and the
first visits, up to the moment, so the live capture and the rebuild of a past week compute
them the same way. Only whole UTC days that are over by the moment count (a day's row
keeps growing until the day ends), so a rebuild as of a moment sees exactly what a live
capture at that moment saw.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WINDOWS_DAYS = (7, 14, 28)
KIND_MEASURES = {
    "navigation": "navigation_statements",
    "video": "video_statements",
    "problem": "problem_statements",
    "h5p": "h5p_statements",
    "forum": "forum_statements",
}
WINDOW_MEASURES = tuple(
    f"{base}_{days}d" for base in ("statements", "active_days") for days in WINDOWS_DAYS
)
# Measures compared with the rest of the course at the same moment (`<measure>_pct`).
RANKED_MEASURES = (
    "statements_total",
    *WINDOW_MEASURES,
    "active_days_total",
    "distinct_activities",
    "days_since_last_activity",
)
ENGAGEMENT_COLUMNS = (
    "statements_total",
    "active_days_total",
    *WINDOW_MEASURES,
    "statements_trend_7d",
    "distinct_activities",
    *KIND_MEASURES.values(),
    *(f"{name}_pct" for name in RANKED_MEASURES),
    "enrolled_days_before_start",
    "is_unenrolled",
)
ENGAGEMENT_KINDS = ("navigation", "video", "problem", "h5p", "forum", "other")


def complete_days(daily: pd.DataFrame, moment: pd.Timestamp) -> pd.DataFrame:
    """The daily rows of the UTC days over by `moment` (activity_day as a timestamp)."""
    last_full_day = (moment + pd.Timedelta(microseconds=1)).normalize() - pd.Timedelta(days=1)
    days = pd.to_datetime(daily["activity_day"])
    return daily[days <= last_full_day].assign(activity_day=days[days <= last_full_day])


def _window_counts(daily: pd.DataFrame, day: pd.Timestamp, days: int) -> pd.DataFrame:
    recent = daily[daily["activity_day"] > day - pd.Timedelta(days=days)]
    grouped = recent.groupby("user_id")
    return pd.DataFrame(
        {
            f"statements_{days}d": grouped["statements"].sum(),
            f"active_days_{days}d": grouped["activity_day"].nunique(),
        }
    )


def engagement_measures(
    user_ids: pd.Series,
    daily: pd.DataFrame,
    visits: pd.DataFrame,
    moment: pd.Timestamp,
) -> pd.DataFrame:
    """Per student of `user_ids`: statement and active-day counts in total and over the last
    7/14/28 days, the 7-day trend, distinct activities and statements per kind, as of
    `moment`. `daily`: the complete days' rows (user_id, activity_day, activity_kind,
    statements); `visits`: user_id, first_at (one row per activity)."""
    day = (moment + pd.Timedelta(microseconds=1)).normalize() - pd.Timedelta(days=1)
    daily = daily[daily["activity_kind"].isin(ENGAGEMENT_KINDS)]
    grouped = daily.groupby("user_id")
    parts = [
        pd.DataFrame(
            {
                "statements_total": grouped["statements"].sum(),
                "active_days_total": grouped["activity_day"].nunique(),
            }
        ),
        *(_window_counts(daily, day, days) for days in WINDOWS_DAYS),
        daily.pivot_table(
            index="user_id", columns="activity_kind", values="statements", aggfunc="sum"
        )
        .reindex(columns=list(KIND_MEASURES))
        .rename(columns=KIND_MEASURES),
        visits[visits["first_at"] <= moment]
        .groupby("user_id")
        .size()
        .rename("distinct_activities"),
    ]
    before = daily[
        (daily["activity_day"] > day - pd.Timedelta(days=14))
        & (daily["activity_day"] <= day - pd.Timedelta(days=7))
    ]
    parts.append(before.groupby("user_id")["statements"].sum().rename("statements_prev_7d"))
    measures = pd.concat(parts, axis=1).reindex(user_ids.to_numpy()).fillna(0.0)
    # log((last 7 days + 1) / (the 7 before + 1)): 0 = steady, < 0 = thinning out
    measures["statements_trend_7d"] = np.log1p(measures["statements_7d"]) - np.log1p(
        measures.pop("statements_prev_7d")
    )
    measures.index.name = "user_id"
    return measures.reset_index()


def course_percentiles(features: pd.DataFrame) -> pd.DataFrame:
    """`<measure>_pct` for every ranked measure: the student's percentile (0–1] within the
    students of the same course at the same moment (ties share the average rank)."""
    return pd.DataFrame(
        {
            f"{name}_pct": features[name].astype("float64").rank(pct=True)
            for name in RANKED_MEASURES
        },
        index=features.index,
    )


def registration_timing(roster: pd.DataFrame, start: pd.Timestamp | None) -> pd.Series:
    """Days between enrolment and the course start (positive = enrolled before it)."""
    if start is None or pd.isna(start):
        return pd.Series(np.nan, index=roster.index)
    enrolled = pd.to_datetime(roster["enrolled_at"])
    return (pd.Timestamp(start) - enrolled).dt.total_seconds() / 86_400.0


def unenrolled_as_of(roster: pd.DataFrame, daily: pd.DataFrame, moment: pd.Timestamp) -> pd.Series:
    """Whether each rostered student had unenrolled by `moment`.

    Open edX only says whether the enrolment is active *now*. The withdrawal happened at the
    student's last enrolment event (the `unregistered` statement), or, when the LRS has
    none, after their last activity of any kind: a past week sees a withdrawal only once it
    happened."""
    events = daily[daily["activity_kind"] == "enrollment"].groupby("user_id")["last_at"].max()
    last_seen = daily.groupby("user_id")["last_at"].max()
    withdrawn_at = events.reindex(roster["user_id"].to_numpy()).fillna(
        last_seen.reindex(roster["user_id"].to_numpy())
    )
    inactive = ~roster["is_active"].fillna(True).astype(bool).to_numpy()
    happened = withdrawn_at.isna().to_numpy() | (withdrawn_at <= moment).to_numpy()
    return pd.Series(inactive & happened, index=roster.index)
