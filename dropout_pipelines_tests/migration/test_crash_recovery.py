"""A migration killed with SIGKILL mid-transaction, then rerun, ends exactly like an
uninterrupted one: real `dagster job execute` subprocess, real kill, both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from dropout_pipelines.settings import PROJECT_ROOT
from dropout_pipelines.simulator.legacy_data import (
    LegacyDataSpec,
    generate_raw_data,
    write_raw_data,
)
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.engine import dispose_engines, get_engine
from dropout_pipelines_tests.migration.helpers import (
    assert_same_state,
    run_migration,
    warehouse_state,
)

# Large enough that predictions + training_data take well over the time to see the line.
ROWS = 30_000
KILL_AFTER = "student_features:"
TIMEOUT_S = 300


def _start_migration_cli(db_url: str, dagster_home: Path) -> subprocess.Popen:
    env = os.environ | {"DROPOUT_DB_URL": db_url, "DAGSTER_HOME": str(dagster_home)}
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.Popen(
        [
            str(dagster),
            "job",
            "execute",
            "-m",
            "dropout_pipelines.definitions",
            "-j",
            "legacy_migration_job",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _kill_when_migrate_is_midway(process: subprocess.Popen) -> str:
    deadline = time.monotonic() + TIMEOUT_S
    seen = []
    for line in process.stdout:
        seen.append(line)
        if KILL_AFTER in line:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return line
        if time.monotonic() > deadline:
            break
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError("the migrate step never reached student_features:\n" + "".join(seen[-30:]))


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_sigkill_mid_migrate_then_rerun_matches_uninterrupted_run(
    monkeypatch, db_url, another_db_url, dagster_home
):
    frame = generate_raw_data(LegacyDataSpec(rows=ROWS))
    write_raw_data(get_engine(db_url), frame)
    write_raw_data(get_engine(another_db_url), frame)

    process = _start_migration_cli(db_url, dagster_home)
    _kill_when_migrate_is_midway(process)
    assert process.returncode == -signal.SIGKILL
    dispose_engines()  # drop pooled connections that saw the pre-kill state

    engine = get_engine(db_url)
    # Killed inside the transaction: nothing of it is visible.
    assert _count(engine, s.legacy_migrations) == 0
    assert _count(engine, s.student_features) == 0
    assert _count(engine, s.predictions) == 0

    rerun = run_migration(monkeypatch, db_url)
    assert rerun.success, rerun.failure_message()
    reference = run_migration(monkeypatch, another_db_url)
    assert reference.success, reference.failure_message()

    assert_same_state(warehouse_state(engine), warehouse_state(get_engine(another_db_url)))
    assert (
        _count(engine, s.student_features)
        == frame.drop_duplicates(["user_id", "course_id"]).shape[0]
    )
