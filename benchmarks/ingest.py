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

The daily refresh: after the first ingestions, the simulator's clock moves one day
(`POST /_sim/advance?days=1`) and each mode ingests the course again into the warehouse that
holds its first ingestion, from the LRS cursor read there (timed with the fetch), as of the
simulator's new now. Goal: the refresh costs what the day's new statements cost, not the
course's history; the report says what share of the statements were new that day, and
prints the refresh's seconds, requests and statements beside the first ingestion's. The
Open edX sources (roster, gradebook, completion, accounts) are not incremental: every
refresh fetches them whole, so they set the refresh's own floor.

Peak memory: every ingestion (first and second, each mode) runs in a fresh process
(`multiprocessing` spawn, one worker), the client process whose memory a deployed run has.
Its peak resident set is read from `/proc/self/status` VmHWM: once after imports and the
simulator-independent setup (warehouse engines and schema) before any request, the
*baseline*; then the high-water mark is reset (`5` into `/proc/self/clear_refs`) and read
again after the fetch and after the writes, so the ingestion's peak is its own.
`getrusage(RUSAGE_SELF).ru_maxrss` is not used: Linux carries the parent's maximum across
fork + exec, so a spawned child would report the benchmark process's own peak. Without
/proc (not Linux) the memory cells print "-".
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pandas as pd
import requests
import sqlalchemy as sa

from benchmarks.harness import process_cpu_s
from benchmarks.harness import simulator_process as harness_simulator
from benchmarks.report import (
    backend_list,
    non_negative,
    positive,
    progress_printer,
    render_sections,
    timed,
)
from dropout_pipelines.ingest.clients.http import FetchStats
from dropout_pipelines.ingest.clients.lrs import PARSE_BATCH, VERSION_HEADER, LrsClient
from dropout_pipelines.ingest.clients.openedx import OpenEdxClient
from dropout_pipelines.ingest.clients.openedx_auth import TOKEN_PATH, TOKEN_PREFIXES
from dropout_pipelines.ingest.digest import LrsCursor
from dropout_pipelines.ingest.fetch import LRS_WINDOWS, fetch_course
from dropout_pipelines.ingest.store import WriteCounts, read_lrs_cursor, write_course_bundle
from dropout_pipelines.simulator.openedx.config import Credentials
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import create_warehouse_engine
from dropout_pipelines.warehouse.urls import mask_url
from dropout_pipelines_tests.support.mariadb_server import start_test_server

BACKENDS: tuple[str, ...] = ("sqlite", "mariadb")
DEFAULT_BACKENDS: tuple[str, ...] = ("sqlite",)
DEFAULT_STUDENTS = 20_000
DEFAULT_LATENCY_MS = 20.0
SEED = 7
TODAY = "2026-11-29"
REFRESH_AFTER_DAYS = 1
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
MODES: tuple[str, ...] = (SEQUENTIAL, CONCURRENT)
FIRST = "first"
SECOND = f"second (+{REFRESH_AFTER_DAYS} day)"

REFRESH_COLUMNS: tuple[str, ...] = (
    "mode",
    "backend",
    "ingestion",
    "requests",
    "LRS requests",
    "statements fetched",
    "new statements",
    "seconds",
    "fetch s",
    "fetch CPU s",
    "write s",
    "vs first",
)
MEMORY_COLUMNS: tuple[str, ...] = (
    "mode",
    "ingestion",
    "baseline peak MiB",
    "fetch peak MiB",
    "fetch + write peak MiB",
    "peak − baseline MiB",
)

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
    ("/api/courses/v2/blocks/", "course outline (blocks)", False),
    ("/xAPI/statements", LRS_ENDPOINT, True),
    ("/api/user/v1/accounts", "accounts batches", False),
)
OTHER_ENDPOINT = "other"


_progress = progress_printer("bench-ingest")
_timed = partial(timed, _progress)
_backends = backend_list(BACKENDS)
_positive = positive
_non_negative = non_negative


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


def _naive_utc(text: str) -> datetime:
    """The simulator's ISO `...Z` moment as the product's clock has it (naive UTC)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def advance_simulator(simulator: Simulator, days: float) -> datetime:
    """Move the simulator's clock forward (`POST /_sim/advance`) and return its new now.

    `/simulator/info` is then asked once, so the world's snapshot at the new now is built
    before the next timing starts, as it was at start-up before the first."""
    response = requests.post(
        f"{simulator.base_url}/_sim/advance", params={"days": days}, timeout=60
    )
    response.raise_for_status()
    now = _naive_utc(response.json()["now"])
    info = requests.get(f"{simulator.base_url}/simulator/info", timeout=600)
    info.raise_for_status()
    if _naive_utc(info.json()["now"]) != now:
        raise RuntimeError(f"the simulator's clock moved on its own: {info.json()['now']}")
    return now


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
    arguments = ["--seed", str(SEED), "--today", TODAY, "--courses", "1"]
    arguments += ["--students", str(students), "--latency-ms", f"{latency_ms:g}"]
    label = f"{students:,} students, {latency_ms:g} ms"
    with harness_simulator(arguments, _progress, label, SIMULATOR_START_TIMEOUT_S) as process:
        info = process.info
        yield Simulator(
            process.base_url, _running_course(info), _naive_utc(info["now"]), info, process.pid
        )


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


@dataclass(frozen=True)
class PeakRss:
    """The client process's resident-set high-water marks (kB, from /proc/self/status VmHWM):
    `baseline` after imports and setup, then, after a reset, the ingestion's own peak by the
    end of the fetch and by the end of the writes. None where /proc is not there."""

    baseline_kb: int | None
    fetch_kb: int | None
    total_kb: int | None
    reset: bool  # whether the high-water mark could be reset after the baseline

    @property
    def growth_kb(self) -> int | None:
        if self.baseline_kb is None or self.total_kb is None:
            return None
        return self.total_kb - self.baseline_kb


_STATUS_FIELD = re.compile(r"^(\w+):\s+(\d+) kB$", re.MULTILINE)


def _status_kb(name: str) -> int | None:
    """A `kB` field of /proc/self/status (Linux), None elsewhere."""
    try:
        fields = dict(_STATUS_FIELD.findall(Path("/proc/self/status").read_text()))
    except OSError:
        return None
    return int(fields[name]) if name in fields else None


def peak_rss_kb() -> int | None:
    """This process's peak resident set since it started or since the last reset (VmHWM)."""
    return _status_kb("VmHWM")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current resident set (`5` into /proc/self/clear_refs, Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class IngestResult:
    """One ingestion in one mode: fetch once, then the same bundle written into each
    backend; measured in a process of its own (see `ingest_in_this_process`)."""

    mode: str
    ingestion: str  # FIRST, or SECOND: the refresh a simulated day later
    now: datetime  # the simulator's now the course was fetched as of
    warehouse_urls: dict[str, str]
    started: float
    fetch_s: float
    cpu: CpuUse
    log: RequestLog
    stats: list[FetchStats]
    sizes: dict[str, int]  # rows of the bundle, for the report's data table
    statements_fetched: int  # statements the LRS pages carried (overlap re-reads included)
    new_statements: int  # of them, the ones the cursor did not hold yet (digested)
    memory: PeakRss
    writes: list[WriteResult] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.log.sent)

    @property
    def lrs_requests(self) -> int:
        return self.log.per_endpoint().get(LRS_ENDPOINT, 0)

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


class CountingLrsClient(LrsClient):
    """The LRS client, counting the statements its pages carried (after its own `since`
    filter, before the digest skips what the cursor already holds)."""

    statements_received = 0

    def statement_pages(
        self,
        course_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        batch: int = PARSE_BATCH,
    ) -> Iterator[pd.DataFrame]:
        for page in super().statement_pages(course_id, since=since, until=until, batch=batch):
            self.statements_received += len(page)
            yield page


def _client_factories(
    simulator: Simulator, log: RequestLog, lrs_clients: list[CountingLrsClient]
) -> tuple[Callable[[], OpenEdxClient], Callable[[], LrsClient]]:
    """Factories as the Dagster resources build clients, plus the request recorder (and
    the LRS clients made, for their statement counts)."""

    def openedx() -> OpenEdxClient:
        client = OpenEdxClient(
            simulator.base_url,
            client_id=CREDENTIALS.client_id,
            client_secret=CREDENTIALS.client_secret,
        )
        log.attach(_http_session(client))
        return client

    def lrs() -> LrsClient:
        client = CountingLrsClient(
            simulator.lrs_url,
            CREDENTIALS.lrs_username,
            CREDENTIALS.lrs_password,
            platform_url=simulator.base_url,
        )
        log.attach(_http_session(client))
        lrs_clients.append(client)
        return client

    return openedx, lrs


def _warehouse_cursor(engines: dict[str, sa.Engine], course_id: str) -> LrsCursor:
    """The course's LRS cursor, the same in every backend's warehouse (each holds the same
    earlier ingestion); empty on a fresh warehouse."""
    cursors = {backend: read_lrs_cursor(engine, course_id) for backend, engine in engines.items()}
    first = next(iter(cursors.values()))
    if any(cursor != first for cursor in cursors.values()):
        raise RuntimeError(f"the warehouses hold different LRS cursors: {cursors}")
    return first


def ingest_in_this_process(
    simulator: Simulator,
    mode: str,
    ingestion: str,
    now: datetime,
    warehouse_urls: dict[str, str],
) -> IngestResult:
    """Read the course's cursor from the warehouse and `fetch_course` in `mode` as of `now`
    (timed together), then `write_course_bundle` timed per backend; peak RSS around both.

    Runs in a fresh process (`measure_ingestion`): its imports and setup are the baseline."""
    engines = {backend: create_warehouse_engine(url) for backend, url in warehouse_urls.items()}
    try:
        for engine in engines.values():
            create_schema(engine)  # what a deployed warehouse already has: not timed
        log = RequestLog()
        lrs_clients: list[CountingLrsClient] = []
        openedx, lrs = _client_factories(simulator, log, lrs_clients)
        cpu: list[CpuUse] = []
        gc.collect()
        baseline_kb = peak_rss_kb()
        reset = reset_peak_rss()
        started = time.perf_counter()
        with _cpu_use(simulator.pid, cpu):
            cursor = _warehouse_cursor(engines, simulator.course_id)
            bundle = fetch_course(
                openedx,
                lrs,
                simulator.course_id,
                now,
                cursor=cursor,
                concurrent=mode == CONCURRENT,
            )
        fetch_s = time.perf_counter() - started
        fetch_kb = peak_rss_kb()
        _progress(f"{mode}, {ingestion}: fetched in {fetch_s:.2f} s ({len(log.sent):,} requests)")
        # One client's FetchStats may stand under several names of `bundle.stats`.
        stats = list({id(stat): stat for stat in bundle.stats.values()}.values())
        writes = []
        for backend, engine in engines.items():
            gc.collect()
            started_write = time.perf_counter()
            counts = write_course_bundle(engine, bundle)
            seconds = time.perf_counter() - started_write
            _progress(f"{mode}, {ingestion}: written to {backend} in {seconds:.2f} s")
            writes.append(WriteResult(backend, seconds, counts))
        memory = PeakRss(baseline_kb, fetch_kb, peak_rss_kb(), reset)
    finally:
        for engine in engines.values():
            engine.dispose()
    sizes = {
        "enrollments": len(bundle.enrollments),
        "grades": len(bundle.grades),
        "h5p": len(bundle.statements.h5p),
    }
    return IngestResult(
        mode=mode,
        ingestion=ingestion,
        now=now,
        warehouse_urls=dict(warehouse_urls),
        started=started,
        fetch_s=fetch_s,
        cpu=cpu[0],
        log=log,
        stats=stats,
        sizes=sizes,
        statements_fetched=sum(client.statements_received for client in lrs_clients),
        new_statements=bundle.statements.new_statements,
        memory=memory,
        writes=writes,
    )


def measure_ingestion(
    simulator: Simulator,
    mode: str,
    warehouse_urls: dict[str, str],
    ingestion: str = FIRST,
    now: datetime | None = None,
) -> IngestResult:
    """`ingest_in_this_process` in a fresh process (spawned, one worker, gone afterwards),
    as of `now` (the simulator's start by default)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as worker:
        future = worker.submit(
            ingest_in_this_process,
            simulator,
            mode,
            ingestion,
            now or simulator.now,
            warehouse_urls,
        )
        return future.result()


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
    """One pass of every mode, in the order sequential, floor, concurrent; then, once the
    simulator's clock has moved, each mode's second ingestion (by mode) into its warehouse."""

    sequential: IngestResult
    floor: FloorResult
    concurrent: IngestResult
    second: dict[str, IngestResult] = field(default_factory=dict)

    def first(self, mode: str) -> IngestResult:
        return self.sequential if mode == SEQUENTIAL else self.concurrent


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


def measure_second_ingestions(
    simulator: Simulator, number: int, measured: Round, now: datetime
) -> None:
    """Each mode again, as of `now` (the simulator's clock moved on), into the warehouse of
    its first ingestion: from the cursor that ingestion left there."""
    for mode in MODES:
        first = measured.first(mode)
        with _timed(f"round {number}: {mode}, {SECOND}"):
            measured.second[mode] = measure_ingestion(
                simulator, mode, first.warehouse_urls, SECOND, now
            )


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

    def results(self, mode: str, ingestion: str = FIRST) -> list[IngestResult]:
        """A mode's first (or second) ingestion of every round."""
        return [r.first(mode) if ingestion == FIRST else r.second[mode] for r in self.rounds]

    def best(self, mode: str, backend: str | None = None, ingestion: str = FIRST) -> IngestResult:
        """The round with the lowest total (or fetch time, without a backend) of a mode."""
        results = self.results(mode, ingestion)
        if backend is None:
            return min(results, key=lambda r: r.fetch_s)
        return min(results, key=lambda r: r.total_s(backend))

    @property
    def first(self) -> Round:
        return self.rounds[0]

    def day_share(self) -> tuple[int, int]:
        """Statements stored on the simulated day, and the course's statements by its end."""
        day = self.first.second[SEQUENTIAL].new_statements
        return day, self.first.sequential.new_statements + day


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


def _ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}×" if reference > 0 else "-"


def refresh_rows(run: Run) -> tuple[list[str], list[list[str]]]:
    """Each mode × backend: the first ingestion, then the second one a simulated day later
    into the same warehouse (best of the rounds each), its total as a share of the first's."""
    rows = []
    for mode in MODES:
        for backend in run.backends:
            first_s = run.best(mode, backend).total_s(backend)
            for ingestion in (FIRST, SECOND):
                result = run.best(mode, backend, ingestion)
                total = result.total_s(backend)
                rows.append(
                    [mode, backend, ingestion, f"{result.requests:,}"]
                    + [f"{result.lrs_requests:,}", f"{result.statements_fetched:,}"]
                    + [f"{result.new_statements:,}", f"{total:.2f}", f"{result.fetch_s:.2f}"]
                    + [f"{result.cpu.client_s:.2f}", f"{total - result.fetch_s:.2f}"]
                    + [_ratio(total, first_s)]
                )
    return list(REFRESH_COLUMNS), rows


def _mib(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:,.0f}"


def memory_rows(run: Run) -> tuple[list[str], list[list[str]]]:
    """Peak RSS of each mode's first and second ingestion (the highest of the rounds)."""
    rows = []
    for mode in MODES:
        for ingestion in (FIRST, SECOND):
            results = run.results(mode, ingestion)
            memory = max(results, key=lambda r: r.memory.total_kb or 0).memory
            rows.append(
                [mode, ingestion, _mib(memory.baseline_kb), _mib(memory.fetch_kb)]
                + [_mib(memory.total_kb), _mib(memory.growth_kb)]
            )
    return list(MEMORY_COLUMNS), rows


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
    """Requests per endpoint (floor vs each mode, and the sequential second ingestion), the
    floor's time per endpoint, and when each endpoint ran in each ingestion mode (which
    shows the critical path)."""
    floor, sequential, concurrent = run.floor, run.best(SEQUENTIAL), run.best(CONCURRENT)
    second = run.best(SEQUENTIAL, ingestion=SECOND)
    logs = [floor.log, sequential.log, concurrent.log, second.log]
    counts = [log.per_endpoint() for log in logs]
    spent = floor_seconds(floor)
    labels = [label for _, label, _ in ENDPOINTS]
    labels += sorted({name for c in counts for name in c} - set(labels))
    header = ["endpoint", "floor req", "seq req", "conc req", "seq 2nd req", "floor s"]
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
    names = ("seq", "conc", "seq 2nd", "conc 2nd")
    header = ["round", "floor s", *(f"{name} fetch s" for name in names)]
    header += [f"{name} write {b} s" for name in names for b in run.backends]
    rows = []
    for number, r in enumerate(run.rounds, start=1):
        results = [r.sequential, r.concurrent, *(r.second[mode] for mode in MODES)]
        writes = [w.seconds for result in results for w in result.writes]
        rows.append(
            [str(number), f"{r.floor.seconds:.2f}"]
            + [*(f"{result.fetch_s:.2f}" for result in results), *(f"{w:.2f}" for w in writes)]
        )
    return header, rows


def data_rows(run: Run) -> tuple[list[str], list[list[str]]]:
    """What was ingested and on what, so runs of different sizes are not compared."""
    result = run.first.sequential
    second = run.first.second[SEQUENTIAL]
    course = run.simulator.course
    counts = result.writes[0].counts if result.writes else None
    day, total = run.day_share()
    rows = [
        ["course", run.simulator.course_id],
        ["enrollments (simulator)", f"{course['enrollments']:,}"],
        ["active enrollments (simulator)", f"{course['active_enrollments']:,}"],
        ["enrollment rows", f"{result.sizes['enrollments']:,}"],
        ["grade rows", f"{result.sizes['grades']:,}"],
        ["H5P result rows", f"{result.sizes['h5p']:,}"],
        ["statements digested", f"{result.new_statements:,}"],
        ["feature rows", f"{counts.features:,}" if counts else "-"],
        ["snapshot rows", f"{counts.snapshots:,}" if counts else "-"],
        [
            "simulator now: first / second",
            f"{result.now:%Y-%m-%d %H:%M} / {second.now:%Y-%m-%d %H:%M}",
        ],
        ["statements new on that day", f"{day:,} of {total:,} ({_share(day, total)})"],
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
    # The concurrent mode reads the LRS span as time windows at once (other URLs, a few
    # more pages): its other requests are the floor's.
    same_set = _non_lrs_urls(floor) == _non_lrs_urls(concurrent)
    lrs_requests = [log.per_endpoint().get(LRS_ENDPOINT, 0) for log in (floor, concurrent)]
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
        f"{len(sequential.get_urls()):,}); same multiset as the concurrent ingestion's "
        f"outside the LRS: {'yes' if same_set else 'NO'}; the concurrent ingestion reads the "
        f"LRS span as {LRS_WINDOWS} time windows at once: {lrs_requests[1]:,} statement "
        f"requests vs the floor's {lrs_requests[0]:,}.",
        f"- Token requests (no simulated latency): floor {tokens[0]}, sequential {tokens[1]}, "
        f"concurrent {tokens[2]} (one per client: the concurrent mode makes one Open edX "
        "client per thread). Outside the LRS windows they are the only difference in request "
        "counts.",
        "- Ratios are (fetch + write) / floor; each mode writes the same bundle into a fresh "
        "warehouse whose schema was created beforehand (not timed). 'answers at' is when an "
        "endpoint's first and last answers arrived, seconds after the fetch started.",
        "- 'rest' is wall − latency − simulator CPU − client CPU: waiting for a CPU (other "
        "work on the machine) and the network stack when sequential; negative when the "
        "concurrent mode overlaps them. CPU seconds do not drift with the machine's load.",
        *refresh_notes(run),
    ]
    if busy:
        out.append(
            f"- The machine was busy: more than {BUSY_SHARE:.0%} of a sequential wall time "
            "was neither latency nor either process's CPU (waiting for a CPU behind other "
            "work). Compare CPU seconds, or rerun with --repeat 3 or on a quiet machine."
        )
    return out


def _non_lrs_urls(log: RequestLog) -> Counter:
    return Counter(url for url in log.get_urls() if "/xAPI/statements" not in url)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def refresh_notes(run: Run) -> list[str]:
    """How the second ingestion and the peak RSS were measured, and what they compare."""
    day, total = run.day_share()
    first, second = run.best(SEQUENTIAL), run.best(SEQUENTIAL, ingestion=SECOND)
    lrs = f"{second.lrs_requests:,} of its {second.requests:,} requests"
    fetched = {mode: run.first.second[mode].new_statements for mode in MODES}
    same = len(set(fetched.values())) == 1
    measured = [r for mode in MODES for i in (FIRST, SECOND) for r in run.results(mode, i)]
    resets = all(r.memory.reset for r in measured)
    return [
        f"- Second ingestion: the simulator's clock moved {REFRESH_AFTER_DAYS} day "
        f"({first.now:%Y-%m-%d %H:%M} → {second.now:%Y-%m-%d %H:%M} UTC), then each mode "
        "ingested the course again into the warehouse holding its first ingestion, from the "
        "LRS cursor read there (in 'fetch s'): statements stored since the cursor minus the "
        f"10-minute overlap. {day:,} of the course's {total:,} statements ({_share(day, total)}) "
        f"were stored that day; sequentially the LRS took {lrs} (first ingestion: "
        f"{first.lrs_requests:,} of {first.requests:,}). The Open edX sources (roster, "
        "gradebook, completion, accounts) are fetched whole by every refresh. 'fetch CPU s' "
        "is the client process's CPU during the fetch (all threads), which a busy machine "
        "does not inflate. New statements "
        f"digested by both modes' second ingestions the same: {'yes' if same else 'NO'}.",
        "- Peak RSS: each ingestion ran in a fresh spawned process; 'baseline peak' is its "
        "VmHWM after imports, warehouse engines and schema, before any request; the high-water "
        "mark was then reset (clear_refs) and read after the fetch and after the writes "
        f"(reset {'done' if resets else 'NOT possible: peaks include the baseline'}). "
        "MiB = 1,048,576 bytes.",
    ]


def render_report(run: Run) -> str:
    """Summary, second ingestion, memory, requests per endpoint, fetch split, rounds and
    data: plain, then Markdown."""
    floor_s = run.floor.seconds
    sections: list[tuple[str, list[str], list[list[str]]]] = [
        (
            f"Ingestion vs floor (same run, same simulator, same pages; floor {floor_s:.2f} s)",
            list(TABLE_COLUMNS),
            summary_rows(run),
        ),
        (
            f"Second ingestion after {REFRESH_AFTER_DAYS} simulated day (same mode, same "
            "warehouse, from its LRS cursor) vs the first",
            *refresh_rows(run),
        ),
        ("Peak resident memory of the ingesting process (fresh process each)", *memory_rows(run)),
        ("Requests and time per endpoint", *request_rows(run)),
        ("Where the fetch time goes (wall vs CPU of each process)", *time_rows(run)),
        ("Rounds", *round_rows(run)),
        ("Data", *data_rows(run)),
    ]
    return render_sections(sections, notes(run))


# --------------------------------------------------------------------------------------------
# Command line


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ingest",
        description=(
            "Time one course's ingestion (sequential and concurrent fetch + write) against "
            "the floor (the same requests sent by a bare sequential loop); goals: sequential "
            f"≤ {SEQUENTIAL_GOAL:.1f}× the floor, concurrent below it. Then the second "
            f"ingestion {REFRESH_AFTER_DAYS} simulated day later, from the warehouse's LRS "
            "cursor, and the peak RSS of every ingestion."
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
        help=(
            "rounds of sequential, floor, concurrent (then, a simulated day later, sequential "
            "and concurrent again); the best of each is reported"
        ),
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
        with _timed(f"moving the simulator's clock {REFRESH_AFTER_DAYS} day on"):
            now = advance_simulator(simulator, REFRESH_AFTER_DAYS)
        for number, measured in enumerate(rounds, start=1):
            measure_second_ingestions(simulator, number, measured, now)
    load = (load_before, os.getloadavg()[0])
    run = Run(simulator, args.latency_ms, args.backends, rounds, load)
    sys.stdout.write(render_report(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
