"""The read API and the instructor page as one Starlette application.

Every `/api/` request passes the bearer-token gate first (`TokenGate`): without a valid
token the answer is a bare 401, whatever the path, so an unknown client learns nothing,
not even which courses exist. The page (`/`) and its static files hold no data and load
without a token; the page asks for one and sends it with every call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from dropout_pipelines.api import batch, feedback, reads
from dropout_pipelines.api.errors import ApiError
from dropout_pipelines.api.openapi import openapi_document
from dropout_pipelines.api.shapes import (
    BatchPrediction,
    CourseList,
    CourseStatistics,
    FeedbackRequest,
    FeedbackSaved,
    ModelComparison,
    RiskHistory,
    StudentDetail,
    StudentPage,
    StudentsQuery,
)
from dropout_pipelines.api.tokens import TokenBook
from dropout_pipelines.monitoring.failures import scrub
from dropout_pipelines.predict.model_store import ModelStore, default_model_store

log = logging.getLogger("dropout_pipelines.api")
STATIC_DIR = Path(__file__).resolve().parent / "static"
API_PREFIX = "/api/"
TITLE = "dropout_pipelines read API"
VERSION = "1"
MAX_BODY_BYTES = 4096


@dataclass(frozen=True)
class ApiSettings:
    """What the app serves from: the warehouse, the accepted tokens, the clock (UTC, naive,
    injectable in tests), Dagster's webserver for batch runs (None = in process) and the
    model store on-demand and in-process predictions load models from."""

    engine: sa.Engine
    tokens: TokenBook
    clock: Callable[[], datetime]
    webserver_url: str | None = None
    store: ModelStore = field(default_factory=default_model_store)


@dataclass(frozen=True)
class Endpoint:
    """One route: what it answers, and the shapes it reads and returns (for OpenAPI)."""

    name: str
    method: str
    path: str
    summary: str
    response: type[BaseModel]
    handler: Callable[[ApiSettings, Request], BaseModel]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = (401, 404)


def _json(content: BaseModel | dict, status: int = 200) -> Response:
    body = (
        content.model_dump_json()
        if isinstance(content, BaseModel)
        else json.dumps(content, ensure_ascii=False)
    )
    return Response(body, status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


class TokenGate:
    """ASGI middleware: `/api/…` needs `Authorization: Bearer <token>` from the book."""

    def __init__(self, app: ASGIApp, tokens: TokenBook) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            holder = self.tokens.holder(_bearer(scope))
            if holder is None:
                response = _error(401, "a valid bearer token is required")
                response.headers["WWW-Authenticate"] = "Bearer"
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["token_holder"] = holder
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def _course(request: Request) -> str:
    return request.path_params["course_id"]


def _user(request: Request) -> int:
    return int(request.path_params["user_id"])


def _courses(settings: ApiSettings, request: Request) -> BaseModel:
    return reads.visible_courses(settings.engine)


def _students(settings: ApiSettings, request: Request) -> BaseModel:
    return reads.students_page(settings.engine, _course(request), request.state.query)


def _statistics(settings: ApiSettings, request: Request) -> BaseModel:
    return reads.course_statistics(settings.engine, _course(request))


def _student(settings: ApiSettings, request: Request) -> BaseModel:
    now = settings.clock().replace(microsecond=0)
    return reads.student_detail(
        settings.engine, _user(request), _course(request), now, settings.store
    )


def _history(settings: ApiSettings, request: Request) -> BaseModel:
    return reads.risk_history(settings.engine, _user(request), _course(request))


def _compare(settings: ApiSettings, request: Request) -> BaseModel:
    return reads.model_comparison(settings.engine, _course(request))


def _batch(settings: ApiSettings, request: Request) -> BaseModel:
    now = settings.clock().replace(microsecond=0)
    return batch.batch_predict(
        settings.engine, _course(request), now, settings.webserver_url, settings.store
    )


def _feedback(settings: ApiSettings, request: Request) -> BaseModel:
    return feedback.record_feedback(
        settings.engine,
        _user(request),
        _course(request),
        request.state.body.useful,
        request.scope["state"]["token_holder"],
        settings.clock().replace(microsecond=0),
    )


COURSE = "{course_id:path}"
STUDENT = "{user_id:int}/{course_id:path}"
ENDPOINTS = [
    Endpoint(
        "list_courses",
        "GET",
        "/api/courses",
        "Courses with fetched features",
        CourseList,
        _courses,
        errors=(401,),
    ),
    Endpoint(
        "list_students",
        "GET",
        f"/api/students/{COURSE}",
        "A course's students with their latest risk (paged, sorted, searchable)",
        StudentPage,
        _students,
        query=StudentsQuery,
        errors=(401, 404, 422),
    ),
    Endpoint(
        "course_statistics",
        "GET",
        f"/api/statistics/{COURSE}",
        "A course's headline numbers",
        CourseStatistics,
        _statistics,
    ),
    # Before the detail route: `{course_id:path}` would also match ".../history".
    Endpoint(
        "student_history",
        "GET",
        f"/api/student/{STUDENT}/history",
        "A student's risk over time, with the model behind each point",
        RiskHistory,
        _history,
    ),
    Endpoint(
        "student_detail",
        "GET",
        f"/api/student/{STUDENT}",
        "A student's features and latest prediction (predicted and saved on demand)",
        StudentDetail,
        _student,
        errors=(401, 404, 409),
    ),
    Endpoint(
        "batch_predict",
        "POST",
        f"/api/predict/{COURSE}",
        "Score every student of a course (a Dagster run, or in process)",
        BatchPrediction,
        _batch,
        errors=(401, 404, 409, 502),
    ),
    Endpoint(
        "compare_models",
        "GET",
        f"/api/models/compare/{COURSE}",
        "Models side by side on the course's newest run, with instructors' feedback",
        ModelComparison,
        _compare,
    ),
    Endpoint(
        "give_feedback",
        "POST",
        f"/api/feedback/{STUDENT}",
        "Record whether flagging this student was useful",
        FeedbackSaved,
        _feedback,
        body=FeedbackRequest,
        errors=(401, 404, 409, 422),
    ),
]


def _endpoint(settings: ApiSettings, endpoint: Endpoint) -> Callable:
    async def handle(request: Request) -> Response:
        try:
            if endpoint.query is not None:
                request.state.query = endpoint.query.model_validate(dict(request.query_params))
            if endpoint.body is not None:
                raw = await request.body()
                if len(raw) > MAX_BODY_BYTES:
                    return _error(413, f"request body larger than {MAX_BODY_BYTES} bytes")
                request.state.body = endpoint.body.model_validate_json(raw or b"null")
        except ValidationError as error:
            return _error(422, _validation_message(error))
        try:
            result = await run_in_threadpool(endpoint.handler, settings, request)
        except ApiError as error:
            return _error(error.status, str(error))
        except Exception as error:  # noqa: BLE001 - logged here, never sent to the client
            log.error("%s failed: %s", endpoint.name, scrub(f"{type(error).__name__}: {error}"))
            return _error(500, "internal error: the server log has the details")
        return _json(result)

    handle.__name__ = endpoint.name
    return handle


def _validation_message(error: ValidationError) -> str:
    parts = []
    for problem in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in problem["loc"]) or "body"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


def create_app(settings: ApiSettings) -> ASGIApp:
    document = openapi_document(ENDPOINTS, TITLE, VERSION)

    async def openapi(_: Request) -> Response:
        return JSONResponse(document)

    async def index(_: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    async def unknown_api(_: Request) -> Response:
        return _error(404, "no such endpoint: see /api/openapi.json")

    routes = [
        Route("/", index),
        Route("/api/openapi.json", openapi),
        *(
            Route(endpoint.path, _endpoint(settings, endpoint), methods=[endpoint.method])
            for endpoint in ENDPOINTS
        ),
        Route("/api/{rest:path}", unknown_api, methods=["GET", "POST", "PUT", "DELETE"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    return TokenGate(Starlette(routes=routes), settings.tokens)
