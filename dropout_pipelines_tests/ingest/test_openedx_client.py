"""OpenEdxClient against the live simulator: paging to the end of every endpoint in both
envelopes, the three ways to authenticate, token expiry, revoked and insufficient
credentials, malformed payloads, and course ids that need encoding."""

from __future__ import annotations

import pandas as pd
import pytest
import requests

from dropout_pipelines.ingest.clients import frame_schemas as frames
from dropout_pipelines.ingest.clients.errors import (
    ApiRequestError,
    NotFoundError,
    OpenEdxAuthError,
    OpenEdxPermissionError,
    PayloadError,
)
from dropout_pipelines.ingest.clients.http import ApiSession
from dropout_pipelines.ingest.clients.openedx import (
    OpenEdxClient,
    completion_row,
    enrollment_row,
    gradebook_row,
)
from dropout_pipelines.ingest.clients.openedx_auth import OAuthClientCredentials
from dropout_pipelines.simulator.openedx import RunningSimulator
from dropout_pipelines.simulator.openedx.catalog import GRADE_CUTOFFS
from dropout_pipelines_tests.ingest.conftest import (
    ENDED_COURSE,
    RUNNING_COURSE,
    SIM_CREDENTIALS,
    SPECIAL_COURSE,
)


def info(simulator: RunningSimulator) -> dict:
    """The simulator's own account of what it serves."""
    return requests.get(f"{simulator.base_url}/simulator/info", timeout=10).json()


def course_truth(simulator: RunningSimulator, course_id: str) -> dict:
    return next(c for c in info(simulator)["courses"] if c["course_id"] == course_id)


def assert_schema(frame: pd.DataFrame, schema: dict) -> None:
    assert list(frame.columns) == list(schema)
    for column, dtype in schema.items():
        assert frame[column].dtype == dtype, column


# -- paging to the end ------------------------------------------------------------------------


@pytest.mark.parametrize("envelope", ["cursor", "page"])
def test_every_endpoint_pages_to_the_end(simulator_factory, make_openedx_client, envelope):
    simulator = simulator_factory(envelope=envelope) if envelope == "page" else simulator_factory()
    client = make_openedx_client(simulator)
    truth = info(simulator)

    courses = client.list_courses()
    assert_schema(courses, frames.COURSES)
    assert sorted(courses["course_id"]) == sorted(c["course_id"] for c in truth["courses"])
    special = courses.set_index("course_id").loc[SPECIAL_COURSE]
    assert "'" in special["name"] and special["org"] == "DHQG-HCM"
    expected_start = pd.Timestamp(course_truth(simulator, SPECIAL_COURSE)["start"]).tz_convert(None)
    assert special["start"] == expected_start

    for course in truth["courses"]:
        course_id = course["course_id"]
        enrollments = client.enrollments(course_id)
        assert_schema(enrollments, frames.ENROLLMENTS)
        assert len(enrollments) == enrollments["username"].nunique() == course["enrollments"]
        assert int(enrollments["is_active"].sum()) == course["active_enrollments"]
        assert (enrollments["course_id"] == course_id).all()

        gradebook = client.gradebook(course_id)
        assert_schema(gradebook, frames.GRADEBOOK)
        assert len(gradebook) == course["active_enrollments"]
        active = set(enrollments.loc[enrollments["is_active"], "username"])
        assert set(gradebook["username"]) == active
        assert gradebook["percent"].between(0, 1).all()

        completion = client.completion(course_id)
        assert_schema(completion, frames.COMPLETION)
        assert set(completion["username"]) == active
        assert (completion["earned"] <= completion["possible"]).all()

    accounts = client.accounts(enrollments["username"])
    assert_schema(accounts, frames.ACCOUNTS)
    assert sorted(accounts["username"]) == sorted(enrollments["username"])
    assert accounts["email"].str.endswith("@st.example.edu.vn").all()
    assert accounts["name"].str.len().gt(0).all()
    assert client.stats.retries == 0 and client.stats.pages > 20


def test_gradebook_follows_upstream_shapes(openedx_client: OpenEdxClient) -> None:
    enrollments = openedx_client.enrollments(RUNNING_COURSE).set_index("username")
    gradebook = openedx_client.gradebook(RUNNING_COURSE)
    # e-mails are blank upstream unless the track is masters: missing, not "".
    masters = enrollments.loc[gradebook["username"], "mode"].eq("masters").to_numpy()
    assert gradebook.loc[masters, "email"].notna().all()
    assert gradebook.loc[~masters, "email"].isna().all()
    assert gradebook["letter_grade"].isna().all() and gradebook["passed"].isna().all()
    section = gradebook["section_breakdown"].iloc[0][0]
    assert {"category", "label", "score_earned", "score_possible"} <= set(section)
    accounts = openedx_client.accounts(gradebook["username"]).set_index("username")
    assert (accounts.loc[gradebook["username"], "user_id"].to_numpy() == gradebook["user_id"]).all()


def test_fork_fields_letter_grade_and_passed(fork_simulator, make_openedx_client) -> None:
    client = make_openedx_client(fork_simulator)
    gradebook = client.gradebook(ENDED_COURSE)
    assert_schema(gradebook, frames.GRADEBOOK)
    threshold = client.pass_threshold(ENDED_COURSE)
    assert threshold == min(GRADE_CUTOFFS.values())
    assert (gradebook["passed"] == (gradebook["percent"] >= threshold)).all()
    assert set(gradebook["passed"].map(type)) == {bool}
    passed = gradebook["passed"].astype(bool)
    assert gradebook.loc[passed, "letter_grade"].isin(list(GRADE_CUTOFFS)).all()
    assert gradebook.loc[~passed, "letter_grade"].isna().all()
    assert set(gradebook.loc[~passed, "letter_grade"].map(type)) == {type(None)}


def test_grade_cutoffs_or_nothing(openedx_client: OpenEdxClient) -> None:
    cutoffs = openedx_client.grade_cutoffs(SPECIAL_COURSE)
    assert cutoffs == GRADE_CUTOFFS and list(cutoffs) == ["A", "B", "C", "D"]
    assert openedx_client.pass_threshold(SPECIAL_COURSE) == 0.5
    assert openedx_client.grade_cutoffs("course-v1:Nobody+X+Y") == {}
    assert openedx_client.pass_threshold("course-v1:Nobody+X+Y") is None


def test_accounts_batches_and_skips_unknown_users(openedx_client: OpenEdxClient) -> None:
    usernames = list(openedx_client.enrollments(RUNNING_COURSE)["username"])[:120]
    pages_before = openedx_client.stats.pages
    accounts = openedx_client.accounts([*usernames, "nobody.here", usernames[0], ""])
    assert sorted(accounts["username"]) == sorted(usernames)
    assert openedx_client.stats.pages - pages_before == 2  # 121 distinct names, 100 a batch
    empty = openedx_client.accounts([])
    assert_schema(empty, frames.ACCOUNTS)
    assert empty.empty


# -- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize("token_type", ["jwt", "bearer"])
def test_jwt_and_bearer_tokens(openedx_simulator, make_openedx_client, token_type) -> None:
    client = make_openedx_client(openedx_simulator, token_type=token_type)
    assert len(client.enrollments(SPECIAL_COURSE)) == 200
    assert client.token_fetches == 1


def test_sessionid_cookie(openedx_simulator, make_openedx_client) -> None:
    client = make_openedx_client(
        openedx_simulator, client_id=None, client_secret=None, sessionid=SIM_CREDENTIALS.sessionid
    )
    assert (
        len(client.gradebook(SPECIAL_COURSE))
        == course_truth(openedx_simulator, SPECIAL_COURSE)["active_enrollments"]
    )
    assert client.token_fetches == 0


def test_expiring_tokens_are_renewed_transparently(simulator_factory, make_openedx_client):
    simulator = simulator_factory("token_expires_after=3")
    for token_type in ("jwt", "bearer"):
        client = make_openedx_client(simulator, token_type=token_type)
        enrollments = client.enrollments(RUNNING_COURSE)
        gradebook = client.gradebook(RUNNING_COURSE)
        accounts = client.accounts(enrollments["username"])
        assert len(enrollments) == len(accounts) == 200 and len(gradebook) > 0
        # 2 + 2 + 2 = 6 authenticated calls (accounts 100 a request), 3 a token: refreshed
        # after the 401 on the fourth.
        assert client.token_fetches == 2


def test_token_renewed_before_expires_in(openedx_simulator) -> None:
    """The token is renewed shortly before `expires_in` runs out, without waiting for a 401."""
    now = [1000.0]
    auth = OAuthClientCredentials(
        ApiSession(),
        openedx_simulator.base_url,
        SIM_CREDENTIALS.client_id,
        SIM_CREDENTIALS.client_secret,
        clock=lambda: now[0],
    )
    first = auth.headers()["Authorization"]
    assert first.startswith("JWT ") and auth.headers()["Authorization"] == first
    now[0] += 3600 - 30  # JWT lifetime 3600 s; renewal is due 60 s before the end
    second = auth.headers()["Authorization"]
    assert second != first and auth.fetched == 2


def test_wrong_client_secret_names_the_variables(openedx_simulator, make_openedx_client):
    wrong = "not-the-secret-31415"
    client = make_openedx_client(openedx_simulator, client_secret=wrong)
    with pytest.raises(OpenEdxAuthError) as raised:
        client.enrollments(RUNNING_COURSE)
    message = str(raised.value)
    assert (
        "OPENEDX_CLIENT_ID/OPENEDX_CLIENT_SECRET" in message and "/oauth2/access_token" in message
    )
    assert wrong not in message and SIM_CREDENTIALS.client_secret not in message


def test_revoked_application_fails_after_one_refresh(simulator_factory, make_openedx_client):
    simulator = simulator_factory(fresh=True)
    client = make_openedx_client(simulator)
    assert len(client.enrollments(RUNNING_COURSE)) == 200
    # An admin deletes the OAuth2 application: its tokens and its secret stop working.
    simulator.state.auth._clients.pop(SIM_CREDENTIALS.client_id)
    simulator.state.auth._tokens.clear()
    with pytest.raises(OpenEdxAuthError) as raised:
        client.gradebook(RUNNING_COURSE)
    assert "Renew OPENEDX_CLIENT_ID/OPENEDX_CLIENT_SECRET" in str(raised.value)
    assert client.token_fetches == 1  # the refresh was attempted once and refused
    assert SIM_CREDENTIALS.client_secret not in str(raised.value)


def test_expired_session_names_the_session_variable(openedx_simulator, make_openedx_client):
    stale = "stale-sessionid-27182"
    client = make_openedx_client(
        openedx_simulator, client_id=None, client_secret=None, sessionid=stale
    )
    with pytest.raises(OpenEdxAuthError) as raised:
        client.completion(RUNNING_COURSE)
    assert "Renew OPENEDX_SESSIONID" in str(raised.value) and stale not in str(raised.value)
    assert raised.value.endpoint == f"/completion-aggregator/v1/course/{RUNNING_COURSE}/"


@pytest.mark.parametrize("how", ["oauth2", "sessionid"])
def test_learner_account_needs_staff_rights(openedx_simulator, make_openedx_client, how):
    if how == "oauth2":
        client = make_openedx_client(
            openedx_simulator,
            client_id=SIM_CREDENTIALS.learner_client_id,
            client_secret=SIM_CREDENTIALS.learner_client_secret,
        )
    else:
        client = make_openedx_client(
            openedx_simulator,
            client_id=None,
            client_secret=None,
            sessionid=SIM_CREDENTIALS.learner_sessionid,
        )
    assert len(client.course(SPECIAL_COURSE)) == 1  # course details are not staff-only
    with pytest.raises(OpenEdxPermissionError) as raised:
        client.gradebook(SPECIAL_COURSE)
    assert f"the account needs staff rights on {SPECIAL_COURSE}" in str(raised.value)
    for secret in (SIM_CREDENTIALS.learner_client_secret, SIM_CREDENTIALS.learner_sessionid):
        assert secret not in str(raised.value)


def test_missing_credentials_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="OPENEDX_SESSIONID"):
        OpenEdxClient("http://127.0.0.1:9", client_id="only-the-id")


# -- malformed payloads -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "call", "endpoint"),
    [
        ("wrong_schema=/api/enrollment#2", "enrollments", "/api/enrollment/v1/enrollments"),
        ("wrong_schema=/api/grades", "gradebook", "/api/grades/v1/gradebook/{course}/"),
        (
            "wrong_schema=/completion-aggregator",
            "completion",
            "/completion-aggregator/v1/course/{course}/",
        ),
    ],
)
def test_wrong_schema_names_endpoint_and_field(
    simulator_factory, make_openedx_client, fault, call, endpoint
):
    simulator = simulator_factory(fault)
    client = make_openedx_client(simulator)
    with pytest.raises(PayloadError) as raised:
        getattr(client, call)(SPECIAL_COURSE)
    error = raised.value
    assert error.endpoint == endpoint.format(course=SPECIAL_COURSE)
    assert error.field == "results" and "items" in error.detail
    assert error.endpoint in str(error) and "'results'" in str(error)


def test_missing_or_mistyped_fields_are_named() -> None:
    good = {"user": "an", "course_id": "c", "mode": "audit", "is_active": True, "created": None}
    assert enrollment_row(good, "/e", "results[0]")["username"] == "an"
    with pytest.raises(PayloadError, match=r"'results\[4\]\.user'.*missing"):
        enrollment_row({k: v for k, v in good.items() if k != "user"}, "/e", "results[4]")
    with pytest.raises(PayloadError, match=r"results\[1\]\.is_active.*expected bool, got str"):
        enrollment_row(good | {"is_active": "yes"}, "/e", "results[1]")
    entry = {"user_id": 7, "username": "an", "percent": 1.7, "section_breakdown": []}
    with pytest.raises(PayloadError, match=r"results\[0\]\.percent.*not a fraction"):
        gradebook_row(entry, "/g", "results[0]")
    with pytest.raises(PayloadError, match=r"results\[0\]\.user_id.*expected int, got bool"):
        gradebook_row(entry | {"user_id": True, "percent": 0.5}, "/g", "results[0]")
    with pytest.raises(PayloadError, match=r"results\[2\]\.completion\.earned"):
        completion_row({"username": "an", "completion": {"possible": 3}}, "/c", "results[2]")


# -- course ids -------------------------------------------------------------------------------


def test_special_course_id_on_every_endpoint(openedx_client: OpenEdxClient) -> None:
    course = openedx_client.course(SPECIAL_COURSE)
    assert course["course_id"].tolist() == [SPECIAL_COURSE]
    assert len(openedx_client.enrollments(SPECIAL_COURSE)) == 200
    assert len(openedx_client.gradebook(SPECIAL_COURSE)) > 0
    assert len(openedx_client.completion(SPECIAL_COURSE)) > 0
    assert openedx_client.grade_cutoffs(SPECIAL_COURSE)


@pytest.mark.parametrize(
    ("course_id", "valid_key"),
    [
        ("course-v1:O'Reilly+DS.AI~x+2026_S1", False),
        ("Org/Code.v2/2026_S1", False),
        ("course-v1:Nobody+DS.AI-1~x+2026_S1", True),
    ],
)
def test_unknown_course_ids_fail_cleanly(
    openedx_client: OpenEdxClient, course_id: str, valid_key: bool
) -> None:
    with pytest.raises(NotFoundError) as raised:
        openedx_client.course(course_id)
    assert course_id in str(raised.value)
    if valid_key:  # a well-formed id nobody enrolled in: an empty, well-typed frame
        empty = openedx_client.enrollments(course_id)
        assert empty.empty
        assert_schema(empty, frames.ENROLLMENTS)
    else:  # the enrollment API answers 400 for a malformed key
        with pytest.raises(ApiRequestError, match="not a valid course id"):
            openedx_client.enrollments(course_id)
