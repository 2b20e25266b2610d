"""Failure drill, for real: a scoring process killed with SIGKILL inside its write
transaction. After a rerun every student has exactly one latest serving prediction and the
history holds the rows of completed runs only. (The MariaDB server killed under a running
ingestion: dropout_pipelines_tests/ingest/test_warehouse_crash_drill.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from dropout_pipelines.predict.registry import register_model
from dropout_pipelines.predict.service import predict_course
from dropout_pipelines.settings import PROJECT_ROOT
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import frame_records
from dropout_pipelines.warehouse.engine import dispose_engines, get_engine
from dropout_pipelines_tests.predict.conftest import DEFAULT_FEATURES

COURSE = "course-v1:DRILL+KILL101+2026_S2"
STUDENTS = 20_000  # two insert chunks: the write lasts long enough to be caught inside
NOW = datetime(2026, 11, 30, 9, 0)
COMPLETED_RUN = "drill-completed"
TIMEOUT_S = 120

# The scoring path of the `predictions` asset (predict_course → score_and_save) in its
# own process; it says when its first INSERT into predictions starts, which is inside the
# write transaction, after the previous latest rows were retired.
SCORING_PROCESS = textwrap.dedent(
    """
    import re, sys
    import sqlalchemy as sa
    from dropout_pipelines.clock import utc_now_s
    from dropout_pipelines.predict.service import predict_course
    from dropout_pipelines.warehouse.engine import get_engine

    url, course, run_id = sys.argv[1:4]
    engine = get_engine(url)
    insert = re.compile(r"\\s*INSERT INTO [`\\"]?predictions\\b", re.IGNORECASE)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _announce(conn, cursor, statement, parameters, context, executemany):
        if insert.match(statement):
            print("inserting predictions", flush=True)

    predict_course(engine, course, run_id, utc_now_s())
    print("committed", flush=True)
    """
)


def load_course(engine: sa.Engine, stored_model, students: int = STUDENTS) -> None:
    """STUDENTS students with features and a registered default model."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({name: rng.random(students) for name in DEFAULT_FEATURES})
    frame = frame.assign(
        user_id=np.arange(1, students + 1),
        course_id=COURSE,
        mooc_grade_percentage=rng.uniform(0, 100, students),
        days_since_last_activity=rng.integers(0, 40, students),
        week_of_course=6,
        created_at=NOW,
        updated_at=NOW,
    )
    records = frame_records(frame)
    with engine.begin() as connection:
        for start in range(0, len(records), 5_000):
            connection.execute(sa.insert(s.student_features), records[start : start + 5_000])
    model = stored_model("fm101", "1")
    register_model(engine, "fm101", "1", model.model_path, make_default=True)


def history(engine: sa.Engine) -> dict[str, int]:
    """Prediction rows per run id."""
    p = s.predictions
    with engine.connect() as connection:
        return dict(
            connection.execute(sa.select(p.c.run_id, sa.func.count()).group_by(p.c.run_id)).all()
        )


def latest_runs(engine: sa.Engine) -> dict[str, int]:
    p = s.predictions
    with engine.connect() as connection:
        return dict(
            connection.execute(
                sa.select(p.c.run_id, sa.func.count())
                .where(p.c.latest_serving_slot == 1)
                .group_by(p.c.run_id)
            ).all()
        )


def assert_one_latest_per_student(engine: sa.Engine) -> None:
    p, sf = s.predictions, s.student_features
    with engine.connect() as connection:
        doubled = connection.execute(
            sa.select(sa.func.count()).select_from(
                sa.select(p.c.user_id)
                .where(p.c.course_id == COURSE, p.c.is_latest.is_(True), p.c.purpose == "serving")
                .group_by(p.c.user_id)
                .having(sa.func.count() > 1)
                .subquery()
            )
        ).scalar_one()
        latest = sa.exists().where(
            p.c.user_id == sf.c.user_id,
            p.c.course_id == sf.c.course_id,
            p.c.latest_serving_slot == 1,
        )
        missing = connection.execute(
            sa.select(sa.func.count()).where(sf.c.course_id == COURSE, ~latest)
        ).scalar_one()
    assert doubled == 0, f"{doubled} students with more than one latest serving prediction"
    assert missing == 0, f"{missing} students without a latest serving prediction"


def _kill_inside_the_write(process: subprocess.Popen) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + TIMEOUT_S
    for line in process.stdout:
        seen.append(line)
        if line.startswith("inserting predictions"):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return seen
        if time.monotonic() > deadline:
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    raise AssertionError("the scoring process never reached its INSERT:\n" + "".join(seen[-30:]))


@pytest.mark.slow
def test_sigkill_inside_the_prediction_write_then_rerun(warehouse, db_url, stored_model):
    load_course(warehouse, stored_model)
    predict_course(warehouse, COURSE, COMPLETED_RUN, NOW)

    process = subprocess.Popen(
        [sys.executable, "-c", SCORING_PROCESS, db_url, COURSE, "drill-killed"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen = _kill_inside_the_write(process)
    assert process.returncode == -signal.SIGKILL
    assert not any(line.startswith("committed") for line in seen)
    dispose_engines()  # pooled connections from before the kill

    engine = get_engine(db_url)
    # Killed inside the transaction: none of its rows, and the previous latest rows stand.
    assert history(engine) == {COMPLETED_RUN: STUDENTS}
    assert latest_runs(engine) == {COMPLETED_RUN: STUDENTS}
    assert_one_latest_per_student(engine)

    predict_course(engine, COURSE, "drill-rerun", NOW + timedelta(hours=1))
    assert history(engine) == {COMPLETED_RUN: STUDENTS, "drill-rerun": STUDENTS}
    assert latest_runs(engine) == {"drill-rerun": STUDENTS}
    assert_one_latest_per_student(engine)
