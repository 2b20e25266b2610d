"""`make bench-api`: the read API's students endpoint under load, beside its floor.

A 20,000-student course (Vietnamese names, 95 % scored by a real CatBoost model, the rest
on the placeholder) is served by `python -m dropout_pipelines.api.server` (uvicorn) in its
own process. A bounded load generator on loopback runs 50 clients for 20 s, each sending
its next request when the previous answer has arrived (closed loop), over a mix of pages
and sort orders. The floor is the same SQL (`students_select` and `students_count`, the
two statements the endpoint runs) executed directly with SQLAlchemy at the same
concurrency, for the same time, with the same mix. Goal: the API's p95 latency within 2x
the floor's.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np
import requests
import sqlalchemy as sa

from benchmarks.harness import (
    Database,
    free_port,
    private_mariadb_database,
    server_process,
    sqlite_database,
)
from benchmarks.predict import train_model
from benchmarks.report import (
    backend_list,
    machine_note,
    positive,
    progress_printer,
    render_sections,
    timed,
)
from dropout_pipelines.api.reads import students_count, students_select
from dropout_pipelines.api.shapes import StudentsQuery
from dropout_pipelines.api.tokens import token_entry
from dropout_pipelines.predict.model_store import LocalModelStore, clear_model_cache
from dropout_pipelines.predict.registry import register_model
from dropout_pipelines.predict.service import predict_course
from dropout_pipelines.simulator.roster import write_course
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import create_warehouse_engine

BACKENDS = ("sqlite", "mariadb")
DEFAULT_STUDENTS = 20_000
DEFAULT_CLIENTS = 50
DEFAULT_SECONDS = 20.0
GOAL_RATIO = 2.0
SCORED_SHARE = 0.95
PAGE_SIZE = 50
SORTS = ("risk", "name", "grade")
COURSE_ID = "course-v1:DHQG-HCM+BIG101+2026_S2"
NOW = datetime(2026, 11, 29, 9, 0, 0)
TOKEN = "bench-api-token-0123456789abcdef"
SERVER_STARTUP_S = 120.0
REQUEST_TIMEOUT_S = 60.0
MAX_ERROR_SHARE = 0.01
API_ROW = "API (uvicorn, HTTP + JSON)"
FLOOR_ROW = "floor (the same SQL, direct)"
TABLE_COLUMNS = ("step", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors")

progress = progress_printer("bench-api")


@dataclass(frozen=True)
class Load:
    """What one load phase measured: every latency (s), the errors, the wall time."""

    latencies: np.ndarray
    errors: int
    seconds: float
    first_error: str | None = None

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1000) if len(self.latencies) else 0.0

    def cells(self, step: str) -> list[str]:
        return [
            step,
            f"{self.requests:,}",
            f"{self.requests / self.seconds:,.1f}",
            f"{self.percentile_ms(50):,.1f}",
            f"{self.percentile_ms(95):,.1f}",
            f"{self.percentile_ms(99):,.1f}",
            str(self.errors),
        ]


@dataclass(frozen=True)
class BackendResult:
    backend: str
    api: Load
    floor: Load

    @property
    def ratio(self) -> float:
        return self.api.percentile_ms(95) / max(self.floor.percentile_ms(95), 1e-9)


def page_mix(students: int) -> list[StudentsQuery]:
    """The requests the clients cycle through: every page of the course in three orders."""
    pages = max(1, -(-students // PAGE_SIZE))
    return [
        StudentsQuery(page=page, page_size=PAGE_SIZE, sort=sort, order="desc")
        for page, sort in itertools.product(range(1, pages + 1), SORTS)
    ]


def run_load(
    make_worker: Callable[[], Callable[[StudentsQuery], None]],
    mix: Sequence[StudentsQuery],
    clients: int,
    seconds: float,
) -> Load:
    """`clients` threads, each with its own worker, each request after the last answer."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    first_error: list[str] = []
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(index: int) -> None:
        worker = make_worker()
        queries = itertools.islice(itertools.cycle(mix), index * 7, None)
        start.wait()
        for query in queries:
            if time.perf_counter() >= stop_at[0]:
                return
            began = time.perf_counter()
            try:
                worker(query)
                latencies[index].append(time.perf_counter() - began)
            except Exception as error:  # noqa: BLE001 - counted and reported, not raised
                errors[index] += 1
                if not first_error:
                    first_error.append(f"{type(error).__name__}: {error}"[:300])

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    stop_at[0] = started + seconds
    start.wait()
    for thread in threads:
        thread.join(timeout=seconds + REQUEST_TIMEOUT_S)
    elapsed = time.perf_counter() - started
    flat = np.fromiter(itertools.chain.from_iterable(latencies), dtype=float)
    return Load(flat, sum(errors), elapsed, first_error[0] if first_error else None)


def api_worker(base: str) -> Callable[[], Callable[[StudentsQuery], None]]:
    url = f"{base}/api/students/{quote(COURSE_ID, safe='')}"

    def make() -> Callable[[StudentsQuery], None]:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"

        def get(query: StudentsQuery) -> None:
            params = {"page": query.page, "page_size": query.page_size, "sort": query.sort}
            response = session.get(url, params=params, timeout=REQUEST_TIMEOUT_S)
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
            response.content  # noqa: B018 - the whole body read, as a client would

        return get

    return make


def floor_worker(engine: sa.Engine) -> Callable[[], Callable[[StudentsQuery], None]]:
    def make() -> Callable[[StudentsQuery], None]:
        def run(query: StudentsQuery) -> None:
            with engine.connect() as connection:
                connection.execute(students_select(COURSE_ID, query)).all()
                connection.execute(students_count(COURSE_ID, query)).scalar_one()

        return run

    return make


def fill(url: str, students: int, models_dir: Path) -> None:
    """The course, its enrollments and features, a default model, 95 % of it scored."""
    engine = create_warehouse_engine(url)
    try:
        create_schema(engine)
        with timed(progress, f"writing a {students:,}-student course"):
            write_course(engine, COURSE_ID, students, NOW, display_name="Big course")
        with timed(progress, "training and registering the model"):
            stored = train_model(LocalModelStore(models_dir))
            register_model(
                engine, stored.name, stored.version, stored.model_path, make_default=True
            )
        scored = list(range(1, int(students * SCORED_SHARE) + 1))
        with timed(progress, f"scoring {len(scored):,} students"):
            predict_course(engine, COURSE_ID, "bench-run", NOW, user_ids=scored)
    finally:
        engine.dispose()


@contextmanager
def api_server(url: str) -> Iterator[str]:
    """`python -m dropout_pipelines.api.server` on a free loopback port, once it answers."""
    port = free_port()
    environment = os.environ | {
        "DROPOUT_DB_URL": url,
        "DROPOUT_API_TOKENS": token_entry("bench", TOKEN),
        "DROPOUT_API_PORT": str(port),
    }
    base = f"http://127.0.0.1:{port}"
    with server_process(
        [sys.executable, "-m", "dropout_pipelines.api.server"],
        f"{base}/api/courses",
        progress,
        "the API server",
        SERVER_STARTUP_S,
        env=environment,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ):
        yield base


@contextmanager
def database(backend: str) -> Iterator[Database]:
    if backend == "sqlite":
        with sqlite_database() as db:
            yield db
    else:
        with private_mariadb_database(progress) as db:
            yield db


def run_backend(backend: str, students: int, clients: int, seconds: float) -> BackendResult:
    mix = page_mix(students)
    with database(backend) as db, tempfile.TemporaryDirectory(prefix="bench-api-") as folder:
        fill(db.url, students, Path(folder))
        engine = create_warehouse_engine(db.url, pool_size=clients)
        try:
            with api_server(db.url) as base:
                warm = api_worker(base)()
                for query in mix[:20]:
                    warm(query)
                with timed(progress, f"{backend}: API, {clients} clients for {seconds:g} s"):
                    api = run_load(api_worker(base), mix, clients, seconds)
            with timed(progress, f"{backend}: floor, {clients} clients for {seconds:g} s"):
                floor = run_load(floor_worker(engine), mix, clients, seconds)
        finally:
            engine.dispose()
            clear_model_cache()
    for name, load in (("API", api), ("floor", floor)):
        if load.errors > MAX_ERROR_SHARE * max(load.requests, 1):
            raise RuntimeError(
                f"{backend} {name}: {load.errors} of {load.requests} requests failed, first: "
                f"{load.first_error}"
            )
    return BackendResult(backend, api, floor)


def render_report(results: Sequence[BackendResult], args: argparse.Namespace, note: str) -> str:
    sections = [
        (
            f"{result.backend}: {args.students:,} students, {args.clients} clients, "
            f"{args.seconds:g} s each",
            TABLE_COLUMNS,
            [result.api.cells(API_ROW), result.floor.cells(FLOOR_ROW)],
        )
        for result in results
    ]
    notes = [
        f"{result.backend}: p95 API / floor = {result.ratio:.2f}x "
        f"(goal <= {GOAL_RATIO:.0f}x: {'met' if result.ratio <= GOAL_RATIO else 'NOT met'})"
        for result in results
    ]
    return render_sections(sections, notes, note)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.api",
        description="Load the students endpoint with N clients and compare its latency with "
        f"the same SQL run directly at the same concurrency (goal: p95 <= {GOAL_RATIO:.0f}x).",
    )
    parser.add_argument("--students", type=positive, default=DEFAULT_STUDENTS)
    parser.add_argument("--clients", type=positive, default=DEFAULT_CLIENTS)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument(
        "--backends", type=backend_list(BACKENDS), default=BACKENDS, help="sqlite,mariadb"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    load_before = os.getloadavg()[0]
    results = [
        run_backend(backend, args.students, args.clients, args.seconds) for backend in args.backends
    ]
    note = machine_note(load_before, os.getloadavg()[0])
    sys.stdout.write(render_report(results, args, note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
