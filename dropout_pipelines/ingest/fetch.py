"""Fetch one course from Open edX and the LRS and turn it into a `CourseBundle`.

The Open edX endpoints are independent, so they are fetched concurrently (one thread each,
each with its own HTTP session). The LRS is read incrementally (statements stored since the
course's cursor) and digested page by page. Everything is fetched and parsed before anything
is written, so a malformed page fails the course with the warehouse untouched.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import datetime

import pandas as pd

from dropout_pipelines.features.engineering import CourseWindow
from dropout_pipelines.ingest.bundle import CourseBundle
from dropout_pipelines.ingest.clients.errors import ApiRequestError, OpenEdxPermissionError
from dropout_pipelines.ingest.clients.frame_schemas import OUTLINE
from dropout_pipelines.ingest.clients.lrs import LrsClient
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


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while pages are parsed: a page of statements
    allocates hundreds of thousands of containers, each pass of the collector walks them
    all, and nothing in a page forms a cycle (reference counting frees it). Restored after,
    also on error."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
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
    with ExitStack() as stack, _collector_paused():
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
        workers = len(clients) + 2 if concurrent else 1
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {
                name: pool.submit(fetch, clients[name], course_id)
                for name, fetch in SOURCE_FETCHES.items()
            }
            # After the end, the final pass decision comes from Open edX itself.
            decisions_future = pool.submit(_final_decisions, openedx, course_id) if ended else None
            # The LRS is digested page by page (one page of statements in memory at a time).
            statements_future = pool.submit(_digest_lrs, lrs, course_id, digest)
            # Accounts need the enrolled usernames: start them as soon as the roster is in,
            # while the (longest) LRS history is still paging.
            enrollments = futures["enrollments"].result()
            accounts_future = pool.submit(
                accounts_client.accounts, sorted(enrollments["username"].unique())
            )
            results = {name: future.result() for name, future in futures.items()}
            accounts = accounts_future.result()
            statements_future.result()
            decisions = decisions_future.result() if decisions_future is not None else None
        ids = user_id_map(enrollments, accounts, results["gradebook"])
        stats = {"course": openedx.stats, "lrs": lrs.stats}
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


def _digest_lrs(lrs: LrsClient, course_id: str, digest: StatementDigest) -> None:
    for page in lrs.statement_pages(course_id, since=digest.cursor.since()):
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
