"""Fetch one course from Open edX and the LRS and turn it into a `CourseBundle`.

The endpoints are independent, so they are fetched concurrently (one thread each, each
with its own HTTP session); parsing and joining happen once everything has arrived, so a
malformed page fails the course before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime

from dropout_pipelines.features.engineering import CourseWindow, build_features, week_of_course
from dropout_pipelines.ingest.bundle import CourseBundle
from dropout_pipelines.ingest.course_frames import (
    activity_frame,
    enrollment_frame,
    grades_frame,
    h5p_frame,
    naive_datetime,
    user_id_map,
)
from dropout_pipelines.ingest.lrs import LrsClient
from dropout_pipelines.ingest.openedx import OpenEdxClient
from dropout_pipelines.warehouse.course_keys import parse_course_key
from dropout_pipelines.warehouse.semesters import semester_for

ClientFactory = Callable[[], OpenEdxClient]

# The Open edX sources of a course, fetched side by side.
SOURCE_FETCHES: dict[str, Callable[[OpenEdxClient, str], object]] = {
    "enrollments": OpenEdxClient.enrollments,
    "gradebook": OpenEdxClient.gradebook,
    "completion": OpenEdxClient.completion,
    "cutoffs": OpenEdxClient.grade_cutoffs,
}


def fetch_course(
    openedx_factory: ClientFactory,
    lrs_factory: Callable[[], LrsClient],
    course_id: str,
    now: datetime,
    concurrent: bool = True,
) -> CourseBundle:
    """Fetch every source of one course and compute its features as of `now`."""
    with ExitStack() as stack:
        openedx = stack.enter_context(openedx_factory())
        lrs = stack.enter_context(lrs_factory())
        info = openedx.course(course_id).iloc[0]
        # One client (own session, own token) per concurrent endpoint: requests sessions
        # are not shared across threads.
        clients = {
            name: stack.enter_context(openedx_factory()) if concurrent else openedx
            for name in SOURCE_FETCHES
        }
        accounts_client = stack.enter_context(openedx_factory()) if concurrent else openedx
        workers = len(clients) + 2 if concurrent else 1
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {
                name: pool.submit(fetch, clients[name], course_id)
                for name, fetch in SOURCE_FETCHES.items()
            }
            statements_future = pool.submit(lrs.statements, course_id)
            # Accounts need the enrolled usernames: start them as soon as the roster is in,
            # while the (longest) LRS history is still paging.
            enrollments = futures["enrollments"].result()
            accounts_future = pool.submit(
                accounts_client.accounts, sorted(enrollments["username"].unique())
            )
            results = {name: future.result() for name, future in futures.items()}
            statements = statements_future.result()
            accounts = accounts_future.result()
        stats = {"course": openedx.stats, "lrs": lrs.stats}
        if concurrent:
            stats |= {name: client.stats for name, client in clients.items()}
            stats["accounts"] = accounts_client.stats
    cutoffs = results["cutoffs"]
    threshold = min(cutoffs.values()) if cutoffs else None

    ids = user_id_map(enrollments, accounts, results["gradebook"])
    roster = enrollment_frame(enrollments, accounts, ids)
    grades = grades_frame(results["gradebook"], cutoffs, threshold)
    completion = (
        results["completion"]
        .merge(ids, on="username", how="inner")
        .rename(columns={"percent": "completion_rate"})[["user_id", "completion_rate"]]
    )
    h5p = h5p_frame(statements, ids)
    activity = activity_frame(statements, ids)
    window = CourseWindow(start=naive_datetime(info["start"]), end=naive_datetime(info["end"]))
    as_of = window.clamp(now)
    features = build_features(
        roster=roster,
        grades=grades,
        completion=completion,
        h5p=h5p,
        activity=activity,
        window=window,
        as_of=as_of,
        h5p_contents_in_course=int(statements.loc[statements["is_h5p"], "object_id"].nunique()),
    )
    course = {
        "course_id": course_id,
        "display_name": info["name"],
        "org": info["org"] or parse_course_key(course_id).org,
        "semester": semester_for(course_id, window.start),
        "start_at": window.start,
        "end_at": window.end,
    }
    return CourseBundle(
        course=course,
        enrollments=roster,
        grades=grades,
        h5p=h5p,
        features=features,
        snapshot_week=week_of_course(window.start, as_of),
        fetched_at=now,
        stats=stats,
        unknown_actors=int((~statements["actor"].isin(ids["username"])).sum()),
    )
