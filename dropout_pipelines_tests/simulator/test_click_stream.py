"""The simulator's dense click-stream: daily unit page views (`viewed`) that follow engagement
and fade over the weeks before a learner stops."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from dropout_pipelines.simulator.openedx import RunningSimulator
from dropout_pipelines.simulator.openedx.activity import K_EXPERIENCED, K_VIEWED
from dropout_pipelines.simulator.openedx.catalog import DAY_S, UNIT_FRACS
from dropout_pipelines.simulator.openedx.data import CourseData
from dropout_pipelines.simulator.openedx.lrs import VERB_IRIS
from dropout_pipelines_tests.simulator.test_openedx_simulator import (
    TODAY,
    course_iri,
    lrs_all,
    simulator,  # noqa: F401  (the shared session fixture)
)

VIEWED = "http://id.tincanapi.com/verb/viewed"
COURSE = "course-v1:DHQG-HCM+FM101+2026_S1"  # a closed course: whole runs, stops and all


@pytest.fixture(scope="module")
def courses(simulator: RunningSimulator) -> tuple[CourseData, ...]:  # noqa: F811
    return simulator.world.courses


def views_of(course: CourseData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(enrollment row, epoch seconds, unit index) of a course's page views."""
    views = course.activity.views
    assert (views["kind"] == K_VIEWED).all()
    return views["enrollment"], views["ts_ms"] // 1000, views["item"]


def test_views_belong_to_enrolled_learners_within_their_active_period(courses) -> None:
    for course in courses:
        act, info = course.activity, course.info
        rows, at, item = views_of(course)
        assert len(rows) > 10 * len(act), "a dense click-stream, not one view per unit"
        assert (course.activity.views["user"] == act.user[rows]).all()
        assert (at >= np.maximum(act.created_s, info.start_s)[rows]).all()
        assert (at < np.minimum(act.stop_s, info.end_s)[rows]).all()
        unenrolled = act.unenroll_s[rows]
        assert ((unenrolled < 0) | (at < unenrolled)).all()
        # The page is a unit released by then (the ids the `experienced` statements use).
        released = info.start_s + (np.array(UNIT_FRACS)[item] * (info.end_s - info.start_s))
        assert (item >= 0).all() and (item < len(UNIT_FRACS)).all()
        assert (at >= released.astype(np.int64)).all()


def test_nothing_is_emitted_after_a_stop_or_an_unenrollment(simulator: RunningSimulator) -> None:  # noqa: F811
    table = simulator.world.statements.columns
    for course in simulator.world.courses:
        act = course.activity
        mine = (table["course"] == course.info.index) & (table["kind"] >= K_EXPERIENCED)
        rows, at = table["enrollment"][mine], table["ts_ms"][mine] // 1000
        assert (at < np.minimum(act.stop_s, course.info.end_s)[rows]).all()
        gone = act.unenroll_s[rows]
        assert ((gone < 0) | (at < gone)).all()


def test_views_are_dense_days_and_follow_engagement(courses) -> None:
    for course in courses[:2]:
        act = course.activity
        rows, at, _ = views_of(course)
        per_learner = np.bincount(rows, minlength=len(act))
        rho = spearmanr(act.engagement, per_learner)[0]
        assert rho > 0.3, rho
        day = (at - course.info.start_s) // DAY_S
        per_day = np.unique(rows.astype(np.int64) * 1000 + day, return_counts=True)[1]
        assert 2 <= np.median(per_day) <= 8 and per_day.max() <= 40
        # Many learners skip many days: active days are well under the days enrolled.
        active_days = np.bincount(np.unique(rows.astype(np.int64) * 1000 + day) // 1000)
        assert np.median(active_days) < 0.6 * (course.info.end_s - course.info.start_s) / DAY_S


def test_views_fade_in_the_weeks_before_a_learner_stops(courses) -> None:
    last, before = [], []
    for course in courses:
        act, info = course.activity, course.info
        rows, at, _ = views_of(course)
        begun = np.maximum(act.created_s, info.start_s)
        early = np.flatnonzero((act.stop_s < info.end_s) & (act.stop_s - begun > 35 * DAY_S))
        for row in early:
            mine = at[rows == row]
            stop = act.stop_s[row]
            last.append(int(((mine >= stop - 14 * DAY_S) & (mine < stop)).sum()))
            before.append(int(((mine >= stop - 28 * DAY_S) & (mine < stop - 14 * DAY_S)).sum()))
    assert len(last) >= 30
    assert np.mean(last) < 0.75 * np.mean(before), (np.mean(last), np.mean(before))


def test_views_are_served_with_the_viewed_verb(simulator: RunningSimulator) -> None:  # noqa: F811
    course = simulator.world.course(COURSE)
    unit = f"{simulator.platform_url}/xblock/{course.info.block_id('vertical', 'unit01')}"
    served = lrs_all(simulator, activity=unit, verb=VIEWED, limit="0")
    assert served and {s["verb"]["id"] for s in served} == {VIEWED} == {VERB_IRIS["viewed"]}
    statement = served[0]
    assert statement["verb"]["display"] == {"en": "viewed"}
    assert statement["object"]["id"] == unit
    assert statement["object"]["definition"]["type"] == "http://adlnet.gov/expapi/activities/module"
    parents = statement["context"]["contextActivities"]["parent"]
    assert parents[0]["id"] == course_iri(simulator, COURSE)
    assert all(s["timestamp"] < f"{TODAY.isoformat()}T00:00:00" for s in served)
    rows, at, item = views_of(course)
    expected = int(((item == 0) & (at * 1000 <= simulator.clock.now_ms - 120_000)).sum())
    assert expected <= len(served) <= int((item == 0).sum())
    # The course-wide query (related activities) carries them among the other verbs.
    everything = lrs_all(
        simulator, activity=course_iri(simulator, COURSE), related_activities="true", limit="0"
    )
    verbs = {s["verb"]["id"] for s in everything}
    assert VIEWED in verbs and VERB_IRIS["experienced"] in verbs
