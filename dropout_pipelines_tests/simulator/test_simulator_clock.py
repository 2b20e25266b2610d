"""The simulator clock, over real HTTP: a term runs forward and every API follows it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import quote

import numpy as np
import pytest
import requests

from dropout_pipelines.simulator.openedx import RunningSimulator, SimulatorConfig, start_simulator
from dropout_pipelines.simulator.openedx.activity import course_percent
from dropout_pipelines.simulator.openedx.clock import ClockError
from dropout_pipelines_tests.simulator.test_openedx_simulator import (
    LRS_AUTH,
    PARAMS,
    TODAY,
    XAPI,
    auth_header,
    course_iri,
    enrollments_url,
    follow,
    lrs_all,
)

RUNNING = "course-v1:DHQG-HCM+FM101+2026_S2"
START = f"{TODAY.isoformat()}T00:00:00.000Z"
NOT_COMPLETION = (
    "registered",
    "unregistered",
    "interacted",
    "viewed",
)  # page views complete nothing


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    """A private simulator: these tests move its clock (the world itself is shared)."""
    with start_simulator(SimulatorConfig(data=PARAMS)) as running:
        yield running


def control(sim: RunningSimulator, method: str, path: str, **params: str) -> requests.Response:
    return requests.request(method, f"{sim.base_url}/_sim/{path}", params=params, timeout=5)


def advance(sim: RunningSimulator, **amounts: str) -> str:
    response = control(sim, "POST", "advance", **amounts)
    assert response.status_code == 200, response.text
    return response.json()["now"]


def statements_of(sim: RunningSimulator, course_id: str, **params: str) -> list[dict]:
    return lrs_all(
        sim,
        activity=course_iri(sim, course_id),
        related_activities="true",
        ascending="true",
        limit="500",
        **params,
    )


def verb(statement: dict) -> str:
    return statement["verb"]["id"].rsplit("/", 1)[1]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- the control API --------------------------------------------------------------------------


def test_clock_moves_forward_only(sim: RunningSimulator) -> None:
    assert control(sim, "GET", "now").json() == {"now": START}
    for bad in ({"days": "-1"}, {"hours": "-2"}, {"days": "soon"}, {}):
        assert control(sim, "POST", "advance", **bad).status_code == 400, bad
    assert advance(sim, hours="6") == f"{TODAY.isoformat()}T06:00:00.000Z"
    assert advance(sim, days="1", hours="1") == "2026-11-30T07:00:00.000Z"
    assert control(sim, "POST", "set", now="2026-11-30T06:59:59Z").status_code == 400
    assert control(sim, "POST", "set", now="tomorrow").status_code == 400
    assert control(sim, "POST", "set").status_code == 400
    moved = control(sim, "POST", "set", now="2026-12-01T08:00:00+07:00")
    assert moved.json() == {"now": "2026-12-01T01:00:00.000Z"}
    assert control(sim, "GET", "now").json() == moved.json()
    with pytest.raises(ClockError):
        sim.clock.advance(days=-1)
    with pytest.raises(ClockError):
        sim.set_now(datetime(2026, 11, 30))
    assert sim.set_now(datetime(2026, 12, 2)) == at("2026-12-02T00:00:00Z")  # naive = UTC
    assert sim.clock.advance(days=7) == sim.now == at("2026-12-09T00:00:00Z")
    assert sim.data.now == sim.now


def test_moving_the_clock_does_not_regenerate_the_world(sim: RunningSimulator) -> None:
    world = sim.world
    before = sim.data
    sim.clock.advance(days=30)
    after = sim.data
    assert sim.world is world and after is not before and after.now > before.now
    assert np.shares_memory(after.statements.stored_ms, world.statements.stored_ms)
    assert len(before.statements) < len(after.statements) < len(world.statements)


# -- the LRS ----------------------------------------------------------------------------------


def test_advancing_stores_new_statements_after_the_cursor(sim: RunningSimulator) -> None:
    fetched = statements_of(sim, RUNNING)
    assert fetched and all(s["timestamp"] <= s["stored"] <= START for s in fetched)
    cursor = max(s["stored"] for s in fetched)
    for _ in range(4):
        now = advance(sim, days="7")
        new = statements_of(sim, RUNNING, since=cursor)
        assert new, f"a week of term and nothing new by {now}"
        assert all(cursor < s["stored"] <= now for s in new)
        assert all(s["timestamp"] <= s["stored"] for s in new)
        assert {verb(s) for s in new} >= {"experienced", "answered"}
        fetched += new
        cursor = max(s["stored"] for s in new)
    everything = statements_of(sim, RUNNING)
    assert [s["id"] for s in fetched] == [s["id"] for s in everything]
    assert fetched == everything


def test_a_more_link_keeps_its_now_while_the_clock_moves(sim: RunningSimulator) -> None:
    before = statements_of(sim, RUNNING)
    params = {"activity": course_iri(sim, RUNNING), "related_activities": "true", "limit": "100"}
    url = f"{sim.lrs_url}/statements"
    page = requests.get(url, params=params, auth=LRS_AUTH, headers=XAPI, timeout=5).json()
    sim.clock.advance(days=7)
    newest_first = list(page["statements"])
    while page["more"]:
        more = f"{sim.base_url}{page['more']}"
        page = requests.get(more, auth=LRS_AUTH, headers=XAPI, timeout=5).json()
        newest_first += page["statements"]
    assert [s["id"] for s in reversed(newest_first)] == [s["id"] for s in before]
    assert len(statements_of(sim, RUNNING)) > len(before)


# -- grades, completion, enrollments ----------------------------------------------------------


def test_gradebook_and_completion_follow_the_statements(sim: RunningSimulator) -> None:
    """At every moment the gradebook and the completion aggregator equal what the statements
    with a timestamp up to that moment imply, and a learner's grade never goes down."""
    headers = auth_header(sim.base_url)
    course = sim.world.course(RUNNING)
    gradebook_url = f"{sim.base_url}/api/grades/v1/gradebook/{RUNNING}/?page_size=100"
    completion_url = f"{sim.base_url}/completion-aggregator/v1/course/{RUNNING}/?page_size=100"
    views: list[tuple[str, dict[str, dict], dict[str, float]]] = []
    for step in (0, 7, 7, 14, 30, 30):
        now = advance(sim, days=str(step)) if step else START
        grades = {e["username"]: e for e in follow(gradebook_url, headers)}
        done = {r["username"]: r["completion"]["earned"] for r in follow(completion_url, headers)}
        assert set(grades) == set(done)
        views.append((now, grades, done))
    assert at(views[-1][0]) > course.info.end
    sim.clock.advance(hours=1)  # everything up to the last moment is stored by now
    statements = statements_of(sim, RUNNING)

    slugs = [sub.slug for sub in course.info.subsections]
    for now, grades, done in views:
        earned: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(slugs)))
        attempted: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(slugs), bool))
        items: dict[str, set[str]] = defaultdict(set)
        for s in statements:
            if s["timestamp"] > now or verb(s) in NOT_COMPLETION:
                continue
            user = s["actor"]["account"]["name"]
            items[user].add(s["object"]["id"])
            if "+type@problem+block@" in s["object"]["id"]:
                index = slugs.index(s["object"]["id"].rsplit("@", 1)[1].split("_p")[0])
                earned[user][index] += s["result"]["score"]["raw"]
                attempted[user][index] = True
        users = sorted(grades)
        expected = course_percent(
            course.info,
            np.array([attempted[u] for u in users]),
            np.array([earned[u] for u in users], np.float32),  # the grader's precision
        )
        for user, percent in zip(users, expected, strict=True):
            entry = grades[user]
            assert entry["percent"] == pytest.approx(percent), (now, user)
            sections = [(r["attempted"], r["score_earned"]) for r in entry["section_breakdown"]]
            assert sections == list(zip(attempted[user], earned[user], strict=True)), (now, user)
            assert done[user] == len(items[user]), (now, user)

    first, last = views[0][1], views[-1][1]
    for (_, earlier, _), (_, later, _) in zip(views, views[1:], strict=False):
        for user in set(earlier) & set(later):
            assert later[user]["percent"] >= earlier[user]["percent"], user
    final, midterm = ([view[u]["percent"] for u in last] for view in (last, first))
    assert np.mean(final) > np.mean(midterm)


def test_a_withdrawal_happens_when_the_clock_passes_it(sim: RunningSimulator) -> None:
    headers = auth_header(sim.base_url)
    course = sim.world.course(RUNNING)
    unenroll = course.activity.unenroll_s
    later = np.flatnonzero(unenroll > sim.clock.now.timestamp())
    assert len(later), "the running course has learners who withdraw after today"
    row = int(later[0])
    username = sim.data.users.username(int(course.activity.user[row]))
    when = datetime.fromtimestamp(int(unenroll[row]), sim.now.tzinfo)

    def enrollment() -> dict:
        url = enrollments_url(sim.base_url, RUNNING, username=username)
        (only,) = requests.get(url, headers=headers, timeout=5).json()["results"]
        return only

    def in_gradebook() -> bool:
        url = f"{sim.base_url}/api/grades/v1/gradebook/{RUNNING}/"
        answer = requests.get(url, params={"username": username}, headers=headers, timeout=5)
        return answer.status_code == 200

    assert enrollment()["is_active"] and in_gradebook()
    sim.set_now(when - timedelta(seconds=1))
    assert enrollment()["is_active"] and in_gradebook()
    sim.set_now(when)
    assert not enrollment()["is_active"] and not in_gradebook()
    sim.clock.advance(minutes=5)
    mine = [s for s in statements_of(sim, RUNNING) if s["actor"]["account"]["name"] == username]
    assert verb(mine[-1]) == "unregistered"
    assert mine[-1]["timestamp"] == when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_a_late_course_appears_after_its_announcement() -> None:
    params = replace(PARAMS, late_courses=1, late_announce_days=7)
    with start_simulator(SimulatorConfig(data=params)) as sim:
        headers = auth_header(sim.base_url)
        listing = f"{sim.base_url}/api/courses/v1/courses/?page_size=100"
        before = {c["id"] for c in follow(listing, {})}
        assert len(before) == 6
        late = sim.world.courses[-1].info.course_id
        assert late.endswith("+2026_S2") and late not in before
        detail = f"{sim.base_url}/api/courses/v1/courses/{late}"
        enrolled = enrollments_url(sim.base_url, late)

        sim.clock.advance(days=6, hours=23)
        assert late not in {c["id"] for c in follow(listing, {})}
        assert requests.get(detail, timeout=5).status_code == 404
        assert follow(enrolled, headers) == []

        sim.clock.advance(hours=1)
        assert {c["id"] for c in follow(listing, {})} == before | {late}
        course = requests.get(detail, timeout=5).json()
        assert at(course["start"]) > sim.now  # announced, not started: listed, no activity
        info = requests.get(f"{sim.base_url}/simulator/info", timeout=5).json()
        assert {c["course_id"]: c["phase"] for c in info["courses"]}[late] == "upcoming"

        sim.clock.advance(days=2)
        assert sim.now < at(course["start"])
        joined = follow(enrolled, headers)
        assert 0 < len(joined) < PARAMS.students_per_course
        assert {verb(s) for s in statements_of(sim, late)} == {"registered"}

        sim.clock.advance(days=14)
        assert len(follow(enrolled, headers)) == PARAMS.students_per_course
        assert {"experienced", "answered"} <= {verb(s) for s in statements_of(sim, late)}
        gradebook = f"{sim.base_url}/api/grades/v1/gradebook/{quote(late, safe=':+')}/"
        assert any(e["percent"] > 0 for e in follow(gradebook, headers))


# -- faults switched at runtime ---------------------------------------------------------------


def test_server_errors_switch_fails_exactly_n_requests(sim: RunningSimulator) -> None:
    headers = auth_header(sim.base_url)
    url = enrollments_url(sim.base_url, RUNNING)
    armed = control(sim, "POST", "faults", server_errors="3")
    assert armed.json()["server_errors"]["pending"] == 3
    statuses = []
    for _ in range(5):
        statuses.append(requests.get(url, headers=headers, timeout=5).status_code)
        assert control(sim, "GET", "now").status_code == 200  # control calls are never faulted
    assert statuses == [503, 503, 503, 200, 200]
    state = control(sim, "GET", "faults").json()
    assert state["server_errors"]["pending"] == 0 and state["injected"] == {"503": 3}

    control(sim, "POST", "faults", server_errors="2", prefix="/xAPI", status="500")
    lrs = f"{sim.lrs_url}/statements"
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    lrs_statuses = [
        requests.get(lrs, auth=LRS_AUTH, headers=XAPI, timeout=5).status_code for _ in range(3)
    ]
    assert lrs_statuses == [500, 500, 200]

    courses = f"{sim.base_url}/api/courses/v1/courses/"
    switched = control(sim, "POST", "faults", spec="rate429=1@/api/courses,retry_after=4")
    assert switched.json()["spec"] == "rate429=1@/api/courses,retry_after=4"
    throttled = requests.get(courses, timeout=5)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "4"
    control(sim, "POST", "faults", spec="")
    assert requests.get(courses, timeout=5).status_code == 200

    sim.fail_next(1)
    assert [requests.get(courses, timeout=5).status_code for _ in range(2)] == [503, 200]
    sim.set_faults("burst5xx=5")
    sim.fail_next(4)
    sim.reset_faults()  # back to the configured plan (none), nothing armed
    assert requests.get(courses, timeout=5).status_code == 200
    assert control(sim, "POST", "faults", server_errors="-1").status_code == 400
    assert control(sim, "POST", "faults", server_errors="1", status="418").status_code == 400
    assert control(sim, "POST", "faults", spec="bogus=1").status_code == 400
