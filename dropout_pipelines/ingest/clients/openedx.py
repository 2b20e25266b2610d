"""`OpenEdxClient`: typed reads of the Open edX APIs the pipelines need, as DataFrames.

Every method fetches all pages, validates every record it uses, and only then builds its
frame, so a malformed page anywhere fails the call before anything is returned. The frames'
columns and dtypes are fixed in :mod:`dropout_pipelines.ingest.clients.frame_schemas`.

Facts about real edx-platform the methods rely on (see SPEC §3): the grade APIs list only
active enrollments and blank the e-mail unless the mode is `masters` (names and e-mails come
from the accounts API); `letter_grade` / `passed` exist only in some forks; pass/fail comes
from the course's grade cutoffs (the progress API's `grading_policy.grade_range`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from dropout_pipelines.ingest.clients import frame_schemas as frames
from dropout_pipelines.ingest.clients.backoff import RetryPolicy
from dropout_pipelines.ingest.clients.errors import (
    ApiRequestError,
    NotFoundError,
    OpenEdxPermissionError,
    PayloadError,
    UpstreamError,
)
from dropout_pipelines.ingest.clients.http import (
    ApiSession,
    PageCallback,
    SessionClient,
    Timeout,
)
from dropout_pipelines.ingest.clients.openedx_auth import OAuthClientCredentials, SessionCookie
from dropout_pipelines.ingest.clients.paging import next_page_url, page_results
from dropout_pipelines.ingest.clients.urls import (
    api_url,
    course_path_segment,
    endpoint_of,
    rebase_link,
    strip_userinfo,
)
from dropout_pipelines.ingest.clients.validate import NUMBER, need, need_fraction

COURSES_PATH = "/api/courses/v1/courses/"
ENROLLMENTS_PATH = "/api/enrollment/v1/enrollments"
GRADEBOOK_PATH = "/api/grades/v1/gradebook/{course}/"
COMPLETION_PATH = "/completion-aggregator/v1/course/{course}/"
ACCOUNTS_PATH = "/api/user/v1/accounts"
PROGRESS_PATH = "/api/course_home/v1/progress/{course}"
COURSE_GRADES_PATH = "/api/grades/v1/courses/{course}/"
BLOCKS_PATH = "/api/courses/v2/blocks/"
CONTENT_BLOCK_TYPES = ("vertical", "video", "problem", "h5pxblock", "html", "discussion")

Row = dict[str, Any]


class OpenEdxClient(SessionClient):
    """Reads courses, enrollments, grades, completion and accounts from one Open edX LMS.

    Authenticate with an OAuth2 application (`client_id` + `client_secret`, a service user
    with staff rights) or a staff user's `sessionid` cookie (which wins when both are given,
    as in `openedx_resource_from_env`). Not thread-safe: use one client per thread.
    """

    COURSE_PAGE_SIZE = 100
    ENROLLMENT_PAGE_SIZE = 100  # the enrollment API's maximum; older releases ignore it
    GRADEBOOK_PAGE_SIZE = 100
    COMPLETION_PAGE_SIZE = 1000
    # Usernames per accounts request: 100 names of up to 30 characters keep the URL under
    # 4 KB (proxies refuse past 8 KB), half the requests of 50 a batch; the simulator
    # refuses more than 100, so a larger batch would fail its tests first.
    ACCOUNTS_BATCH = 100

    def __init__(
        self,
        base_url: str,
        client_id: str | None = None,
        client_secret: str | None = None,
        sessionid: str | None = None,
        *,
        timeout: Timeout = 30.0,
        max_retries: int = 5,
        on_page: PageCallback | None = None,
        token_type: str = "jwt",
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = ApiSession(
            timeout=timeout,
            retry=retry or RetryPolicy(max_retries=max_retries),
            sleep=sleep,
            on_page=on_page,
        )
        if sessionid:
            self._session.auth = SessionCookie(self._session, self.base_url, sessionid)
        elif client_id and client_secret:
            self._session.auth = OAuthClientCredentials(
                self._session, self.base_url, client_id, client_secret, token_type
            )
        else:
            raise ValueError(
                "Open edX credentials missing: give client_id and client_secret "
                "(OPENEDX_CLIENT_ID / OPENEDX_CLIENT_SECRET) or sessionid (OPENEDX_SESSIONID)"
            )

    def __repr__(self) -> str:
        return f"OpenEdxClient({strip_userinfo(self.base_url)!r}, auth={self._session.auth!r})"

    @property
    def token_fetches(self) -> int:
        """How many OAuth2 tokens this client obtained (0 with a session cookie)."""
        return getattr(self._session.auth, "fetched", 0)

    # -- courses ---------------------------------------------------------------------------

    def list_courses(self) -> pd.DataFrame:
        """Every course the account can see: `[course_id, name, org, start, end]`."""
        params = {"page_size": self.COURSE_PAGE_SIZE}
        endpoint, records = self._collect(COURSES_PATH, params, "the course catalog")
        rows = [course_row(r, endpoint, f"results[{i}]") for i, r in enumerate(records)]
        return frames.build_frame(rows, frames.COURSES, endpoint)

    def course(self, course_id: str) -> pd.DataFrame:
        """One course, same columns as `list_courses` (NotFoundError for an unknown id)."""
        url = api_url(self.base_url, COURSES_PATH + course_path_segment(course_id))
        document = self._session.get_json(url, resource=course_id)
        endpoint = endpoint_of(url)
        self._session.page_done(endpoint, 1, 1)
        return frames.build_frame([course_row(document, endpoint, "")], frames.COURSES, endpoint)

    # -- learners --------------------------------------------------------------------------

    def enrollments(self, course_id: str) -> pd.DataFrame:
        """All enrollments, withdrawn ones included (`is_active` False):
        `[username, course_id, mode, is_active, created]`."""
        params = {"course_id": course_id, "page_size": self.ENROLLMENT_PAGE_SIZE}
        endpoint, records = self._collect(ENROLLMENTS_PATH, params, course_id)
        rows = [enrollment_row(r, endpoint, f"results[{i}]") for i, r in enumerate(records)]
        return frames.build_frame(rows, frames.ENROLLMENTS, endpoint)

    def gradebook(self, course_id: str) -> pd.DataFrame:
        """Grades of active learners: `[user_id, username, email, percent, section_breakdown,
        letter_grade, passed]`; e-mail is missing unless edX sends it (masters track);
        `letter_grade` / `passed` are None unless the fork sends them."""
        path = GRADEBOOK_PATH.format(course=course_path_segment(course_id))
        params = {"page_size": self.GRADEBOOK_PAGE_SIZE}
        endpoint, records = self._collect(path, params, course_id)
        rows = [gradebook_row(r, endpoint, f"results[{i}]") for i, r in enumerate(records)]
        frame = frames.build_frame(rows, frames.GRADEBOOK, endpoint)
        frame["email"] = frames.empty_strings_to_na(frame["email"])
        return frame

    def course_grades(self, course_id: str) -> pd.DataFrame:
        """Open edX's own pass decision per active learner (`CourseGradesView`, which
        follows the course's final grading policy, exams included): `[username, percent,
        passed]`."""
        path = COURSE_GRADES_PATH.format(course=course_path_segment(course_id))
        params = {"page_size": self.GRADEBOOK_PAGE_SIZE}
        endpoint, records = self._collect(path, params, course_id)
        rows = [course_grade_row(r, endpoint, f"results[{i}]") for i, r in enumerate(records)]
        return frames.build_frame(rows, frames.COURSE_GRADES, endpoint)

    def completion(self, course_id: str) -> pd.DataFrame:
        """Completion of active learners: `[username, earned, possible, percent]`."""
        path = COMPLETION_PATH.format(course=course_path_segment(course_id))
        params = {"page_size": self.COMPLETION_PAGE_SIZE}
        endpoint, records = self._collect(path, params, course_id)
        rows = [completion_row(r, endpoint, f"results[{i}]") for i, r in enumerate(records)]
        return frames.build_frame(rows, frames.COMPLETION, endpoint)

    def accounts(self, usernames: Iterable[str]) -> pd.DataFrame:
        """Names and e-mails: `[username, user_id, name, email]`, batched requests; unknown
        (deleted, retired) usernames are simply absent."""
        wanted = list(dict.fromkeys(name for name in usernames if name))
        url = api_url(self.base_url, ACCOUNTS_PATH)
        endpoint = endpoint_of(url)
        rows: list[Row] = []
        for number, start in enumerate(range(0, len(wanted), self.ACCOUNTS_BATCH), start=1):
            batch = wanted[start : start + self.ACCOUNTS_BATCH]
            records = self._account_batch(url, batch)
            offset = len(rows)
            rows.extend(account_row(r, endpoint, f"[{offset + i}]") for i, r in enumerate(records))
            self._session.page_done(endpoint, number, len(records))
        return frames.build_frame(rows, frames.ACCOUNTS, endpoint, "[*]")

    # -- course outline and grading policy -------------------------------------------------

    def course_outline(self, course_id: str) -> tuple[pd.DataFrame, int]:
        """The graded problems (`[problem_id, subsection_id, assignment_type, due, points]`,
        usage keys) and the number of content blocks, from the Course Blocks API."""
        url = api_url(self.base_url, BLOCKS_PATH)
        params = {
            "course_id": course_id,
            "depth": "all",
            "all_blocks": "true",
            "requested_fields": "graded,format,due,weight,children",
        }
        document = self._session.get_json(url, params, resource=course_id)
        endpoint = endpoint_of(url)
        self._session.page_done(endpoint, 1, 1)
        return outline_rows(document, endpoint)

    def grading(self, course_id: str) -> tuple[dict[str, float], pd.DataFrame]:
        """The course's grade cutoffs (letter → minimum fraction, highest first) and its
        assignment policies (`[assignment_type, weight, drop_count, min_count]`), from the
        progress API's `grading_policy`, in one request; `{}` / empty where the course does
        not expose them to this account (missing, forbidden, or unexpected)."""
        path = PROGRESS_PATH.format(course=course_path_segment(course_id))
        url = api_url(self.base_url, path)
        no_policy = pd.DataFrame(columns=list(frames.POLICY))
        try:
            document = self._session.get_json(url, resource=course_id)
        except (ApiRequestError, OpenEdxPermissionError, PayloadError, UpstreamError):
            return {}, no_policy
        endpoint = endpoint_of(url)
        try:
            cutoffs = grade_range(document, endpoint)
        except PayloadError:
            cutoffs = {}
        try:
            policies = assignment_policies(document, endpoint)
        except PayloadError:
            policies = no_policy
        return cutoffs, policies

    def grade_cutoffs(self, course_id: str) -> dict[str, float]:
        """Letter → minimum fraction (e.g. `{"A": 0.85, ..., "D": 0.5}`), `{}` when unknown."""
        return self.grading(course_id)[0]

    def pass_threshold(self, course_id: str) -> float | None:
        """The lowest cutoff (a learner at or above it passes), None when unknown."""
        cutoffs = self.grade_cutoffs(course_id)
        return min(cutoffs.values()) if cutoffs else None

    # -- plumbing --------------------------------------------------------------------------

    def _collect(self, path: str, params: dict[str, Any], resource: str) -> tuple[str, list[Any]]:
        """Every record of a listing, following `next` whatever the envelope."""
        url: str | None = api_url(self.base_url, path)
        endpoint = endpoint_of(url)
        query: dict[str, Any] | None = params
        records: list[Any] = []
        seen: set[str] = set()
        page_number = 0
        while url:
            response = self._session.get(url, query, resource=resource)
            if response.url in seen:
                raise PayloadError(endpoint, "next", "links back to a page already fetched")
            seen.add(response.url)
            page = page_results(response.document, endpoint)
            page_number += 1
            records.extend(page)
            self._session.page_done(endpoint, page_number, len(page))
            following = next_page_url(response.document, endpoint, response.url)
            url = rebase_link(following, self.base_url) if following else None
            query = None
        return endpoint, records

    def _account_batch(self, url: str, batch: list[str]) -> list[Any]:
        try:
            document = self._session.get_json(
                url, {"username": ",".join(batch)}, resource="user accounts"
            )
        except NotFoundError:  # some releases answer 404 when none of the users exists
            return []
        if isinstance(document, dict) and "username" in document:
            return [document]
        if not isinstance(document, list):
            raise PayloadError(endpoint_of(url), "body", "expected a list of accounts")
        return document


# -- record parsers (pure: validate one JSON record, return one row) ---------------------------


def course_row(record: Any, endpoint: str, where: str) -> Row:
    """Course API `CourseSerializer`: `id` (or `course_id`), `name`, `org`, `start`, `end`."""
    key = "id" if isinstance(record, dict) and "id" in record else "course_id"
    return {
        "course_id": need(record, key, str, endpoint, where),
        "name": need(record, "name", str, endpoint, where, nullable=True),
        "org": need(record, "org", str, endpoint, where, optional=True),
        "start": need(record, "start", str, endpoint, where, optional=True),
        "end": need(record, "end", str, endpoint, where, optional=True),
    }


def enrollment_row(record: Any, endpoint: str, where: str) -> Row:
    """Enrollment API list entry: `user` is the username."""
    return {
        "username": need(record, "user", str, endpoint, where),
        "course_id": need(record, "course_id", str, endpoint, where),
        "mode": need(record, "mode", str, endpoint, where),
        "is_active": need(record, "is_active", bool, endpoint, where),
        "created": need(record, "created", str, endpoint, where, nullable=True),
    }


def gradebook_row(record: Any, endpoint: str, where: str) -> Row:
    """Gradebook entry (`StudentGradebookEntrySerializer`, plus fork fields when present)."""
    return {
        "user_id": need(record, "user_id", int, endpoint, where),
        "username": need(record, "username", str, endpoint, where),
        "email": need(record, "email", str, endpoint, where, optional=True),
        "percent": need_fraction(record, "percent", endpoint, where),
        "section_breakdown": need(record, "section_breakdown", list, endpoint, where),
        "letter_grade": need(record, "letter_grade", str, endpoint, where, optional=True),
        "passed": need(record, "passed", bool, endpoint, where, optional=True),
    }


def course_grade_row(record: Any, endpoint: str, where: str) -> Row:
    """Course grades entry: `username`, `percent`, `passed`."""
    return {
        "username": need(record, "username", str, endpoint, where),
        "percent": need_fraction(record, "percent", endpoint, where),
        "passed": need(record, "passed", bool, endpoint, where),
    }


def completion_row(record: Any, endpoint: str, where: str) -> Row:
    """Completion-aggregator course result: `username` and `completion{earned, possible,
    percent}`."""
    completion = need(record, "completion", dict, endpoint, where)
    inner = f"{where}.completion"
    return {
        "username": need(record, "username", str, endpoint, where),
        "earned": float(need(completion, "earned", NUMBER, endpoint, inner)),
        "possible": float(need(completion, "possible", NUMBER, endpoint, inner)),
        "percent": need_fraction(completion, "percent", endpoint, inner),
    }


def account_row(record: Any, endpoint: str, where: str) -> Row:
    """Accounts API entry as a staff caller sees it (`id`, `username`, `name`, `email`)."""
    return {
        "username": need(record, "username", str, endpoint, where),
        "user_id": need(record, "id", int, endpoint, where),
        "name": need(record, "name", str, endpoint, where, optional=True),
        "email": need(record, "email", str, endpoint, where, optional=True),
    }


def grade_range(document: Any, endpoint: str) -> dict[str, float]:
    """`grading_policy.grade_range` of the progress API, highest cutoff first."""
    policy = need(document, "grading_policy", dict, endpoint, "")
    cutoffs = need(policy, "grade_range", dict, endpoint, "grading_policy")
    parsed = {
        str(letter): need_fraction(cutoffs, letter, endpoint, "grading_policy.grade_range")
        for letter in cutoffs
    }
    return dict(sorted(parsed.items(), key=lambda item: -item[1]))


def outline_rows(document: Any, endpoint: str) -> tuple[pd.DataFrame, int]:
    """Graded problems under graded subsections, and the count of content blocks."""
    blocks = need(document, "blocks", dict, endpoint, "")
    rows: list[Row] = []
    content = 0
    for key, block in blocks.items():
        where = f"blocks[{key}]"
        kind = need(block, "type", str, endpoint, where)
        content += kind in CONTENT_BLOCK_TYPES
        if kind != "sequential" or not need(block, "graded", bool, endpoint, where, optional=True):
            continue
        for child in need(block, "children", list, endpoint, where, optional=True) or []:
            problem = blocks.get(child)
            if not isinstance(problem, dict) or problem.get("type") != "problem":
                continue
            rows.append(
                {
                    "problem_id": child,
                    "subsection_id": key,
                    "assignment_type": need(block, "format", str, endpoint, where, optional=True),
                    "due": need(block, "due", str, endpoint, where, optional=True),
                    "points": need(
                        problem, "weight", NUMBER, endpoint, f"blocks[{child}]", optional=True
                    ),
                }
            )
    return frames.build_frame(rows, frames.OUTLINE, endpoint, "blocks[*]"), content


def assignment_policies(document: Any, endpoint: str) -> pd.DataFrame:
    """`grading_policy.assignment_policies` of the progress API."""
    policy = need(document, "grading_policy", dict, endpoint, "")
    entries = need(policy, "assignment_policies", list, endpoint, "grading_policy")
    where = "grading_policy.assignment_policies"
    rows = [
        {
            "assignment_type": need(entry, "type", str, endpoint, f"{where}[{i}]"),
            "weight": float(need(entry, "weight", NUMBER, endpoint, f"{where}[{i}]")),
            "drop_count": need(entry, "num_droppable", int, endpoint, f"{where}[{i}]"),
            "min_count": need(entry, "num_total", int, endpoint, f"{where}[{i}]"),
        }
        for i, entry in enumerate(entries)
    ]
    return frames.build_frame(rows, frames.POLICY, endpoint, where)
