"""A warehouse the read API serves from, on each backend: a course with a quote-, percent-
and plus-laden id and Vietnamese names, a registered model, two prediction runs a week
apart for most students and none for a few (the placeholder), served by real uvicorn."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
import requests
import sqlalchemy as sa

from dropout_pipelines.api.app import ApiSettings, create_app
from dropout_pipelines.api.tokens import TokenBook
from dropout_pipelines.predict.registry import register_model
from dropout_pipelines.predict.service import predict_course
from dropout_pipelines.simulator.roster import write_course
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines_tests.predict.conftest import (  # noqa: F401 - shared fixtures
    _fresh_model_cache,
    model_store,
    stored_model,
    trained_model,
    warehouse,
)
from dropout_pipelines_tests.support.api_server import serving

# Every character that breaks naive SQL or URL handling: quote, %, +, _, a slash-free key.
HOSTILE_COURSE = "course-v1:O'Reilly+ML_101%+2026_S2"
OLD_STYLE_COURSE = "UniX/Data_Sci/2026_S2"  # an old-style key: slashes in the path
STUDENTS = 60
UNPREDICTED = 5  # the last students of HOSTILE_COURSE have no prediction yet
NOW = datetime(2026, 11, 29, 9, 0, 0)
WEEK_AGO = NOW - timedelta(days=7)
TOKENS = {"co.tran": "tok-for-co-tran-0123456789", "thay.nam": "tok-for-thay-nam-98765"}
XSS_NAME = "<img src=x onerror=alert(1)> Lê Thị Ánh"


def path(course_id: str) -> str:
    """A course id as one URL path segment (what the page's encodeURIComponent sends)."""
    return quote(course_id, safe="")


@dataclass
class Served:
    base: str
    engine: sa.Engine
    token: str = TOKENS["co.tran"]

    def get(self, endpoint: str, token: str | None = "", **kwargs) -> requests.Response:
        return requests.get(f"{self.base}/api/{endpoint}", headers=self._auth(token), **kwargs)

    def post(self, endpoint: str, token: str | None = "", **kwargs) -> requests.Response:
        return requests.post(f"{self.base}/api/{endpoint}", headers=self._auth(token), **kwargs)

    def _auth(self, token: str | None) -> dict[str, str]:
        token = self.token if token == "" else token
        return {} if token is None else {"Authorization": f"Bearer {token}"}


def fill_warehouse(engine: sa.Engine, save_model: Callable) -> None:
    write_course(engine, HOSTILE_COURSE, STUDENTS, NOW, seed=1, display_name="Học máy 101")
    write_course(engine, OLD_STYLE_COURSE, 8, NOW, seed=2, first_user_id=500)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE enrollments SET full_name = :name WHERE user_id = 2 AND course_id = :c"
            ),
            {"name": XSS_NAME, "c": HOSTILE_COURSE},
        )
    model = save_model("fm101", "1", seed=6)  # a spread of LOW, MEDIUM and HIGH students
    register_model(engine, "fm101", "1", model.model_path, make_default=True)
    predicted = list(range(1, STUDENTS + 1 - UNPREDICTED))
    predict_course(engine, HOSTILE_COURSE, "run-week-8", WEEK_AGO, user_ids=predicted)
    # A week on, half the class went quiet: their risk moves on the timeline.
    sf = s.student_features
    with engine.begin() as connection:
        connection.execute(
            sa.update(sf)
            .where(sf.c.course_id == HOSTILE_COURSE, sf.c.user_id % 2 == 1)
            .values(days_since_last_activity=sf.c.days_since_last_activity + 7)
        )
    predict_course(engine, HOSTILE_COURSE, "run-week-9", NOW, user_ids=predicted)


@pytest.fixture
def served(db_url, request) -> Iterator[Served]:
    """The API on each backend (`db_url` is parametrised; the warehouse is built on it)."""
    engine = request.getfixturevalue("warehouse")
    fill_warehouse(engine, request.getfixturevalue("stored_model"))
    settings = ApiSettings(engine, TokenBook.of(TOKENS), clock=lambda: NOW)
    with serving(create_app(settings)) as base:
        yield Served(base, engine)
