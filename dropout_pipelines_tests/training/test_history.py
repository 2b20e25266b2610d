"""Weekly snapshots rebuilt from LRS history: hand-made statements, then the live simulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from dropout_pipelines.features.engineering import CourseWindow
from dropout_pipelines.ingest.fetch import fetch_course
from dropout_pipelines.ingest.lrs import LrsClient
from dropout_pipelines.ingest.openedx import OpenEdxClient
from dropout_pipelines.ingest.store import write_course_bundle
from dropout_pipelines.simulator.openedx import RunningSimulator
from dropout_pipelines.training.history import (
    course_weeks,
    rebuild_course_history,
    week_cutoff,
    weekly_snapshots_from_history,
)
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.schema import FEATURE_COLUMN_NAMES
from dropout_pipelines_tests.ingest.conftest import (
    ENDED_COURSE,
    SIM_CREDENTIALS,
    SIM_PARAMS,
    SimulatorFactory,
)

START = datetime(2026, 1, 5, 8, 0)
WINDOW = CourseWindow(start=START, end=START + timedelta(days=7 * 12))  # 12 weeks, then week 13
COURSE_IRI = "http://lms/course/c1"


def at(week: int, day: float = 2.0) -> datetime:
    """A moment inside week `week` of the course."""
    return START + timedelta(days=7 * (week - 1) + day)


def statement(actor: str, verb: str, when: datetime, obj: str = COURSE_IRI, **extra) -> dict:
    row = {
        "statement_id": f"{actor}-{verb}-{obj}-{when.isoformat()}",
        "actor": actor,
        "verb": f"http://verbs/{verb}",
        "verb_name": verb,
        "object_id": obj,
        "object_type": None,
        "course_activity": COURSE_IRI,
        "score_raw": None,
        "score_max": None,
        "score_scaled": None,
        "completion": None,
        "success": None,
        "duration_s": None,
        "timestamp": when,
        "stored": when,
        "is_h5p": False,
    }
    return row | extra


def frame(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    out["timestamp"] = pd.to_datetime(out["timestamp"])
    for column in ("score_raw", "score_max", "duration_s"):
        out[column] = out[column].astype("float64")
    out["is_h5p"] = out["is_h5p"].astype(bool)
    return out


ROSTER = pd.DataFrame(
    {
        "user_id": [1, 2, 3],
        "username": ["ann", "bob", "cat"],
        "enrolled_at": [START - timedelta(days=3), START - timedelta(days=3), at(5)],
        "is_active": [True, False, True],
    }
)


def history() -> pd.DataFrame:
    """ann: 1/10 on p1 in week 2, then 10/10 on p2 in week 10 (the grade jump).
    bob: unregisters in week 3 after one answer. cat: enrolls in week 5, one H5P attempt."""
    return frame(
        [
            statement("ann", "experienced", at(1), "http://lms/unit1"),
            statement("ann", "answered", at(2), "http://lms/p1", score_raw=1.0, score_max=10.0),
            statement("ann", "answered", at(10), "http://lms/p2", score_raw=10.0, score_max=10.0),
            statement("ann", "answered", at(10, 3), "http://lms/p1", score_raw=9.0, score_max=10.0),
            statement("bob", "answered", at(2), "http://lms/p1", score_raw=5.0, score_max=10.0),
            statement("bob", "unregistered", at(3)),
            statement(
                "cat",
                "completed",
                at(6),
                "http://lms/h5p1",
                is_h5p=True,
                score_raw=3.0,
                score_max=4.0,
                completion=True,
                duration_s=120.0,
            ),
        ]
    )


def weekly(**kwargs) -> pd.DataFrame:
    return weekly_snapshots_from_history(ROSTER, history(), WINDOW, **kwargs).set_index(
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


def test_rows_start_at_enrolment_and_withdrawn_students_freeze():
    snaps = weekly()
    assert sorted(snaps.loc[3].index) == list(range(5, 14))  # cat enrolled in week 5
    assert snaps.loc[(3, 5), "h5p_total_score"] == 0
    assert snaps.loc[(3, 6), "h5p_total_score"] == 3.0
    bob = snaps.loc[2]
    assert bob.loc[13, "mooc_grade_percentage"] == bob.loc[3, "mooc_grade_percentage"] == 25.0
    assert bob.loc[13, "days_since_last_activity"] > bob.loc[4, "days_since_last_activity"]


def test_explicit_weeks_possible_and_cutoffs():
    snaps = weekly(weeks=[10], grade_possible=100.0, cutoffs={"Pass": 0.5, "A": 0.9})
    assert list(snaps.index.get_level_values("snapshot_week").unique()) == [10]
    assert snaps.loc[(1, 10), "mooc_grade_percentage"] == pytest.approx(19.0)
    assert not snaps.loc[(1, 10), "mooc_is_passed"]


def test_completion_counts_blocks_seen_so_far():
    snaps = weekly()
    # blocks in the whole history: unit1, p1, p2, h5p1
    assert snaps.loc[(1, 1), "mooc_completion_rate"] == pytest.approx(0.25)
    assert snaps.loc[(1, 10), "mooc_completion_rate"] == pytest.approx(0.75)


# --- the live simulator's ended course --------------------------------------------------

NOW = datetime(2026, 11, 29, 12, 0)


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    """The ingestion tests' simulator (same seed, dates, credentials) with a smaller roster,
    so the test stays fast; the ingest fixtures are scoped to that package's conftest."""
    factory = SimulatorFactory(replace(SIM_PARAMS, students_per_course=60), SIM_CREDENTIALS)
    yield factory()
    factory.stop_all()


def _openedx(simulator: RunningSimulator) -> OpenEdxClient:
    credentials = simulator.config.credentials
    return OpenEdxClient(
        simulator.base_url,
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
        timeout=10.0,
    )


def _lrs(simulator: RunningSimulator) -> LrsClient:
    credentials = simulator.config.credentials
    return LrsClient(
        simulator.lrs_url,
        credentials.lrs_username,
        credentials.lrs_password,
        platform_url=simulator.platform_url,
        timeout=10.0,
    )


def _plain(features: pd.DataFrame) -> list[dict]:
    """Feature rows as plain Python values (missing = None), floats rounded: comparable
    across the database's and pandas' representations."""
    columns = list(FEATURE_COLUMN_NAMES)
    plain = features[columns].astype(object).where(features[columns].notna(), None)
    return [
        {k: round(float(v), 9) if isinstance(v, float) else v for k, v in row.items()}
        for row in plain.to_dict("records")
    ]


def _snapshots(engine: sa.Engine) -> pd.DataFrame:
    fs = s.feature_snapshots
    with engine.connect() as connection:
        result = connection.execute(sa.select(fs).where(fs.c.course_id == ENDED_COURSE))
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def test_rebuild_course_history_from_the_simulator(db_url: str, simulator: RunningSimulator):
    engine = get_engine(db_url)
    bundle = fetch_course(
        lambda: _openedx(simulator),
        lambda: _lrs(simulator),
        ENDED_COURSE,
        NOW,
        concurrent=False,
    )
    write_course_bundle(engine, bundle)  # courses row + the live capture after the end
    live = _snapshots(engine)
    last_week = bundle.snapshot_week
    assert set(live["snapshot_week"]) == {last_week}

    with _openedx(simulator) as openedx, _lrs(simulator) as lrs:
        written = rebuild_course_history(engine, openedx, lrs, ENDED_COURSE, NOW)
        again = rebuild_course_history(engine, openedx, lrs, ENDED_COURSE, NOW)
        statements = lrs.statements(ENDED_COURSE)
        cutoffs = openedx.grade_cutoffs(ENDED_COURSE)
    assert written > 0 and again == 0

    stored = _snapshots(engine)
    window = CourseWindow(start=bundle.course["start_at"], end=bundle.course["end_at"])
    weeks = course_weeks(window)
    assert weeks[-1] == last_week
    assert set(stored["snapshot_week"]) == set(weeks)
    # the live capture is untouched
    kept = stored[stored["snapshot_week"] == last_week].set_index("user_id")
    assert (kept["captured_at"] == pd.Timestamp(bundle.fetched_at)).all()
    assert len(kept) == len(live)

    # every week-N row equals a recomputation from the statements up to the end of week N
    roster = bundle.enrollments
    enrolled = pd.to_datetime(roster["enrolled_at"])
    everything = weekly_snapshots_from_history(roster, statements, window, weeks[:-1])
    denominators = {
        "cutoffs": cutoffs,
        "grade_possible": float(
            statements[(statements["verb_name"] == "answered") & ~statements["is_h5p"]]
            .groupby("object_id")["score_max"]
            .max()
            .sum()
        ),
        "h5p_contents_in_course": int(statements.loc[statements["is_h5p"], "object_id"].nunique()),
        "blocks_in_course": int(
            statements.loc[
                statements["verb_name"].isin(["experienced", "played", "answered", "completed"])
                & (statements["object_id"] != statements["course_activity"]),
                "object_id",
            ].nunique()
        ),
    }
    for week in (2, 8):
        cutoff = week_cutoff(window, week)
        recomputed = weekly_snapshots_from_history(
            roster, statements[statements["timestamp"] <= cutoff], window, [week], **denominators
        ).set_index("user_id")
        in_db = stored[stored["snapshot_week"] == week].set_index("user_id").sort_index()
        assert set(in_db.index) == set(roster.loc[enrolled <= cutoff, "user_id"])
        assert _plain(in_db) == _plain(recomputed.loc[in_db.index])
        pure = everything[everything["snapshot_week"] == week].set_index("user_id")
        assert pure.loc[in_db.index, "mooc_grade_percentage"].equals(
            recomputed.loc[in_db.index, "mooc_grade_percentage"]
        )
