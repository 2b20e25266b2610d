"""What does launching refresh runs cost a daily tick? (`make bench-orchestration`)

Issue 8: launched from the UI through the daemon, one run per course took about 30 s for a
200-student course, nearly all of it run start-up; one run per course per tick would be 8
hours for 1,000 courses. `refresh_courses_job` now serves a batch of courses per run
(`DROPOUT_REFRESH_BATCH_SIZE`, default 50; 1 = one run per course). Goal: 1,000 courses
refreshed from the simulator and scored in under 10 minutes on a 2-core machine, with a
per-course overhead well under the per-course work.

The tick goes through the real launch path. For each number of courses the simulator runs
as its own process (`python -m dropout_pipelines.simulator`) with that many running
courses. A warehouse (SQLite, a tiny real CatBoost model registered as the default) first
gets every course's first refresh in a plain loop (timed and reported, but not the tick:
a course's first refresh fetches its whole LRS history and builds every past week's
snapshot, once, when it is discovered); each measurement then starts from a copy of that
warehouse, so the tick measured is the daily one: incremental LRS, current week.
`--first-refresh` measures the first refresh instead (empty warehouses, no pre-refresh).

For each batch size the benchmark builds a fresh `DAGSTER_HOME` (its own `dagster.yaml`:
`QueuedRunCoordinator` with `max_concurrent_runs`, `DefaultRunLauncher`), adds the courses
as `courses` partitions, stops the schedules and the discovery sensor in that instance (so
only the measured tick launches runs) and starts `dagster-daemon run`. Then it does what
the scheduler daemon does at a tick of `predict_daily`: evaluates the schedule in the code
server (`get_schedule_execution_data`) and hands each RunRequest to the daemon's own
`_submit_run_request` (create the run from the remote job, `instance.submit_run`: the run is
queued; the daemon's run coordinator dequeues it and the DefaultRunLauncher starts it).

- wall: first submission → the last run's end (run records; no polling error);
- in-step work: the sum of the `refresh_and_score_course` steps' durations (step stats,
  STEP_START → STEP_SUCCESS); per-course overhead = (wall − in-step work) / courses. With
  several runs at once, steps overlap, so the sum can exceed the wall (negative overhead);
- floor: the same `ingest_course` + `score_course` for every course in one plain Python loop
  in this process, against the same simulator, from the same warehouse state, no Dagster.

A measurement that outlives `--timeout-s` is stopped (queued runs canceled, started ones
terminated) and reported as partial. Nothing is cached: every number comes from this run.
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.harness import log_tail
from benchmarks.harness import simulator_process as harness_simulator
from benchmarks.report import (
    machine_note,
    positive,
    progress_printer,
    render_sections,
    timed,
)
from dropout_pipelines.ingest.refresh import ingest_course
from dropout_pipelines.ingest.resources import LrsResource, OpenEdxResource
from dropout_pipelines.partitions import courses_partitions
from dropout_pipelines.predict.course_scoring import score_course
from dropout_pipelines.predict.model_store import LocalModelStore, clear_model_cache
from dropout_pipelines.predict.registry import register_model
from dropout_pipelines.settings import PROJECT_ROOT, REFRESH_BATCH_SIZE_ENV
from dropout_pipelines.simulator.openedx.config import Credentials
from dropout_pipelines.training.fit import fit_fail_model
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import create_warehouse_engine

DEFAULT_COURSES: tuple[int, ...] = (50, 200, 1000)
DEFAULT_STUDENTS = 100
DEFAULT_BATCH_SIZES: tuple[int, ...] = (1, 50, 200)
# One run per course costs a run's start-up per course (~2.4 s here): at 1,000 courses that is
# over an hour of launching, so that mode is measured up to this many courses and the larger
# counts are extrapolated from it.
DEFAULT_PER_COURSE_UP_TO = 200
DEFAULT_MAX_CONCURRENT_RUNS = 2
DEFAULT_DEQUEUE_INTERVAL_S = 5  # Dagster's own default for the QueuedRunCoordinator
DEFAULT_TIMEOUT_S = 1500.0
GOAL_COURSES = 1000
GOAL_S = 600.0
SEED = 7
LOCATION = "dropout_pipelines"
SCHEDULE = "predict_daily"
TICK_HOUR_UTC = 2  # predict_daily's cron: 0 2 * * *
REFRESH_STEP = "refresh_and_score_course"
MODEL_NAME, MODEL_VERSION = "bench_orchestration", "1"
MODEL_FEATURES: tuple[str, ...] = (
    "mooc_grade_percentage",
    "mooc_completion_rate",
    "h5p_score_rate",
    "h5p_completion_rate",
    "days_since_last_activity",
)
CREDENTIALS = Credentials()  # what the simulator CLI accepts when given no credentials
SIMULATOR_START_TIMEOUT_S = 600.0
DAEMON_START_TIMEOUT_S = 180.0
POLL_S = 1.0
PROGRESS_EVERY_S = 30.0
# Variables of the developer's shell that would point the product elsewhere.
FOREIGN_VARIABLES = ("OPENEDX_SESSIONID", "LRS_PLATFORM_URL", "DROPOUT_CLOCK_FILE")

TABLE_COLUMNS: tuple[str, ...] = (
    "courses",
    "mode",
    "runs",
    "failed",
    "wall s",
    "floor s",
    "wall/floor",
    "overhead ms/course",
    "work ms/course",
)
COURSE_COLUMNS: tuple[str, ...] = (
    "courses",
    "students",
    "first refresh s",
    "first refresh ms/course",
    "floor s",
    "floor ms/course",
)
DETAIL_COLUMNS: tuple[str, ...] = (
    "courses",
    "mode",
    "courses done",
    "tick eval s",
    "submit s",
    "run start-up s",
    "run s",
    "step retries",
    "complete",
)

_progress = progress_printer("bench-orchestration")
_timed = partial(timed, _progress)


def _sizes(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated whole numbers ≥ 1."""
    try:
        values = tuple(positive(part.strip()) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected numbers like 50,200: {text!r}") from error
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def mode_label(batch_size: int) -> str:
    return "1 run per course" if batch_size == 1 else f"batched {batch_size}"


# --------------------------------------------------------------------------------------------
# The simulator as a separate process


@dataclass(frozen=True)
class Simulator:
    base_url: str
    course_ids: tuple[str, ...]  # the running courses: what a daily tick refreshes
    pid: int

    @property
    def lrs_url(self) -> str:
        return f"{self.base_url}/xAPI"

    def environment(self) -> dict[str, str]:
        """The product's Open edX and LRS variables, pointed at this simulator."""
        return CREDENTIALS.environment(self.base_url)


@contextmanager
def simulator_process(courses: int, students: int) -> Iterator[Simulator]:
    """`python -m dropout_pipelines.simulator` with `courses` running courses (and as many
    ended ones, which the tick leaves alone) on a free loopback port, stopped afterwards."""
    today = datetime.now(UTC).date().isoformat()  # the product's clock is the real one
    arguments = ["--seed", str(SEED), "--today", today, "--courses", str(courses)]
    arguments += ["--students", str(students)]
    label = f"{courses:,} courses × {students} students"
    with harness_simulator(arguments, _progress, label, SIMULATOR_START_TIMEOUT_S) as process:
        running = tuple(c["course_id"] for c in process.info["courses"] if c["phase"] == "running")
        if len(running) != courses:
            raise RuntimeError(f"expected {courses} running courses, got {len(running)}")
        yield Simulator(process.base_url, running, process.pid)


# --------------------------------------------------------------------------------------------
# Model and warehouse


def train_default_model(store: LocalModelStore) -> None:
    """A tiny real CatBoost fail model on the five features every course has."""
    rng = np.random.default_rng(SEED)
    rows = 300
    frame = pd.DataFrame(rng.random((rows, 4)), columns=list(MODEL_FEATURES[:4]))
    frame["days_since_last_activity"] = rng.integers(0, 60, rows).astype("float64")
    engagement = frame.iloc[:, :4].mean(axis=1) - frame["days_since_last_activity"] / 120
    frame["is_passed"] = rng.random(rows) < 1 / (1 + np.exp(-6 * (engagement - 0.25)))
    model = fit_fail_model(frame, MODEL_FEATURES, iterations=30, depth=3)
    store.save(MODEL_NAME, MODEL_VERSION, model, list(MODEL_FEATURES), {"purpose": "bench"})


def fresh_warehouse(path: Path, store: LocalModelStore) -> str:
    """An empty SQLite warehouse with the V2 schema and the model as the default."""
    url = f"sqlite:///{path}"
    engine = create_warehouse_engine(url)
    try:
        create_schema(engine)
        register_model(engine, MODEL_NAME, MODEL_VERSION, store=store, make_default=True)
    finally:
        engine.dispose()
    return url


def copy_warehouse(source: Path, target: Path) -> str:
    """A copy of a SQLite warehouse (the backup API: consistent whatever its WAL holds)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return f"sqlite:///{target}"


# --------------------------------------------------------------------------------------------
# The floor: the same per-course work in a plain loop


def measure_floor(simulator: Simulator, db_url: str, store: LocalModelStore) -> float:
    """`ingest_course` + `score_course` for every course, one after the other, no Dagster."""
    openedx = OpenEdxResource(
        base_url=simulator.base_url,
        client_id=CREDENTIALS.client_id,
        client_secret=CREDENTIALS.client_secret,
    )
    lrs = LrsResource(
        url=simulator.lrs_url,
        username=CREDENTIALS.lrs_username,
        password=CREDENTIALS.lrs_password,
        platform_url=simulator.base_url,
    )
    log = logging.getLogger("bench-orchestration.floor")
    log.setLevel(logging.WARNING)
    engine = create_warehouse_engine(db_url)
    clear_model_cache()  # a run loads the model from disk too
    run_id = f"floor-{uuid.uuid4().hex[:12]}"
    try:
        started = time.perf_counter()
        for course_id in simulator.course_ids:
            ingest_course(openedx, lrs, engine, course_id, log)
            score_course(engine, store, course_id, run_id, log)
        return time.perf_counter() - started
    finally:
        engine.dispose()


# Tables a course's refresh and scoring write: what the first refresh's parts hold.
REFRESHED_TABLES = tuple(
    table
    for table in s.metadata.sorted_tables
    if "course_id" in table.c
    and table.name not in ("course_model_mapping", "training_data", "model_training_lineage")
)


def _refresh_part(base_url: str, course_ids: tuple[str, ...], path: str, models: str) -> None:
    """A worker process: the first refresh (and scoring) of `course_ids` into its own
    warehouse (SQLite has one writer at a time; separate files let the workers overlap)."""
    logging.disable(logging.WARNING)
    store = LocalModelStore(Path(models))
    url = fresh_warehouse(Path(path), store)
    measure_floor(Simulator(base_url, course_ids, pid=0), url, store)


def first_refresh(
    simulator: Simulator, base: Path, store: LocalModelStore, folder: Path, workers: int
) -> float:
    """Every course's first refresh: `workers` processes, each into its own warehouse, then
    merged into `base` (every row but the generated ids). Returns the wall time."""
    folder.mkdir(parents=True, exist_ok=True)
    slices = [simulator.course_ids[i::workers] for i in range(workers)]
    parts = [folder / f"part-{i}.sqlite" for i in range(workers)]
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(_refresh_part, simulator.base_url, ids, str(part), str(store.root))
            for ids, part in zip(slices, parts, strict=True)
            if ids
        ]
        for future in futures:
            future.result()
    merge_warehouses(base, [part for part in parts if part.exists()])
    return time.perf_counter() - started


def merge_warehouses(target: Path, parts: Sequence[Path]) -> None:
    """The refreshed tables' rows of every part appended to `target` (SQLite ATTACH)."""
    connection = sqlite3.connect(target)
    try:
        for number, part in enumerate(parts):
            connection.execute(f"ATTACH DATABASE ? AS part{number}", (str(part),))
            for table in REFRESHED_TABLES:
                columns = ", ".join(
                    f'"{c.name}"'
                    for c in table.columns
                    if c.computed is None and not (c.primary_key and c.autoincrement is True)
                )
                connection.execute(
                    f'INSERT INTO main."{table.name}" ({columns}) '
                    f'SELECT {columns} FROM part{number}."{table.name}"'
                )
            connection.commit()
            connection.execute(f"DETACH DATABASE part{number}")
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------
# The launch path: instance, daemon, tick


def instance_yaml(max_concurrent_runs: int, dequeue_interval_s: int) -> str:
    return (
        "run_coordinator:\n"
        "  module: dagster._core.run_coordinator\n"
        "  class: QueuedRunCoordinator\n"
        "  config:\n"
        f"    max_concurrent_runs: {max_concurrent_runs}\n"
        f"    dequeue_interval_seconds: {dequeue_interval_s}\n"
        "run_launcher:\n"
        "  module: dagster._core.launcher\n"
        "  class: DefaultRunLauncher\n"
        "telemetry:\n"
        "  enabled: false\n"
    )


def workspace_yaml() -> str:
    return (
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: dropout_pipelines.definitions\n"
        f"      location_name: {LOCATION}\n"
        f"      working_directory: {PROJECT_ROOT}\n"
    )


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """`values` set and FOREIGN_VARIABLES unset in this process, restored afterwards (the
    code server this process starts inherits them)."""
    names = [*values, *FOREIGN_VARIABLES]
    saved = {name: os.environ.get(name) for name in names}
    for name in FOREIGN_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _children_print_to_stderr() -> Iterator[None]:
    """File descriptor 1 points at stderr meanwhile, so a process started inside (the code
    server and its log lines) keeps stdout for the report."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextmanager
def daemon_process(workspace: Path, folder: Path, instance: Any) -> Iterator[int]:
    """`dagster-daemon run -w workspace.yaml` (this process's environment), running once the
    queued-run coordinator beats; stopped with its process group afterwards."""
    daemon = Path(sys.executable).with_name("dagster-daemon")
    with open(folder / "daemon.log", "w+b") as log:
        process = subprocess.Popen(
            [str(daemon), "run", "-w", str(workspace)],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + DAEMON_START_TIMEOUT_S
            while "QUEUED_RUN_COORDINATOR" not in instance.get_daemon_heartbeats():
                if process.poll() is not None:
                    raise RuntimeError(f"dagster-daemon exited:\n{log_tail(log)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dagster-daemon did not start:\n{log_tail(log)}")
                time.sleep(0.5)
            yield process.pid
        finally:
            _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the daemon's own process group (its code server, any run worker), then
    SIGKILL if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue


def tick_time(now: datetime) -> datetime:
    """predict_daily's latest tick at or before `now`."""
    tick = now.replace(hour=TICK_HOUR_UTC, minute=0, second=0, microsecond=0)
    return tick if tick <= now else tick - timedelta(days=1)


@dataclass(frozen=True)
class RunStats:
    """One finished (or stopped) run, from its record and event log."""

    status: str
    launched_at: float | None  # RUN_STARTING
    end_time: float | None
    first_step_at: float | None
    step_seconds: tuple[float, ...]  # refresh_and_score_course steps that succeeded
    failed_steps: int
    retries: int


@dataclass(frozen=True)
class Launch:
    """One tick of one batch size through the daemon."""

    courses: int
    batch_size: int
    requests: int
    eval_s: float
    submit_s: float
    wall_s: float
    complete: bool
    runs: tuple[RunStats, ...]

    @property
    def launched(self) -> int:
        return sum(1 for run in self.runs if run.launched_at is not None)

    @property
    def failed(self) -> int:
        return sum(1 for run in self.runs if run.status == "FAILURE")

    @property
    def courses_done(self) -> int:
        return sum(len(run.step_seconds) for run in self.runs)

    @property
    def work_s(self) -> float:
        return sum(sum(run.step_seconds) for run in self.runs)

    @property
    def retries(self) -> int:
        return sum(run.retries for run in self.runs)

    def mean_startup_s(self) -> float | None:
        values = [
            run.first_step_at - run.launched_at
            for run in self.runs
            if run.first_step_at is not None and run.launched_at is not None
        ]
        return sum(values) / len(values) if values else None

    def mean_run_s(self) -> float | None:
        values = [
            run.end_time - run.launched_at
            for run in self.runs
            if run.end_time is not None and run.launched_at is not None
        ]
        return sum(values) / len(values) if values else None


TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def _run_stats(instance: Any, record: Any) -> RunStats:
    from dagster import DagsterEventType

    run = record.dagster_run
    starting = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_STARTING)
    steps = instance.get_run_step_stats(run.run_id)
    refresh = [s for s in steps if s.step_key.startswith(REFRESH_STEP)]
    done = tuple(
        s.end_time - s.start_time
        for s in refresh
        if s.status is not None and s.status.value == "SUCCESS" and s.end_time and s.start_time
    )
    starts = [s.start_time for s in steps if s.start_time]
    return RunStats(
        status=run.status.value,
        launched_at=starting[0].timestamp if starting else None,
        end_time=record.end_time,
        first_step_at=min(starts) if starts else None,
        step_seconds=done,
        failed_steps=sum(1 for s in refresh if s.status is None or s.status.value != "SUCCESS"),
        retries=sum(max(0, (s.attempts or 1) - 1) for s in refresh),
    )


def _count(instance: Any, statuses: Sequence[str]) -> int:
    from dagster import DagsterRunStatus, RunsFilter

    wanted = [DagsterRunStatus(status) for status in statuses]
    return instance.get_runs_count(RunsFilter(statuses=wanted))


def _wait_for_runs(instance: Any, expected: int, deadline: float) -> bool:
    """Count ended runs (one cheap query a poll, not every record: the poll must not load
    the machine it measures) until `expected` have ended; False at the deadline."""
    next_report = time.monotonic() + PROGRESS_EVERY_S
    while True:
        ended = _count(instance, sorted(TERMINAL))
        if ended >= expected:
            return True
        now = time.monotonic()
        if now > deadline:
            return False
        if now >= next_report:
            failed, queued = _count(instance, ["FAILURE"]), _count(instance, ["QUEUED"])
            _progress(f"  {ended}/{expected} runs ended ({failed} failed), {queued} queued")
            next_report = now + PROGRESS_EVERY_S
        time.sleep(POLL_S)


def _stop_unfinished(instance: Any) -> None:
    """At the timeout: cancel queued runs, terminate started ones, wait for them briefly."""
    for record in instance.get_run_records():
        run = record.dagster_run
        if run.status.value == "QUEUED":
            instance.report_run_canceled(run, message="bench-orchestration: timeout")
        elif run.status.value not in TERMINAL:
            try:
                instance.run_launcher.terminate(run.run_id)
            except Exception as error:  # noqa: BLE001 - best effort at a timeout
                _progress(f"  could not terminate {run.run_id}: {error}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        records = instance.get_run_records()
        if all(r.dagster_run.status.value in TERMINAL for r in records):
            return
        time.sleep(POLL_S)


def _stop_instigators(instance: Any, repository: Any) -> None:
    """Schedules and the discovery sensor are RUNNING by default: stop them in this
    instance, so the daemon launches nothing but the measured tick."""
    for remote_schedule in repository.get_schedules():
        instance.stop_schedule(
            remote_schedule.get_remote_origin_id(), remote_schedule.selector_id, remote_schedule
        )
    for remote_sensor in repository.get_sensors():
        instance.stop_sensor(
            remote_sensor.get_remote_origin_id(), remote_sensor.selector_id, remote_sensor
        )


def measure_launch(
    simulator: Simulator,
    store: LocalModelStore,
    base_warehouse: Path,
    folder: Path,
    batch_size: int,
    max_concurrent_runs: int,
    dequeue_interval_s: int,
    timeout_s: float,
) -> Launch:
    """One predict_daily tick for every course, submitted as the scheduler daemon does and
    launched by a real dagster-daemon; waits for every run (bounded by `timeout_s`)."""
    from dagster import DagsterInstance
    from dagster._core.definitions.timestamp import TimestampWithTimezone
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._daemon.daemon import SchedulerDaemon  # noqa: F401 - before the scheduler
    from dagster._scheduler.scheduler import _submit_run_request

    home = folder / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(instance_yaml(max_concurrent_runs, dequeue_interval_s))
    workspace_file = folder / "workspace.yaml"
    workspace_file.write_text(workspace_yaml())
    env = {
        **simulator.environment(),
        "DAGSTER_HOME": str(home),
        "DROPOUT_DB_URL": copy_warehouse(base_warehouse, folder / "warehouse.sqlite"),
        "DROPOUT_MODELS_DIR": str(store.root),
        REFRESH_BATCH_SIZE_ENV: str(batch_size),
    }
    courses = len(simulator.course_ids)
    logger = logging.getLogger("bench-orchestration.scheduler")
    with ExitStack() as stack:
        stack.enter_context(_environ(env))
        instance = stack.enter_context(DagsterInstance.from_ref(InstanceRef.from_dir(str(home))))
        with _timed("  code location (this process's code server)"), _children_print_to_stderr():
            workspace = stack.enter_context(
                WorkspaceProcessContext(
                    instance,
                    WorkspaceFileTarget(paths=[str(workspace_file)]),
                    code_server_log_level="WARNING",
                )
            )
            location = workspace.create_request_context().get_code_location(LOCATION)
            (repository,) = location.get_repositories().values()
        _stop_instigators(instance, repository)
        instance.add_dynamic_partitions(courses_partitions.name, list(simulator.course_ids))
        with _timed("  dagster-daemon start"):
            stack.enter_context(daemon_process(workspace_file, folder, instance))
        remote_schedule = repository.get_schedule(SCHEDULE)
        tick = tick_time(datetime.now(UTC))
        evaluated = time.time()
        data = location.get_schedule_execution_data(
            instance=instance,
            repository_handle=repository.handle,
            schedule_name=SCHEDULE,
            scheduled_execution_time=TimestampWithTimezone(tick.timestamp(), "UTC"),
            log_key=None,
        )
        run_requests = list(data.run_requests or [])
        if not run_requests:
            raise RuntimeError(f"{SCHEDULE} requested no run: {data.skip_message}")
        first_submission = time.time()
        deadline = time.monotonic() + timeout_s
        for run_request in run_requests:
            result = _submit_run_request(
                run_request, workspace, remote_schedule, tick, logger, None
            )
            if result.error_info is not None:
                raise RuntimeError(f"submission failed: {result.error_info.to_string()}")
        submitted = time.time()
        _progress(f"  {len(run_requests)} runs submitted in {submitted - first_submission:.1f} s")
        complete = _wait_for_runs(instance, len(run_requests), deadline)
        last_end = time.time()
        if not complete:
            _progress(f"  timeout after {timeout_s:.0f} s: stopping the unfinished runs")
            _stop_unfinished(instance)
        runs = tuple(_run_stats(instance, record) for record in instance.get_run_records())
        if complete:
            last_end = max((run.end_time for run in runs if run.end_time), default=last_end)
        return Launch(
            courses=courses,
            batch_size=batch_size,
            requests=len(run_requests),
            eval_s=first_submission - evaluated,
            submit_s=submitted - first_submission,
            wall_s=last_end - first_submission,
            complete=complete,
            runs=runs,
        )


# --------------------------------------------------------------------------------------------
# One course count: simulator, floor, each batch size


@dataclass(frozen=True)
class Measurement:
    courses: int
    students: int
    first_refresh_s: float | None  # the plain loop that prepared the daily tick's warehouse
    floor_s: float
    launches: tuple[Launch, ...]


def distinct_batch_sizes(
    batch_sizes: Sequence[int], courses: int, per_course_up_to: int
) -> list[int]:
    """The batch sizes that give different numbers of runs (50 and 200 are the same single
    run for 50 courses: measured once); one run per course only up to `per_course_up_to`."""
    chosen, runs = [], set()
    for size in batch_sizes:
        if size == 1 and courses > per_course_up_to:
            continue
        count = math.ceil(courses / size)
        if count not in runs:
            chosen.append(size)
            runs.add(count)
    return chosen


def measure_courses(
    simulator: Simulator,
    base: Path,
    args: argparse.Namespace,
    store: LocalModelStore,
    folder: Path,
    first_refresh_s: float | None,
) -> Measurement:
    """The floor, then each batch size, for the courses of `simulator`, every measurement
    from a copy of the warehouse `base`."""
    courses = len(simulator.course_ids)
    with _timed(f"{courses:,} courses: floor (plain loop, no Dagster)"):
        floor_s = measure_floor(simulator, copy_warehouse(base, folder / "floor.sqlite"), store)
    launches = []
    batch_sizes = distinct_batch_sizes(args.batch_sizes, courses, args.per_course_up_to)
    for batch_size in batch_sizes:
        with _timed(f"{courses:,} courses: {mode_label(batch_size)} through the daemon"):
            launches.append(
                measure_launch(
                    simulator,
                    store,
                    base,
                    folder / f"batch-{batch_size}",
                    batch_size,
                    args.max_concurrent_runs,
                    args.dequeue_interval_s,
                    args.timeout_s,
                )
            )
    return Measurement(courses, args.students, first_refresh_s, floor_s, tuple(launches))


def measure_all(
    args: argparse.Namespace, store: LocalModelStore, folder: Path
) -> list[Measurement]:
    """One simulator with the largest number of courses and one warehouse in which every
    one of them had its first refresh; each smaller count measures the first courses of it
    (a tick refreshes the courses its instance knows as partitions, nothing else)."""
    largest = max(args.courses)
    with simulator_process(largest, args.students) as simulator:
        base = folder / "base.sqlite"
        fresh_warehouse(base, store)
        first_refresh_s = None
        if not args.first_refresh:
            with _timed(
                f"{largest:,} courses: first refresh of every course "
                f"({args.refresh_workers} processes)"
            ):
                first_refresh_s = first_refresh(
                    simulator, base, store, folder / "parts", args.refresh_workers
                )
        return [
            measure_courses(
                replace(simulator, course_ids=simulator.course_ids[:courses]),
                base,
                args,
                store,
                folder / f"c{courses}",
                first_refresh_s if courses == largest else None,
            )
            for courses in sorted(args.courses)
        ]


# --------------------------------------------------------------------------------------------
# Report


def summary_rows(measurements: Sequence[Measurement]) -> list[list[str]]:
    rows = []
    for m in measurements:
        for launch in m.launches:
            done = launch.courses_done
            work_ms = launch.work_s / done * 1000 if done else math.nan
            overhead_ms = (launch.wall_s - launch.work_s) / done * 1000 if done else math.nan
            ratio = f"{launch.wall_s / m.floor_s:.2f}×" if launch.complete else "-"
            wall = f"{launch.wall_s:.1f}" + ("" if launch.complete else " (stopped)")
            runs = f"{launch.launched:,}"
            if launch.launched != len(launch.runs):
                runs += f" of {len(launch.runs):,}"
            rows.append(
                [f"{m.courses:,}", mode_label(launch.batch_size), runs]
                + [str(launch.failed), wall, f"{m.floor_s:.1f}", ratio]
                + [f"{overhead_ms:.0f}", f"{work_ms:.0f}"]
            )
    return rows


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def detail_rows(measurements: Sequence[Measurement]) -> list[list[str]]:
    rows = []
    for m in measurements:
        for launch in m.launches:
            rows.append(
                [f"{m.courses:,}", mode_label(launch.batch_size), f"{launch.courses_done:,}"]
                + [f"{launch.eval_s:.2f}", f"{launch.submit_s:.1f}"]
                + [_seconds(launch.mean_startup_s()), _seconds(launch.mean_run_s())]
                + [str(launch.retries), "yes" if launch.complete else "no (timeout)"]
            )
    return rows


def course_rows(measurements: Sequence[Measurement]) -> list[list[str]]:
    """Per number of courses: what preparing the daily tick's warehouse and the floor cost."""
    rows = []
    for m in measurements:
        first = m.first_refresh_s
        rows.append(
            [f"{m.courses:,}", str(m.students), "-" if first is None else f"{first:.1f}"]
            + ["-" if first is None else f"{first / m.courses * 1000:.0f}"]
            + [f"{m.floor_s:.1f}", f"{m.floor_s / m.courses * 1000:.0f}"]
        )
    return rows


def goal_lines(measurements: Sequence[Measurement]) -> list[str]:
    out = []
    for m in measurements:
        if m.courses < GOAL_COURSES:
            continue
        for launch in m.launches:
            scaled = launch.wall_s * GOAL_COURSES / m.courses
            met = launch.complete and launch.failed == 0 and scaled < GOAL_S
            if not launch.complete and launch.courses_done:
                projected = launch.wall_s * m.courses / launch.courses_done
                how = (
                    f"stopped after {launch.wall_s:.0f} s with {launch.courses_done:,} of "
                    f"{m.courses:,} courses done (≈{projected / 60:.0f} min at that pace)"
                )
            else:
                how = f"{launch.wall_s / 60:.1f} min for {m.courses:,} courses"
            out.append(
                f"- Goal ({GOAL_COURSES:,} courses in under {GOAL_S / 60:.0f} min), "
                f"{mode_label(launch.batch_size)}: {'met' if met else 'NOT met'} ({how})."
            )
        if not any(launch.batch_size == 1 for launch in m.launches):
            out.append(_per_course_extrapolation(measurements, m.courses))
    return out


def _per_course_extrapolation(measurements: Sequence[Measurement], courses: int) -> str:
    """One run per course at `courses`, from the largest count where it was measured."""
    measured = [
        (m.courses, launch)
        for m in measurements
        for launch in m.launches
        if launch.batch_size == 1 and launch.complete
    ]
    if not measured:
        return f"- 1 run per course at {courses:,} courses: not measured."
    base, launch = max(measured, key=lambda pair: pair[0])
    minutes = launch.wall_s / base * courses / 60
    return (
        f"- 1 run per course at {courses:,} courses: not run (--per-course-up-to); "
        f"≈{minutes:.0f} min at the pace measured for {base:,} courses."
    )


def notes(args: argparse.Namespace) -> list[str]:
    return [
        f"- Launch path: QueuedRunCoordinator (max_concurrent_runs {args.max_concurrent_runs}, "
        f"dequeue every {args.dequeue_interval_s} s) + DefaultRunLauncher in a real "
        "`dagster-daemon run`; the predict_daily tick evaluated in the code server and each "
        "RunRequest submitted with the scheduler daemon's own `_submit_run_request`.",
        "- wall: first submission → last run's end. work: Σ refresh_and_score_course step "
        "durations (STEP_START → STEP_SUCCESS). overhead/course = (wall − work) / courses; "
        "negative when concurrent runs overlap their steps. floor: ingest_course + "
        "score_course for every course in one plain loop, no Dagster, same simulator.",
        "- run start-up: RUN_STARTING → first STEP_START, mean per run (a new process that "
        "loads the code location). run s: RUN_STARTING → run end, mean per run.",
        _state_note(args),
        "- A stopped measurement's per-course numbers cover the courses it finished; its "
        "runs column counts the runs launched of those the tick created.",
    ]


def _state_note(args: argparse.Namespace) -> str:
    if args.first_refresh:
        return (
            "- --first-refresh: every measurement starts from an empty warehouse, so each "
            f"course's refresh is its first ({args.students} students, its whole LRS "
            "history, every past week's snapshot)."
        )
    return (
        "- Daily tick: every measurement starts from a copy of one warehouse in which every "
        f"course had its first refresh ({args.refresh_workers} processes, each into its own "
        "warehouse, then merged; timed in the courses table), so each "
        "course's refresh is incremental (new LRS statements only, current week's snapshot) "
        "and each course is scored again, as on every day after a course's first."
    )


def render_report(measurements: Sequence[Measurement], args: argparse.Namespace, note: str) -> str:
    tick = "First-refresh tick" if args.first_refresh else "Daily tick"
    sections = [
        (f"{tick} through the daemon vs the floor", TABLE_COLUMNS, summary_rows(measurements)),
        ("Launch details", DETAIL_COLUMNS, detail_rows(measurements)),
        (
            "Courses: first refresh and floor (plain loops)",
            COURSE_COLUMNS,
            course_rows(measurements),
        ),
    ]
    return render_sections(sections, [*goal_lines(measurements), *notes(args), f"- {note}"])


# --------------------------------------------------------------------------------------------
# Command line


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.orchestration",
        description=(
            "Time a predict_daily tick through the daemon (QueuedRunCoordinator + "
            "DefaultRunLauncher) for each number of courses and batch size, beside the floor "
            f"(the same work in a plain loop); goal: {GOAL_COURSES:,} courses in under "
            f"{GOAL_S / 60:.0f} minutes."
        ),
    )
    parser.add_argument(
        "--courses", type=_sizes, default=DEFAULT_COURSES, help="comma-separated: 50,200,1000"
    )
    parser.add_argument(
        "--students", type=positive, default=DEFAULT_STUDENTS, help="learners per course"
    )
    parser.add_argument(
        "--batch-sizes",
        type=_sizes,
        default=DEFAULT_BATCH_SIZES,
        help="DROPOUT_REFRESH_BATCH_SIZE values to measure (1 = one run per course)",
    )
    parser.add_argument("--max-concurrent-runs", type=positive, default=DEFAULT_MAX_CONCURRENT_RUNS)
    parser.add_argument(
        "--per-course-up-to",
        type=positive,
        default=DEFAULT_PER_COURSE_UP_TO,
        help="measure one run per course only up to this many courses (extrapolated above)",
    )
    parser.add_argument(
        "--refresh-workers",
        type=positive,
        default=os.cpu_count() or 1,
        help="processes for the first refresh that prepares the daily tick's warehouse",
    )
    parser.add_argument(
        "--dequeue-interval-s",
        type=positive,
        default=DEFAULT_DEQUEUE_INTERVAL_S,
        help="the QueuedRunCoordinator's dequeue_interval_seconds (Dagster's default: 5)",
    )
    parser.add_argument(
        "--timeout-s",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="per measurement: unfinished runs are stopped and the numbers reported partial",
    )
    parser.add_argument(
        "--first-refresh",
        action="store_true",
        help="measure each course's first refresh (empty warehouses) instead of a daily tick",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report to stdout (progress goes to stderr)."""
    args = _parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="dropout-bench-orchestration-") as tmp:
        folder = Path(tmp)
        store = LocalModelStore(folder / "models")
        with _timed("training the default model"):
            train_default_model(store)
        measurements = measure_all(args, store, folder)
    note = machine_note(load_before, os.getloadavg()[0])
    sys.stdout.write(render_report(measurements, args, note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
