"""Fetch one course from Open edX and the LRS and turn it into a `CourseBundle`.

The Open edX endpoints are independent, so they are fetched concurrently (one thread each,
each with its own HTTP session). The LRS is read incrementally (statements stored since the
course's cursor) and digested page by page. Everything is fetched and parsed before anything
is written, so a malformed page fails the course with the warehouse untouched.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta

import pandas as pd

from dropout_pipelines.features.engineering import CourseWindow
from dropout_pipelines.ingest.bundle import CourseBundle
from dropout_pipelines.ingest.clients.errors import ApiRequestError, OpenEdxPermissionError
from dropout_pipelines.ingest.clients.frame_schemas import OUTLINE
from dropout_pipelines.ingest.clients.lrs import PARSE_BATCH, LrsClient
from dropout_pipelines.ingest.clients.openedx import OpenEdxClient
from dropout_pipelines.ingest.digest import LrsCursor, StatementDigest
from dropout_pipelines.ingest.table_frames import (
    enrollment_frame,
    grades_frame,
    naive_datetime,
    user_id_map,
)
from dropout_pipelines.warehouse.course_keys import parse_course_key
from dropout_pipelines.warehouse.semesters import DEFAULT_SEMESTER_RULE, SemesterRule

ClientFactory = Callable[[], OpenEdxClient]

# The Open edX sources of a course, fetched side by side.
SOURCE_FETCHES: dict[str, Callable[[OpenEdxClient, str], object]] = {
    "enrollments": OpenEdxClient.enrollments,
    "gradebook": OpenEdxClient.gradebook,
    "completion": OpenEdxClient.completion,
    "grading": OpenEdxClient.grading,
    "outline": lambda client, course_id: _optional(client.course_outline, course_id),
}


# The LRS span of a first ingestion (or a long gap) is read as this many windows at once.
LRS_WINDOWS = 4
MIN_WINDOWED_SPAN = timedelta(days=2)


# While a course is fetched, a thread waiting for the GIL gets it within this long (Python's
# default is 5 ms). The thread reading the LRS needs the GIL at every step of reading an
# answer while another thread parses the previous batch: at 5 ms, the sequential LRS
# requests took about 2.5 ms longer each than the same requests sent alone (bench-ingest).
# Measured with 1 ms, 447 requests: 22.8 s against 23.8 s (three runs each, noisy).
FETCH_SWITCH_INTERVAL_S = 0.001


@contextmanager
def tuned_for_fetching() -> Iterator[None]:
    """The process tuned for a fetch, restored after (also on error):
    - Python's cyclic garbage collector off while pages are parsed: a page of statements
      allocates hundreds of thousands of containers, each pass of the collector walks them
      all, and nothing in a page forms a cycle (reference counting frees it);
    - the GIL switch interval shortened (`FETCH_SWITCH_INTERVAL_S`)."""
    was_enabled = gc.isenabled()
    interval = sys.getswitchinterval()
    gc.disable()
    sys.setswitchinterval(min(interval, FETCH_SWITCH_INTERVAL_S))
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        if was_enabled:
            gc.enable()


def fetch_course(
    openedx_factory: ClientFactory,
    lrs_factory: Callable[[], LrsClient],
    course_id: str,
    now: datetime,
    cursor: LrsCursor | None = None,
    concurrent: bool = True,
    semesters: SemesterRule = DEFAULT_SEMESTER_RULE,
) -> CourseBundle:
    """Fetch every Open edX source of one course and digest its LRS statements stored
    since `cursor` (all of them without one), as of `now`; `semesters` names its semester."""
    cursor = cursor or LrsCursor()
    with ExitStack() as stack, tuned_for_fetching():
        openedx = stack.enter_context(openedx_factory())
        lrs = stack.enter_context(lrs_factory())
        info = openedx.course(course_id).iloc[0]
        ended = not pd.isna(info["end"]) and naive_datetime(info["end"]) <= now
        # One client (own session, own token) per concurrent endpoint: requests sessions
        # are not shared across threads.
        clients = {
            name: stack.enter_context(openedx_factory()) if concurrent else openedx
            for name in SOURCE_FETCHES
        }
        accounts_client = stack.enter_context(openedx_factory()) if concurrent else openedx
        digest = StatementDigest(cursor=cursor)
        windows = (
            lrs_windows(cursor.since(), naive_datetime(info["start"]), now)
            if concurrent
            else [(cursor.since(), None)]
        )
        window_clients = [lrs, *(stack.enter_context(lrs_factory()) for _ in windows[1:])]
        workers = len(clients) + len(window_clients) + 1 if concurrent else 1
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {
                name: pool.submit(fetch, clients[name], course_id)
                for name, fetch in SOURCE_FETCHES.items()
            }
            # After the end, the final pass decision comes from Open edX itself.
            decisions_future = pool.submit(_final_decisions, openedx, course_id) if ended else None
            # The LRS is digested a batch of pages at a time (one batch of statements in
            # memory per window), its time span cut into windows read at once by their own
            # clients.
            lock = threading.Lock()
            # Each window holds up to three batches (queued, being joined, being parsed):
            # the windows share `PARSE_BATCH` so a windowed read holds no more than one.
            batch = PARSE_BATCH // len(windows)
            statement_futures = [
                pool.submit(_digest_lrs, client, course_id, digest, lock, since, until, batch)
                for client, (since, until) in zip(window_clients, windows, strict=True)
            ]
            # Accounts need the enrolled usernames: start them as soon as the roster is in,
            # while the (longest) LRS history is still paging.
            enrollments = futures["enrollments"].result()
            accounts_future = pool.submit(
                accounts_client.accounts, sorted(enrollments["username"].unique())
            )
            for future in statement_futures:
                future.result()
            # The statements are folded here while the last requests (the accounts, when
            # sequential) are in flight.
            digest.fold()
            results = {name: future.result() for name, future in futures.items()}
            accounts = accounts_future.result()
            decisions = decisions_future.result() if decisions_future is not None else None
        ids = user_id_map(enrollments, accounts, results["gradebook"])
        stats = {"course": openedx.stats, "lrs": lrs.stats}
        stats |= {f"lrs_window_{n}": c.stats for n, c in enumerate(window_clients[1:], start=2)}
        if concurrent:
            stats |= {name: client.stats for name, client in clients.items()}
            stats["accounts"] = accounts_client.stats
    cutoffs, policy = results["grading"]
    threshold = min(cutoffs.values()) if cutoffs else None
    window = CourseWindow(start=naive_datetime(info["start"]), end=naive_datetime(info["end"]))
    outline, content_blocks = results["outline"] or (pd.DataFrame(columns=list(OUTLINE)), None)
    course = {
        "course_id": course_id,
        "content_blocks": content_blocks,
        "display_name": info["name"],
        "org": info["org"] or parse_course_key(course_id).org,
        "semester": semesters.semester_for(course_id, window.start),
        "start_at": window.start,
        "end_at": window.end,
    }
    return CourseBundle(
        course=course,
        window=window,
        enrollments=enrollment_frame(enrollments, accounts, ids),
        grades=grades_frame(results["gradebook"], cutoffs, threshold, decisions),
        completion=(
            results["completion"]
            .merge(ids, on="username", how="inner")
            .rename(columns={"percent": "completion_rate"})[["user_id", "completion_rate"]]
        ),
        cutoffs=cutoffs,
        outline=outline,
        policy=policy,
        statements=digest.result(ids),
        fetched_at=now,
        stats=stats,
    )


def lrs_windows(
    since: datetime | None, start: datetime | None, now: datetime
) -> list[tuple[datetime | None, datetime | None]]:
    """The LRS time span to read, cut into `LRS_WINDOWS` (since, until] windows read at
    once: from the cursor (or, on a first ingestion, from the beginning: the first window
    is open below, so statements stored before the course start are read too) to now (the
    last window is open above: statements stored while the fetch runs are read too).

    Boundaries fall on whole seconds, so the LRS's millisecond timestamps neither drop nor
    repeat a statement between two windows; a span shorter than `MIN_WINDOWED_SPAN` (a daily
    refresh: a few pages) is one window."""
    lower = since if since is not None else start
    now = _naive_utc(now)
    lower = _naive_utc(lower) if lower is not None else None
    if lower is None or now - lower < MIN_WINDOWED_SPAN:
        return [(since, None)]
    step = (now - lower) / LRS_WINDOWS
    bounds = [(lower + step * n).replace(microsecond=0) for n in range(1, LRS_WINDOWS)]
    edges = [since, *bounds, None]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


def _digest_lrs(
    lrs: LrsClient,
    course_id: str,
    digest: StatementDigest,
    lock: threading.Lock,
    since: datetime | None,
    until: datetime | None,
    batch: int,
) -> None:
    """One window's pages, parsed in this thread and folded into the shared digest one at
    a time (its aggregates do not depend on the order pages arrive in)."""
    for page in lrs.statement_pages(course_id, since=since, until=until, batch=batch):
        with lock:
            digest.add(page)


def _optional(fetch: Callable, course_id: str):
    """The source, or None where this Open edX does not offer it to this account."""
    try:
        return fetch(course_id)
    except (ApiRequestError, OpenEdxPermissionError):
        return None


def _final_decisions(openedx: OpenEdxClient, course_id: str) -> pd.DataFrame | None:
    """The course grades API's `passed`, or None where this Open edX does not offer it to
    this account (the cutoff on `percent` stands in, and `passed_source` says so)."""
    try:
        return openedx.course_grades(course_id)
    except (ApiRequestError, OpenEdxPermissionError):
        return None
