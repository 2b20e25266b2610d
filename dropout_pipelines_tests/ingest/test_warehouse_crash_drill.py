"""Failure drill (issue 8), on real processes: the MariaDB warehouse is killed (SIGKILL to
`mariadbd`) while an ingestion run, launched through the Dagster CLI in its own process, is
inside its write transaction; the server is started again and the ingestion rerun.

The kill point is deterministic, not a race: before the run starts, the test holds
`LOCK TABLES feature_snapshots WRITE` on a connection of its own. The run's transaction
reaches `feature_snapshots` (the `_captured_weeks` SELECT) only after it has locked the LRS
cursor and written every source table and `student_features`, so the run stops there,
waiting for the table's metadata lock with its rows written but not committed. The test
sees exactly that (PROCESSLIST + INNODB_TRX) and only then kills the server.

Afterwards: InnoDB rolled the transaction back, so the warehouse is exactly what the first,
completed ingestion left; the rerun moves the LRS cursor and counts each new statement once
(checked against a fresh ingestion of the same course into a clean database).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pymysql
import pytest
import requests
import sqlalchemy as sa
from dagster import DagsterEventType, DagsterInstance, build_run_status_sensor_context

from dropout_pipelines.clock import CLOCK_FILE_ENV
from dropout_pipelines.monitoring.sensors import run_failure_logger
from dropout_pipelines.partitions import courses_partitions
from dropout_pipelines.settings import PROJECT_ROOT
from dropout_pipelines.simulator.openedx.config import Credentials
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.engine import dispose_engines, get_engine
from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines_tests.ingest.helpers import ingest
from dropout_pipelines_tests.support.mariadb_server import (
    TEST_PASSWORD,
    TEST_USER,
    MariaDBServer,
    _free_port,
)

SIM_TODAY = "2026-12-03"
STUDENTS = 300
COURSE = "course-v1:DHQG-HCM+FM101+2026_S2"  # running on SIM_TODAY (seed 7)
# Distinctive upstream secrets: the run's output is searched for them.
CLIENT_SECRET = "drill-oauth-secret-Ux41"
LRS_PASSWORD = "drill-lrs-password-Qe93"
DRILL_CREDENTIALS = Credentials(
    client_id="drill-client",
    client_secret=CLIENT_SECRET,
    lrs_username="drill-lrs",
    lrs_password=LRS_PASSWORD,
)
TIMEOUT_S = 90
# InnoDB fills INFORMATION_SCHEMA.INNODB_TRX from a cache it refreshes only when the
# previous read is more than 0.1 s old: polled faster, the table never changes (what made
# the former predictions drill, polling every 20 ms, never see the run's transaction).
POLL_S = 0.25

COURSE_TABLES = (
    s.enrollments,
    s.mooc_grades,
    s.h5p_results,
    s.assessment_attempts,
    s.learner_activity_daily,
    s.student_features,
    s.feature_snapshots,
)
# The natural key of each table: never twice the same.
NATURAL_KEYS = {
    "enrollments": ("user_id", "course_id"),
    "mooc_grades": ("user_id", "course_id"),
    "h5p_results": ("statement_id",),
    "assessment_attempts": ("statement_id",),
    "learner_activity_daily": ("user_id", "course_id", "activity_day", "activity_kind"),
    "student_features": ("user_id", "course_id"),
    "feature_snapshots": ("user_id", "course_id", "snapshot_week"),
}


@pytest.fixture
def private_mariadb() -> Iterator[MariaDBServer]:
    """A MariaDB server of this test alone (the session's server is shared: never killed)."""
    if os.environ.get("DROPOUT_TEST_MYSQL_URL"):
        pytest.skip("an external server (DROPOUT_TEST_MYSQL_URL) cannot be killed by the test")
    base_dir = Path(tempfile.mkdtemp(prefix="dropout-mariadb-drill-"))
    server = MariaDBServer(base_dir=base_dir, port=_free_port()).start()
    try:
        yield server
    finally:
        dispose_engines()
        server.stop()


@dataclass
class SimulatorProcess:
    base_url: str
    process: subprocess.Popen

    @property
    def lrs_url(self) -> str:
        return f"{self.base_url}/xAPI"

    def environment(self) -> dict[str, str]:
        return DRILL_CREDENTIALS.environment(self.base_url)

    def now(self) -> str:
        return requests.get(f"{self.base_url}/_sim/now", timeout=10).json()["now"]

    def advance(self, days: int) -> str:
        response = requests.post(f"{self.base_url}/_sim/advance", params={"days": days}, timeout=10)
        response.raise_for_status()
        return response.json()["now"]


@pytest.fixture
def simulator(tmp_path) -> Iterator[SimulatorProcess]:
    """The Open edX + LRS simulator as its own process on a free loopback port."""
    log = tmp_path / "simulator.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "dropout_pipelines.simulator", "--port", "0", "--seed", "7",
         "--today", SIM_TODAY, "--courses", "1", "--students", str(STUDENTS),
         "--client-id", DRILL_CREDENTIALS.client_id, "--client-secret", CLIENT_SECRET,
         "--lrs-username", DRILL_CREDENTIALS.lrs_username, "--lrs-password", LRS_PASSWORD],
        cwd=PROJECT_ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT_S
        base_url = None
        while base_url is None:
            banner = log.read_text()
            if "xAPI LRS:" in banner:  # printed after the LMS line, once it serves
                base_url = banner.split("Open edX simulator:", 1)[1].split()[0]
            elif process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start:\n{banner[-2000:]}")
            else:
                time.sleep(0.1)
        yield SimulatorProcess(base_url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def set_product_clock(clock_file: Path, now: str) -> None:
    """The product's clock (DROPOUT_CLOCK_FILE, read by this process and the run's) at the
    simulator's now."""
    clock_file.write_text(now)


def point_at(monkeypatch, simulator: SimulatorProcess, url: str, clock_file: Path) -> None:
    env = simulator.environment() | {"DROPOUT_DB_URL": url, CLOCK_FILE_ENV: str(clock_file)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OPENEDX_SESSIONID", raising=False)


# -- The warehouse as the tests read it -------------------------------------------------


def course_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.course_id == COURSE)
            ).scalar_one()
            for table in COURSE_TABLES
        }


def cursor_row(engine: sa.Engine) -> dict:
    with engine.connect() as connection:
        row = (
            connection.execute(sa.select(s.lrs_cursors).where(s.lrs_cursors.c.course_id == COURSE))
            .mappings()
            .one()
        )
    return dict(row) | {"overlap_ids": sorted(row["overlap_ids"])}


def checksums(engine: sa.Engine) -> dict[str, int]:
    """CHECKSUM TABLE of every table of the warehouse: any changed row changes it."""
    with engine.connect() as connection:
        names = sorted(sa.inspect(connection).get_table_names())
        rows = connection.exec_driver_sql(
            "CHECKSUM TABLE " + ", ".join(f"`{name}`" for name in names)
        ).all()
    return {name.rsplit(".", 1)[1]: value for name, value in rows}


def warehouse_state(engine: sa.Engine) -> dict:
    return {
        "counts": course_counts(engine),
        "cursor": cursor_row(engine),
        "checksums": checksums(engine),
    }


def statements_counted(engine: sa.Engine) -> int:
    """The statements the course's daily activity accounts for (summed on every refresh: a
    statement counted twice shows here)."""
    a = s.learner_activity_daily
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.coalesce(sa.func.sum(a.c.statements), 0)).where(
                a.c.course_id == COURSE
            )
        ).scalar_one()


def duplicate_keys(engine: sa.Engine) -> dict[str, int]:
    duplicates = {}
    with engine.connect() as connection:
        for table in COURSE_TABLES:
            key = [table.c[name] for name in NATURAL_KEYS[table.name]]
            doubled = sa.select(*key).group_by(*key).having(sa.func.count() > 1).subquery()
            duplicates[table.name] = connection.execute(
                sa.select(sa.func.count()).select_from(doubled)
            ).scalar_one()
    return duplicates


def live_snapshots(engine: sa.Engine, week: int) -> tuple[int, int, int]:
    """(students with features, snapshot rows of `week`, distinct students among them)."""
    fs, sf = s.feature_snapshots, s.student_features
    with engine.connect() as connection:
        students = connection.execute(
            sa.select(sa.func.count()).where(sf.c.course_id == COURSE)
        ).scalar_one()
        rows, distinct = connection.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(fs.c.user_id))).where(
                fs.c.course_id == COURSE, fs.c.snapshot_week == week
            )
        ).one()
    return students, rows, distinct


# -- The run, the lock and the kill ------------------------------------------------------


def start_ingestion_run(env: dict[str, str], dagster_home: Path, log: Path) -> subprocess.Popen:
    """`ingest_course_job` for COURSE through the Dagster CLI: a real run in its own process
    (its output in `log`: a pipe nobody reads while polling could fill up and stall it)."""
    instance = DagsterInstance.from_config(str(dagster_home))
    instance.add_dynamic_partitions(courses_partitions.name, [COURSE])
    instance.dispose()
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.Popen(
        [str(dagster), "job", "execute", "-m", "dropout_pipelines.definitions",
         "-j", "ingest_course_job", "--tags", json.dumps({"dagster/partition": COURSE})],
        cwd=PROJECT_ROOT,
        env=os.environ | env | {"DAGSTER_HOME": str(dagster_home)},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def root_connection(server: MariaDBServer, database: str | None = None) -> pymysql.Connection:
    return pymysql.connect(
        unix_socket=str(server.socket_path), user="root", database=database, autocommit=True
    )


# The run's session, blocked on feature_snapshots' metadata lock, and its open transaction.
BLOCKED_WRITER = """
    SELECT p.ID, p.STATE, p.INFO, t.trx_rows_modified
    FROM information_schema.PROCESSLIST p
    JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
    WHERE p.USER = %s AND p.DB = %s
      AND p.STATE = 'Waiting for table metadata lock'
      AND p.INFO LIKE '%%feature_snapshots%%'
"""

# What every session is doing, for the message when the run never gets there.
SESSIONS = """
    SELECT p.ID, p.USER, p.DB, p.COMMAND, p.TIME, p.STATE, LEFT(p.INFO, 200), t.trx_state,
        t.trx_rows_modified
    FROM information_schema.PROCESSLIST p
    LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
"""


@dataclass(frozen=True)
class BlockedWriter:
    session: int
    state: str
    statement: str
    rows_modified: int


def wait_until_blocked_after_writing(
    server: MariaDBServer, database: str, process: subprocess.Popen, log: Path
) -> BlockedWriter:
    """Poll until the run's transaction, having written rows, waits on the table lock."""
    monitor = root_connection(server)
    deadline = time.monotonic() + TIMEOUT_S
    try:
        with monitor.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute(BLOCKED_WRITER, (TEST_USER, database))
                row = cursor.fetchone()
                if row is not None and row[3] > 0:
                    return BlockedWriter(int(row[0]), row[1], row[2], int(row[3]))
                if process.poll() is not None:
                    raise AssertionError(
                        "the run ended before reaching feature_snapshots:\n"
                        + log.read_text()[-3000:]
                    )
                time.sleep(POLL_S)
        with monitor.cursor() as cursor:
            cursor.execute(SESSIONS)
            sessions = "\n".join(map(str, cursor.fetchall()))
    finally:
        monitor.close()
    raise AssertionError(
        f"the run never waited on feature_snapshots with rows written; sessions:\n{sessions}\n"
        + log.read_text()[-3000:]
    )


def failure_line(dagster_home: Path, url: str, monkeypatch, capfd) -> str:
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
def test_warehouse_killed_under_an_ingestion_run_then_restarted_and_rerun(
    private_mariadb, simulator, dagster_home, tmp_path, monkeypatch, capfd
):
    server = private_mariadb
    database = server.create_database("dp_drill")
    url = server.url_for(database)
    clock_file = tmp_path / "now.txt"
    set_product_clock(clock_file, simulator.now())
    point_at(monkeypatch, simulator, url, clock_file)

    # 1. A completed first ingestion: the consistent state the crash must leave intact.
    first = ingest(COURSE)
    assert first.success, first.failure_message()
    engine = get_engine(url)
    before = warehouse_state(engine)
    assert all(before["counts"].values()), before["counts"]

    # 2. A day passes: the next refresh has new statements and new source rows to write.
    set_product_clock(clock_file, simulator.advance(days=1))

    # 3. The run in its own process, stopped by the test's lock at feature_snapshots.
    holder = root_connection(server, database)
    log = tmp_path / "ingestion.log"
    process = None
    try:
        with holder.cursor() as cursor:
            cursor.execute("LOCK TABLES feature_snapshots WRITE")
        process = start_ingestion_run(
            simulator.environment() | {"DROPOUT_DB_URL": url, CLOCK_FILE_ENV: str(clock_file)},
            dagster_home,
            log,
        )
        blocked = wait_until_blocked_after_writing(server, database, process, log)
        server.crash()
        process.wait(timeout=TIMEOUT_S)
    finally:
        with contextlib.suppress(pymysql.err.Error):
            holder.close()  # its server is gone: nothing to unlock
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # It was inside its transaction, past the sources, at the `_captured_weeks` SELECT.
    assert blocked.statement.lstrip().upper().startswith("SELECT DISTINCT"), blocked
    assert blocked.rows_modified >= 2 * STUDENTS, blocked  # enrollments, grades, features…

    # 4. The run fails on the lost connection and never prints a secret.
    output = log.read_text()
    assert process.returncode != 0, output[-3000:]
    assert "Lost connection to MySQL server" in output or "MySQL server has gone away" in output
    for secret in (TEST_PASSWORD, CLIENT_SECRET, LRS_PASSWORD):
        for form in (secret, quote(secret, safe="")):
            assert form not in output, f"a secret in the run's output: {form[:3]}…"
    assert "s3cr3t" not in output
    line = failure_line(dagster_home, url, monkeypatch, capfd)
    assert f"job=ingest_course_job course={COURSE} steps=course_ingestion " in line, line
    assert "OperationalError" in line, line
    assert f"warehouse=mysql+pymysql://{TEST_USER}:***@127.0.0.1:{server.port}/{database}" in line
    assert "s3cr3t" not in line

    # 5. Restarted, the warehouse is exactly what the completed ingestion left.
    server.restart()
    dispose_engines()  # connections to the dead server
    engine = get_engine(url)
    after_crash = warehouse_state(engine)
    assert after_crash["counts"] == before["counts"]
    assert after_crash["cursor"] == before["cursor"]
    assert after_crash["checksums"] == before["checksums"]

    # 6. The rerun continues from the cursor: every new statement counted once, as a fresh
    # ingestion of the course into a clean database (the control) counts them.
    rerun = ingest(COURSE)
    assert rerun.success, rerun.failure_message()
    week = rerun.asset_metadata("feature_snapshots")["snapshot_week"]
    control_url = server.url_for(server.create_database("dp_control"))
    monkeypatch.setenv("DROPOUT_DB_URL", control_url)
    control = ingest(COURSE)
    assert control.success, control.failure_message()
    control_engine = get_engine(control_url)

    cursor = cursor_row(engine)
    assert cursor["last_stored"] > before["cursor"]["last_stored"]
    assert cursor["statements_total"] > before["cursor"]["statements_total"]
    control_cursor = cursor_row(control_engine)
    assert cursor["statements_total"] == control_cursor["statements_total"]
    assert cursor["last_stored"] == control_cursor["last_stored"]
    assert statements_counted(engine) == statements_counted(control_engine)
    assert course_counts(engine) == course_counts(control_engine)
    assert duplicate_keys(engine) == dict.fromkeys(NATURAL_KEYS, 0)
    students, rows, distinct = live_snapshots(engine, week)
    assert students > 0
    assert rows == distinct == students
