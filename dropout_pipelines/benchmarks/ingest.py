"""How close does course ingestion get to fetching the same pages bare? (`make bench-ingest`)

The ingestion cannot be faster than the requests it must send: with a remote LMS each one
waits for a round trip, so the *floor* is a bare sequential loop that sends the same requests
(one `requests.Session`, one token, follow `next` / `more`, decode each page only to read its
link, write nothing). Goals, measured against that floor in the same run:

- sequential ingestion (`fetch_course(..., concurrent=False)` + `write_course_bundle`) costs at
  most 1.3× the floor: validating, framing, computing features and writing may add 30 %;
- concurrent ingestion (`concurrent=True` + write) beats the floor: overlapping the round
  trips must buy back more than the client-side work costs.

"The same requests" is taken from the ingestion itself, not from a list kept by hand: every
request the clients send is recorded (a `requests` response hook) during the sequential run.
The floor then starts each listing at the URL the ingestion started at and follows the
links, and replays the accounts batches and single documents the ingestion asked for; the
report counts both per endpoint and says whether the URLs are identical.

The simulator runs as its own process (`python -m dropout_pipelines.simulator`), so its
request handling does not compete with the client for the GIL; it adds `--latency-ms` to
every request except the token endpoint, like a remote server would. Each ingestion mode
writes into a fresh warehouse (schema created beforehand, outside the timing), so the two
write timings are comparable. Nothing is cached: every number printed comes from this run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import requests

from dropout_pipelines.benchmarks.report import (
    backend_list,
    markdown_table,
    non_negative,
    plain_table,
    positive,
    progress_printer,
    timed,
)
from dropout_pipelines.ingest.bundle import CourseBundle
from dropout_pipelines.ingest.fetch import fetch_course
from dropout_pipelines.ingest.http import FetchStats
from dropout_pipelines.ingest.lrs import VERSION_HEADER, LrsClient
from dropout_pipelines.ingest.openedx import OpenEdxClient
from dropout_pipelines.ingest.openedx_auth import TOKEN_PATH, TOKEN_PREFIXES
from dropout_pipelines.ingest.store import WriteCounts, write_course_bundle
from dropout_pipelines.simulator.openedx.config import Credentials
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import create_warehouse_engine
from dropout_pipelines.warehouse.urls import mask_url

BACKENDS: tuple[str, ...] = ("sqlite", "mariadb")
DEFAULT_BACKENDS: tuple[str, ...] = ("sqlite",)
DEFAULT_STUDENTS = 20_000
DEFAULT_LATENCY_MS = 20.0
SEED = 7
TODAY = "2026-11-29"
RUNNING_SEMESTER = "2026_S2"
SEQUENTIAL_GOAL = 1.3
CONCURRENT_GOAL = 1.0
BUSY_SHARE = 0.1  # of a sequential wall time unexplained by latency and CPU: a busy machine
SIMULATOR_START_TIMEOUT_S = 600.0
XAPI_VERSION = "1.0.3"
CREDENTIALS = Credentials()  # what the simulator CLI accepts when given no credentials

FLOOR = "floor"
SEQUENTIAL = "ingest sequential"
CONCURRENT = "ingest concurrent"

TABLE_COLUMNS: tuple[str, ...] = (
    "mode",
    "backend",
    "requests",
    "seconds",
    "vs floor",
    "goal",
    "met",
    "fetch s",
    "write s",
)

TOKEN_ENDPOINT = "oauth2 token (POST)"
LRS_ENDPOINT = "LRS statements"

# Endpoint labels by path prefix, in the order the sequential ingestion first sends them.
# `follow` endpoints are listings the floor walks by their links; the others are replayed.
ENDPOINTS: tuple[tuple[str, str, bool], ...] = (
    (TOKEN_PATH, TOKEN_ENDPOINT, False),
    ("/api/courses/v1/courses/", "course detail", False),
    ("/api/enrollment/v1/enrollments", "enrollments", True),
    ("/api/grades/v1/gradebook/", "gradebook", True),
    ("/completion-aggregator/", "completion", True),
    ("/api/course_home/v1/progress/", "grade cutoffs (progress)", False),
    ("/xAPI/statements", LRS_ENDPOINT, True),
    ("/api/user/v1/accounts", "accounts batches", False),
)
OTHER_ENDPOINT = "other"


_progress = progress_printer("bench-ingest")
_timed = partial(timed, _progress)
_backends = backend_list(BACKENDS)
_positive = positive
_non_negative = non_negative


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) another process has used so far, from /proc (Linux);
    None elsewhere. How the simulator's share of a wall time is told from waiting."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds the client process (all threads) and the simulator spent on one step.

    Wall time on a shared machine includes waiting for a CPU; these do not, so they show
    what a mode costs even when the load of other work makes wall times drift."""

    client_s: float
    server_s: float | None


@contextmanager
def _cpu_use(simulator_pid: int, into: list[CpuUse]) -> Iterator[None]:
    client, server = time.process_time(), process_cpu_s(simulator_pid)
    yield
    server_after = process_cpu_s(simulator_pid)
    used = None if server is None or server_after is None else server_after - server
    into.append(CpuUse(time.process_time() - client, used))


def endpoint_label(url: str) -> str:
    """The report's name for the endpoint of a URL (by path prefix)."""
    path = urlsplit(url).path
    return next(
        (label for prefix, label, _ in ENDPOINTS if path.startswith(prefix)), OTHER_ENDPOINT
    )


def _follows(label: str) -> bool:
    return any(follow for _, name, follow in ENDPOINTS if name == label)


# --------------------------------------------------------------------------------------------
# Recording what the clients send


@dataclass(frozen=True)
class SentRequest:
    """One HTTP exchange as the wire saw it (retries and token requests included)."""

    method: str
    url: str
    status: int
    at: float  # perf_counter() when the answer's headers arrived

    @property
    def endpoint(self) -> str:
        return endpoint_label(self.url)


@dataclass
class RequestLog:
    """Every request of every client it is attached to, in the order the answers arrived.

    A `requests` response hook rather than FetchStats: the floor needs the URLs themselves
    (accounts batches cannot be derived without parsing the enrollments), and per-endpoint
    counts stay exact when several clients share one FetchStats (sequential mode).
    """

    sent: list[SentRequest] = field(default_factory=list)

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # list.append is atomic under the GIL: safe from the concurrent mode's threads.
        request = response.request
        self.sent.append(
            SentRequest(
                request.method or "", request.url or "", response.status_code, time.perf_counter()
            )
        )

    def attach(self, session: requests.Session) -> None:
        session.hooks["response"].append(self.hook)

    def per_endpoint(self) -> Counter[str]:
        return Counter(entry.endpoint for entry in self.sent)

    def get_urls(self) -> list[str]:
        return [entry.url for entry in self.sent if entry.method == "GET"]


def _http_session(client: OpenEdxClient | LrsClient) -> requests.Session:
    """The client's `requests.Session` (private: `ApiSession.http`; a benchmark may look)."""
    return client._session.http


# --------------------------------------------------------------------------------------------
# The simulator as a separate process


@dataclass(frozen=True)
class Simulator:
    """A running simulator process and the course under test."""

    base_url: str
    course_id: str
    now: datetime
    info: dict[str, Any]
    pid: int

    @property
    def lrs_url(self) -> str:
        return f"{self.base_url}/xAPI"

    @property
    def course(self) -> dict[str, Any]:
        return next(c for c in self.info["courses"] if c["course_id"] == self.course_id)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-2000:]


def _wait_until_answering(
    base_url: str, process: subprocess.Popen, log: IO[bytes], timeout_s: float
) -> dict[str, Any]:
    """The simulator's `/simulator/info` once it answers (generating 20,000 students takes
    a while); fail with its output if it exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the simulator exited with {process.returncode}:\n{_tail(log)}")
        try:
            response = requests.get(f"{base_url}/simulator/info", timeout=5)
            if response.ok:
                return response.json()
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the simulator did not answer within {timeout_s:.0f} s:\n{_tail(log)}")


def _running_course(info: dict[str, Any]) -> str:
    """The course of the current semester: the one the daily ingestion fetches."""
    running = [
        c for c in info["courses"] if c["phase"] == "running" and c["semester"] == RUNNING_SEMESTER
    ]
    if not running:
        raise RuntimeError(f"the simulator has no running {RUNNING_SEMESTER} course: {info}")
    return running[0]["course_id"]


@contextmanager
def simulator_process(students: int, latency_ms: float) -> Iterator[Simulator]:
    """`python -m dropout_pipelines.simulator` on a free loopback port, stopped afterwards."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "dropout_pipelines.simulator",
        "--port",
        str(port),
        "--seed",
        str(SEED),
        "--today",
        TODAY,
        "--courses",
        "1",
        "--students",
        str(students),
        "--latency-ms",
        f"{latency_ms:g}",
    ]
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            with _timed(f"starting the simulator ({students:,} students, {latency_ms:g} ms)"):
                info = _wait_until_answering(base_url, process, log, SIMULATOR_START_TIMEOUT_S)
            now = datetime.fromisoformat(info["now"].replace("Z", "+00:00")).replace(tzinfo=None)
            yield Simulator(base_url, _running_course(info), now, info, process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --------------------------------------------------------------------------------------------
# Warehouses


WarehouseFactory = Callable[[str], str]
"""`new_database(label)` → the URL of a fresh, empty database for one ingestion mode."""


@contextmanager
def _sqlite_warehouses() -> Iterator[WarehouseFactory]:
    """Fresh SQLite files in one temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="dropout-bench-ingest-") as folder:

        def new_database(label: str) -> str:
            return f"sqlite:///{Path(folder) / (label.replace(' ', '-') + '.sqlite')}"

        yield new_database


@contextmanager
def _mariadb_warehouses() -> Iterator[WarehouseFactory]:
    """Fresh databases on a private MariaDB server (or `DROPOUT_TEST_MYSQL_URL`'s)."""
    try:
        from dropout_pipelines_tests.support.mariadb_server import start_test_server
    except ImportError as error:  # the test helpers ship with the repository, not the wheel
        raise SystemExit(
            "error: the private MariaDB server needs dropout_pipelines_tests (run from the "
            "repository root)"
        ) from error
    with _timed("starting a private MariaDB server"):
        server = start_test_server()
    try:
        yield lambda label: server.url_for(server.create_database("bench_ingest"))
    finally:
        with _timed("stopping the private MariaDB server"):
            server.stop()


def _warehouses(backend: str):  # noqa: ANN202 - a context manager
    return _sqlite_warehouses() if backend == "sqlite" else _mariadb_warehouses()


# --------------------------------------------------------------------------------------------
# Measurements


@dataclass
class WriteResult:
    backend: str
    seconds: float
    counts: WriteCounts


@dataclass
class IngestResult:
    """One ingestion mode: fetch once, then the same bundle written into each backend."""

    mode: str
    started: float
    fetch_s: float
    cpu: CpuUse
    log: RequestLog
    stats: list[FetchStats]
    bundle: CourseBundle
    writes: list[WriteResult] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.log.sent)

    @property
    def http_s(self) -> float:
        """Seconds inside the clients' HTTP calls (send + JSON decode), summed over clients."""
        return sum(stat.seconds for stat in self.stats)

    def total_s(self, backend: str) -> float:
        return self.fetch_s + next(w.seconds for w in self.writes if w.backend == backend)


@dataclass
class FloorResult:
    started: float
    seconds: float
    cpu: CpuUse
    log: RequestLog


def _client_factories(
    simulator: Simulator, log: RequestLog
) -> tuple[Callable[[], OpenEdxClient], Callable[[], LrsClient]]:
    """Factories as the Dagster resources build clients, plus the request recorder."""

    def openedx() -> OpenEdxClient:
        client = OpenEdxClient(
            simulator.base_url,
            client_id=CREDENTIALS.client_id,
            client_secret=CREDENTIALS.client_secret,
        )
        log.attach(_http_session(client))
        return client

    def lrs() -> LrsClient:
        client = LrsClient(
            simulator.lrs_url,
            CREDENTIALS.lrs_username,
            CREDENTIALS.lrs_password,
            platform_url=simulator.base_url,
        )
        log.attach(_http_session(client))
        return client

    return openedx, lrs


def measure_ingestion(
    simulator: Simulator, mode: str, warehouse_urls: dict[str, str]
) -> IngestResult:
    """`fetch_course` in `mode`, timed, then `write_course_bundle` timed per backend."""
    log = RequestLog()
    openedx, lrs = _client_factories(simulator, log)
    cpu: list[CpuUse] = []
    gc.collect()  # the previous measurement's garbage is not this one's cost
    started = time.perf_counter()
    with _cpu_use(simulator.pid, cpu):
        bundle = fetch_course(
            openedx, lrs, simulator.course_id, simulator.now, concurrent=mode == CONCURRENT
        )
    fetch_s = time.perf_counter() - started
    _progress(f"{mode}: fetched in {fetch_s:.2f} s ({len(log.sent):,} requests)")
    # One client's FetchStats may stand under several names of `bundle.stats`.
    stats = list({id(stat): stat for stat in bundle.stats.values()}.values())
    result = IngestResult(mode, started, fetch_s, cpu[0], log, stats, bundle)
    for backend, url in warehouse_urls.items():
        engine = create_warehouse_engine(url)
        try:
            create_schema(engine)  # what a deployed warehouse already has: not timed
            gc.collect()
            started = time.perf_counter()
            counts = write_course_bundle(engine, bundle)
            seconds = time.perf_counter() - started
        finally:
            engine.dispose()
        _progress(f"{mode}: written to {backend} in {seconds:.2f} s")
        result.writes.append(WriteResult(backend, seconds, counts))
    return result


def _next_link(document: Any) -> str | None:
    """A listing page's link to the next page: `next`, `pagination.next` or xAPI `more`."""
    if not isinstance(document, dict):
        return None
    pagination = document.get("pagination")
    nested = pagination.get("next") if isinstance(pagination, dict) else None
    return document.get("next") or nested or document.get("more") or None


@dataclass(frozen=True)
class FloorStep:
    """One endpoint's part of the floor: walk a listing from its first URL, or replay URLs."""

    endpoint: str
    urls: tuple[str, ...]
    follow: bool


def floor_plan(log: RequestLog) -> list[FloorStep]:
    """The floor's requests, derived from what the sequential ingestion sent.

    Listings start at the ingestion's first URL of that endpoint (same filters, same page
    size) and are walked by their links; accounts batches and single documents are replayed
    as sent. Endpoints come in the order the ingestion first used them.
    """
    urls: dict[str, list[str]] = {}
    for entry in log.sent:
        if entry.method == "GET":
            urls.setdefault(entry.endpoint, []).append(entry.url)
    steps = []
    for endpoint, sent in urls.items():
        follow = _follows(endpoint)
        steps.append(FloorStep(endpoint, tuple(sent[:1] if follow else sent), follow))
    return steps


def _token_header(session: requests.Session, base_url: str) -> str:
    """One client-credentials token, as the Open edX client asks for it."""
    response = session.post(
        base_url + TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_id": CREDENTIALS.client_id,
            "client_secret": CREDENTIALS.client_secret,
            "token_type": "jwt",
        },
        timeout=30,
    )
    response.raise_for_status()
    document = response.json()
    return f"{TOKEN_PREFIXES[document['token_type'].lower()]} {document['access_token']}"


def measure_floor(simulator: Simulator, plan: Sequence[FloorStep]) -> FloorResult:
    """A bare sequential loop over the plan: one session, one token, links followed."""
    log = RequestLog()
    cpu: list[CpuUse] = []
    gc.collect()
    with requests.Session() as session, _cpu_use(simulator.pid, cpu):
        log.attach(session)
        started = time.perf_counter()
        openedx = {"Authorization": _token_header(session, simulator.base_url)}
        lrs = {VERSION_HEADER: XAPI_VERSION}
        lrs_auth = (CREDENTIALS.lrs_username, CREDENTIALS.lrs_password)
        for step in plan:
            is_lrs = step.endpoint == LRS_ENDPOINT
            headers, auth = (lrs, lrs_auth) if is_lrs else (openedx, None)
            if not step.follow:
                for url in step.urls:
                    session.get(url, headers=headers, auth=auth, timeout=30).raise_for_status()
                continue
            url: str | None = step.urls[0]
            while url:
                response = session.get(url, headers=headers, auth=auth, timeout=30)
                response.raise_for_status()
                link = _next_link(json.loads(response.content))
                url = urljoin(response.url, link) if link else None
        seconds = time.perf_counter() - started
    _progress(f"{FLOOR}: {seconds:.2f} s ({len(log.sent):,} requests)")
    return FloorResult(started, seconds, cpu[0], log)


@dataclass
class Round:
    """One pass of every mode, in the order sequential, floor, concurrent."""

    sequential: IngestResult
    floor: FloorResult
    concurrent: IngestResult


def measure_round(
    simulator: Simulator,
    number: int,
    warehouses: dict[str, WarehouseFactory],
    plan: Sequence[FloorStep] | None,
) -> Round:
    """Sequential ingestion, the floor (its plan from the first round's sequential requests),
    then concurrent ingestion: the floor sits between the two so neither mode gets the
    quieter or the warmer server systematically."""

    def fresh(mode: str) -> dict[str, str]:
        label = f"{mode} {number}"
        urls = {backend: new(label) for backend, new in warehouses.items()}
        for backend, url in urls.items():
            _progress(f"{mode}: {backend} warehouse {mask_url(url)}")
        return urls

    with _timed(f"round {number}: {SEQUENTIAL}"):
        sequential = measure_ingestion(simulator, SEQUENTIAL, fresh(SEQUENTIAL))
    with _timed(f"round {number}: {FLOOR} (bare sequential requests)"):
        floor = measure_floor(simulator, plan or floor_plan(sequential.log))
    with _timed(f"round {number}: {CONCURRENT}"):
        concurrent = measure_ingestion(simulator, CONCURRENT, fresh(CONCURRENT))
    return Round(sequential, floor, concurrent)


# --------------------------------------------------------------------------------------------
# Report


@dataclass
class Run:
    """Everything one benchmark run measured (each number is the best of the rounds)."""

    simulator: Simulator
    latency_ms: float
    backends: tuple[str, ...]
    rounds: list[Round]
    load: tuple[float, float]  # 1-minute load average before and after

    @property
    def floor(self) -> FloorResult:
        return min((r.floor for r in self.rounds), key=lambda f: f.seconds)

    def best(self, mode: str, backend: str | None = None) -> IngestResult:
        """The round with the lowest total (or fetch time, without a backend) of a mode."""
        results = [r.sequential if mode == SEQUENTIAL else r.concurrent for r in self.rounds]
        if backend is None:
            return min(results, key=lambda r: r.fetch_s)
        return min(results, key=lambda r: r.total_s(backend))

    @property
    def first(self) -> Round:
        return self.rounds[0]


def _goal(mode: str) -> tuple[str, Callable[[float], bool]]:
    if mode == SEQUENTIAL:
        return f"≤ {SEQUENTIAL_GOAL:.2f}×", lambda ratio: ratio <= SEQUENTIAL_GOAL
    return f"< {CONCURRENT_GOAL:.2f}×", lambda ratio: ratio < CONCURRENT_GOAL


def summary_rows(run: Run) -> list[list[str]]:
    """The floor, then each mode × backend: total, ratio, goal, met, fetch/write split."""
    floor = run.floor
    rows = [
        [FLOOR, "-", f"{len(floor.log.sent):,}", f"{floor.seconds:.2f}", "1.00×"]
        + ["-", "-", f"{floor.seconds:.2f}", "-"]
    ]
    for mode in (SEQUENTIAL, CONCURRENT):
        goal, met = _goal(mode)
        for backend in run.backends:
            result = run.best(mode, backend)
            total = result.total_s(backend)
            ratio = total / floor.seconds if floor.seconds > 0 else float("inf")
            write_s = total - result.fetch_s
            rows.append(
                [mode, backend, f"{result.requests:,}", f"{total:.2f}", f"{ratio:.2f}×"]
                + [goal, "met" if met(ratio) else "not met"]
                + [f"{result.fetch_s:.2f}", f"{write_s:.2f}"]
            )
    return rows


def _span(log: RequestLog, started: float, endpoint: str) -> str:
    """When an endpoint's first and last answers arrived, seconds after the start."""
    stamps = [entry.at - started for entry in log.sent if entry.endpoint == endpoint]
    return f"{min(stamps):.1f}–{max(stamps):.1f}" if stamps else "-"


def floor_seconds(floor: FloorResult) -> Counter[str]:
    """Floor seconds per endpoint: the time since the previous answer, charged to this one
    (the floor is sequential and does nothing else between requests)."""
    spent: Counter[str] = Counter()
    previous = floor.started
    for entry in floor.log.sent:
        spent[entry.endpoint] += entry.at - previous
        previous = entry.at
    return spent


def request_rows(run: Run) -> tuple[list[str], list[list[str]]]:
    """Requests per endpoint (floor vs each mode), the floor's time per endpoint, and when
    each endpoint ran in each ingestion mode (which shows the critical path)."""
    floor, sequential, concurrent = run.floor, run.best(SEQUENTIAL), run.best(CONCURRENT)
    logs = [floor.log, sequential.log, concurrent.log]
    counts = [log.per_endpoint() for log in logs]
    spent = floor_seconds(floor)
    labels = [label for _, label, _ in ENDPOINTS]
    labels += sorted({name for c in counts for name in c} - set(labels))
    header = ["endpoint", "floor req", "seq req", "conc req", "floor s"]
    header += ["seq answers at s", "conc answers at s"]
    rows = []
    for label in labels:
        if not any(c.get(label) for c in counts):
            continue
        rows.append(
            [label, *(f"{c.get(label, 0):,}" for c in counts), f"{spent.get(label, 0.0):.2f}"]
            + [_span(sequential.log, sequential.started, label)]
            + [_span(concurrent.log, concurrent.started, label)]
        )
    rows.append(
        ["total", *(f"{sum(c.values()):,}" for c in counts), f"{floor.seconds:.2f}"]
        + [f"0.0–{sequential.fetch_s:.1f}", f"0.0–{concurrent.fetch_s:.1f}"]
    )
    return header, rows


def _cpu_cell(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"


def _wall_and_rest(run: Run, mode: str) -> tuple[float, float | None]:
    """A mode's wall seconds and what latency and the two processes' CPU leave of them."""
    if mode == FLOOR:
        wall, cpu, log = run.floor.seconds, run.floor.cpu, run.floor.log
    else:
        best = run.best(mode)
        wall, cpu, log = best.fetch_s, best.cpu, best.log
    if cpu.server_s is None:
        return wall, None
    latency_s = _latency_requests(log) * run.latency_ms / 1000
    return wall, wall - latency_s - cpu.server_s - cpu.client_s


def time_rows(run: Run) -> tuple[list[str], list[list[str]]]:
    """Where the wall time goes: simulated latency, the simulator's CPU, the client's CPU.

    Sequentially the three add up to about the wall time; what is left is waiting for a
    CPU (other work on the machine) and the network stack. Concurrently they overlap, so
    their sum exceeds the wall time by what the overlap bought. `in HTTP calls` is the
    clients' own FetchStats (send + JSON decode, summed over threads)."""
    latency_s = run.latency_ms / 1000
    header = ["mode", "wall s", "latency s", "simulator CPU s", "client CPU s", "rest s"]
    header += ["in HTTP calls s", "pages", "MB"]
    floor = run.floor
    entries: list[tuple[str, float, CpuUse, int, str, str, str]] = [
        (FLOOR, floor.seconds, floor.cpu, _latency_requests(floor.log), "-", "-", "-")
    ]
    for mode in (SEQUENTIAL, CONCURRENT):
        r = run.best(mode)
        entries.append(
            (
                mode,
                r.fetch_s,
                r.cpu,
                _latency_requests(r.log),
                f"{r.http_s:.2f}",
                f"{sum(s.pages for s in r.stats):,}",
                f"{sum(s.bytes for s in r.stats) / 1e6:.1f}",
            )
        )
    rows = []
    for mode, wall, cpu, delayed, http, pages, megabytes in entries:
        rest = _wall_and_rest(run, mode)[1]
        rows.append(
            [mode, f"{wall:.2f}", f"{delayed * latency_s:.2f}", _cpu_cell(cpu.server_s)]
            + [f"{cpu.client_s:.2f}", _cpu_cell(rest), http, pages, megabytes]
        )
    return header, rows


def _latency_requests(log: RequestLog) -> int:
    """Requests the simulator delayed (all but the token endpoint's)."""
    return sum(1 for entry in log.sent if entry.endpoint != TOKEN_ENDPOINT)


def round_rows(run: Run) -> tuple[list[str], list[list[str]]]:
    """Every round's seconds, so a noisy machine shows instead of hiding in the best."""
    header = ["round", "floor s", "seq fetch s", "conc fetch s"]
    header += [f"{m} write {b} s" for m in ("seq", "conc") for b in run.backends]
    rows = []
    for number, r in enumerate(run.rounds, start=1):
        writes = [w.seconds for result in (r.sequential, r.concurrent) for w in result.writes]
        rows.append(
            [str(number), f"{r.floor.seconds:.2f}", f"{r.sequential.fetch_s:.2f}"]
            + [f"{r.concurrent.fetch_s:.2f}", *(f"{w:.2f}" for w in writes)]
        )
    return header, rows


def data_rows(run: Run) -> tuple[list[str], list[list[str]]]:
    """What was ingested and on what, so runs of different sizes are not compared."""
    result = run.first.sequential
    bundle = result.bundle
    course = run.simulator.course
    counts = result.writes[0].counts if result.writes else None
    rows = [
        ["course", run.simulator.course_id],
        ["enrollments (simulator)", f"{course['enrollments']:,}"],
        ["active enrollments (simulator)", f"{course['active_enrollments']:,}"],
        ["enrollment rows", f"{len(bundle.enrollments):,}"],
        ["grade rows", f"{len(bundle.grades):,}"],
        ["H5P result rows", f"{len(bundle.statements.h5p):,}"],
        ["statements digested", f"{bundle.statements.new_statements:,}"],
        ["feature rows", f"{counts.features:,}" if counts else "-"],
        ["snapshot rows", f"{counts.snapshots:,}" if counts else "-"],
        ["latency per request", f"{run.latency_ms:g} ms (none on the token endpoint)"],
        ["rounds", f"{len(run.rounds)} (best of each shown)"],
        ["CPUs", str(os.cpu_count())],
        ["load average before / after", f"{run.load[0]:.2f} / {run.load[1]:.2f}"],
    ]
    return ["what", "value"], rows


def notes(run: Run) -> list[str]:
    """The fine print: how the floor's requests relate to the ingestion's."""
    floor = run.floor.log
    sequential = run.first.sequential.log
    concurrent = run.first.concurrent.log
    same_order = floor.get_urls() == sequential.get_urls()
    same_set = Counter(floor.get_urls()) == Counter(concurrent.get_urls())
    tokens = [log.per_endpoint().get(TOKEN_ENDPOINT, 0) for log in (floor, sequential, concurrent)]
    busy = any(
        rest is not None and rest > BUSY_SHARE * wall
        for wall, rest in (_wall_and_rest(run, FLOOR), _wall_and_rest(run, SEQUENTIAL))
    )
    out = [
        "- The floor is one requests.Session, sequential: one token, each listing walked from "
        "the ingestion's first URL by its next/more link (each page JSON-decoded only to read "
        "that link), the ingestion's accounts batches and single documents replayed as sent, "
        "nothing parsed further, nothing written.",
        f"- Floor GET URLs identical to the sequential ingestion's, in the same order: "
        f"{'yes' if same_order else 'NO'} ({len(floor.get_urls()):,} vs "
        f"{len(sequential.get_urls()):,}); same multiset as the concurrent ingestion's: "
        f"{'yes' if same_set else 'NO'} ({len(concurrent.get_urls()):,}).",
        f"- Token requests (no simulated latency): floor {tokens[0]}, sequential {tokens[1]}, "
        f"concurrent {tokens[2]} (one per client: the concurrent mode makes one Open edX "
        "client per thread). They are the only difference in request counts.",
        "- Ratios are (fetch + write) / floor; each mode writes the same bundle into a fresh "
        "warehouse whose schema was created beforehand (not timed). 'answers at' is when an "
        "endpoint's first and last answers arrived, seconds after the fetch started.",
        "- 'rest' is wall − latency − simulator CPU − client CPU: waiting for a CPU (other "
        "work on the machine) and the network stack when sequential; negative when the "
        "concurrent mode overlaps them. CPU seconds do not drift with the machine's load.",
    ]
    if busy:
        out.append(
            f"- The machine was busy: more than {BUSY_SHARE:.0%} of a sequential wall time "
            "was neither latency nor either process's CPU (waiting for a CPU behind other "
            "work). Compare CPU seconds, or rerun with --repeat 3 or on a quiet machine."
        )
    return out


def render_report(run: Run) -> str:
    """Summary, requests per endpoint, fetch split, rounds and data: plain, then Markdown."""
    floor_s = run.floor.seconds
    sections: list[tuple[str, list[str], list[list[str]]]] = [
        (
            f"Ingestion vs floor (same run, same simulator, same pages; floor {floor_s:.2f} s)",
            list(TABLE_COLUMNS),
            summary_rows(run),
        ),
        ("Requests and time per endpoint", *request_rows(run)),
        ("Where the fetch time goes (wall vs CPU of each process)", *time_rows(run)),
        ("Rounds", *round_rows(run)),
        ("Data", *data_rows(run)),
    ]
    out = []
    for title, header, rows in sections:
        out += [title, plain_table(header, rows), ""]
    out += ["Notes", *notes(run), ""]
    out.append("Markdown:")
    out.append("")
    for title, header, rows in sections:
        out += [f"**{title}**", "", markdown_table(header, rows), ""]
    out += [*notes(run), ""]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------------------------
# Command line


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dropout_pipelines.benchmarks.ingest",
        description=(
            "Time one course's ingestion (sequential and concurrent fetch + write) against "
            "the floor (the same requests sent by a bare sequential loop); goals: sequential "
            f"≤ {SEQUENTIAL_GOAL:.1f}× the floor, concurrent below it."
        ),
    )
    parser.add_argument(
        "--students", type=_positive, default=DEFAULT_STUDENTS, help="learners in the course"
    )
    parser.add_argument(
        "--latency-ms",
        type=_non_negative,
        default=DEFAULT_LATENCY_MS,
        help="simulated latency per request",
    )
    parser.add_argument(
        "--backends",
        type=_backends,
        default=DEFAULT_BACKENDS,
        help="comma-separated: sqlite,mariadb (default sqlite)",
    )
    parser.add_argument(
        "--repeat",
        type=_positive,
        default=1,
        help="rounds of sequential, floor, concurrent; the best of each is reported",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report to stdout (progress goes to stderr)."""
    args = _parse_args(argv)
    load_before = os.getloadavg()[0]
    with ExitStack() as stack:
        simulator = stack.enter_context(simulator_process(args.students, args.latency_ms))
        _progress(f"course {simulator.course_id} on {simulator.base_url} (pid {simulator.pid})")
        warehouses = {b: stack.enter_context(_warehouses(b)) for b in args.backends}
        rounds: list[Round] = []
        for number in range(1, args.repeat + 1):
            plan = floor_plan(rounds[0].sequential.log) if rounds else None
            rounds.append(measure_round(simulator, number, warehouses, plan))
    load = (load_before, os.getloadavg()[0])
    run = Run(simulator, args.latency_ms, args.backends, rounds, load)
    sys.stdout.write(render_report(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
