"""A course's features as of any moment, from the history the warehouse keeps of it.

Ingestion keeps, per course, the roster, every scored H5P attempt and problem submission,
each student's first visit to each activity and their daily activity. From these the
features of any past moment can be recomputed, so the weeks a pipeline never watched (a
fresh install mid-term, a course discovered late) get snapshots too, with the same
`build_features` the live capture uses (one feature definition for training and serving).

The live capture passes what Open edX says now (gradebook grade, completion aggregator);
a past week has no gradebook, so it is approximated from the stored history:
- grade so far = Σ over problems of the best raw score up to the moment ÷ the course's
  total possible (Σ of the largest `score_max` of every problem in the history) × 100.
  The gradebook weights assignment types and drops lowest scores; this sum does not;
- completion so far = distinct content activities (navigation, video, problem, H5P) the
  student visited up to the moment ÷ those anybody visited in the whole history (the
  course's size, as the aggregator's `possible` is);
- pass/letter so far = the grade so far against the course's cutoffs (when given).
A student appears from the moment they enrolled.

Week boundaries follow `week_of_course`: week N is [start + 7(N-1) days, start + 7N days);
its snapshot describes the last instant of that week (clamped to the course end).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from dropout_pipelines.features.assessments import (
    TIMING_COLUMNS,
    assessment_timing,
    policy_grade,
    subsection_scores,
)
from dropout_pipelines.features.engagement import (
    complete_days,
    course_percentiles,
    engagement_measures,
    registration_timing,
    unenrolled_as_of,
)
from dropout_pipelines.features.engineering import CourseWindow, build_features, week_of_course
from dropout_pipelines.features.grades import letter_for
from dropout_pipelines.warehouse.schema import FEATURE_COLUMN_NAMES

CONTENT_KINDS = ("navigation", "video", "problem", "h5p")
OUTLINE_COLUMNS = ["problem_id", "subsection_id", "assignment_type", "due", "points"]
POLICY_COLUMNS = ["assignment_type", "weight", "drop_count", "min_count"]
LAST_INSTANT = timedelta(microseconds=1)
SNAPSHOT_COLUMNS = ["user_id", "snapshot_week", "captured_at", *FEATURE_COLUMN_NAMES]


@dataclass(frozen=True)
class CourseHistory:
    """What the warehouse holds of one course, as frames keyed by `user_id`.

    - `roster`: user_id, enrolled_at, is_active;
    - `h5p`: user_id, content_id, score_raw, score_max, completed, duration_s, occurred_at;
    - `attempts`: user_id, block_id, score_raw, score_max, occurred_at;
    - `visits`: user_id, activity_key, activity_kind, first_at;
    - `daily`: user_id, activity_day, activity_kind, statements, first_at, last_at;
    - `outline`: the graded problems (problem_id, subsection_id, assignment_type, due,
      points), `policy` the grading policy (assignment_type, weight, drop_count, min_count)
      and `content_blocks` the outline's content blocks: empty/None where Open edX did not
      expose them (the grade then falls back to an unweighted sum).
    """

    roster: pd.DataFrame
    h5p: pd.DataFrame
    attempts: pd.DataFrame
    visits: pd.DataFrame
    daily: pd.DataFrame
    outline: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=OUTLINE_COLUMNS))
    policy: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=POLICY_COLUMNS))
    content_blocks: int | None = None

    def grade_possible(self) -> float:
        """The course's total possible score as far as its history shows."""
        if self.attempts.empty:
            return 0.0
        return float(self.attempts.groupby("block_id")["score_max"].max().sum())

    def content_activities(self) -> int:
        """The course's content activities as far as its history shows."""
        content = self.visits[self.visits["activity_kind"].isin(CONTENT_KINDS)]
        return int(content["activity_key"].nunique())


def week_cutoff(window: CourseWindow, week: int) -> datetime:
    """The last instant of week `week` (clamped to the course end): what was known at the
    end of that week."""
    if window.start is None or pd.isna(window.start):
        raise ValueError("a course without a start date has no weeks")
    return window.clamp(pd.Timestamp(window.start) + timedelta(days=7 * week) - LAST_INSTANT)


def course_weeks(window: CourseWindow) -> list[int]:
    """Every week of the course: 1 … the week its end falls in."""
    if window.end is None or pd.isna(window.end):
        raise ValueError("a course without an end date has no last week")
    last = week_of_course(window.start, window.end) or 0
    return list(range(1, last + 1))


def weeks_before_end(window: CourseWindow) -> list[int]:
    """The weeks that are over before the course ends: the week the end falls in holds the
    capture after the end (the final gradebook, the label's own source), never a feature
    row of training data."""
    return course_weeks(window)[:-1]


def unweighted_grade(attempts: pd.DataFrame, possible: float) -> pd.Series:
    """Best points per problem summed over the total possible (no policy known), by user."""
    earned = attempts.groupby(["user_id", "block_id"])["score_raw"].max().groupby("user_id").sum()
    return (earned / possible * 100).clip(0, 100) if possible else earned * 0.0


def grade_so_far(
    user_ids: pd.Series,
    attempts: pd.DataFrame,
    scores: pd.DataFrame | None,
    history: CourseHistory,
    possible: float,
    cutoffs: dict[str, float] | None,
) -> pd.DataFrame:
    """user_id, grade_percentage, passed, letter_grade from the submissions given: under the
    course's grading policy when its outline and policy are known (`scores`: the
    submissions' `subsection_scores`, None without an outline)."""
    if scores is not None and not history.policy.empty:
        percent = policy_grade(user_ids, scores, history.outline, history.policy)
    else:
        percent = unweighted_grade(attempts, possible).reindex(user_ids.to_numpy())
    grades = pd.DataFrame(
        {"user_id": user_ids.to_numpy().astype("int64"), "grade_percentage": percent.to_numpy()}
    )
    if cutoffs:
        fraction = grades["grade_percentage"] / 100
        grades["passed"] = (fraction >= min(cutoffs.values())).astype("boolean")
        grades["letter_grade"] = letter_for(fraction, cutoffs)
    else:
        grades["passed"] = pd.Series(pd.NA, index=grades.index, dtype="boolean")
        grades["letter_grade"] = None
    return grades


def completion_so_far(visits: pd.DataFrame, blocks: int) -> pd.DataFrame:
    """user_id, completion_rate: content activities visited ÷ `blocks`."""
    content = visits[visits["activity_kind"].isin(CONTENT_KINDS)]
    done = content.groupby("user_id")["activity_key"].nunique()
    rate = (done / blocks).clip(0, 1) if blocks else done * 0.0
    return pd.DataFrame({"user_id": done.index.astype("int64"), "completion_rate": rate.to_numpy()})


def last_activity(daily: pd.DataFrame) -> pd.DataFrame:
    """user_id, last_activity_at: the newest moment of any statement."""
    newest = daily.groupby("user_id")["last_at"].max()
    return pd.DataFrame(
        {"user_id": newest.index.astype("int64"), "last_activity_at": newest.to_numpy()}
    )


def features_as_of(
    history: CourseHistory,
    window: CourseWindow,
    moment: datetime,
    *,
    cutoffs: dict[str, float] | None = None,
    grade_possible: float | None = None,
    content_activities: int | None = None,
) -> pd.DataFrame:
    """`user_id` + every feature column, one row per student enrolled by `moment`,
    computed only from history up to `moment` (clamped to the course end). The live capture
    and the rebuild of a past week call this same function on the same stored inputs."""
    cut = pd.Timestamp(window.clamp(moment))
    enrolled = pd.to_datetime(history.roster["enrolled_at"])
    roster = history.roster[enrolled.isna() | (enrolled <= cut)]
    h5p = history.h5p[pd.to_datetime(history.h5p["occurred_at"]) <= cut]
    attempts = history.attempts[pd.to_datetime(history.attempts["occurred_at"]) <= cut]
    possible = history.grade_possible() if grade_possible is None else grade_possible
    # Per subsection, for the grade and for the timing (one pass over the submissions).
    scores = None if history.outline.empty else subsection_scores(attempts, history.outline)
    grades = grade_so_far(roster["user_id"], attempts, scores, history, possible, cutoffs)
    blocks = history.content_blocks or (
        history.content_activities() if content_activities is None else content_activities
    )
    completion = completion_so_far(
        history.visits[pd.to_datetime(history.visits["first_at"]) <= cut], blocks
    )
    days = complete_days(history.daily, cut)
    features = build_features(
        roster=roster,
        grades=grades,
        completion=completion,
        h5p=h5p,
        activity=last_activity(days),
        window=window,
        as_of=cut.to_pydatetime(),
        h5p_contents_in_course=int(h5p["content_id"].nunique()),
    )
    features = with_engagement(features, roster, days, history, window, cut)
    if scores is not None:
        timing = assessment_timing(features["user_id"], scores, history.outline, cut)
        features = features.drop(columns=list(TIMING_COLUMNS)).merge(
            timing, on="user_id", how="left"
        )
    return features[["user_id", *FEATURE_COLUMN_NAMES]]


def with_engagement(
    features: pd.DataFrame,
    roster: pd.DataFrame,
    days: pd.DataFrame,
    history: CourseHistory,
    window: CourseWindow,
    cut: pd.Timestamp,
) -> pd.DataFrame:
    """The engagement columns of `features` filled in (see `engagement.py`)."""
    visits = history.visits[["user_id", "first_at"]]
    measures = engagement_measures(features["user_id"], days, visits, cut)
    out = features.merge(measures, on="user_id", how="left")
    out = out.assign(**course_percentiles(out))
    keyed = roster.set_index("user_id")
    ordered = keyed.loc[out["user_id"]]
    out["enrolled_days_before_start"] = registration_timing(ordered, window.start).to_numpy()
    # the withdrawal moment comes from the whole history; whether it happened, from `cut`
    out["is_unenrolled"] = unenrolled_as_of(ordered.reset_index(), history.daily, cut).to_numpy()
    for column in TIMING_COLUMNS:
        out[column] = np.nan  # filled in when the course outline is known
    return out


def iter_weekly_snapshots(
    history: CourseHistory,
    window: CourseWindow,
    weeks: Sequence[int],
    cutoffs: dict[str, float] | None = None,
) -> Iterator[pd.DataFrame]:
    """One frame per week of `weeks`: `user_id`, `snapshot_week`, `captured_at` (the week's
    last instant) and every feature column, one row per student enrolled by the end of that
    week. A week at a time, so a rebuild of a whole term holds one week's rows, not all."""
    possible, blocks = history.grade_possible(), history.content_activities()
    for week in weeks:
        cutoff = week_cutoff(window, week)
        features = features_as_of(
            history,
            window,
            cutoff,
            cutoffs=cutoffs,
            grade_possible=possible,
            content_activities=blocks,
        )
        yield features.assign(snapshot_week=week, captured_at=cutoff)[SNAPSHOT_COLUMNS]


def weekly_snapshots(
    history: CourseHistory,
    window: CourseWindow,
    weeks: Sequence[int],
    cutoffs: dict[str, float] | None = None,
) -> pd.DataFrame:
    """`iter_weekly_snapshots` as one frame."""
    frames = list(iter_weekly_snapshots(history, window, weeks, cutoffs))
    if not frames:
        return pd.DataFrame(columns=SNAPSHOT_COLUMNS)
    return pd.concat(frames, ignore_index=True)
