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

import numpy as np
import pandas as pd

from dropout_pipelines.features.engineering import CourseWindow, build_features, week_of_course
from dropout_pipelines.ingest.bundle import CourseBundle
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


def _naive(value) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime()


def letter_for(percent: pd.Series, cutoffs: dict[str, float]) -> pd.Series:
    """The highest letter whose cutoff the fraction reaches (vectorised); None below all."""
    if not cutoffs:
        return pd.Series([None] * len(percent), index=percent.index, dtype=object)
    ordered = sorted(cutoffs.items(), key=lambda item: item[1])
    letters = np.array([None] + [letter for letter, _ in ordered], dtype=object)
    bounds = np.array([bound for _, bound in ordered])
    positions = np.searchsorted(bounds, percent.fillna(-1).to_numpy(), side="right")
    return pd.Series(letters[positions], index=percent.index, dtype=object)


def _user_ids(enrollments: pd.DataFrame, accounts: pd.DataFrame, gradebook: pd.DataFrame):
    ids = accounts[["username", "user_id"]]
    from_grades = gradebook[["username", "user_id"]]
    known = pd.concat([ids, from_grades[~from_grades["username"].isin(ids["username"])]])
    return known.drop_duplicates("username")


def _enrollment_frame(enrollments: pd.DataFrame, accounts: pd.DataFrame, ids: pd.DataFrame):
    frame = enrollments.merge(ids, on="username", how="inner").merge(
        accounts[["username", "name", "email"]], on="username", how="left"
    )
    return pd.DataFrame(
        {
            "user_id": frame["user_id"].astype("int64"),
            "username": frame["username"],
            "full_name": frame["name"],
            "email": frame["email"],
            "mode": frame["mode"],
            "is_active": frame["is_active"].astype(bool),
            "enrolled_at": frame["created"],
        }
    ).drop_duplicates("user_id")


def _grades_frame(gradebook: pd.DataFrame, cutoffs: dict[str, float], threshold: float | None):
    percent = gradebook["percent"].astype(float)
    letters = gradebook["letter_grade"].where(
        gradebook["letter_grade"].notna(), letter_for(percent, cutoffs)
    )
    if threshold is not None:
        computed_pass = percent >= threshold
        passed = gradebook["passed"].where(gradebook["passed"].notna(), computed_pass)
    else:
        passed = gradebook["passed"]
    return pd.DataFrame(
        {
            "user_id": gradebook["user_id"].astype("int64"),
            "grade_percentage": (percent * 100).clip(0, 100),
            "letter_grade": letters,
            "passed": passed.astype("boolean"),
            "section_breakdown": gradebook["section_breakdown"],
        }
    )


def _h5p_frame(statements: pd.DataFrame, ids: pd.DataFrame) -> pd.DataFrame:
    h5p = statements[statements["is_h5p"] & statements["score_raw"].notna()]
    h5p = h5p.merge(ids, left_on="actor", right_on="username", how="inner")
    return pd.DataFrame(
        {
            "statement_id": h5p["statement_id"],
            "user_id": h5p["user_id"].astype("int64"),
            "content_id": h5p["object_id"],
            "score_raw": h5p["score_raw"],
            "score_max": h5p["score_max"],
            "completed": h5p["completion"],
            "success": h5p["success"],
            "duration_s": h5p["duration_s"],
            "occurred_at": h5p["timestamp"],
        }
    )


def _activity_frame(statements: pd.DataFrame, ids: pd.DataFrame) -> pd.DataFrame:
    newest = statements.groupby("actor", as_index=False)["timestamp"].max()
    newest = newest.merge(ids, left_on="actor", right_on="username", how="inner")
    return newest.rename(columns={"timestamp": "last_activity_at"})[["user_id", "last_activity_at"]]


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

    ids = _user_ids(enrollments, accounts, results["gradebook"])
    enrollment_frame = _enrollment_frame(enrollments, accounts, ids)
    grades = _grades_frame(results["gradebook"], cutoffs, threshold)
    completion = (
        results["completion"]
        .merge(ids, on="username", how="inner")
        .rename(columns={"percent": "completion_rate"})[["user_id", "completion_rate"]]
    )
    h5p = _h5p_frame(statements, ids)
    activity = _activity_frame(statements, ids)
    window = CourseWindow(start=_naive(info["start"]), end=_naive(info["end"]))
    as_of = window.clamp(now)
    features = build_features(
        roster=enrollment_frame,
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
        enrollments=enrollment_frame,
        grades=grades,
        h5p=h5p,
        features=features,
        snapshot_week=week_of_course(window.start, as_of),
        fetched_at=now,
        stats=stats,
        unknown_actors=int((~statements["actor"].isin(ids["username"])).sum()),
    )
