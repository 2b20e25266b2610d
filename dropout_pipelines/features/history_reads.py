"""Read a course's `CourseHistory` from the warehouse (inside the caller's transaction, so
a refresh sees the rows it has just written)."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from dropout_pipelines.features.history import CourseHistory
from dropout_pipelines.warehouse import schema as s

# Rows turned into columns at a time: a course's history runs to millions of rows, and a
# list of all of them as row objects weighs several times the frame built from it.
READ_CHUNK_ROWS = 50_000


def _frame(connection: sa.Connection, query: sa.Select, dates: list[str]) -> pd.DataFrame:
    """The query's rows as a frame, read `READ_CHUNK_ROWS` at a time (streamed from the
    server), so the memory held is the frame plus one chunk.

    The rows come straight from the driver and each column is converted once, vectorised
    (dates parsed by pandas, booleans from 0/1): SQLAlchemy's per-value result processing
    and pandas' per-row probing of Row objects cost more than the read itself on a large
    course."""
    compiled = query.compile(dialect=connection.dialect)
    params = compiled.construct_params()
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    result = connection.execution_options(stream_results=True).exec_driver_sql(
        compiled.string, params
    )
    columns = [column.name for column in query.selected_columns]
    chunks = [_chunk_frame(rows, columns) for rows in result.partitions(READ_CHUNK_ROWS)]
    frame = _chunk_frame([], columns) if not chunks else pd.concat(chunks, ignore_index=True)
    booleans = [c.name for c in query.selected_columns if isinstance(c.type, sa.Boolean)]
    for column in dates:
        frame[column] = pd.to_datetime(frame[column], format="ISO8601")
    for column in booleans:
        frame[column] = _booleans(frame[column])
    return frame


def _booleans(values: pd.Series) -> pd.Series:
    """0/1 from the driver as booleans; a NULL stays missing (`bool(nan)` would be True)."""
    present = values.notna()
    if present.all():
        return values.astype(bool)
    converted = pd.Series(None, index=values.index, dtype=object)
    converted[present] = values[present].astype(bool)
    return converted


def _chunk_frame(rows: list, columns: list[str]) -> pd.DataFrame:
    # Built column-wise: handed row objects, pandas probes each one for a `dtype` attribute.
    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    return pd.DataFrame(dict(zip(columns, values, strict=True)))


def load_course_history(connection: sa.Connection, course_id: str) -> CourseHistory:
    """Every stored input of the course's features, one query per table."""
    e, h, a = s.enrollments, s.h5p_results, s.assessment_attempts
    v, d = s.learner_first_visits, s.learner_activity_daily
    roster = _frame(
        connection,
        sa.select(e.c.user_id, e.c.enrolled_at, e.c.is_active).where(e.c.course_id == course_id),
        ["enrolled_at"],
    )
    h5p = _frame(
        connection,
        sa.select(
            h.c.user_id,
            h.c.content_id,
            h.c.score_raw,
            h.c.score_max,
            h.c.completed,
            h.c.duration_s,
            h.c.occurred_at,
        ).where(h.c.course_id == course_id),
        ["occurred_at"],
    )
    attempts = _frame(
        connection,
        sa.select(a.c.user_id, a.c.block_id, a.c.score_raw, a.c.score_max, a.c.occurred_at).where(
            a.c.course_id == course_id
        ),
        ["occurred_at"],
    )
    visits = _frame(
        connection,
        sa.select(v.c.user_id, v.c.activity_key, v.c.activity_kind, v.c.first_at).where(
            v.c.course_id == course_id
        ),
        ["first_at"],
    )
    daily = _frame(
        connection,
        sa.select(
            d.c.user_id, d.c.activity_day, d.c.activity_kind, d.c.statements, d.c.first_at,
            d.c.last_at,
        ).where(d.c.course_id == course_id),
        ["activity_day", "first_at", "last_at"],
    )  # fmt: skip
    for frame in (roster, h5p, attempts, visits, daily):
        frame["user_id"] = frame["user_id"].astype("int64")
    ca, gp = s.course_assessments, s.course_grading_policy
    outline = _frame(
        connection,
        sa.select(
            ca.c.problem_id, ca.c.subsection_id, ca.c.assignment_type, ca.c.due_at.label("due"),
            ca.c.points,
        ).where(ca.c.course_id == course_id),
        ["due"],
    )  # fmt: skip
    policy = _frame(
        connection,
        sa.select(gp.c.assignment_type, gp.c.weight, gp.c.drop_count, gp.c.min_count).where(
            gp.c.course_id == course_id
        ),
        [],
    )
    content_blocks = connection.execute(
        sa.select(s.courses.c.content_blocks).where(s.courses.c.course_id == course_id)
    ).scalar()
    return CourseHistory(
        roster=roster,
        h5p=h5p,
        attempts=attempts,
        visits=visits,
        daily=daily,
        outline=outline,
        policy=policy,
        content_blocks=content_blocks,
    )
