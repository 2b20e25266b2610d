"""The bundled Open edX + LRS simulator, exercised over real HTTP on loopback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime
from urllib.parse import quote

import numpy as np
import pytest
import requests

from dropout_pipelines.simulator.__main__ import main as cli_main
from dropout_pipelines.simulator.openedx import (
    DataParams,
    FaultPlan,
    FaultSpecError,
    RunningSimulator,
    SimulatorConfig,
    start_simulator,
)
from dropout_pipelines.simulator.openedx.data import build_dataset

TODAY = date(2026, 11, 29)
PARAMS = DataParams(seed=7, today=TODAY, courses_per_semester=3, students_per_course=200)
XAPI = {"X-Experience-API-Version": "1.0.3"}
LRS_AUTH = ("lrs", "lrs-secret")
SPECIAL_ID = "course-v1:DHQG-HCM+DS.AI-201_x~v2+2026_S1"


@pytest.fixture(scope="session")
def simulator() -> Iterator[RunningSimulator]:
    with start_simulator(SimulatorConfig(data=PARAMS)) as running:
        yield running


def token(base_url: str, kind: str = "jwt", client: str = "dropout-client") -> dict:
    secret = "dropout-secret" if client == "dropout-client" else "learner-secret"
    form = {"grant_type": "client_credentials", "client_id": client, "client_secret": secret}
    if kind == "jwt":
        form["token_type"] = "jwt"
    response = requests.post(f"{base_url}/oauth2/access_token", data=form, timeout=5)
    response.raise_for_status()
    return response.json()


def auth_header(base_url: str, kind: str = "jwt") -> dict[str, str]:
    issued = token(base_url, kind)
    return {"Authorization": f"{issued['token_type']} {issued['access_token']}"}


@pytest.fixture(scope="session")
def headers(simulator: RunningSimulator) -> dict[str, str]:
    return auth_header(simulator.base_url)


def follow(url: str, headers: dict[str, str], key: str = "results") -> list[dict]:
    """Every row of a paginated listing, following `next` whatever the envelope."""
    rows: list[dict] = []
    while url:
        body = requests.get(url, headers=headers, timeout=10).json()
        rows.extend(body[key])
        url = body.get("next") or (body.get("pagination") or {}).get("next")
    return rows


def enrollments_url(base_url: str, course_id: str, **extra: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in extra.items())
    return f"{base_url}/api/enrollment/v1/enrollments?course_id={quote(course_id, safe='')}" + (
        f"&{query}" if query else ""
    )


def lrs_all(simulator: RunningSimulator, **params: str) -> list[dict]:
    """Every statement matching params, following `more`."""
    statements: list[dict] = []
    response = requests.get(
        f"{simulator.lrs_url}/statements", params=params, auth=LRS_AUTH, headers=XAPI, timeout=10
    )
    while True:
        body = response.json()
        statements.extend(body["statements"])
        if not body["more"]:
            return statements
        response = requests.get(
            f"{simulator.base_url}{body['more']}", auth=LRS_AUTH, headers=XAPI, timeout=10
        )


def course_iri(simulator: RunningSimulator, course_id: str) -> str:
    return f"{simulator.platform_url}/course/{course_id}"


# -- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["jwt", "bearer"])
def test_token_flow_jwt_and_bearer(simulator: RunningSimulator, kind: str) -> None:
    issued = token(simulator.base_url, kind)
    assert issued["token_type"] == ("JWT" if kind == "jwt" else "Bearer")
    assert issued["expires_in"] > 0 and issued["scope"]
    if kind == "jwt":
        assert issued["access_token"].count(".") == 2
    url = enrollments_url(simulator.base_url, SPECIAL_ID)
    ok = requests.get(
        url,
        headers={"Authorization": f"{issued['token_type']} {issued['access_token']}"},
        timeout=5,
    )
    assert ok.status_code == 200
    other = "Bearer" if kind == "jwt" else "JWT"
    mismatched = requests.get(
        url, headers={"Authorization": f"{other} {issued['access_token']}"}, timeout=5
    )
    assert mismatched.status_code == 401


def test_token_endpoint_rejects_bad_credentials(simulator: RunningSimulator) -> None:
    url = f"{simulator.base_url}/oauth2/access_token"
    wrong = requests.post(
        url,
        data={
            "grant_type": "client_credentials",
            "client_id": "dropout-client",
            "client_secret": "nope",
        },
        timeout=5,
    )
    assert wrong.status_code == 401 and wrong.json() == {"error": "invalid_client"}
    grant = requests.post(url, data={"grant_type": "password"}, timeout=5)
    assert grant.status_code == 400
    basic = requests.post(
        url,
        data={"grant_type": "client_credentials"},
        auth=("dropout-client", "dropout-secret"),
        timeout=5,
    )
    assert basic.status_code == 200


def test_sessionid_cookie_and_permissions(simulator: RunningSimulator) -> None:
    url = enrollments_url(simulator.base_url, SPECIAL_ID)
    staff = requests.get(url, cookies={"sessionid": "sim-staff-sessionid"}, timeout=5)
    assert staff.status_code == 200
    learner = requests.get(url, cookies={"sessionid": "sim-learner-sessionid"}, timeout=5)
    assert learner.status_code == 403
    unknown = requests.get(url, cookies={"sessionid": "stale"}, timeout=5)
    assert unknown.status_code == 401
    anonymous = requests.get(url, timeout=5)
    assert anonymous.status_code == 401
    assert "credentials" in anonymous.json()["detail"]
    learner_token = token(simulator.base_url, "bearer", client="learner-client")
    forbidden = requests.get(
        f"{simulator.base_url}/api/grades/v1/gradebook/{SPECIAL_ID}/",
        headers={"Authorization": f"Bearer {learner_token['access_token']}"},
        timeout=5,
    )
    assert forbidden.status_code == 403
    bogus = requests.get(url, headers={"Authorization": "JWT not.a.token"}, timeout=5)
    assert bogus.status_code == 401


# -- course, enrollment, grades, completion, accounts ----------------------------------------


def test_course_list_paging_and_detail(simulator: RunningSimulator) -> None:
    first = requests.get(
        f"{simulator.base_url}/api/courses/v1/courses/", params={"page_size": 4}, timeout=5
    ).json()
    assert set(first["pagination"]) == {"next", "previous", "count", "num_pages"}
    assert first["pagination"]["count"] == 6 and first["pagination"]["num_pages"] == 2
    courses = follow(f"{simulator.base_url}/api/courses/v1/courses/?page_size=4", {})
    ids = [c["id"] for c in courses]
    assert len(ids) == len(set(ids)) == 6
    assert SPECIAL_ID in ids
    detail = requests.get(f"{simulator.base_url}/api/courses/v1/courses/{SPECIAL_ID}", timeout=5)
    body = detail.json()
    assert body["course_id"] == body["id"] == SPECIAL_ID
    assert "'" in body["name"] and body["org"] == "DHQG-HCM" and body["number"] == "DS.AI-201_x~v2"
    now = datetime.fromisoformat(f"{TODAY.isoformat()}T00:00:00+00:00")
    phases = {}
    for course in courses:
        start = datetime.fromisoformat(course["start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(course["end"].replace("Z", "+00:00"))
        assert start < end
        phases[course["id"].rsplit("+", 1)[1]] = (start < now, end < now)
    assert phases == {"2026_S1": (True, True), "2026_S2": (True, False)}
    missing = requests.get(
        f"{simulator.base_url}/api/courses/v1/courses/course-v1:X+Y+Z", timeout=5
    )
    assert missing.status_code == 404


def test_enrollment_cursor_paging_to_the_end(simulator: RunningSimulator, headers: dict) -> None:
    url = enrollments_url(simulator.base_url, SPECIAL_ID, page_size=37)
    first = requests.get(url, headers=headers, timeout=5).json()
    assert set(first) == {"next", "previous", "results"}
    assert len(first["results"]) == 37 and "cursor=" in first["next"]
    rows = follow(url, headers)
    assert len(rows) == PARAMS.students_per_course
    assert len({r["user"] for r in rows}) == len(rows)
    assert set(rows[0]) == {"created", "mode", "is_active", "user", "course_id"}
    assert all(r["course_id"] == SPECIAL_ID for r in rows)
    created = [r["created"] for r in rows]
    assert created == sorted(created, reverse=True)
    capped = requests.get(
        enrollments_url(simulator.base_url, SPECIAL_ID, page_size=500), headers=headers, timeout=5
    ).json()
    assert len(capped["results"]) == 100
    withdrawn = [r for r in rows if not r["is_active"]]
    assert 0 < len(withdrawn) < len(rows) / 2
    gradebook = requests.get(
        f"{simulator.base_url}/api/grades/v1/gradebook/{SPECIAL_ID}/", headers=headers, timeout=5
    ).json()
    assert gradebook["total_users_count"] == len(rows) - len(withdrawn)


def test_unencoded_plus_in_course_id_is_400(simulator: RunningSimulator, headers: dict) -> None:
    raw = f"{simulator.base_url}/api/enrollment/v1/enrollments?course_id={SPECIAL_ID}"
    response = requests.get(raw, headers=headers, timeout=5)
    assert response.status_code == 400
    assert "is not a valid course id" in response.json()["course_id"][0]


def test_gradebook_paging_and_shape(simulator: RunningSimulator, headers: dict) -> None:
    url = f"{simulator.base_url}/api/grades/v1/gradebook/{SPECIAL_ID}/?page_size=40"
    entries = follow(url, headers)
    enrollments = {
        r["user"]: r for r in follow(enrollments_url(simulator.base_url, SPECIAL_ID), headers)
    }
    active = {u for u, r in enrollments.items() if r["is_active"]}
    assert {e["username"] for e in entries} == active
    entry = entries[0]
    assert {"user_id", "username", "email", "percent", "section_breakdown", "profile_name"} <= set(
        entry
    )
    assert "letter_grade" not in entry and "passed" not in entry and "full_name" not in entry
    for e in entries:
        assert 0.0 <= e["percent"] <= 1.0
        masters = enrollments[e["username"]]["mode"] == "masters"
        assert bool(e["email"]) == masters
    section = entry["section_breakdown"][0]
    assert set(section) == {
        "attempted",
        "category",
        "label",
        "module_id",
        "percent",
        "score_earned",
        "score_possible",
        "subsection_name",
    }
    assert section["module_id"].startswith("block-v1:DHQG-HCM+DS.AI-201_x~v2+2026_S1+type@")
    one = requests.get(
        url, params={"username": entry["username"]}, headers=headers, timeout=5
    ).json()
    assert one["username"] == entry["username"] and one["percent"] == entry["percent"]
    info = requests.get(
        f"{simulator.base_url}/api/grades/v1/gradebook/{SPECIAL_ID}/grading-info",
        headers=headers,
        timeout=5,
    ).json()
    assert {"assignment_types", "subsections", "grades_frozen"} <= set(info)
    progress = requests.get(
        f"{simulator.base_url}/api/course_home/v1/progress/{SPECIAL_ID}", headers=headers, timeout=5
    ).json()
    cutoffs = progress["grading_policy"]["grade_range"]
    assert min(cutoffs.values()) == 0.5


def test_completion_and_accounts(simulator: RunningSimulator, headers: dict) -> None:
    url = f"{simulator.base_url}/completion-aggregator/v1/course/{SPECIAL_ID}/?page_size=60"
    first = requests.get(url, headers=headers, timeout=5).json()
    assert set(first) == {"results", "pagination"}
    assert set(first["pagination"]) == {"next", "previous", "count", "num_pages"}
    rows = follow(url, headers)
    assert len(rows) == first["pagination"]["count"]
    row = rows[0]
    assert set(row) == {"username", "course_key", "completion"}
    assert set(row["completion"]) == {"earned", "possible", "percent"}
    assert row["course_key"] == SPECIAL_ID and 0 <= row["completion"]["percent"] <= 1
    names = [rows[0]["username"], rows[1]["username"], "nobody.here"]
    accounts = requests.get(
        f"{simulator.base_url}/api/user/v1/accounts",
        params={"username": ",".join(names)},
        headers=headers,
        timeout=5,
    ).json()
    assert [a["username"] for a in accounts] == names[:2]
    assert all(a["name"] and a["email"].endswith(".edu.vn") for a in accounts)


def test_page_number_envelope_option() -> None:
    with start_simulator(SimulatorConfig(data=PARAMS, envelope="page")) as sim:
        headers = auth_header(sim.base_url, "bearer")
        url = enrollments_url(sim.base_url, SPECIAL_ID, page_size=64)
        first = requests.get(url, headers=headers, timeout=5).json()
        assert first["count"] == 200 and first["num_pages"] == 4 and first["current_page"] == 1
        assert len(follow(url, headers)) == 200


# -- LRS --------------------------------------------------------------------------------------


def test_lrs_requires_basic_auth_and_version(simulator: RunningSimulator) -> None:
    url = f"{simulator.lrs_url}/statements"
    assert requests.get(url, headers=XAPI, timeout=5).status_code == 401
    assert requests.get(url, headers=XAPI, auth=("lrs", "x"), timeout=5).status_code == 401
    assert requests.get(url, auth=LRS_AUTH, timeout=5).status_code == 400
    old = requests.get(url, auth=LRS_AUTH, headers={"X-Experience-API-Version": "0.95"}, timeout=5)
    assert old.status_code == 400
    ok = requests.get(url, auth=LRS_AUTH, headers=XAPI, timeout=5)
    assert ok.status_code == 200 and ok.headers["X-Experience-API-Version"] == "1.0.3"


def test_lrs_more_paging_since_and_activity(simulator: RunningSimulator) -> None:
    iri = course_iri(simulator, SPECIAL_ID)
    statements = lrs_all(
        simulator, activity=iri, related_activities="true", limit="400", ascending="true"
    )
    table = simulator.data.statements
    course_index = simulator.data.course(SPECIAL_ID).info.index
    assert len(statements) == len(table.by_course[course_index])
    assert len({s["id"] for s in statements}) == len(statements)
    stored = [s["stored"] for s in statements]
    assert stored == sorted(stored)
    descending = lrs_all(simulator, activity=iri, related_activities="true", limit="400")
    assert [s["id"] for s in descending] == [s["id"] for s in reversed(statements)]
    since = stored[len(stored) // 2]
    later = lrs_all(simulator, activity=iri, related_activities="true", since=since, limit="0")
    assert len(later) == len(stored) - len(stored) // 2 - 1
    assert all(s["stored"] > since for s in later)
    only_course = lrs_all(simulator, activity=iri)
    assert {s["verb"]["display"]["en"] for s in only_course} <= {"registered", "unregistered"}
    h5p = [s for s in statements if "h5pxblock" in s["object"]["id"] and "result" in s]
    target = h5p[0]["object"]["id"]
    by_object = lrs_all(simulator, activity=target)
    assert by_object and {s["object"]["id"] for s in by_object} == {target}
    single = requests.get(
        f"{simulator.lrs_url}/statements",
        params={"statementId": h5p[0]["id"]},
        auth=LRS_AUTH,
        headers=XAPI,
        timeout=5,
    ).json()
    assert single == h5p[0]


def test_lrs_statement_shapes_match_the_course(simulator: RunningSimulator) -> None:
    course_id = "course-v1:DHQG-HCM+FM101+2026_S2"
    statements = lrs_all(
        simulator, activity=course_iri(simulator, course_id), related_activities="true", limit="0"
    )
    verbs = {s["verb"]["id"].rsplit("/", 1)[1] for s in statements}
    assert {"registered", "experienced", "played", "answered", "completed"} <= verbs
    h5p = [s for s in statements if "h5pxblock" in s["object"]["id"] and "result" in s]
    for statement in h5p:
        score = statement["result"]["score"]
        assert 0 <= score["raw"] <= score["max"]
        assert abs(score["scaled"] - score["raw"] / score["max"]) < 1e-3
        assert re.fullmatch(r"PT(\d+H)?(\d+M)?\d+(\.\d+)?S", statement["result"]["duration"])
        assert statement["result"]["completion"] is True
        parents = statement["context"]["contextActivities"]["parent"]
        assert parents[0]["id"] == course_iri(simulator, course_id)
        assert statement["actor"]["account"]["name"]
    problems = [s for s in statements if "type@problem" in s["object"]["id"]]
    assert problems and all("score" in s["result"] for s in problems)
    detail = requests.get(
        f"{simulator.base_url}/api/courses/v1/courses/{course_id}", timeout=5
    ).json()
    for statement in statements:
        assert (
            detail["start"][:10] <= statement["timestamp"][:10]
            or "registered" in (statement["verb"]["id"])
        )
        assert statement["timestamp"] < f"{TODAY.isoformat()}T00:00:00"
        uuid_text = statement["id"]
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", uuid_text
        )


def test_withdrawn_learners_stop_and_leave_the_grade_apis(
    simulator: RunningSimulator, headers: dict
) -> None:
    course_id = "course-v1:DHQG-HCM+FM101+2026_S1"
    enrollments = follow(enrollments_url(simulator.base_url, course_id), headers)
    withdrawn = {r["user"] for r in enrollments if not r["is_active"]}
    assert withdrawn
    statements = lrs_all(
        simulator,
        activity=course_iri(simulator, course_id),
        related_activities="true",
        limit="0",
        ascending="true",
    )
    last_verb: dict[str, str] = {}
    for statement in statements:
        last_verb[statement["actor"]["account"]["name"]] = statement["verb"]["id"]
    assert all(last_verb[user].endswith("/unregistered") for user in withdrawn)
    completion = follow(
        f"{simulator.base_url}/completion-aggregator/v1/course/{course_id}/?page_size=100", headers
    )
    assert not withdrawn & {r["username"] for r in completion}


def test_engagement_drives_the_final_outcome(simulator: RunningSimulator, headers: dict) -> None:
    """Passed learners score higher on H5P than failed ones: a real but imperfect signal."""
    course_id = "course-v1:DHQG-HCM+FM101+2026_S1"
    gradebook = follow(
        f"{simulator.base_url}/api/grades/v1/gradebook/{course_id}/?page_size=100", headers
    )
    progress = requests.get(
        f"{simulator.base_url}/api/course_home/v1/progress/{course_id}", headers=headers, timeout=5
    ).json()
    cutoff = min(progress["grading_policy"]["grade_range"].values())
    passed = {e["username"]: e["percent"] >= cutoff for e in gradebook}
    assert 0.2 < np.mean(list(passed.values())) < 0.9
    scores: dict[str, list[float]] = {}
    for s in lrs_all(
        simulator, activity=course_iri(simulator, course_id), related_activities="true", limit="0"
    ):
        if "h5pxblock" in s["object"]["id"] and "result" in s:
            scores.setdefault(s["actor"]["account"]["name"], []).append(
                s["result"]["score"]["scaled"]
            )
    mean = {user: np.mean(values) for user, values in scores.items()}
    pass_mean = np.mean([mean[u] for u, ok in passed.items() if ok and u in mean])
    fail_mean = np.mean([mean[u] for u, ok in passed.items() if not ok and u in mean])
    assert pass_mean > fail_mean + 0.1
    course = simulator.data.course(course_id)
    outcome = simulator.data.passed(course)[course.activity.is_active]
    engagement = course.activity.engagement[course.activity.is_active]
    assert 0.3 < np.corrcoef(engagement, outcome)[0, 1] < 0.95


def test_actor_can_be_an_email() -> None:
    with start_simulator(SimulatorConfig(data=PARAMS, actor_id="email")) as sim:
        body = requests.get(
            f"{sim.lrs_url}/statements", params={"limit": 5}, auth=LRS_AUTH, headers=XAPI, timeout=5
        ).json()
        assert all(s["actor"]["mbox"].startswith("mailto:") for s in body["statements"])
        agent = json.dumps({"mbox": body["statements"][0]["actor"]["mbox"]})
        mine = lrs_all(sim, agent=agent, limit="0")
        assert mine and {s["actor"]["mbox"] for s in mine} == {json.loads(agent)["mbox"]}


# -- faults -----------------------------------------------------------------------------------


def faulty(spec: str) -> RunningSimulator:
    return start_simulator(SimulatorConfig(data=PARAMS, faults=FaultPlan.parse(spec)))


def test_fault_latency() -> None:
    with faulty("latency=150") as sim:
        started = time.perf_counter()
        requests.get(f"{sim.base_url}/api/courses/v1/courses/", timeout=5)
        assert time.perf_counter() - started >= 0.15


def test_fault_rate429_with_retry_after() -> None:
    with faulty("rate429=0.5,retry_after=2") as sim:
        url = f"{sim.base_url}/api/courses/v1/courses/"
        statuses = [requests.get(url, timeout=5) for _ in range(4)]
        assert [r.status_code for r in statuses] == [429, 200, 429, 200]
        assert statuses[0].headers["Retry-After"] == "2"


def test_fault_burst5xx_spares_the_token_endpoint() -> None:
    with faulty("burst5xx=3") as sim:
        headers = auth_header(sim.base_url)
        url = enrollments_url(sim.base_url, SPECIAL_ID)
        statuses = [requests.get(url, headers=headers, timeout=5).status_code for _ in range(4)]
        assert statuses == [502, 503, 504, 200]
    with faulty("burst5xx=2@/xAPI,burst_every=3") as sim:
        url = f"{sim.lrs_url}/statements"
        statuses = [
            requests.get(url, auth=LRS_AUTH, headers=XAPI, timeout=5).status_code for _ in range(6)
        ]
        assert statuses == [502, 503, 200, 504, 500, 200]
        courses = requests.get(f"{sim.base_url}/api/courses/v1/courses/", timeout=5)
        assert courses.status_code == 200


def test_fault_truncate_and_reset() -> None:
    with faulty("truncate=/api/grades#1") as sim:
        headers = auth_header(sim.base_url)
        url = f"{sim.base_url}/api/grades/v1/gradebook/{SPECIAL_ID}/"
        broken = requests.get(url, headers=headers, timeout=5)
        assert broken.status_code == 200
        with pytest.raises(ValueError):
            broken.json()
        assert requests.get(url, headers=headers, timeout=5).json()["results"]
        sim.reset_faults()
        with pytest.raises(ValueError):
            requests.get(url, headers=headers, timeout=5).json()


def test_fault_token_expires_after_calls() -> None:
    with faulty("token_expires_after=2") as sim:
        url = enrollments_url(sim.base_url, SPECIAL_ID)
        headers = auth_header(sim.base_url, "bearer")
        statuses = [requests.get(url, headers=headers, timeout=5).status_code for _ in range(3)]
        assert statuses == [200, 200, 401]
        fresh = auth_header(sim.base_url, "bearer")
        assert requests.get(url, headers=fresh, timeout=5).status_code == 200


def test_fault_wrong_schema_on_second_page() -> None:
    with faulty("wrong_schema=/api/enrollment#2") as sim:
        headers = auth_header(sim.base_url)
        first = requests.get(
            enrollments_url(sim.base_url, SPECIAL_ID), headers=headers, timeout=5
        ).json()
        assert "results" in first
        second = requests.get(first["next"], headers=headers, timeout=5)
        assert second.status_code == 200
        assert "results" not in second.json() and "items" in second.json()


def test_fault_spec_grammar() -> None:
    plan = FaultPlan.parse(
        "latency=20@/xAPI, rate429=0.1, retry_after=3, burst5xx=2,"
        "burst_every=10, truncate=/api/grades#2-3, token_expires_after=5"
    )
    kinds = [(r.kind, r.prefix, r.first, r.last) for r in plan.rules]
    assert ("latency", "/xAPI", 1, None) in kinds and ("truncate", "/api/grades", 2, 3) in kinds
    assert plan.retry_after_s == 3 and plan.burst_every == 10 and plan.token_expires_after == 5
    for bad in ("bogus=1", "rate429=2", "truncate=api", "burst5xx=1.5", "latency"):
        with pytest.raises(FaultSpecError):
            FaultPlan.parse(bad)
    assert cli_main(["--faults", "rate429=7"]) == 2


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_same_data_across_processes(simulator: RunningSimulator, tmp_path) -> None:
    """A second start (another process) with the same seed serves identical data."""
    command = [
        sys.executable,
        "-m",
        "dropout_pipelines.simulator",
        "--port",
        "0",
        "--seed",
        "7",
        "--today",
        TODAY.isoformat(),
        "--students",
        "200",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        base_url = process.stdout.readline().split()[-1]
        other_headers = auth_header(base_url)
        mine_headers = auth_header(simulator.base_url)
        for path in (
            f"/api/grades/v1/gradebook/{SPECIAL_ID}/?page_size=30",
            f"/completion-aggregator/v1/course/{SPECIAL_ID}/",
        ):
            mine = requests.get(simulator.base_url + path, headers=mine_headers, timeout=5)
            theirs = requests.get(base_url + path, headers=other_headers, timeout=5)
            assert mine.json()["results"] == theirs.json()["results"]
        params = {"limit": 50, "ascending": "true"}
        mine = requests.get(
            f"{simulator.lrs_url}/statements", params=params, auth=LRS_AUTH, headers=XAPI, timeout=5
        ).text
        theirs = requests.get(
            f"{base_url}/xAPI/statements", params=params, auth=LRS_AUTH, headers=XAPI, timeout=5
        ).text
        strip = re.compile(r"http://127\.0\.0\.1:\d+")
        assert (
            json.loads(strip.sub("", mine))["statements"]
            == json.loads(strip.sub("", theirs))["statements"]
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_other_seed_other_data() -> None:
    small = DataParams(seed=7, today=TODAY, students_per_course=50)
    again = build_dataset(small)
    first = build_dataset(small)
    other = build_dataset(DataParams(seed=8, today=TODAY, students_per_course=50))
    assert np.array_equal(first.statements.stored_ms, again.statements.stored_ms)
    mine = first.at(first.initial_now).courses[0].activity.percent
    theirs = other.at(other.initial_now).courses[0].activity.percent
    assert not np.array_equal(mine, theirs)
