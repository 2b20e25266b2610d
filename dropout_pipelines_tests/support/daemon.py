"""Drive the product as the Dagster daemon does, with time under the test's control.

`DaemonTerm` owns a DAGSTER_HOME whose instance queues runs (QueuedRunCoordinator), launches
them in their own processes (DefaultRunLauncher) and retries failed ones (run retries). A
real `dagster-daemon run` process launches and retries every queued run. Ticks are
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

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._scheduler.scheduler import launch_scheduled_runs

from dropout_pipelines.clock import CLOCK_FILE_ENV
from dropout_pipelines.settings import PROJECT_ROOT

UNFINISHED = (
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
)
INSTANCE_YAML = """
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
run_launcher:
  module: dagster._core.launcher
  class: DefaultRunLauncher
run_retries:
  enabled: true
  max_retries: 2
  retry_on_asset_or_op_failure: true
concurrency:
  runs:
    max_concurrent_runs: 2
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""
LOG = logging.getLogger("daemon_term")


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class DaemonTerm:
    """A Dagster instance, a daemon process and an injectable "now" for one test."""

    def __init__(
        self, home: Path, env: dict[str, str], now: datetime, monkeypatch, storage_yaml: str = ""
    ):
        self.home = home
        self.clock_file = home / "now"
        home.mkdir(parents=True, exist_ok=True)
        (home / "dagster.yaml").write_text(INSTANCE_YAML + storage_yaml)
        self.env = {**env, "DAGSTER_HOME": str(home), CLOCK_FILE_ENV: str(self.clock_file)}
        self.now = _as_utc(now)
        self._write_clock()
        for name, value in self.env.items():  # the code server this process starts inherits them
            monkeypatch.setenv(name, value)
        self.instance = DagsterInstance.from_config(str(home))
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

    def tick(self) -> None:
        """One daemon iteration of every running schedule and sensor at the current "now"."""
        with self._workspace() as context, freeze_time(self.now):
            list(
                launch_scheduled_runs(
                    context, LOG, end_datetime_utc=self.now, iteration_times={}
                )
            )
            list(execute_sensor_iteration(context, LOG, None, None))

    def wait_for_runs(self, timeout_s: float = 300.0) -> list:
        """Wait until every run, retries included, has finished; all runs so far."""
        deadline = time.monotonic() + timeout_s
        settle = 0
        while time.monotonic() < deadline:
            busy = self.instance.get_runs(filters=RunsFilter(statuses=list(UNFINISHED)))
            # A retry is created a moment after its run fails: finished twice in a row = done.
            settle = settle + 1 if not busy else 0
            if settle >= 6:
                return list(self.instance.get_runs())
            time.sleep(0.5)
        raise TimeoutError(
            f"runs still unfinished after {timeout_s}s; daemon log:\n{self.daemon_log()[-3000:]}"
        )

    def daemon_log(self) -> str:
        self._daemon_log.flush()
        return (self.home / "daemon.log").read_text(errors="replace")


@contextmanager
def daemon_term(
    tmp_path: Path, env: dict[str, str], now: datetime, monkeypatch, storage_yaml: str = ""
):
    term = DaemonTerm(tmp_path / "dagster_home", env, now, monkeypatch, storage_yaml)
    try:
        yield term
    finally:
        term.stop()
        shutil.rmtree(term.home / "storage", ignore_errors=True)
