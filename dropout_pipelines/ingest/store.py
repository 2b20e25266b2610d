"""Write one course's bundle: every table in one transaction.

A failure anywhere (a constraint, a lost connection, a kill) rolls the whole course back,
so the warehouse keeps the previous complete state of that course, never a mix, and the
LRS cursor only moves together with the rows it accounts for.

Inside the transaction, after the new sources are written, the course's features are
computed from what the warehouse now holds (`features.history`): the live capture of this
week, and the weeks the pipeline never captured (rebuilt from the stored history, never
overwriting a live capture).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from dropout_pipelines.features.engineering import week_of_course
from dropout_pipelines.features.history import (
    course_weeks,
    features_as_of,
    iter_weekly_snapshots,
    week_cutoff,
)
from dropout_pipelines.features.history_reads import load_course_history
from dropout_pipelines.ingest.bundle import CourseBundle
from dropout_pipelines.ingest.digest import LrsCursor
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import (
    execute_rows,
    insert_new_rows,
    upsert_accumulate,
    upsert_rows,
)
from dropout_pipelines.warehouse.schema import FEATURE_COLUMN_NAMES


class ConcurrentRefreshError(RuntimeError):
    """Another refresh of the same course committed while this one was fetching."""


@dataclass(frozen=True)
class WriteCounts:
    enrollments: int
    grades: int
    h5p_new: int
    attempts_new: int
    activity_rows: int
    new_statements: int
    features: int
    snapshots: int
    snapshot_week: int | None
    rebuilt_snapshots: int


def read_lrs_cursor(engine: sa.Engine, course_id: str) -> LrsCursor:
    """Where the previous refresh stopped reading the course's LRS statements."""
    with engine.connect() as connection:
        return _cursor_row(connection, course_id)


def _cursor_row(connection: sa.Connection, course_id: str, lock: bool = False) -> LrsCursor:
    query = sa.select(s.lrs_cursors).where(s.lrs_cursors.c.course_id == course_id)
    if lock and connection.dialect.name != "sqlite":
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None:
        return LrsCursor()
    ids = row.overlap_ids if isinstance(row.overlap_ids, list) else json.loads(row.overlap_ids)
    return LrsCursor(row.last_stored, frozenset(ids), int(row.statements_total))


def _write_cursor(
    connection: sa.Connection, course_id: str, cursor: LrsCursor, stamp: datetime
) -> None:
    upsert_rows(
        connection,
        s.lrs_cursors,
        [
            {
                "course_id": course_id,
                "last_stored": cursor.last_stored,
                "overlap_ids": sorted(cursor.overlap_ids),
                "statements_total": cursor.statements_total,
                "updated_at": stamp,
            }
        ],
        ["course_id"],
        ["last_stored", "overlap_ids", "statements_total", "updated_at"],
    )


def _upsert_course(connection: sa.Connection, bundle: CourseBundle) -> None:
    course = dict(bundle.course)
    ended = course.get("end_at") is not None and not pd.isna(course["end_at"])
    if ended and course["end_at"] <= bundle.fetched_at:
        # Grades fetched after the end are final: the semester sensor waits for this.
        course["final_grades_fetched_at"] = bundle.fetched_at
    update = [c for c in course if c not in ("course_id", "discovered_at")]
    upsert_rows(
        connection,
        s.courses,
        [course | {"discovered_at": bundle.fetched_at}],
        ["course_id"],
        update,
    )


# A first ingestion brings millions of rows; as dicts for the driver they weigh several
# times their frame, so they are built and written this many at a time.
WRITE_CHUNK_ROWS = 50_000


def _write_chunks(write: Callable[[pd.DataFrame], int], frame: pd.DataFrame, **columns) -> int:
    """`write` called on `frame`'s rows (with `columns` added), `WRITE_CHUNK_ROWS` at a time;
    the sum of what it returns. The bulk writes take the frame itself and read it a column
    at a time (a dict per row cost a quarter of a course's write)."""
    return sum(
        write(frame.iloc[start : start + WRITE_CHUNK_ROWS].assign(**columns))
        for start in range(0, len(frame), WRITE_CHUNK_ROWS)
    )


def _write_sources(connection: sa.Connection, bundle: CourseBundle) -> dict[str, int]:
    course_id = bundle.course["course_id"]
    stamp = bundle.fetched_at
    digest = bundle.statements
    _upsert_course(connection, bundle)
    enrollment_columns = [
        c for c in bundle.enrollments.columns if c not in ("user_id", "course_id")
    ]
    grade_columns = [
        "grade_percentage", "letter_grade", "passed", "passed_source", "section_breakdown",
        "fetched_at",
    ]  # fmt: skip
    return {
        "enrollments": _write_chunks(
            lambda rows: upsert_rows(
                connection,
                s.enrollments,
                rows,
                ["user_id", "course_id"],
                [*enrollment_columns, "fetched_at"],
            ),
            bundle.enrollments,
            course_id=course_id,
            fetched_at=stamp,
        ),
        "grades": _write_chunks(
            lambda rows: upsert_rows(
                connection, s.mooc_grades, rows, ["user_id", "course_id"], grade_columns
            ),
            bundle.grades,
            course_id=course_id,
            fetched_at=stamp,
        ),
        "h5p_new": _write_chunks(
            lambda rows: insert_new_rows(connection, s.h5p_results, rows, "statement_id"),
            digest.h5p,
            course_id=course_id,
        ),
        "attempts_new": _write_chunks(
            lambda rows: insert_new_rows(connection, s.assessment_attempts, rows, "statement_id"),
            digest.attempts,
            course_id=course_id,
        ),
        "activity_rows": _write_chunks(
            lambda rows: upsert_accumulate(
                connection,
                s.learner_activity_daily,
                rows,
                ["user_id", "course_id", "activity_day", "activity_kind"],
                {
                    "statements": "sum",
                    "distinct_activities": "max",
                    "first_at": "min",
                    "last_at": "max",
                },
            ),
            digest.daily,
            course_id=course_id,
        ),
        "outline": _replace_course_rows(
            connection,
            s.course_assessments,
            course_id,
            bundle.outline.rename(columns={"due": "due_at"}).assign(course_id=course_id),
        ),
        "policy": _replace_course_rows(
            connection,
            s.course_grading_policy,
            course_id,
            bundle.policy.assign(course_id=course_id),
        ),
        "visits": _write_chunks(
            lambda rows: upsert_accumulate(
                connection,
                s.learner_first_visits,
                rows,
                ["user_id", "course_id", "activity_key"],
                {"first_at": "min"},
            ),
            digest.first_visits,
            course_id=course_id,
        ),
    }


def _replace_course_rows(
    connection: sa.Connection, table: sa.Table, course_id: str, rows: pd.DataFrame
) -> int:
    """The course's rows of `table` replaced by `rows` (an outline or policy as it is now).
    Nothing is replaced when Open edX did not return them this time."""
    if rows.empty:
        return 0
    connection.execute(sa.delete(table).where(table.c.course_id == course_id))
    execute_rows(connection, sa.insert(table), rows)
    return len(rows)


def _captured_weeks(connection: sa.Connection, course_id: str) -> set[int]:
    fs = s.feature_snapshots
    return set(
        connection.execute(
            sa.select(fs.c.snapshot_week).where(fs.c.course_id == course_id).distinct()
        ).scalars()
    )


def _weeks_to_rebuild(bundle: CourseBundle, live_week: int | None, captured: set[int]) -> list:
    """Weeks over by now that no capture, live or rebuilt, has filed yet."""
    window = bundle.window
    if window.start is None or window.end is None or pd.isna(window.start) or pd.isna(window.end):
        return []
    return [
        week
        for week in course_weeks(window)
        if week not in captured
        and week != live_week
        and week_cutoff(window, week) <= bundle.fetched_at
    ]


def write_course_bundle(engine: sa.Engine, bundle: CourseBundle) -> WriteCounts:
    """Write the course's sources, features and snapshots and move its LRS cursor, in one
    transaction (the warehouse resource ensured the schema before the step ran)."""
    course_id = bundle.course["course_id"]
    stamp = bundle.fetched_at
    window = bundle.window
    with engine.begin() as connection:
        if _cursor_row(connection, course_id, lock=True) != bundle.statements.cursor_before:
            raise ConcurrentRefreshError(
                f"{course_id}: another refresh of this course committed while this one was "
                "fetching; nothing written (rerun to continue from its position)"
            )
        written = _write_sources(connection, bundle)
        history = load_course_history(connection, course_id)
        features = features_as_of(history, window, stamp, cutoffs=bundle.cutoffs).assign(
            course_id=course_id
        )
        feature_rows = upsert_rows(
            connection,
            s.student_features,
            features.assign(created_at=stamp, updated_at=stamp),
            ["user_id", "course_id"],
            [*FEATURE_COLUMN_NAMES, "updated_at"],
        )
        live_week = week_of_course(window.start, window.clamp(stamp))
        captured = _captured_weeks(connection, course_id)
        snapshots = 0
        if live_week is not None:
            snapshots = upsert_rows(
                connection,
                s.feature_snapshots,
                features.assign(snapshot_week=live_week, captured_at=stamp),
                ["user_id", "course_id", "snapshot_week"],
                [*FEATURE_COLUMN_NAMES, "captured_at"],
            )
        rebuilt = 0
        rebuild = _weeks_to_rebuild(bundle, live_week, captured)
        for week in iter_weekly_snapshots(history, window, rebuild, bundle.cutoffs):
            rows = week.assign(course_id=course_id)
            execute_rows(connection, sa.insert(s.feature_snapshots), rows)
            rebuilt += len(rows)
        _write_cursor(connection, course_id, bundle.statements.cursor, stamp)
    return WriteCounts(
        enrollments=written["enrollments"],
        grades=written["grades"],
        h5p_new=written["h5p_new"],
        attempts_new=written["attempts_new"],
        activity_rows=written["activity_rows"],
        new_statements=bundle.statements.new_statements,
        features=feature_rows,
        snapshots=snapshots,
        snapshot_week=live_week,
        rebuilt_snapshots=rebuilt,
    )
