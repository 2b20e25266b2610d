"""The Starlette application: Open edX LMS routes, the ``/xAPI`` LRS and simulator helpers.

Routes reproduce what the pipelines' clients meet on a real LMS: the OAuth2 token endpoint,
the course, enrollment, grades, completion-aggregator and accounts APIs with their own
pagination envelopes, their 400/401/403/404 answers, and the rule that a course id in a query
string must be percent-encoded (a raw ``+`` arrives as a space and is rejected with 400).
Every answer is as of the simulator clock's now (:mod:`.clock`).

Test-only control API (loopback, no authentication, never faulted), all answering JSON:

    GET  /_sim/now                      {"now": "2026-11-29T00:00:00.000Z"}
    POST /_sim/advance?days=7&hours=12  move the clock forward (400 if negative); {"now"}
    POST /_sim/set?now=2026-12-06T00:00:00Z
                                        move the clock to a moment (400 if before now); {"now"}
    GET  /_sim/faults                   the fault spec, pending armed failures, faults injected
    POST /_sim/faults?server_errors=3[&status=503][&prefix=/xAPI]
                                        the next 3 data requests (under prefix) answer 503
    POST /_sim/faults?spec=SPEC         replace the fault plan (grammar in :mod:`.faults`;
                                        ``spec=`` switches every rule off)
    POST /_sim/faults/reset             back to the configured faults, schedules restarted,
                                        armed failures dropped

The same controls exist in Python on the running simulator (``sim.clock.advance(days=7)``,
``sim.set_now(…)``, ``sim.fail_next(3)``, ``sim.set_faults(spec)``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dropout_pipelines.simulator.openedx import serializers as ser
from dropout_pipelines.simulator.openedx.auth import AuthError, LmsAuth, basic_credentials
from dropout_pipelines.simulator.openedx.blocks import blocks_json
from dropout_pipelines.simulator.openedx.clock import (
    ClockError,
    SimulatorClock,
    iso_now,
    parse_moment,
)
from dropout_pipelines.simulator.openedx.config import LRS_PATH, SimulatorConfig
from dropout_pipelines.simulator.openedx.data import CourseAt, Dataset, Snapshot
from dropout_pipelines.simulator.openedx.faults import (
    FaultInjector,
    FaultMiddleware,
    FaultPlan,
    FaultSpecError,
)
from dropout_pipelines.simulator.openedx.lrs import LrsService, StatementStore
from dropout_pipelines.simulator.openedx.paging import (
    PageNotFound,
    cursor_envelope,
    cursor_slice,
    default_envelope,
    namespaced_envelope,
    number_slice,
    page_size_from,
)

COURSE_KEY = re.compile(r"^course-v1:[\w\-~.:]+\+[\w\-~.:]+\+[\w\-~.:]+$")
ENROLLMENT_PAGE_SIZE = 100
GRADEBOOK_PAGE_SIZE = 50
COURSE_LIST_PAGE_SIZE = 10
COMPLETION_PAGE_SIZE = 10
MAX_ACCOUNTS = 100

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class SimulatorState:
    """What every route needs; one per running simulator (the world may be shared, the clock
    and faults are its own)."""

    config: SimulatorConfig
    world: Dataset
    clock: SimulatorClock
    auth: LmsAuth
    store: StatementStore
    faults: FaultInjector

    @property
    def data(self) -> Snapshot:
        """The world as of the clock's now."""
        return self.world.at(self.clock.now_ms)

    def set_faults(self, spec: str) -> FaultPlan:
        """Replace the fault plan at runtime (FaultSpecError on a bad spec)."""
        plan = FaultPlan.parse(spec)
        self._use_plan(plan)
        return plan

    def restore_faults(self) -> None:
        """Back to the configured plan, every schedule restarted, nothing armed."""
        self._use_plan(self.config.faults)

    def _use_plan(self, plan: FaultPlan) -> None:
        self.faults.replace_plan(plan)
        self.auth.token_call_limit = plan.token_expires_after


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status, headers=headers)


def _not_found(detail: str = "Not found.") -> Response:
    return _json({"detail": detail}, 404)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def handles_errors(handler: Handler) -> Handler:
    """Turn auth and paging exceptions into the JSON answers edx-platform gives."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except AuthError as error:
            headers = {"WWW-Authenticate": error.challenge} if error.challenge else None
            return _json(error.body, error.status, headers)
        except PageNotFound as error:
            return _not_found(error.detail)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def build_app(state: SimulatorState) -> Starlette:
    """The ASGI app for one simulator run (faults wrap everything)."""
    config = state.config
    auth = state.auth
    clock = state.clock
    credentials = config.credentials
    lrs = LrsService(
        state.store, credentials.lrs_username, credentials.lrs_password, lambda: clock.now_ms
    )

    def course_or_none(data: Snapshot, course_id: str) -> CourseAt | None:
        return data.course(course_id) if COURSE_KEY.match(course_id) else None

    async def access_token(request: Request) -> Response:
        """``POST /oauth2/access_token`` (client credentials; ``token_type=jwt`` for a JWT)."""
        # Parsed by hand: the OAuth2 form is always urlencoded, and this keeps the simulator
        # free of a multipart dependency.
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        issuer = f"{_base(request)}/oauth2"
        return _json(auth.issue(form, basic_credentials(request), issuer))

    async def course_list(request: Request) -> Response:
        """``GET /api/courses/v1/courses/`` — public, but bad credentials still get 401."""
        auth.authenticate(request)
        courses = list(state.data.listed_courses)
        org = request.query_params.get("org")
        if org:
            courses = [c for c in courses if c.info.org.lower() == org.lower()]
        size = page_size_from(request, COURSE_LIST_PAGE_SIZE, 100)
        page = number_slice(request, len(courses), size)
        rows = [ser.course_json(c.info, _base(request)) for c in courses[page.start : page.stop]]
        return _json(namespaced_envelope(page, rows))

    async def course_detail(request: Request) -> Response:
        """``GET /api/courses/v1/courses/{course_id}``."""
        auth.authenticate(request)
        course = course_or_none(state.data, request.path_params["course_id"])
        if course is None:
            return _not_found()
        return _json(ser.course_json(course.info, _base(request)))

    async def enrollments(request: Request) -> Response:
        """``GET /api/enrollment/v1/enrollments`` — staff only, newest enrollment first."""
        auth.require_staff(request)
        params = request.query_params
        course_id = params.get("course_id")
        if course_id is not None and not COURSE_KEY.match(course_id):
            return _json({"course_id": [f"'{course_id}' is not a valid course id."]}, 400)
        usernames = [u for u in (params.get("username") or "").split(",") if u]
        if len(usernames) > MAX_ACCOUNTS:
            return _json({"username": [f"Too many usernames (max {MAX_ACCOUNTS})."]}, 400)
        data = state.data
        rows = _enrollment_rows(data, course_id, usernames)
        size = page_size_from(request, ENROLLMENT_PAGE_SIZE, ENROLLMENT_PAGE_SIZE)
        if config.envelope == "page":
            page = number_slice(request, len(rows), size)
        else:
            page = cursor_slice(request, len(rows), size)
        results = [
            ser.enrollment_json(data, data.courses[c], i) for c, i in rows[page.start : page.stop]
        ]
        if config.envelope == "page":
            return _json(default_envelope(page, results))
        return _json(cursor_envelope(page, results))

    async def gradebook(request: Request) -> Response:
        """``GET /api/grades/v1/gradebook/{course_id}/`` — active enrollments, by id."""
        auth.require_staff(request)
        data = state.data
        course = course_or_none(data, request.path_params["course_id"])
        if course is None:
            return _json(
                {
                    "developer_message": "Requested grade for unknown course",
                    "error_code": "course_does_not_exist",
                },
                404,
            )
        base = _base(request)
        username = request.query_params.get("username")
        if username:
            row = _active_row(data, course, username)
            if row is None:
                return _json(
                    {
                        "developer_message": "The user matching the requested username "
                        "is not enrolled in this course",
                        "error_code": "user_not_enrolled",
                    },
                    404,
                )
            return _json(ser.gradebook_entry(data, course, row, base, config.gradebook_fork_fields))
        active = course.active_by_id
        size = page_size_from(request, GRADEBOOK_PAGE_SIZE, None)
        if config.envelope == "page":
            page = number_slice(request, len(active), size)
        else:
            page = cursor_slice(request, len(active), size)
        results = [
            ser.gradebook_entry(data, course, int(row), base, config.gradebook_fork_fields)
            for row in active[page.start : page.stop]
        ]
        counts = {"total_users_count": len(active), "filtered_users_count": len(active)}
        if config.envelope == "page":
            return _json(default_envelope(page, results, **counts))
        return _json(cursor_envelope(page, results, **counts))

    async def grading_info(request: Request) -> Response:
        """``GET /api/grades/v1/gradebook/{course_id}/grading-info``."""
        auth.require_staff(request)
        course = course_or_none(state.data, request.path_params["course_id"])
        if course is None:
            return _not_found()
        graded_only = request.query_params.get("graded_only", "").lower() in ("1", "true")
        return _json(ser.grading_info_json(course.info, graded_only))

    async def grading_policy(request: Request) -> Response:
        """``GET /api/grades/v1/policy/courses/{course_id}/``."""
        auth.require_staff(request)
        if course_or_none(state.data, request.path_params["course_id"]) is None:
            return _not_found()
        return _json(ser.grading_policy_json())

    async def course_grades(request: Request) -> Response:
        """``GET /api/grades/v1/courses/{course_id}/`` — percent, letter_grade, passed."""
        auth.require_staff(request)
        data = state.data
        course = course_or_none(data, request.path_params["course_id"])
        if course is None:
            return _not_found()
        username = request.query_params.get("username")
        if username:
            row = _active_row(data, course, username)
            if row is None:
                return _not_found("The user is not enrolled in this course.")
            return _json([ser.course_grade_json(data, course, row)])
        active = course.active_by_id
        size = page_size_from(request, 50, None)
        page = cursor_slice(request, len(active), size)
        results = [
            ser.course_grade_json(data, course, int(r)) for r in active[page.start : page.stop]
        ]
        return _json(cursor_envelope(page, results))

    async def progress(request: Request) -> Response:
        """``GET /api/course_home/v1/progress/{course_id}[/{student_id}]`` (grade cutoffs)."""
        principal = auth.authenticate(request)
        if principal is None:
            raise AuthError(401, {"detail": "Authentication credentials were not provided."})
        data = state.data
        course = course_or_none(data, request.path_params["course_id"])
        if course is None:
            return _not_found()
        student = request.path_params.get("student_id")
        if student is None:
            return _json(ser.progress_json(data, course, None))
        if not principal.is_staff:
            raise AuthError(403, {"detail": "You do not have permission to perform this action."})
        try:
            user_index = int(student) - 1001
        except ValueError:
            return _not_found()
        row = course.enrollment_of_user(user_index) if user_index >= 0 else None
        if row is None:
            return _not_found()
        return _json(ser.progress_json(data, course, row))

    async def completion(request: Request) -> Response:
        """``GET /completion-aggregator/v1/course/{course_id}/`` — all active learners."""
        auth.require_staff(request)
        data = state.data
        course = course_or_none(data, request.path_params["course_id"])
        if course is None:
            return _not_found()
        username = request.query_params.get("username")
        active = course.active_by_id
        if username:
            row = _active_row(data, course, username)
            if row is None:
                return _not_found()
            active = np.array([row])
        size = page_size_from(request, COMPLETION_PAGE_SIZE, 1000)
        page = number_slice(request, len(active), size)
        results = [
            ser.completion_json(data, course, int(r)) for r in active[page.start : page.stop]
        ]
        return _json(namespaced_envelope(page, results))

    async def accounts(request: Request) -> Response:
        """``GET /api/user/v1/accounts?username=a,b`` (or ``email=``) — staff only."""
        auth.require_staff(request)
        users = state.world.users
        names = [u for u in (request.query_params.get("username") or "").split(",") if u]
        emails = [e for e in (request.query_params.get("email") or "").split(",") if e]
        if not names and not emails:
            return _json({"developer_message": "username or email is required"}, 400)
        if len(names) + len(emails) > MAX_ACCOUNTS:
            return _json({"developer_message": f"at most {MAX_ACCOUNTS} accounts a call"}, 400)
        found = [users.index_of_username(n) for n in names]
        found += [users.index_by_email.get(e) for e in emails]
        base = _base(request)
        return _json([ser.account_json(users, i, base) for i in found if i is not None])

    async def account(request: Request) -> Response:
        """``GET /api/user/v1/accounts/{username}``."""
        auth.require_staff(request)
        users = state.world.users
        index = users.index_of_username(request.path_params["username"])
        if index is None:
            return _not_found()
        return _json(ser.account_json(users, index, _base(request)))

    async def simulator_info(request: Request) -> Response:
        """Simulator-only: what was generated, and which faults fired so far."""
        summary = state.data.summary()
        faults = state.faults
        summary["faults"] = {"spec": faults.plan.spec, "injected": dict(faults.injected)}
        summary["platform_url"] = request.app.state.platform_url
        summary["actor_id"] = config.actor_id
        return _json(summary)

    async def simulator_reset_faults(request: Request) -> Response:
        """Simulator-only: back to the configured faults, every schedule restarted (between
        test scenarios)."""
        state.restore_faults()
        return _json({"reset": True})

    async def simulator_external_ids(request: Request) -> Response:
        """Simulator-only: the username → anonymous external id map event routing uses
        (a real deployment exports it from the LMS database)."""
        auth.require_staff(request)
        names = [u for u in (request.query_params.get("username") or "").split(",") if u]
        users = state.world.users
        mapping = {}
        for name in names[:MAX_ACCOUNTS]:
            index = users.index_of_username(name)
            if index is not None:
                mapping[name] = users.external_id(index)
        return _json(mapping)

    async def course_blocks(request: Request) -> Response:
        """``GET /api/courses/v2/blocks/?course_id=…&requested_fields=graded,format,due``."""
        auth.require_staff(request)
        course = course_or_none(state.data, request.query_params.get("course_id", ""))
        if course is None:
            return _not_found()
        requested = set(request.query_params.get("requested_fields", "").split(","))
        return _json(blocks_json(course.info, _base(request), requested))

    async def control_now(request: Request) -> Response:
        """``GET /_sim/now``: the simulator clock."""
        return _json({"now": iso_now(clock)})

    async def control_advance(request: Request) -> Response:
        """``POST /_sim/advance?days=…&hours=…`` (also ``minutes``, ``seconds``)."""
        amounts = {}
        for unit in ("days", "hours", "minutes", "seconds"):
            text = request.query_params.get(unit)
            if text is not None:
                try:
                    amounts[unit] = float(text)
                except ValueError:
                    return _json({"detail": f"{unit} must be a number, got {text!r}"}, 400)
        if not amounts:
            return _json({"detail": "give days=, hours=, minutes= or seconds="}, 400)
        try:
            clock.advance(**amounts)
        except (ClockError, ValueError, OverflowError) as error:
            return _json({"detail": str(error)}, 400)
        return _json({"now": iso_now(clock)})

    async def control_set(request: Request) -> Response:
        """``POST /_sim/set?now=ISO`` (forward only)."""
        text = request.query_params.get("now")
        if not text:
            return _json({"detail": "now= (an ISO 8601 timestamp) is required"}, 400)
        try:
            clock.set(parse_moment(text))
        except ClockError as error:
            return _json({"detail": str(error)}, 400)
        return _json({"now": iso_now(clock)})

    def faults_json() -> dict:
        faults = state.faults
        armed = faults.armed
        return {
            "spec": faults.plan.spec,
            "server_errors": {
                "pending": armed.count,
                "status": armed.status,
                "prefix": armed.prefix,
            },
            "injected": dict(faults.injected),
        }

    async def control_faults(request: Request) -> Response:
        """``GET|POST /_sim/faults`` (``spec=``, ``server_errors=N``, ``status``, ``prefix``)."""
        if request.method == "POST":
            params = request.query_params
            try:
                if "spec" in params:
                    state.set_faults(params["spec"])
                if "server_errors" in params:
                    count = int(params["server_errors"])
                    status = int(params.get("status", "503"))
                    state.faults.fail_next(count, status, params.get("prefix") or None)
            except (FaultSpecError, ValueError) as error:
                return _json({"detail": str(error)}, 400)
        return _json(faults_json())

    async def control_faults_reset(request: Request) -> Response:
        """``POST /_sim/faults/reset``: back to the configured faults, restarted."""
        state.restore_faults()
        return _json(faults_json())

    routes = [
        Route("/oauth2/access_token", handles_errors(access_token), methods=["POST"]),
        Route("/oauth2/access_token/", handles_errors(access_token), methods=["POST"]),
        Route("/api/courses/v1/courses/", handles_errors(course_list)),
        Route("/api/courses/v1/courses/{course_id}", handles_errors(course_detail)),
        Route("/api/courses/v1/courses/{course_id}/", handles_errors(course_detail)),
        Route("/api/courses/v2/blocks/", handles_errors(course_blocks)),
        Route("/api/enrollment/v1/enrollments", handles_errors(enrollments)),
        Route("/api/enrollment/v1/enrollments/", handles_errors(enrollments)),
        Route("/api/grades/v1/gradebook/{course_id}/", handles_errors(gradebook)),
        Route("/api/grades/v1/gradebook/{course_id}/grading-info", handles_errors(grading_info)),
        Route("/api/grades/v1/policy/courses/{course_id}/", handles_errors(grading_policy)),
        Route("/api/grades/v1/courses/{course_id}/", handles_errors(course_grades)),
        Route("/api/course_home/v1/progress/{course_id}", handles_errors(progress)),
        Route("/api/course_home/v1/progress/{course_id}/{student_id}", handles_errors(progress)),
        Route("/completion-aggregator/v1/course/{course_id}/", handles_errors(completion)),
        Route("/api/user/v1/accounts", handles_errors(accounts)),
        Route("/api/user/v1/accounts/{username}", handles_errors(account)),
        Route(f"{LRS_PATH}/statements", lrs.statements),
        Route(f"{LRS_PATH}/about", lrs.about),
        Route("/simulator/info", simulator_info),
        Route("/simulator/faults/reset", simulator_reset_faults, methods=["POST"]),
        Route("/simulator/external-ids", handles_errors(simulator_external_ids)),
        Route("/_sim/now", control_now),
        Route("/_sim/advance", control_advance, methods=["POST"]),
        Route("/_sim/set", control_set, methods=["POST"]),
        Route("/_sim/faults", control_faults, methods=["GET", "POST"]),
        Route("/_sim/faults/reset", control_faults_reset, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.platform_url = config.platform_url or ""
    app.add_middleware(FaultMiddleware, injector=state.faults)
    return app


class EnrollmentListing:
    """(course, enrollment) pairs, newest enrollment first (DRF's ``-created`` cursor).

    Enrollment ids grow with enrollment time, so newest-first is the id order reversed. The
    listing holds index arrays and materialises only the slice a page asks for.
    """

    def __init__(self, courses: np.ndarray | int, rows: np.ndarray) -> None:
        self.courses = courses
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, window: slice) -> list[tuple[int, int]]:
        rows = self.rows[window].tolist()
        if isinstance(self.courses, int):
            return [(self.courses, row) for row in rows]
        return list(zip(self.courses[window].tolist(), rows, strict=True))


def _enrollment_rows(
    data: Snapshot, course_id: str | None, usernames: list[str]
) -> EnrollmentListing:
    if course_id is None:
        courses = list(data.listed_courses)
    else:
        course = data.course(course_id)
        courses = [] if course is None else [course]
    if usernames:
        wanted = [data.users.index_of_username(name) for name in usernames]
        pairs = [
            (int(c.enrollment_id[row]), c.info.index, row)
            for c in courses
            for user in wanted
            if user is not None and (row := c.enrollment_of_user(user)) is not None
        ]
        pairs.sort(reverse=True)
        return EnrollmentListing(
            np.array([p[1] for p in pairs], np.int64), np.array([p[2] for p in pairs], np.int64)
        )
    if len(courses) == 1:
        return EnrollmentListing(courses[0].info.index, courses[0].by_id[::-1])
    if not courses:
        return EnrollmentListing(np.zeros(0, np.int64), np.zeros(0, np.int64))
    return EnrollmentListing(*data.enrollments_newest_first)


def _active_row(data: Snapshot, course: CourseAt, username: str) -> int | None:
    user = data.users.index_of_username(username)
    if user is None:
        return None
    row = course.enrollment_of_user(user)
    if row is None or not course.activity.is_active[row]:
        return None
    return row
