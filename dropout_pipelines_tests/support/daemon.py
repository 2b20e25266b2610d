"""Drive the product as the Dagster daemon does, with time under the test's control.

`DaemonTerm` owns a DAGSTER_HOME holding the product's own instance configuration (the
repository's `dagster.yaml` on SQLite, or `deploy/dagster.mysql.yaml` on MySQL/MariaDB):
runs wait in the QueuedRunCoordinator's queue, are launched in their own processes
(DefaultRunLauncher) and retried when they fail (run retries). A real `dagster-daemon run`
process launches and retries every queued run. Ticks are
evaluated by the daemon's own scheduler and sensor iterations (`launch_scheduled_runs`,
`execute_sensor_iteration`), called in this process at an injected moment (Dagster's
`freeze_time`; the product's clock through `DROPOUT_CLOCK_FILE`), so a whole term passes in
minutes. The test's iterations stamp their ticks in the future of the wall clock, so the
daemon process, which evaluates by the wall clock, finds nothing due itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._scheduler.scheduler import launch_scheduled_runs

from dropout_pipelines.clock import CLOCK_FILE_ENV
from dropout_pipelines.settings import PROJECT_ROOT

SQLITE_INSTANCE = PROJECT_ROOT / "dagster.yaml"
MYSQL_INSTANCE = PROJECT_ROOT / "deploy" / "dagster.mysql.yaml"
RETRY_NUMBER_TAG = "dagster/retry_number"
UNFINISHED = (
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
)
LOG = logging.getLogger("daemon_term")


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class DaemonTerm:
    """A Dagster instance, a daemon process and an injectable "now" for one test."""

    def __init__(
        self, home: Path, env: dict[str, str], now: datetime, monkeypatch, instance_yaml: Path
    ):
        self.home = home
        self.clock_file = home / "now"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(instance_yaml, home / "dagster.yaml")
        self.env = {**env, "DAGSTER_HOME": str(home), CLOCK_FILE_ENV: str(self.clock_file)}
        self.now = _as_utc(now)
        self._write_clock()
        for name, value in self.env.items():  # the code server this process starts inherits them
            monkeypatch.setenv(name, value)
        self.instance = DagsterInstance.from_config(str(home))
        self.max_retries = (
            self.instance.run_retries_max_retries if self.instance.run_retries_enabled else 0
        )
        self._daemon: subprocess.Popen | None = None
        self._daemon_log = open(home / "daemon.log", "w")  # noqa: SIM115 - closed in stop()

    def _write_clock(self) -> None:
        self.clock_file.write_text(self.now.isoformat())

    def set_now(self, moment: datetime) -> None:
        moment = _as_utc(moment)
        assert moment >= self.now, "time only moves forward"
        self.now = moment
        self._write_clock()

    def start_daemon(self) -> None:
        dagster_daemon = Path(sys.executable).with_name("dagster-daemon")
        self._daemon = subprocess.Popen(
            [str(dagster_daemon), "run", "-w", "workspace.yaml"],
            cwd=PROJECT_ROOT,
            env={**os.environ, **self.env},
            stdout=self._daemon_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self._daemon is not None and self._daemon.poll() is None:
            os.killpg(self._daemon.pid, signal.SIGTERM)
            try:
                self._daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self._daemon.pid, signal.SIGKILL)
        self._daemon_log.close()
        self.instance.dispose()

    @contextmanager
    def _workspace(self) -> Iterator:
        target = WorkspaceFileTarget(paths=[str(PROJECT_ROOT / "workspace.yaml")])
        with create_test_daemon_workspace_context(target, self.instance) as context:
            yield context

    def stop_instigators(self, *names: str) -> None:
        """Switch schedules or sensors off in the instance (as an engineer would in the UI)."""
        with self._workspace() as context:
            location = next(
                iter(context.create_request_context().get_code_location_entries().values())
            )
            repository = location.code_location.get_repository("__repository__")
            for schedule in repository.get_schedules():
                if schedule.name in names:
                    self.instance.stop_schedule(
                        schedule.get_remote_origin_id(), schedule.selector_id, schedule
                    )
            for sensor in repository.get_sensors():
                if sensor.name in names:
                    self.instance.stop_sensor(
                        sensor.get_remote_origin_id(), sensor.selector_id, sensor
                    )

    def tick(self) -> None:
        """One daemon iteration of every running schedule and sensor at the current "now"."""
        with self._workspace() as context, freeze_time(self.now):
            list(launch_scheduled_runs(context, LOG, end_datetime_utc=self.now, iteration_times={}))
            list(execute_sensor_iteration(context, LOG, None, None))

    def wait_for_runs(self, timeout_s: float = 300.0) -> list:
        """Wait until every run has finished and every failed one has been retried (until
        its retries ran out); all runs so far."""
        deadline = time.monotonic() + timeout_s
        settle = 0
        while time.monotonic() < deadline:
            runs = list(self.instance.get_runs())
            busy = [run for run in runs if run.status in UNFINISHED]
            retried = {run.parent_run_id for run in runs if run.parent_run_id}
            awaiting_retry = [
                run
                for run in runs
                if run.status == DagsterRunStatus.FAILURE
                and run.run_id not in retried
                and int(run.tags.get(RETRY_NUMBER_TAG, "0")) < self.max_retries
            ]
            settle = settle + 1 if not busy and not awaiting_retry else 0
            if settle >= 4:
                return runs
            time.sleep(0.5)
        raise TimeoutError(
            f"runs still unfinished after {timeout_s}s; daemon log:\n{self.daemon_log()[-3000:]}"
        )

    def daemon_log(self) -> str:
        self._daemon_log.flush()
        return (self.home / "daemon.log").read_text(errors="replace")


@contextmanager
def daemon_term(
    tmp_path: Path, env: dict[str, str], now: datetime, monkeypatch, instance_yaml: Path
):
    term = DaemonTerm(tmp_path / "dagster_home", env, now, monkeypatch, instance_yaml)
    try:
        yield term
    finally:
        term.stop()
        shutil.rmtree(term.home / "storage", ignore_errors=True)
