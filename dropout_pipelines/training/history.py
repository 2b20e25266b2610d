"""Weekly feature snapshots rebuilt from timestamped LRS history, for semesters never watched.

A fresh install has no `feature_snapshots` for past semesters, so point-in-time training
data would be empty. The LRS keeps every statement with its timestamp (activity, H5P and
problem scores), so the features of week N can be recomputed from the statements up to
the end of week N, with the same `build_features` the live pipeline uses (one feature
definition, no drift between training and serving).

Week boundaries follow `week_of_course`: week N is [start + 7(N-1) days, start + 7N days);
its snapshot describes the last instant of that week (clamped to the course end), so the
`week_of_course` feature of the week-N snapshot is N, as in a live capture made that week.
The default weeks are 1 … `week_of_course(start, end)`, the week a live capture taken
after the course ended is filed under.

Approximations (the live pipeline reads the gradebook and the completion aggregator, which
have no history):
- grade so far = Σ over problems of the best `answered` (non-H5P, scored) raw score up to
  the cut-off ÷ the course's total possible (`grade_possible`, default Σ of the largest
  `score_max` of every problem seen in the whole course history) × 100. The gradebook
  weights assignment types and drops lowest scores; this is an unweighted sum, and problems
  nobody ever answered are missing from the default denominator;
- completion so far = distinct content blocks the student experienced, played, answered or
  completed up to the cut-off ÷ the distinct blocks anybody did in the whole course;
- pass/letter so far = the grade so far against the course's cutoffs (when given).
- A student appears from the week they enrolled in. A student who unregistered keeps their
  last values (no statements arrive after withdrawal, so grade, completion and H5P freeze;
  days since last activity keeps growing). The live gradebook drops withdrawn students
  (grade NULL after withdrawal): the rebuild keeps the frozen grade instead, which is what
  the student had achieved, and withdrawal is labelled separately (`is_dropout`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from dropout_pipelines.features.engineering import CourseWindow, build_features, week_of_course
from dropout_pipelines.ingest.course_frames import (
    activity_frame,
    enrollment_frame,
    h5p_frame,
    letter_for,
    naive_datetime,
    user_id_map,
)
from dropout_pipelines.ingest.lrs import LrsClient
from dropout_pipelines.ingest.openedx import OpenEdxClient
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import frame_records
from dropout_pipelines.warehouse.schema import FEATURE_COLUMN_NAMES

# Verbs that mean the student went through a content block (completion numerator).
CONTENT_VERBS = ("experienced", "played", "answered", "completed")
LAST_INSTANT = timedelta(microseconds=1)


def week_cutoff(window: CourseWindow, week: int) -> datetime:
    """The last instant of week `week` (clamped to the course end): statements at or before
    it are the history known at the end of that week."""
    if window.start is None or pd.isna(window.start):
        raise ValueError("a course without a start date has no weeks")
    return window.clamp(pd.Timestamp(window.start) + timedelta(days=7 * week) - LAST_INSTANT)


def course_weeks(window: CourseWindow) -> list[int]:
    """Every week of the course: 1 … the week its end falls in."""
    if window.end is None or pd.isna(window.end):
        raise ValueError("a course without an end date has no last week")
    last = week_of_course(window.start, window.end) or 0
    return list(range(1, last + 1))


def _problem_answers(statements: pd.DataFrame) -> pd.DataFrame:
    scored = (
        (statements["verb_name"] == "answered")
        & ~statements["is_h5p"].astype(bool)
        & statements["score_raw"].notna()
    )
    return statements.loc[scored, ["actor", "object_id", "score_raw", "score_max", "timestamp"]]


def _content_rows(statements: pd.DataFrame) -> pd.DataFrame:
    blocks = statements["verb_name"].isin(CONTENT_VERBS) & statements["object_id"].notna()
    blocks &= statements["object_id"] != statements["course_activity"]
    return statements.loc[blocks, ["actor", "object_id", "timestamp"]]


def _grade_so_far(
    answers: pd.DataFrame, ids: pd.DataFrame, possible: float, cutoffs: dict[str, float] | None
) -> pd.DataFrame:
    best = answers.groupby(["actor", "object_id"])["score_raw"].max().groupby("actor").sum()
    frame = (
        best.rename("earned")
        .reset_index()
        .merge(ids, left_on="actor", right_on="username", how="inner")
    )
    percent = (frame["earned"] / possible * 100).clip(0, 100) if possible else frame["earned"] * 0
    grades = pd.DataFrame({"user_id": frame["user_id"], "grade_percentage": percent})
    if cutoffs:
        fraction = grades["grade_percentage"] / 100
        grades["passed"] = (fraction >= min(cutoffs.values())).astype("boolean")
        grades["letter_grade"] = letter_for(fraction, cutoffs)
    else:
        grades["passed"] = pd.Series(pd.NA, index=grades.index, dtype="boolean")
        grades["letter_grade"] = None
    return grades


def _completion_so_far(content: pd.DataFrame, ids: pd.DataFrame, blocks: int) -> pd.DataFrame:
    done = content.groupby("actor")["object_id"].nunique().rename("done").reset_index()
    frame = done.merge(ids, left_on="actor", right_on="username", how="inner")
    rate = frame["done"] / blocks if blocks else frame["done"] * 0.0
    return pd.DataFrame({"user_id": frame["user_id"], "completion_rate": rate.clip(0, 1)})


def weekly_snapshots_from_history(
    roster: pd.DataFrame,
    statements: pd.DataFrame,
    window: CourseWindow,
    weeks: Sequence[int] | None = None,
    grade_possible: float | None = None,
    h5p_contents_in_course: int | None = None,
    cutoffs: dict[str, float] | None = None,
    blocks_in_course: int | None = None,
) -> pd.DataFrame:
    """`user_id`, `snapshot_week` and every feature column, one row per rostered student
    per week, each computed only from statements timestamped at or before that week's end.

    `roster`: user_id, username (the LRS actor), enrolled_at, is_active. `statements`: the
    LRS statements frame. Course-wide denominators (total possible, blocks, H5P contents)
    come from the whole history on purpose: they describe the course, not the student, and
    the live gradebook also divides by the whole course's possible score from day one.
    Pass them explicitly to recompute one week from already-filtered statements.
    """
    weeks = list(course_weeks(window) if weeks is None else weeks)
    ids = roster[["username", "user_id"]].dropna().drop_duplicates("username")
    statements = statements.assign(timestamp=pd.to_datetime(statements["timestamp"]))
    answers = _problem_answers(statements)
    content = _content_rows(statements)
    if grade_possible is None:
        grade_possible = float(answers.groupby("object_id")["score_max"].max().sum())
    blocks = blocks_in_course or int(content["object_id"].nunique())
    if h5p_contents_in_course is None:
        h5p_contents_in_course = int(statements.loc[statements["is_h5p"], "object_id"].nunique())
    h5p_all = h5p_frame(statements, ids)
    enrolled_at = pd.to_datetime(roster["enrolled_at"])

    frames = []
    for week in weeks:  # a few weeks per course; every step inside is vectorised
        cutoff = pd.Timestamp(week_cutoff(window, week))
        known = statements[statements["timestamp"] <= cutoff]
        features = build_features(
            roster=roster[enrolled_at.isna() | (enrolled_at <= cutoff)],
            grades=_grade_so_far(
                answers[answers["timestamp"] <= cutoff], ids, grade_possible, cutoffs
            ),
            completion=_completion_so_far(content[content["timestamp"] <= cutoff], ids, blocks),
            h5p=h5p_all[pd.to_datetime(h5p_all["occurred_at"]) <= cutoff],
            activity=activity_frame(known, ids) if len(known) else _no_activity(),
            window=window,
            as_of=cutoff.to_pydatetime(),
            h5p_contents_in_course=h5p_contents_in_course,
        )
        frames.append(features.assign(snapshot_week=week))
    if not frames:
        return pd.DataFrame(columns=["user_id", "snapshot_week", *FEATURE_COLUMN_NAMES])
    out = pd.concat(frames, ignore_index=True)
    return out[["user_id", "snapshot_week", *FEATURE_COLUMN_NAMES]]


def _no_activity() -> pd.DataFrame:
    return pd.DataFrame(
        {"user_id": pd.Series(dtype="int64"), "last_activity_at": pd.Series(dtype="datetime64[ns]")}
    )


def _course_window(engine: sa.Engine, openedx: OpenEdxClient, course_id: str) -> CourseWindow:
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(s.courses.c.start_at, s.courses.c.end_at).where(
                s.courses.c.course_id == course_id
            )
        ).first()
    if row is not None and row.start_at is not None and row.end_at is not None:
        return CourseWindow(start=row.start_at, end=row.end_at)
    info = openedx.course(course_id).iloc[0]
    return CourseWindow(start=naive_datetime(info["start"]), end=naive_datetime(info["end"]))


def _existing_weeks(connection: sa.Connection, course_id: str) -> pd.DataFrame:
    fs = s.feature_snapshots
    rows = connection.execute(
        sa.select(fs.c.user_id, fs.c.snapshot_week).where(fs.c.course_id == course_id)
    ).all()
    return pd.DataFrame(rows, columns=["user_id", "snapshot_week"]).astype("int64")


def rebuild_course_history(
    engine: sa.Engine,
    openedx_client: OpenEdxClient,
    lrs_client: LrsClient,
    course_id: str,
    now: datetime,
) -> int:
    """Write the missing weekly `feature_snapshots` of a course from its LRS history.

    Only weeks that have ended by `now` are rebuilt, and only (student, week) pairs without
    a row: a snapshot the pipeline captured live is never overwritten. `captured_at` of a
    rebuilt row is the moment it describes (the week's cut-off), so for every snapshot,
    live or rebuilt, min(captured_at, course end) is the as-of moment of its features.
    One transaction; returns the number of rows written.
    """
    window = _course_window(engine, openedx_client, course_id)
    weeks = [w for w in course_weeks(window) if week_cutoff(window, w) <= now]
    if not weeks:
        return 0
    enrollments = openedx_client.enrollments(course_id)
    accounts = openedx_client.accounts(sorted(enrollments["username"].unique()))
    gradebook = openedx_client.gradebook(course_id)
    cutoffs = openedx_client.grade_cutoffs(course_id)
    statements = lrs_client.statements(course_id)
    ids = user_id_map(enrollments, accounts, gradebook)
    roster = enrollment_frame(enrollments, accounts, ids)
    snapshots = weekly_snapshots_from_history(roster, statements, window, weeks, cutoffs=cutoffs)
    snapshots["captured_at"] = snapshots["snapshot_week"].map(
        {week: week_cutoff(window, week) for week in weeks}
    )
    with engine.begin() as connection:
        existing = _existing_weeks(connection, course_id)
        keyed = snapshots.merge(
            existing, on=["user_id", "snapshot_week"], how="left", indicator=True
        )
        new = keyed[keyed["_merge"] == "left_only"].drop(columns="_merge")
        rows = frame_records(new.assign(course_id=course_id))
        if rows:
            connection.execute(sa.insert(s.feature_snapshots), rows)
    return len(rows)
