"""Failure drills, for real: a scoring process killed with SIGKILL inside its write
transaction, and the MariaDB warehouse killed under a running `predictions` materialization.
After a rerun every student has exactly one latest serving prediction and the history holds
the rows of completed runs only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pymysql
import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, DagsterInstance, build_run_status_sensor_context

from dropout_pipelines.ingest.partitions import courses_partitions
from dropout_pipelines.monitoring.sensors import run_failure_logger
from dropout_pipelines.predict.registry import register_model
from dropout_pipelines.predict.service import predict_course
from dropout_pipelines.settings import PROJECT_ROOT
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import frame_records
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import dispose_engines, get_engine
from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines_tests.predict.conftest import DEFAULT_FEATURES
from dropout_pipelines_tests.support.mariadb_server import (
    TEST_PASSWORD,
    MariaDBServer,
    _free_port,
)

COURSE = "course-v1:DRILL+KILL101+2026_S2"
STUDENTS = 20_000  # two insert chunks: the write lasts long enough to be caught inside
NOW = datetime(2026, 11, 30, 9, 0)
COMPLETED_RUN = "drill-completed"
TIMEOUT_S = 120

# The scoring path of the `predictions` asset (predict_course → save_predictions) in its
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


# -- The warehouse server dies under a real `predictions` materialization ----------------


@pytest.fixture
def private_mariadb() -> Iterator[MariaDBServer]:
    """A MariaDB server of this test alone (the session's server is shared: never killed)."""
    if os.environ.get("DROPOUT_TEST_MYSQL_URL"):
        pytest.skip("an external server (DROPOUT_TEST_MYSQL_URL) cannot be killed by the test")
    base_dir = Path(tempfile.mkdtemp(prefix="dropout-mariadb-drill-"))
    server = MariaDBServer(base_dir=base_dir, port=_free_port()).start()
    yield server
    dispose_engines()
    server.stop()


def _start_materialization(url: str, dagster_home: Path, log: Path) -> subprocess.Popen:
    """`predictions` for COURSE through the Dagster CLI: a real run in its own process
    (its output in `log`: a pipe nobody reads while polling could fill up and stall it)."""
    instance = DagsterInstance.from_config(str(dagster_home))
    instance.add_dynamic_partitions(courses_partitions.name, [COURSE])
    instance.dispose()
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.Popen(
        [str(dagster), "job", "execute", "-m", "dropout_pipelines.definitions",
         "-j", "predict_course_job", "--tags", json.dumps({"dagster/partition": COURSE})],
        cwd=PROJECT_ROOT,
        env=os.environ | {"DROPOUT_DB_URL": url, "DAGSTER_HOME": str(dagster_home)},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def _rows_modified_by_open_transactions(server: MariaDBServer) -> int:
    connection = pymysql.connect(unix_socket=str(server.socket_path), user="root")
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(MAX(trx_rows_modified), 0) FROM information_schema.innodb_trx"
            )
            return int(cursor.fetchone()[0])
    finally:
        connection.close()


def _crash_server_inside_the_write(
    server: MariaDBServer, process: subprocess.Popen, log: Path
) -> None:
    """Kill mariadbd once the run's transaction has retired the latest rows and is
    inserting the new ones."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                "the run ended before the server could be killed:\n" + log.read_text()[-3000:]
            )
        if _rows_modified_by_open_transactions(server) > STUDENTS + 1_000:
            server.crash()
            return
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError("the run never reached its write transaction")


def _failure_line(dagster_home: Path, url: str, monkeypatch, capfd) -> str:
    """run_failure_logger evaluated on the failed run recorded in the CLI's instance."""
    monkeypatch.setenv("DROPOUT_DB_URL", url)
    instance = DagsterInstance.from_config(str(dagster_home))
    try:
        (run,) = instance.get_runs()
        (failure,) = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)
        context = build_run_status_sensor_context(
            sensor_name="run_failure_logger",
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=failure.dagster_event,
            resources={"warehouse": WarehouseResource()},
        ).for_run_failure()
        capfd.readouterr()
        run_failure_logger(context)
        logged = capfd.readouterr()
    finally:
        instance.dispose()
    (line,) = [line for line in (logged.out + logged.err).splitlines() if " failed: job=" in line]
    return line


@pytest.mark.slow
@pytest.mark.skip(
    reason="since 2026-12-03 the poll of information_schema.innodb_trx never sees the run's "
    "open write transaction, so the server is not killed inside it (open: issue 8 note)"
)
def test_warehouse_killed_under_a_materialization_then_restarted_and_rerun(
    private_mariadb, stored_model, dagster_home, monkeypatch, capfd
):
    server = private_mariadb
    url = server.url_for(server.create_database("dp_drill"))
    engine = get_engine(url)
    create_schema(engine)
    load_course(engine, stored_model)
    predict_course(engine, COURSE, COMPLETED_RUN, NOW)

    log = dagster_home.parent / "materialization.log"
    process = _start_materialization(url, dagster_home, log)
    _crash_server_inside_the_write(server, process, log)
    process.wait(timeout=TIMEOUT_S)
    output = log.read_text()
    assert process.returncode != 0, output[-3000:]
    # The run fails on the lost connection, and never prints the password.
    assert "Lost connection to MySQL server" in output or "MySQL server has gone away" in output
    for form in (TEST_PASSWORD, quote(TEST_PASSWORD, safe=""), "s3cr3t"):
        assert form not in output
    line = _failure_line(dagster_home, url, monkeypatch, capfd)
    assert f"job=predict_course_job course={COURSE} steps=predictions " in line
    assert "OperationalError" in line
    assert f"warehouse=mysql+pymysql://dropout_test:***@127.0.0.1:{server.port}/dp_drill_" in line
    assert "s3cr3t" not in line

    server.restart()
    dispose_engines()  # connections to the dead server
    engine = get_engine(url)
    # InnoDB rolled the run's transaction back: the course is as the completed run left it.
    assert history(engine) == {COMPLETED_RUN: STUDENTS}
    assert latest_runs(engine) == {COMPLETED_RUN: STUDENTS}
    assert_one_latest_per_student(engine)

    predict_course(engine, COURSE, "drill-rerun", NOW + timedelta(hours=1))
    assert history(engine) == {COMPLETED_RUN: STUDENTS, "drill-rerun": STUDENTS}
    assert latest_runs(engine) == {"drill-rerun": STUDENTS}
    assert_one_latest_per_student(engine)
