"""Access: every /api/ endpoint needs a valid bearer token; without one the answer is a
bare 401 that says nothing about the data, whatever the path."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dropout_pipelines.api.tokens import TokenBook, TokenConfigError, token_entry
from dropout_pipelines_tests.api.conftest import HOSTILE_COURSE, path

STUDENT = f"student/1/{path(HOSTILE_COURSE)}"
ENDPOINTS = [
    ("GET", "courses"),
    ("GET", f"students/{path(HOSTILE_COURSE)}"),
    ("GET", f"statistics/{path(HOSTILE_COURSE)}"),
    ("GET", STUDENT),
    ("GET", f"{STUDENT}/history"),
    ("POST", f"predict/{path(HOSTILE_COURSE)}"),
    ("GET", f"models/compare/{path(HOSTILE_COURSE)}"),
    ("POST", f"feedback/1/{path(HOSTILE_COURSE)}"),
    ("GET", "openapi.json"),
    ("GET", "no/such/endpoint"),
]
BAD_TOKENS = [None, "wrong-token", "tok-for-co-tran-012345678", "tok-for-co-tran-0123456789x"]


def _predictions(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT COUNT(*) FROM predictions")).scalar_one()


def test_no_or_wrong_token_is_401_and_nothing_else(served):
    before = _predictions(served.engine)
    for method, endpoint in ENDPOINTS:
        for token in BAD_TOKENS:
            call = served.get if method == "GET" else served.post
            response = call(endpoint, token=token, json={"useful": True})
            assert response.status_code == 401, (method, endpoint, token)
            assert response.json() == {"error": "a valid bearer token is required"}
            assert response.headers["WWW-Authenticate"] == "Bearer"
    # Nothing was predicted on demand, no feedback saved, no batch run.
    assert _predictions(served.engine) == before


def test_other_schemes_and_malformed_headers_are_refused(served):
    import requests

    url = f"{served.base}/api/courses"
    for header in (
        f"Basic {served.token}",
        served.token,
        f"Bearer{served.token}",
        "Bearer ",
        f"bearer  {served.token} extra",
    ):
        assert requests.get(url, headers={"Authorization": header}).status_code == 401, header
    assert requests.get(url, headers={"Authorization": f"bearer {served.token}"}).ok


def test_each_token_works_and_the_page_loads_without_one(served):
    import requests

    for token in ("tok-for-co-tran-0123456789", "tok-for-thay-nam-98765"):
        assert served.get("courses", token=token).status_code == 200
    page = requests.get(f"{served.base}/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'charset="utf-8"' in page.text and HOSTILE_COURSE not in page.text
    assert requests.get(f"{served.base}/static/app.js").status_code == 200


def test_unknown_endpoint_with_a_token_is_404(served):
    response = served.get("no/such/endpoint")
    assert response.status_code == 404 and "openapi.json" in response.json()["error"]


def test_token_book_keeps_only_hashes_and_rejects_bad_entries():
    entry = token_entry("co.tran", "s3cret-token")
    assert "s3cret-token" not in entry and entry.startswith("co.tran:sha256:")
    book = TokenBook.parse(f" {entry} ,, {token_entry('b', 'other')}")
    assert book.holder("s3cret-token") == "co.tran"
    assert book.holder("other") == "b"
    assert book.holder("s3cret-tokeN") is None and book.holder("") is None
    assert book.holder(None) is None and not TokenBook.parse("")
    for bad in ("s3cret-token", "name:md5:abc", "name:sha256:" + "A" * 64, ":sha256:" + "a" * 64):
        with pytest.raises(TokenConfigError, match="entry 1") as error:
            TokenBook.parse(bad)
        assert bad not in str(error.value)
