"""How much slower is the legacy migration than writing its output? (`make bench-migration`)

The migration's goal is to cost at most 2× the *floor*: the work it cannot avoid, i.e. the
same output rows bulk-copied (`INSERT INTO twin SELECT … FROM table`, one committed
transaction) into empty twins of the four V2 tables it writes, with their primary keys,
unique and check constraints, computed columns and indexes. Whatever the migration spends
beyond that (reading and ranking the legacy rows, deriving columns, skipping existing keys)
is what the goal bounds. A wall-clock number on its own says little (it depends on the
machine); the ratio to the floor, measured in the same run on the same data and the same
database, is what stays comparable between machines.

For each backend the benchmark:
1. writes the same generated `raw_data` (generated once, reused) into a fresh database and
   creates the V2 schema;
2. times `migrate_legacy` end to end (it commits), and splits that time per statement from
   the timestamps of the lines the migration logs after each statement;
3. times the floor: the rows the migration wrote, copied into the indexed twins, then
   drops the twins.

CPU seconds of both steps are reported beside the wall-clock ones (SQLite: this process;
MariaDB: this process plus the private server), because on a shared machine the wall-clock
ratio moves with the load of other work, while the CPU ratio mostly does not.

Nothing is cached: every number printed comes from this run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from benchmarks.harness import (
    Database,
    indexed_copy,
    private_mariadb_database,
    process_cpu_s,
    rate,
    settle,
    sqlite_database,
    writable_columns,
)
from benchmarks.report import (
    backend_list,
    machine_note,
    positive,
    progress_printer,
    render_sections,
    timed,
)
from dropout_pipelines.migration.legacy_table import reflect_legacy_table
from dropout_pipelines.migration.migrate import MigrationSettings, migrate_legacy
from dropout_pipelines.simulator.legacy_data import (
    LegacyDataSpec,
    generate_raw_data,
    write_raw_data,
)
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import create_warehouse_engine
from dropout_pipelines.warehouse.urls import mask_url

BACKENDS: tuple[str, ...] = ("sqlite", "mariadb")
DEFAULT_ROWS = 1_000_000
GOAL_RATIO = 2.0
WRITTEN_TABLES: tuple[str, ...] = (
    "student_features",
    "enrollments",
    "predictions",
    "training_data",
)

# The migration logs one line after each step; the prefix tells which step just finished.
# The first step also covers what runs before the first write (course semesters, the source
# profile with its full scans, the marker lookup), so its label says so.
STEP_PREFIXES: tuple[tuple[str, str], ...] = (
    ("courses:", "semesters + profile + courses"),
    ("student_features:", "student_features"),
    ("enrollments:", "enrollments"),
    ("predictions:", "predictions"),
    ("training_data:", "training_data"),
    ("committing", "marker insert"),
)
COMMIT_STEP = "commit"

TABLE_COLUMNS: tuple[str, ...] = (
    "backend",
    "rows",
    "floor s",
    "floor rows/s",
    "migrate s",
    "migrate rows/s",
    "migrate/floor",
    "goal",
    "met",
)


_progress = progress_printer("bench-migration")
_timed = partial(timed, _progress)
_backends = backend_list(BACKENDS)
_positive = positive


@dataclass
class BackendResult:
    """One backend's numbers, all from the same run on the same `raw_data`."""

    backend: str
    rows: int
    floor_s: float
    migrate_s: float
    written: dict[str, int]
    steps: list[tuple[str, float]] = field(default_factory=list)
    floor_cpu_s: float | None = None
    migrate_cpu_s: float | None = None

    @property
    def ratio(self) -> float:
        return self.migrate_s / self.floor_s if self.floor_s > 0 else float("inf")

    @property
    def cpu_ratio(self) -> float | None:
        if self.floor_cpu_s is None or self.migrate_cpu_s is None or self.floor_cpu_s <= 0:
            return None
        return self.migrate_cpu_s / self.floor_cpu_s

    @property
    def met(self) -> bool:
        return self.ratio <= GOAL_RATIO

    @property
    def rows_written(self) -> int:
        return sum(self.written.get(name, 0) for name in WRITTEN_TABLES)


# --------------------------------------------------------------------------------------------
# Databases


def _admin_engine(url: sa.URL) -> sa.Engine:
    """An engine on the server without a default database, to create and drop one."""
    return create_warehouse_engine(url.set(database=None).render_as_string(hide_password=False))


def _pymysql_url(mysql_url: str) -> sa.URL:
    """`mysql://` and `mariadb://` without a driver mean pymysql here (the project's driver)."""
    url = sa.make_url(mysql_url)
    if url.get_backend_name() not in ("mysql", "mariadb"):
        raise SystemExit(f"error: --mysql-url must be a mysql+pymysql:// URL, got {mask_url(url)}")
    return url.set(drivername="mysql+pymysql")


@contextmanager
def _given_mysql_database(mysql_url: str) -> Iterator[Database]:
    """A fresh database on the server of `--mysql-url`, cleaned up afterwards.

    When the URL names a database it must be empty: measuring on top of earlier V2 rows (or
    the marker of an earlier migration) would not measure the migration of `raw_data` at
    all, and an empty database means every table dropped at the end is the benchmark's own.
    Without a database name, a new one is created and dropped at the end.
    """
    url = _pymysql_url(mysql_url)
    rendered = url.render_as_string(hide_password=False)
    if url.database:
        engine = create_warehouse_engine(rendered)
        try:
            with engine.connect() as connection:
                present = sa.inspect(connection).get_table_names()
            if present:
                raise SystemExit(
                    f"error: database {url.database!r} of {mask_url(url)} is not empty "
                    f"({len(present)} tables): give an empty database or none (one is created)"
                )
            try:
                yield Database(rendered)
            finally:
                with engine.begin() as connection:
                    for name in sa.inspect(connection).get_table_names():
                        connection.exec_driver_sql(f"DROP TABLE IF EXISTS `{name}`")
        finally:
            engine.dispose()
        return
    name = f"dropout_bench_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine(url)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        try:
            yield Database(url.set(database=name).render_as_string(hide_password=False))
        finally:
            with admin.begin() as connection:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.dispose()


def _database(backend: str, mysql_url: str | None) -> AbstractContextManager[Database]:
    """A fresh, empty database for `backend`, valid inside the `with` block."""
    if backend == "sqlite":
        return sqlite_database()
    if mysql_url:
        return _given_mysql_database(mysql_url)
    return private_mariadb_database(_progress)


# --------------------------------------------------------------------------------------------
# Measurements


def cpu_clock(backend: str, server_pid: int | None) -> Callable[[], float] | None:
    """CPU seconds spent by everything that does the work, or None when not observable.

    Wall-clock seconds stretch when other work competes for the CPUs; CPU seconds much less
    so, which makes the CPU ratio a useful cross-check on a busy machine. SQLite runs in
    this process; MariaDB's work happens in its server, observable only for the private one
    (background threads such as InnoDB purge are included: they are part of its cost).
    """
    if backend == "sqlite":
        return time.process_time
    if server_pid is None or not Path(f"/proc/{server_pid}/stat").exists():
        return None
    return lambda: time.process_time() + (process_cpu_s(server_pid) or 0.0)


@dataclass
class Timing:
    """Wall-clock and (when observable) CPU seconds of one measured step."""

    wall_s: float
    cpu_s: float | None


@contextmanager
def _measured(cpu: Callable[[], float] | None) -> Iterator[list[Timing]]:
    """Time the block; the Timing is appended to the yielded list when the block ends."""
    timings: list[Timing] = []
    cpu_started = cpu() if cpu else None
    started = time.perf_counter()
    yield timings
    wall = time.perf_counter() - started
    cpu_s = cpu() - cpu_started if cpu and cpu_started is not None else None
    timings.append(Timing(wall, cpu_s))


def measure_floor(engine: sa.Engine, cpu: Callable[[], float] | None = None) -> Timing:
    """The migration's output copied into empty indexed twins of its tables, in one
    committed transaction, timed (the twins are created before and dropped after)."""
    twins = [indexed_copy(s.metadata.tables[name], f"floor_{name}") for name in WRITTEN_TABLES]
    for twin in twins:
        twin.drop(engine, checkfirst=True)
        twin.create(engine)
    settle(engine)
    try:
        with _measured(cpu) as timing, engine.begin() as connection:
            for name, twin in zip(WRITTEN_TABLES, twins, strict=True):
                columns = writable_columns(twin)
                source = s.metadata.tables[name]
                connection.execute(
                    sa.insert(twin).from_select(columns, sa.select(*(source.c[c] for c in columns)))
                )
        return timing[0]
    finally:
        for twin in twins:
            twin.drop(engine)
        settle(engine)


def split_steps(
    started: float, finished: float, events: Sequence[tuple[float, str]]
) -> list[tuple[str, float]]:
    """Per-step seconds from the log's timestamps: each line closes the step before it.

    Lines that match no known step (a future message) are kept under their own text, so a
    changed migration shows up here instead of being silently folded into a neighbour.
    """
    steps: list[tuple[str, float]] = []
    previous = started
    for stamp, message in events:
        label = next(
            (name for prefix, name in STEP_PREFIXES if message.startswith(prefix)), message[:40]
        )
        steps.append((label, stamp - previous))
        previous = stamp
    steps.append((COMMIT_STEP, finished - previous))
    return steps


def measure_migration(
    engine: sa.Engine, cpu: Callable[[], float] | None = None
) -> tuple[Timing, dict[str, int], list[tuple[str, float]]]:
    """`migrate_legacy` timed end to end, the rows it wrote, and its per-step split."""
    events: list[tuple[float, str]] = []

    def log(message: str) -> None:
        events.append((time.perf_counter(), message))

    legacy = reflect_legacy_table(engine)
    settle(engine)
    with _measured(cpu) as timing:
        started = time.perf_counter()
        outcome = migrate_legacy(engine, legacy, MigrationSettings(), run_id="bench", log=log)
        finished = time.perf_counter()
    if outcome.already_migrated:
        raise RuntimeError("the database was migrated already: the benchmark needs a fresh one")
    return timing[0], dict(outcome.written), split_steps(started, finished, events)


def run_backend(backend: str, frame: pd.DataFrame, mysql_url: str | None = None) -> BackendResult:
    """Write `frame` as raw_data into a fresh `backend` database, then time floor and migration."""
    with _database(backend, mysql_url) as database:
        _progress(f"{backend}: database {mask_url(database.url)}")
        cpu = cpu_clock(backend, database.server_pid)
        engine = create_warehouse_engine(database.url)
        try:
            with _timed(f"{backend}: writing {len(frame):,} raw_data rows"):
                write_raw_data(engine, frame)
            with _timed(f"{backend}: creating the V2 schema"):
                create_schema(engine)
            with _timed(f"{backend}: migrate_legacy"):
                migrate, written, steps = measure_migration(engine, cpu)
            with _timed(f"{backend}: floor (the output copied into indexed twins)"):
                floor = measure_floor(engine, cpu)
        finally:
            engine.dispose()
    result = BackendResult(
        backend,
        len(frame),
        floor.wall_s,
        migrate.wall_s,
        written,
        steps,
        floor.cpu_s,
        migrate.cpu_s,
    )
    _progress(f"{backend}: ratio migrate/floor = {result.ratio:.2f}×")
    return result


# --------------------------------------------------------------------------------------------
# Report


def summary_rows(results: Sequence[BackendResult]) -> list[list[str]]:
    return [
        [
            r.backend,
            f"{r.rows:,}",
            f"{r.floor_s:.3f}",
            rate(r.rows, r.floor_s),
            f"{r.migrate_s:.3f}",
            rate(r.rows, r.migrate_s),
            f"{r.ratio:.2f}×",
            f"≤ {GOAL_RATIO:.1f}×",
            "met" if r.met else "not met",
        ]
        for r in results
    ]


def cpu_rows(results: Sequence[BackendResult]) -> tuple[list[str], list[list[str]]]:
    """CPU seconds of floor and migration: the cross-check when the machine is busy."""
    header = ["backend", "floor CPU s", "migrate CPU s", "CPU migrate/floor"]
    rows = []
    for r in results:
        ratio = r.cpu_ratio
        rows.append(
            [
                r.backend,
                "n/a" if r.floor_cpu_s is None else f"{r.floor_cpu_s:.3f}",
                "n/a" if r.migrate_cpu_s is None else f"{r.migrate_cpu_s:.3f}",
                "n/a" if ratio is None else f"{ratio:.2f}×",
            ]
        )
    return header, rows


def step_rows(results: Sequence[BackendResult]) -> tuple[list[str], list[list[str]]]:
    """One row per step, one seconds + share-of-migration column pair per backend."""
    header = ["step"]
    for r in results:
        header += [f"{r.backend} s", f"{r.backend} %", f"{r.backend} ×floor"]
    labels: list[str] = []
    for r in results:
        labels += [label for label, _ in r.steps if label not in labels]
    rows = []
    for label in labels:
        row = [label]
        for r in results:
            seconds = sum(s for name, s in r.steps if name == label)
            share = 100 * seconds / r.migrate_s if r.migrate_s > 0 else 0.0
            row += [f"{seconds:.3f}", f"{share:.0f}%", f"{seconds / r.floor_s:.2f}"]
        rows.append(row)
    return header, rows


def written_rows(results: Sequence[BackendResult]) -> tuple[list[str], list[list[str]]]:
    """Rows the migration wrote per table, against the floor's one row per raw row."""
    header = ["table", *(r.backend for r in results)]
    rows = [[name, *(f"{r.written.get(name, 0):,}" for r in results)] for name in WRITTEN_TABLES]
    rows.append(["total written", *(f"{r.rows_written:,}" for r in results)])
    rows.append(["raw_data rows read", *(f"{r.rows:,}" for r in results)])
    rows.append(["written/raw rows", *(f"{r.rows_written / r.rows:.2f}×" for r in results)])
    return header, rows


def render_report(results: Sequence[BackendResult], note: str = "") -> str:
    """Summary, per-step split and rows written: plain text first, then the same in Markdown."""
    sections: list[tuple[str, list[str], list[list[str]]]] = [
        (
            "Migration vs floor (same run, same raw_data)",
            list(TABLE_COLUMNS),
            summary_rows(results),
        ),
        ("CPU time, same steps (this process + the private MariaDB server)", *cpu_rows(results)),
        ("Per-statement time of migrate_legacy (from its log timestamps)", *step_rows(results)),
        ("Rows written by the migration", *written_rows(results)),
    ]
    return render_sections(sections, note=note)


# --------------------------------------------------------------------------------------------
# Command line


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.migration",
        description=(
            "Time migrate_legacy against the floor (its output bulk-copied into indexed twins "
            f"of its tables) on the same data in the same run; the goal is ≤ {GOAL_RATIO:.1f}×."
        ),
    )
    parser.add_argument("--rows", type=_positive, default=DEFAULT_ROWS, help="raw_data rows")
    parser.add_argument(
        "--backends", type=_backends, default=BACKENDS, help="comma-separated: sqlite,mariadb"
    )
    parser.add_argument(
        "--mysql-url",
        help="mysql+pymysql:// URL of an existing server (an empty database, or none to have "
        "one created); default: a private MariaDB server started for the run",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report to stdout (progress goes to stderr)."""
    args = _parse_args(argv)
    load_before = os.getloadavg()[0]
    with _timed(f"generating {args.rows:,} legacy rows"):
        frame = generate_raw_data(LegacyDataSpec(rows=args.rows))
    results = [run_backend(backend, frame, args.mysql_url) for backend in args.backends]
    note = machine_note(load_before, os.getloadavg()[0])
    sys.stdout.write(render_report(results, note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
