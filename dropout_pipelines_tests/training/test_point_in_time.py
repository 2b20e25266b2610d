"""Point-in-time rows (no leakage) and insert-only writes on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from dropout_pipelines.training.labels import DropoutRule
from dropout_pipelines.training.point_in_time import (
    build_semester_training_data,
    insert_training_rows,
    point_in_time_rows,
)
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.schema import FEATURE_COLUMN_NAMES

SEMESTER = "2026_S1"
COURSE = "course-v1:ORG+C1+2026_S1"
START = datetime(2026, 1, 5, 8, 0)
END = START + timedelta(days=7 * 12)
NOW = END + timedelta(days=30)


def snapshot(user_id: int, week: int, grade: float, idle: int = 1) -> dict:
    row = dict.fromkeys(FEATURE_COLUMN_NAMES)
    return row | {
        "user_id": user_id,
        "snapshot_week": week,
        "mooc_grade_percentage": grade,
        "mooc_completion_rate": week / 13,
        "days_since_last_activity": idle,
        "days_enrolled": 7 * week,
        "week_of_course": week,
        "captured_at": min(START + timedelta(days=7 * week - 1), END),
    }


def snapshots() -> pd.DataFrame:
    """Student 1: grade 20 until week 9, jumps to 90 in week 10. Student 2: captured only in
    weeks 3 and 11 (the pipeline was down in between)."""
    rows = [snapshot(1, week, 20.0 if week < 10 else 90.0) for week in range(1, 14)]
    rows += [snapshot(2, 3, 10.0), snapshot(2, 11, 50.0, idle=40)]
    return pd.DataFrame(rows)


LABELS = pd.DataFrame(
    {
        "user_id": [1, 2],
        "is_passed": pd.array([True, False], dtype="boolean"),
        "final_grade": pd.array([90.0, 50.0], dtype="Float64"),
        "is_dropout": [False, True],
    }
)


def rows(weeks=range(1, 14)) -> pd.DataFrame:
    return point_in_time_rows(snapshots(), LABELS, SEMESTER, COURSE, list(weeks)).set_index(
        ["user_id", "snapshot_week"]
    )


def test_leakage_week_4_row_has_the_pre_jump_grade():
    out = rows()
    assert out.loc[(1, 4), "mooc_grade_percentage"] == 20.0
    assert out.loc[(1, 9), "mooc_grade_percentage"] == 20.0
    assert out.loc[(1, 10), "mooc_grade_percentage"] == 90.0
    # the label is the end-of-course outcome on every row
    assert out.loc[(1, 4), "final_grade"] == 90.0 and out.loc[(1, 4), "is_passed"]


def test_newest_snapshot_at_or_before_never_later():
    out = rows()
    assert (2, 1) not in out.index and (2, 2) not in out.index  # nothing at or before
    assert out.loc[(2, 10), "mooc_grade_percentage"] == 10.0  # week 3 carried forward
    assert out.loc[(2, 10), "extra_features"] == {"snapshot_week_used": 3}
    assert out.loc[(2, 11), "mooc_grade_percentage"] == 50.0
    assert out.loc[(2, 4), "week_of_course"] == 3


def test_only_requested_weeks():
    out = rows(weeks=[4, 8])
    assert sorted(set(out.index.get_level_values("snapshot_week"))) == [4, 8]
    assert len(out) == 4


def _training(engine: sa.Engine) -> pd.DataFrame:
    td = s.training_data
    with engine.connect() as connection:
        result = connection.execute(sa.select(td).order_by(td.c.user_id, td.c.snapshot_week))
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def test_insert_only_rerun_adds_nothing(db_url: str):
    engine = get_engine(db_url)
    create_schema(engine)
    first = rows(weeks=[4, 8]).reset_index()
    assert insert_training_rows(engine, first, created_at=NOW) == 4
    assert insert_training_rows(engine, first, created_at=NOW) == 0  # no failure, no row
    more = rows(weeks=[4, 8, 12]).reset_index()
    assert insert_training_rows(engine, more, created_at=NOW) == 2
    stored = _training(engine)
    assert len(stored) == 6 and set(stored["source"]) == {"semester_close"}
    week4 = stored[(stored["user_id"] == 1) & (stored["snapshot_week"] == 4)].iloc[0]
    assert week4["mooc_grade_percentage"] == 20.0 and bool(week4["is_passed"])


def _seed(engine: sa.Engine) -> None:
    create_schema(engine)
    fetched = NOW
    snaps = snapshots().assign(course_id=COURSE)
    snaps.loc[snaps["user_id"] == 2, "captured_at"] = END  # pretend week 11 was at the end
    with engine.begin() as connection:
        connection.execute(
            sa.insert(s.courses),
            [
                {
                    "course_id": COURSE,
                    "semester": SEMESTER,
                    "start_at": START,
                    "end_at": END,
                    "discovered_at": fetched,
                },
                {
                    "course_id": "course-v1:ORG+RUNNING+2026_S1",
                    "semester": SEMESTER,
                    "start_at": START,
                    "end_at": NOW + timedelta(days=1),
                    "discovered_at": fetched,
                },
            ],
        )
        connection.execute(
            sa.insert(s.enrollments),
            [
                {"user_id": 1, "course_id": COURSE, "is_active": True, "fetched_at": fetched},
                {"user_id": 2, "course_id": COURSE, "is_active": True, "fetched_at": fetched},
            ],
        )
        connection.execute(
            sa.insert(s.mooc_grades),
            [
                {
                    "user_id": 1,
                    "course_id": COURSE,
                    "grade_percentage": 90.0,
                    "passed": True,
                    "fetched_at": fetched,
                },
                {
                    "user_id": 2,
                    "course_id": COURSE,
                    "grade_percentage": 50.0,
                    "passed": False,
                    "fetched_at": fetched,
                },
            ],
        )
        records = snaps.astype(object).where(snaps.notna(), None).to_dict("records")
        connection.execute(sa.insert(s.feature_snapshots), records)


def test_build_semester_training_data_is_insert_only(db_url: str):
    engine = get_engine(db_url)
    _seed(engine)
    counts = build_semester_training_data(engine, SEMESTER, now=NOW)
    # the running course is skipped; student 1 has weeks 1..12, student 2 weeks 3..12: week
    # 13 holds the end of the course (its capture is the label's source, never a feature row)
    assert counts == {COURSE: 12 + 10}
    assert build_semester_training_data(engine, SEMESTER, now=NOW) == {COURSE: 0}
    stored = _training(engine).set_index(["user_id", "snapshot_week"])
    assert stored.loc[(1, 4), "mooc_grade_percentage"] == 20.0  # no leakage through the DB
    assert not stored.loc[(1, 4), "is_dropout"]
    assert stored.loc[(2, 5), "is_dropout"]  # 40 idle days at the end
    assert stored.loc[(1, 4), "final_grade"] == pytest.approx(90.0)
    lenient = build_semester_training_data(
        engine, SEMESTER, weeks=[4], rule=DropoutRule(inactive_days=60), now=NOW
    )
    assert lenient == {COURSE: 0}  # existing rows are never rewritten with other labels
