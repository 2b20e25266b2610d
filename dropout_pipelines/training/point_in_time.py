"""Point-in-time training rows of a closed semester, written insert-only.

For every student and every chosen week, the features are those of the newest
`feature_snapshots` row at or before that week (`merge_asof`, backward): never a later
value, so a model trained on week-4 rows only sees what was known in week 4. Labels come
from the end of the course (`labels.py`). Rows are only ever inserted: rerunning a semester
reads the keys already present and inserts the rest, so it adds nothing and does not fail.

Last activity for the dropout label is read back from the snapshots rather than stored
again: the newest snapshot of a student says `days_since_last_activity` as of
min(captured_at, course end) (rebuilt snapshots carry their cut-off as `captured_at`), so
last activity ≈ that moment − those days. Days are whole (floored), so the estimate is up to
one day later than the true last statement: a student exactly at the inactivity threshold
may be labelled active. A student with no snapshot has no training row either.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from dropout_pipelines.clock import utc_now
from dropout_pipelines.features.engineering import CourseWindow
from dropout_pipelines.features.history import weeks_before_end
from dropout_pipelines.training.labels import (
    DEFAULT_RULE,
    LABEL_COLUMNS,
    DropoutRule,
    course_labels,
)
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import frame_records
from dropout_pipelines.warehouse.schema import FEATURE_COLUMN_NAMES, SEMESTER_SOURCE

KEY = ["user_id", "course_id", "semester", "snapshot_week"]
ROW_COLUMNS = [*KEY, *FEATURE_COLUMN_NAMES, "extra_features", *LABEL_COLUMNS]


def point_in_time_rows(
    snapshots: pd.DataFrame,
    labels: pd.DataFrame,
    semester: str,
    course_id: str,
    weeks: Sequence[int],
) -> pd.DataFrame:
    """One row per labelled student per week in `weeks`: the newest snapshot at or before
    the week plus the labels. A week with no snapshot at or before it gives no row.

    `extra_features.snapshot_week_used` records which snapshot filled the row, so a stale
    carry-forward (no capture that week) stays visible.
    """
    grid = (
        labels[["user_id"]]
        .drop_duplicates()
        .merge(pd.DataFrame({"snapshot_week": sorted(set(weeks))}), how="cross")
    )
    if grid.empty or snapshots.empty:
        return pd.DataFrame(columns=ROW_COLUMNS)
    grid = grid.astype({"user_id": "int64", "snapshot_week": "int64"})
    known = snapshots[["user_id", "snapshot_week", *FEATURE_COLUMN_NAMES]].astype(
        {"user_id": "int64", "snapshot_week": "int64"}
    )
    known = known.assign(used_week=known["snapshot_week"]).rename(
        columns={"snapshot_week": "week_key"}
    )
    joined = pd.merge_asof(
        grid.sort_values("snapshot_week"),
        known.sort_values("week_key"),
        left_on="snapshot_week",
        right_on="week_key",
        by="user_id",
        direction="backward",
        allow_exact_matches=True,
    )
    joined = joined[joined["used_week"].notna()]
    joined = joined.merge(labels[["user_id", *LABEL_COLUMNS]], on="user_id", how="left")
    joined["extra_features"] = [{"snapshot_week_used": int(w)} for w in joined["used_week"]]
    joined["course_id"] = course_id
    joined["semester"] = semester
    return joined.sort_values(["user_id", "snapshot_week"])[ROW_COLUMNS].reset_index(drop=True)


def _existing_keys(connection: sa.Connection, pairs: pd.DataFrame) -> pd.DataFrame:
    td = s.training_data
    found = []
    for semester, course_id in pairs.itertuples(index=False):  # one query per course
        found += connection.execute(
            sa.select(td.c.user_id, td.c.course_id, td.c.semester, td.c.snapshot_week).where(
                td.c.semester == semester, td.c.course_id == course_id
            )
        ).all()
    return pd.DataFrame(found, columns=KEY)


def insert_training_rows(
    engine: sa.Engine, rows: pd.DataFrame, created_at: datetime | None = None
) -> int:
    """Insert the rows whose (user_id, course_id, semester, snapshot_week) is not present
    yet, with `source='semester_close'`, in one transaction; returns rows inserted.

    The existing keys are read first and only new rows go into one plain bulk INSERT: an
    `INSERT IGNORE` would hide bad data, and `ON DUPLICATE KEY UPDATE` fires the table's
    reject-UPDATE trigger on MySQL/MariaDB. Two writers racing on the same semester would
    make the second fail on the unique index (rolled back, safe to rerun).
    """
    if rows.empty:
        return 0
    stamp = created_at or utc_now()
    with engine.begin() as connection:
        existing = _existing_keys(connection, rows[["semester", "course_id"]].drop_duplicates())
        keyed = rows.astype({"user_id": "int64", "snapshot_week": "int64"}).merge(
            existing.astype({"user_id": "int64", "snapshot_week": "int64"}),
            on=KEY,
            how="left",
            indicator=True,
        )
        new = keyed[keyed["_merge"] == "left_only"].drop(columns="_merge")
        records = frame_records(new.assign(source=SEMESTER_SOURCE, created_at=stamp))
        if records:
            connection.execute(sa.insert(s.training_data), records)
    return len(records)


def _frame(connection: sa.Connection, select: sa.Select) -> pd.DataFrame:
    result = connection.execute(select)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def _last_activity(snapshots: pd.DataFrame, window: CourseWindow) -> pd.DataFrame:
    """Last activity per student, read back from their newest snapshot (see module doc)."""
    newest = snapshots.sort_values("snapshot_week").drop_duplicates("user_id", keep="last")
    as_of = pd.to_datetime(newest["captured_at"]).clip(upper=pd.Timestamp(window.end))
    days = pd.to_timedelta(newest["days_since_last_activity"].astype("float64"), unit="D")
    return pd.DataFrame({"user_id": newest["user_id"], "last_activity_at": as_of - days})


def build_semester_training_data(
    engine: sa.Engine,
    semester: str,
    weeks: Sequence[int] | None = None,
    rule: DropoutRule = DEFAULT_RULE,
    *,
    now: datetime,
) -> dict[str, int]:
    """Build and insert the training rows of every course of `semester` that has ended by
    `now`; returns rows inserted per course (0 on a rerun). `weeks` defaults to every week
    of each course before its end. Each course commits on its own, so a rerun resumes after
    a failure."""
    c, fs, en, gr = s.courses, s.feature_snapshots, s.enrollments, s.mooc_grades
    with engine.connect() as connection:
        ended = connection.execute(
            sa.select(c.c.course_id, c.c.start_at, c.c.end_at)
            .where(c.c.semester == semester, c.c.end_at.is_not(None), c.c.end_at <= now)
            .order_by(c.c.course_id)
        ).all()
    counts: dict[str, int] = {}
    for course in ended:
        window = CourseWindow(start=course.start_at, end=course.end_at)
        with engine.connect() as connection:
            snapshots = _frame(
                connection,
                sa.select(
                    fs.c.user_id,
                    fs.c.snapshot_week,
                    fs.c.captured_at,
                    *(fs.c[name] for name in FEATURE_COLUMN_NAMES),
                ).where(fs.c.course_id == course.course_id),
            )
            roster = _frame(
                connection,
                sa.select(en.c.user_id, en.c.is_active).where(en.c.course_id == course.course_id),
            )
            grades = _frame(
                connection,
                sa.select(gr.c.user_id, gr.c.grade_percentage, gr.c.passed).where(
                    gr.c.course_id == course.course_id
                ),
            )
        if snapshots.empty or roster.empty:
            counts[course.course_id] = 0
            continue
        labels = course_labels(roster, grades, _last_activity(snapshots, window), window, rule)
        course_week_list = list(weeks) if weeks is not None else weeks_before_end(window)
        rows = point_in_time_rows(snapshots, labels, semester, course.course_id, course_week_list)
        counts[course.course_id] = insert_training_rows(engine, rows, created_at=now)
    return counts


def label_sources(engine: sa.Engine, semester: str) -> dict[str, int]:
    """How the semester's pass labels were decided (`mooc_grades.passed_source`): Open edX's
    own decision, a fork's gradebook field, or the cutoff on percent (a fallback: on real
    courses it disagrees with the final policy for a share of students)."""
    c, gr = s.courses, s.mooc_grades
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(sa.func.coalesce(gr.c.passed_source, "unknown"), sa.func.count())
            .join(c, c.c.course_id == gr.c.course_id)
            .where(c.c.semester == semester)
            .group_by(sa.func.coalesce(gr.c.passed_source, "unknown"))
        ).all()
    return {source: int(count) for source, count in rows}
