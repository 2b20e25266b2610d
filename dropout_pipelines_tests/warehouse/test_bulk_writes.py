"""Bulk writes take a frame or dicts and store the same thing: missing values as NULL,
whole numbers as integers, timestamps to the second, the last row of a repeated key."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import (
    frame_records,
    insert_frame_params,
    insert_new_rows,
    upsert_accumulate,
    upsert_rows,
)
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import get_engine

COURSE = "course-v1:O'Reilly+BULK_1%+2026_S2"
T0 = datetime(2026, 11, 2, 8, 30, 15)


def _h5p(statement_ids: list[str], scores: list[float | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "statement_id": statement_ids,
            "user_id": np.arange(1, len(statement_ids) + 1, dtype=np.int64),
            "course_id": COURSE,
            "content_id": "h5p-1",
            "score_raw": scores,
            "score_max": 10.0,
            "completed": ([True, False, None] * len(statement_ids))[: len(statement_ids)],
            "duration_s": None,
            "occurred_at": pd.Timestamp(T0),
        }
    )


def _table(engine: sa.Engine, table: sa.Table, order: str) -> list[dict]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table).order_by(table.c[order])).mappings().all()
    return [dict(row) for row in rows]


def test_a_frame_and_its_dicts_write_the_same_rows(db_url, another_db_url):
    """The same rows through the frame path (column-wise) and the dict path."""
    frame = _h5p(["s-1", "s-2", "s-2", "s-3"], [7.5, None, 3.0, 9.0])
    written = {}
    for url, rows in ((db_url, frame), (another_db_url, frame_records(frame))):
        engine = get_engine(url)
        create_schema(engine)
        with engine.begin() as connection:
            assert insert_new_rows(connection, s.h5p_results, rows, "statement_id") == 3
            # A second write of the same keys adds nothing.
            assert insert_new_rows(connection, s.h5p_results, rows, "statement_id") == 0
        written[url] = [
            {key: value for key, value in row.items() if key != "id"}
            for row in _table(engine, s.h5p_results, "statement_id")
        ]
    from_frame, from_dicts = written[db_url], written[another_db_url]
    assert from_frame == from_dicts
    assert [row["score_raw"] for row in from_frame] == [7.5, 3.0, 9.0]  # the last s-2 kept
    assert from_frame[0]["occurred_at"] == T0 and from_frame[0]["duration_s"] is None
    assert [row["completed"] for row in from_frame] == [True, None, True]
    assert isinstance(from_frame[0]["user_id"], int)


def test_frames_upsert_and_accumulate_in_chunks(db_url):
    engine = get_engine(db_url)
    create_schema(engine)
    days = pd.DataFrame(
        {
            "user_id": np.arange(1, 12_001, dtype=np.int64),
            "course_id": COURSE,
            "activity_day": T0.date(),
            "activity_kind": "video",
            "statements": 2,
            "distinct_activities": 1,
            "first_at": pd.Timestamp(T0),
            "last_at": pd.Timestamp(T0),
        }
    )
    rules = {"statements": "sum", "distinct_activities": "max", "first_at": "min"}
    key = ["user_id", "course_id", "activity_day", "activity_kind"]
    with engine.begin() as connection:
        upsert_accumulate(connection, s.learner_activity_daily, days, key, rules)
        later = days.assign(statements=3, distinct_activities=4, first_at=pd.Timestamp(2026, 11, 1))
        upsert_accumulate(connection, s.learner_activity_daily, later, key, rules)
        upsert_rows(connection, s.learner_activity_daily, days.iloc[:5], key, ["last_at"])
    table = s.learner_activity_daily
    with engine.connect() as connection:
        totals = connection.execute(
            sa.select(
                sa.func.count(),
                sa.func.sum(table.c.statements),
                sa.func.min(table.c.distinct_activities),
                sa.func.max(table.c.first_at),
            )
        ).one()
    assert tuple(totals) == (12_000, 60_000, 4, datetime(2026, 11, 1))


def test_sqlite_timestamps_formatted_at_once_as_its_processor_formats_them():
    """A datetime64 column is formatted by numpy in one go for SQLite (text storage); the
    parameters equal those the column type's processor makes from Python datetimes."""
    stamps = pd.Series(
        pd.to_datetime(
            ["2026-11-02 08:30:15.123456", None, "1970-01-01", "2026-12-31 23:59:59"],
            format="ISO8601",
        )
    )
    frame = pd.DataFrame({"user_id": [1, 2, 3, 4], "course_id": COURSE, "enrolled_at": stamps})
    python_datetimes = [None if pd.isna(v) else v.to_pydatetime() for v in stamps]
    as_objects = frame.assign(enrolled_at=pd.Series(python_datetimes, dtype=object))
    dialect = sa.create_engine("sqlite://").dialect
    sql, params = insert_frame_params(dialect, s.enrollments, frame)
    assert (sql, params) == insert_frame_params(dialect, s.enrollments, as_objects)
    position = list(frame.columns).index("enrolled_at")
    assert [row[position] for row in params] == [
        "2026-11-02 08:30:15.123456", None, "1970-01-01 00:00:00.000000",
        "2026-12-31 23:59:59.000000",
    ]  # fmt: skip
