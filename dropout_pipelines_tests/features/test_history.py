"""Features as of any moment from the stored course history: hand-made history first, then
the weeks ingestion rebuilds for a course of the live simulator."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from dropout_pipelines.clock import frozen_clock
from dropout_pipelines.features.engineering import CourseWindow
from dropout_pipelines.features.history import (
    CourseHistory,
    course_weeks,
    features_as_of,
    week_cutoff,
    weekly_snapshots,
)
from dropout_pipelines.features.history_reads import load_course_history
from dropout_pipelines.ingest.clients.openedx import OpenEdxClient
from dropout_pipelines.simulator.openedx import DataParams, SimulatorConfig, start_simulator
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.schema import FEATURE_COLUMN_NAMES
from dropout_pipelines_tests.ingest.helpers import ingest, point_at

START = datetime(2026, 1, 5, 8, 0)
WINDOW = CourseWindow(start=START, end=START + timedelta(days=7 * 12))  # 12 weeks, then week 13


def at(week: int, day: float = 2.0) -> datetime:
    """A moment inside week `week` of the course."""
    return START + timedelta(days=7 * (week - 1) + day)


def _frame(rows: list[tuple], columns: list[str], dates: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for column in dates:
        frame[column] = pd.to_datetime(frame[column])
    return frame


def history() -> CourseHistory:
    """ann: 1/10 on p1 in week 2, then 10/10 on p2 and 9/10 on p1 in week 10 (the jump).
    bob: one answer in week 2, unregisters in week 3. cat: enrolls in week 5, one H5P."""
    ann, bob, cat = 1, 2, 3
    return CourseHistory(
        roster=_frame(
            [(ann, START - timedelta(days=3), True), (bob, START - timedelta(days=3), False),
             (cat, at(5), True)],
            ["user_id", "enrolled_at", "is_active"],
            ["enrolled_at"],
        ),
        h5p=_frame(
            [(cat, "h5p1", 3.0, 4.0, True, 120.0, at(6))],
            ["user_id", "content_id", "score_raw", "score_max", "completed", "duration_s",
             "occurred_at"],
            ["occurred_at"],
        ),
        attempts=_frame(
            [(ann, "p1", 1.0, 10.0, at(2)), (ann, "p2", 10.0, 10.0, at(10)),
             (ann, "p1", 9.0, 10.0, at(10, 3)), (bob, "p1", 5.0, 10.0, at(2))],
            ["user_id", "block_id", "score_raw", "score_max", "occurred_at"],
            ["occurred_at"],
        ),
        visits=_frame(
            [(ann, "unit1", "navigation", at(1)), (ann, "p1", "problem", at(2)),
             (ann, "p2", "problem", at(10)), (bob, "p1", "problem", at(2)),
             (cat, "h5p1", "h5p", at(6))],
            ["user_id", "activity_key", "activity_kind", "first_at"],
            ["first_at"],
        ),
        daily=_frame(
            [(user, moment.date(), kind, 1, moment, moment) for user, kind, moment in (
                (ann, "navigation", at(1)), (ann, "problem", at(2)), (ann, "problem", at(10, 3)),
                (bob, "problem", at(2)), (bob, "enrollment", at(3)), (cat, "h5p", at(6)),
            )],
            ["user_id", "activity_day", "activity_kind", "statements", "first_at", "last_at"],
            ["first_at", "last_at"],
        ),
    )  # fmt: skip


def weekly(weeks=None, **kwargs) -> pd.DataFrame:
    weeks = course_weeks(WINDOW) if weeks is None else weeks
    return weekly_snapshots(history(), WINDOW, weeks, **kwargs).set_index(
        ["user_id", "snapshot_week"]
    )


def test_weeks_and_cutoffs_follow_week_of_course():
    assert course_weeks(WINDOW) == list(range(1, 14))
    assert week_cutoff(WINDOW, 1) == START + timedelta(days=7) - timedelta(microseconds=1)
    assert week_cutoff(WINDOW, 13) == WINDOW.end  # clamped to the end


def test_leakage_grade_jump_in_week_10_is_invisible_in_week_4():
    snaps = weekly()
    # total possible = max of p1 + max of p2 = 20
    assert snaps.loc[(1, 4), "mooc_grade_percentage"] == pytest.approx(5.0)
    assert snaps.loc[(1, 9), "mooc_grade_percentage"] == pytest.approx(5.0)
    assert snaps.loc[(1, 10), "mooc_grade_percentage"] == pytest.approx(95.0)  # best per problem
    # last activity at day 9; the week-4 cut-off is 1 µs before day 28: 18 whole days
    assert snaps.loc[(1, 4), "days_since_last_activity"] == 18
    assert snaps.loc[(1, 4), "week_of_course"] == 4
    assert (snaps.xs(4, level="snapshot_week")["captured_at"] == week_cutoff(WINDOW, 4)).all()


def test_rows_start_at_enrolment_and_withdrawn_students_freeze():
    snaps = weekly()
    assert sorted(snaps.loc[3].index) == list(range(5, 14))  # cat enrolled in week 5
    assert pd.isna(snaps.loc[(3, 5), "h5p_total_score"])  # no H5P attempted by anyone yet
    assert snaps.loc[(3, 6), "h5p_total_score"] == 3.0
    assert snaps.loc[(1, 6), "h5p_total_score"] == 0  # the course has H5P content by then
    bob = snaps.loc[2]
    assert bob.loc[13, "mooc_grade_percentage"] == bob.loc[3, "mooc_grade_percentage"] == 25.0
    assert bob.loc[13, "days_since_last_activity"] > bob.loc[4, "days_since_last_activity"]
    # bob unregistered in week 3: seen as unenrolled from that week on, never before
    assert not bob.loc[2, "is_unenrolled"] and bob.loc[3, "is_unenrolled"]
    assert not snaps.loc[(1, 13), "is_unenrolled"]


def test_engagement_counts_windows_and_percentiles():
    snaps = weekly()
    ann = snaps.loc[1]
    # ann: a unit in week 1, p1 in week 2, the week-10 burst
    assert ann.loc[1, "statements_total"] == 1 and ann.loc[2, "statements_total"] == 2
    assert ann.loc[2, "statements_7d"] == 1 and ann.loc[4, "statements_7d"] == 0
    assert ann.loc[4, "statements_28d"] == 2 and ann.loc[4, "active_days_total"] == 2
    assert ann.loc[2, "problem_statements"] == 1 and ann.loc[2, "navigation_statements"] == 1
    assert ann.loc[3, "statements_trend_7d"] < 0  # active in week 2, silent in week 3
    assert ann.loc[2, "distinct_activities"] == 2
    # registration: enrolled 3 days before the start; cat four weeks and two days after it
    assert ann.loc[1, "enrolled_days_before_start"] == pytest.approx(3.0)
    assert snaps.loc[(3, 5), "enrolled_days_before_start"] == pytest.approx(-30.0)
    # within the course, at the same moment: ann is the most active student in week 10
    week10 = snaps.xs(10, level="snapshot_week")
    assert week10.loc[1, "statements_total_pct"] == 1.0
    assert week10["statements_total_pct"].between(0, 1).all()


def test_cutoffs_give_pass_and_letter_so_far():
    snaps = weekly(weeks=[4, 10], cutoffs={"Pass": 0.5, "A": 0.9})
    assert list(snaps.index.get_level_values("snapshot_week").unique()) == [4, 10]
    assert not snaps.loc[(1, 4), "mooc_is_passed"]
    assert snaps.loc[(1, 10), "mooc_is_passed"] and snaps.loc[(1, 10), "mooc_letter_grade"] == "A"


def test_completion_counts_activities_seen_so_far_over_the_whole_course():
    snaps = weekly()
    # content activities in the whole history: unit1, p1, p2, h5p1
    assert snaps.loc[(1, 1), "mooc_completion_rate"] == pytest.approx(0.25)
    assert snaps.loc[(1, 10), "mooc_completion_rate"] == pytest.approx(0.75)


# --- the live simulator: ingestion rebuilds the weeks nobody watched -----------------------

DATA = DataParams(seed=5, today=date(2026, 11, 29), students_per_course=60)
ENDED = "course-v1:UEL+NLTT241225+2026_S1"


@pytest.fixture(scope="module")
def simulator():
    with start_simulator(SimulatorConfig(data=DATA)) as running:
        yield running


def _snapshots(engine: sa.Engine) -> pd.DataFrame:
    fs = s.feature_snapshots
    with engine.connect() as connection:
        result = connection.execute(sa.select(fs).where(fs.c.course_id == ENDED))
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def _plain(features: pd.DataFrame) -> list[dict]:
    """Feature rows as plain Python values (missing = None), floats rounded: comparable
    across the database's and pandas' representations."""
    columns = [name for name in FEATURE_COLUMN_NAMES if name in features.columns]
    plain = features[columns].astype(object).where(features[columns].notna(), None)
    return [
        {k: round(float(v), 9) if isinstance(v, float) else v for k, v in row.items()}
        for row in plain.to_dict("records")
    ]


def test_ingestion_rebuilds_unwatched_weeks_from_the_warehouse(monkeypatch, simulator, db_url):
    point_at(monkeypatch, simulator, db_url)
    first = ingest(ENDED)
    assert first.success, first.failure_message()
    engine = get_engine(db_url)
    stored = _snapshots(engine)
    with engine.connect() as connection:
        course = connection.execute(
            sa.select(s.courses).where(s.courses.c.course_id == ENDED)
        ).one()
        history = load_course_history(connection, ENDED)
    credentials = simulator.config.credentials
    with OpenEdxClient(
        simulator.base_url, credentials.client_id, credentials.client_secret
    ) as openedx:
        cutoffs = openedx.grade_cutoffs(ENDED)
    window = CourseWindow(start=course.start_at, end=course.end_at)
    weeks = course_weeks(window)
    live_week = weeks[-1]  # fetched after the end: the live capture is the last week's
    assert set(stored["snapshot_week"]) == set(weeks)
    live = stored[stored["snapshot_week"] == live_week]
    assert (live["captured_at"] > pd.Timestamp(course.end_at)).all()

    # every rebuilt week equals a recomputation from the warehouse's history at its cut-off
    for week in (2, 8):
        cutoff = week_cutoff(window, week)
        recomputed = weekly_snapshots(history, window, [week], cutoffs).set_index("user_id")
        in_db = stored[stored["snapshot_week"] == week].set_index("user_id").sort_index()
        enrolled = pd.to_datetime(history.roster["enrolled_at"])
        assert set(in_db.index) == set(history.roster.loc[enrolled <= cutoff, "user_id"])
        assert (in_db["captured_at"] == pd.Timestamp(cutoff)).all()
        assert _plain(in_db) == _plain(recomputed.loc[in_db.index])

    # a second refresh reads nothing new and rebuilds nothing: the live capture is kept
    second = ingest(ENDED)
    assert second.success, second.failure_message()
    assert second.asset_metadata("h5p_results")["new_statements"] == 0
    assert second.asset_metadata("feature_snapshots")["weeks_rebuilt_rows"] == 0
    again = _snapshots(engine)
    assert len(again) == len(stored)
    rebuilt_before = stored[stored["snapshot_week"] != live_week].sort_values(["user_id", "id"])
    rebuilt_after = again[again["snapshot_week"] != live_week].sort_values(["user_id", "id"])
    assert _plain(rebuilt_before) == _plain(rebuilt_after)


RUNNING = "course-v1:DHQG-HCM+FM101+2026_S2"


def test_a_rebuilt_week_agrees_with_its_live_capture(monkeypatch, db_url):
    """One feature definition: a week captured live, rebuilt later from the stored history
    as of the same moment, gives every feature the same value."""
    with start_simulator(SimulatorConfig(data=DATA)) as simulator:
        point_at(monkeypatch, simulator, db_url)
        simulator.advance(hours=14)  # a live capture in the middle of a day
        captured_at = simulator.now.replace(tzinfo=None, microsecond=0)
        with frozen_clock(captured_at):
            assert ingest(RUNNING).success
        simulator.advance(days=9)  # more activity, more weeks, some late enrolments
        with frozen_clock(simulator.now.replace(tzinfo=None, microsecond=0)):
            assert ingest(RUNNING).success
        credentials = simulator.config.credentials
        with OpenEdxClient(
            simulator.base_url, credentials.client_id, credentials.client_secret
        ) as openedx:
            cutoffs = openedx.grade_cutoffs(RUNNING)
    engine = get_engine(db_url)
    fs = s.feature_snapshots
    with engine.connect() as connection:
        course = connection.execute(
            sa.select(s.courses).where(s.courses.c.course_id == RUNNING)
        ).one()
        history = load_course_history(connection, RUNNING)
        result = connection.execute(
            sa.select(fs).where(fs.c.course_id == RUNNING, fs.c.captured_at == captured_at)
        )
        live = pd.DataFrame(result.all(), columns=list(result.keys())).set_index("user_id")
    window = CourseWindow(start=course.start_at, end=course.end_at)
    rebuilt = features_as_of(history, window, captured_at, cutoffs=cutoffs).set_index("user_id")
    assert len(live) > 0 and set(rebuilt.index) == set(live.index)
    assert not history.outline.empty  # the policy-weighted grade is what agrees
    ordered = rebuilt.loc[live.sort_index().index]
    for column in FEATURE_COLUMN_NAMES:
        assert _plain(live.sort_index()[[column]]) == _plain(ordered[[column]]), column
