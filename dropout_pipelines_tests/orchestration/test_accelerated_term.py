"""A whole term with nobody launching anything.

The simulator's clock and the product's clock move together, a week at a time; at each step
the daemon's own scheduler and sensor iterations evaluate the real schedules and sensors at
the injected moment, and a real `dagster-daemon` process launches every run they request
from the instance's queue (and retries the one that fails). Step by step:

- discovery finds the courses, refreshes them and scores them with the default model;
- the closed semester is trained on as soon as its courses have final grades, and the new
  model serves;
- each week adds a live snapshot and new predictions whose scores move with the data;
- a course announced mid-term appears and is scored with the model that serves;
- a refresh that fails (the LRS rejects it once) is retried and leaves the warehouse whole;
- after the running semester ends, its final grades land once, it is no longer refreshed,
  and it is trained on.

Once on the SQLite instance (the default) over the whole term, once on MySQL/MariaDB
instance storage (`deploy/dagster.mysql.yaml`) over its first weeks.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
import requests
import sqlalchemy as sa
from dagster import DagsterRunStatus

from dropout_pipelines.clock import utc_now
from dropout_pipelines.predict.model_store import LocalModelStore
from dropout_pipelines.predict.registry import register_model
from dropout_pipelines.simulator.openedx import DataParams, SimulatorConfig, start_simulator
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines_tests.predict.conftest import DEFAULT_FEATURES, fit_model
from dropout_pipelines_tests.support.daemon import MYSQL_INSTANCE, SQLITE_INSTANCE, daemon_term
from dropout_pipelines_tests.support.dagster_instances import mysql_env

pytestmark = pytest.mark.slow

# Sixty days ahead of the wall clock: the ticks this test makes are in the future of the real
# daemon's own clock, so the daemon only launches and retries what the ticks queue.
TODAY = date.today() + timedelta(days=60)
SEED_MODEL = "seed"
# The running semester started 9 weeks before today and runs 16; its courses start on
# successive days, and the late one ends with them.
WEEKS_TO_THE_END = 8
UNTIL_THE_END = 12  # weeks at most, stopping once every course of the semester closed


def _sim(simulator, path: str, **params) -> dict:
    method = requests.get if path == "/_sim/now" else requests.post
    response = method(f"{simulator.base_url}{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def _frame(engine: sa.Engine, query: sa.Select) -> pd.DataFrame:
    with engine.connect() as connection:
        result = connection.execute(query)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def _latest(engine: sa.Engine) -> pd.DataFrame:
    p = s.predictions
    return _frame(
        engine,
        sa.select(p.c.course_id, p.c.user_id, p.c.model_name, p.c.fail_risk_score).where(
            p.c.latest_serving_slot == 1
        ),
    )


def _courses(engine: sa.Engine) -> pd.DataFrame:
    c = s.courses
    return _frame(
        engine,
        sa.select(c.c.course_id, c.c.semester, c.c.end_at, c.c.final_grades_fetched_at),
    ).set_index("course_id")


def _default_model(engine: sa.Engine) -> str:
    r = s.model_registry
    with engine.connect() as connection:
        return connection.execute(
            sa.select(r.c.model_name, r.c.model_version).where(r.c.is_default.is_(True))
        ).one()


def _gate_reasons(engine: sa.Engine) -> list:
    r = s.model_registry
    with engine.connect() as connection:
        return [
            (name, (metrics or {}).get("gate", {}).get("reason"))
            for name, metrics in connection.execute(sa.select(r.c.model_name, r.c.metrics))
        ]


def _snapshot_weeks(engine: sa.Engine, course_id: str) -> set[int]:
    fs = s.feature_snapshots
    with engine.connect() as connection:
        return set(
            connection.execute(
                sa.select(fs.c.snapshot_week).where(fs.c.course_id == course_id).distinct()
            ).scalars()
        )


def _assert_consistent(engine: sa.Engine) -> None:
    """Every student with features has exactly one latest serving prediction."""
    sf, p = s.student_features, s.predictions
    with engine.connect() as connection:
        students = connection.execute(sa.select(sa.func.count()).select_from(sf)).scalar_one()
        latest = connection.execute(
            sa.select(sa.func.count()).select_from(p).where(p.c.latest_serving_slot == 1)
        ).scalar_one()
        doubled = connection.execute(
            sa.select(p.c.user_id, p.c.course_id)
            .where(p.c.latest_serving_slot == 1)
            .group_by(p.c.user_id, p.c.course_id)
            .having(sa.func.count() > 1)
        ).all()
    assert latest == students and not doubled


@pytest.fixture(params=[("sqlite", UNTIL_THE_END), ("mariadb", 2)], ids=lambda p: p[0])
def term(request, tmp_path, monkeypatch):
    """(DaemonTerm, simulator, warehouse engine, weeks to run) on one kind of instance."""
    kind, weeks = request.param
    simulator = start_simulator(
        SimulatorConfig(
            data=DataParams(
                seed=21, today=TODAY, courses_per_semester=2, students_per_course=80,
                late_courses=1, late_announce_days=10,
            )
        )
    )  # fmt: skip
    env = {
        **simulator.environment(),
        "DROPOUT_MODELS_DIR": str(tmp_path / "models"),
        "DROPOUT_DEFAULT_PREDICT_FREQUENCY": "weekly",
        "DROPOUT_REFRESH_BATCH_SIZE": "50",
    }
    instance_yaml = SQLITE_INSTANCE
    if kind == "sqlite":
        env["DROPOUT_DB_URL"] = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    else:
        server = request.getfixturevalue("mariadb_server")
        env["DROPOUT_DB_URL"] = server.url_for(server.create_database())
        env |= mysql_env(server.url_for(server.create_database("dagster_instance")))
        instance_yaml = MYSQL_INSTANCE
    engine = get_engine(env["DROPOUT_DB_URL"])
    create_schema(engine)
    stored = LocalModelStore(tmp_path / "models").save(
        SEED_MODEL, "1", fit_model(DEFAULT_FEATURES), list(DEFAULT_FEATURES), {}
    )
    register_model(engine, SEED_MODEL, "1", stored.model_path, make_default=True)
    start = datetime.fromisoformat(_sim(simulator, "/_sim/now")["now"].replace("Z", "+00:00"))
    try:
        with daemon_term(tmp_path, env, start, monkeypatch, instance_yaml) as daemon:
            daemon.stop_instigators("predictions_freshness_schedule")
            yield daemon, simulator, engine, weeks
    finally:
        simulator.stop()


def _advance(term_, simulator, **amount) -> None:
    now = _sim(simulator, "/_sim/advance", **amount)["now"]
    term_.set_now(datetime.fromisoformat(now.replace("Z", "+00:00")))


def _step(term_, start_daemon: bool = False) -> list:
    """One tick at the current moment, then every run it queued (retries included) done.
    The daemon starts after the first tick, whose future timestamps keep it from ticking
    on the wall clock itself."""
    before = {run.run_id for run in term_.instance.get_runs()}
    term_.tick()
    if start_daemon:
        term_.start_daemon()
    runs = term_.wait_for_runs(timeout_s=300)
    return [run for run in runs if run.run_id not in before]


def _settled(runs: list) -> bool:
    """Every run succeeded, or failed and was retried until a retry succeeded."""
    retry_of = {run.parent_run_id: run for run in runs if run.parent_run_id}

    def ends_well(run) -> bool:
        while run.status != DagsterRunStatus.SUCCESS:
            run = retry_of.get(run.run_id)
            if run is None:
                return False
        return True

    return all(ends_well(run) for run in runs)


def test_a_term_runs_by_itself(term):
    daemon, simulator, engine, weeks = term

    # Discovery: every listed course is refreshed and scored with the default model.
    new = _step(daemon, start_daemon=True)
    assert [run.job_name for run in new] == ["refresh_courses_job"]
    assert all(run.status == DagsterRunStatus.SUCCESS for run in new), daemon.daemon_log()[-3000:]
    courses = _courses(engine)
    latest = _latest(engine)
    assert set(latest["course_id"]) == set(courses.index)
    assert set(latest["model_name"]) == {SEED_MODEL}
    _assert_consistent(engine)
    closed = courses[courses["final_grades_fetched_at"].notna()]
    running = sorted(courses.index.difference(closed.index))
    assert len(closed) == 2 and len(running) == 2
    first_semester = closed["semester"].iloc[0]

    # The closed semester is trained on at the next hourly tick; the new model serves.
    _advance(daemon, simulator, hours=1)
    new = _step(daemon)
    assert "train_semester_job" in {run.job_name for run in new}
    assert all(run.status == DagsterRunStatus.SUCCESS for run in new)
    name, version = _default_model(engine)
    assert name == "fail_risk" and version.startswith(first_semester), _gate_reasons(engine)

    watched = running[0]
    scores = latest[latest["course_id"] == watched].set_index("user_id")["fail_risk_score"]
    weeks_seen = _snapshot_weeks(engine, watched)
    final_fetch = {}
    for week in range(1, weeks + 1):
        semester = courses[courses["semester"] == courses.loc[watched, "semester"]]
        if semester["final_grades_fetched_at"].notna().all():
            break  # the running semester is over: every course has its final grades
        if week == 2:  # the LRS turns the first refresh request of this tick away
            _sim(simulator, "/_sim/faults", server_errors=1, status=401, prefix="/xAPI")
        _advance(daemon, simulator, days=7)
        new = _step(daemon)
        refreshes = [run for run in new if run.job_name == "refresh_courses_job"]
        assert refreshes, f"week {week}: no refresh was launched"
        if week == 2:
            failed = [run for run in refreshes if run.status == DagsterRunStatus.FAILURE]
            assert failed, "the injected LRS failure did not fail a run"
            assert any(run.parent_run_id == failed[0].run_id for run in refreshes), (
                "the failed refresh was not retried"
            )
        assert _settled(new), daemon.daemon_log()[-3000:]
        _assert_consistent(engine)
        courses = _courses(engine)
        latest = _latest(engine)
        if watched not in final_fetch:
            # a live snapshot for this week, and scores that moved with the data
            weeks_now = _snapshot_weeks(engine, watched)
            assert max(weeks_now) > max(weeks_seen)
            weeks_seen = weeks_now
            moved = latest[latest["course_id"] == watched].set_index("user_id")["fail_risk_score"]
            assert (moved.reindex(scores.index) != scores).any()
            scores = moved
        for course_id in running:
            fetched = courses.loc[course_id, "final_grades_fetched_at"]
            if pd.notna(fetched):
                final_fetch.setdefault(course_id, fetched)
                assert fetched == final_fetch[course_id]  # final grades land once
        late = courses.index.difference([*closed.index, *running])
        if len(late):
            # the course announced mid-term is scored with the model that serves now
            assert set(latest.loc[latest["course_id"].isin(late), "model_name"]) == {name}

    if weeks >= WEEKS_TO_THE_END:
        assert set(final_fetch) == set(running)  # the running semester ended
        after_the_end = _step(daemon)
        _advance(daemon, simulator, days=7)
        after_the_end += _step(daemon)
        refreshed = [
            run for run in after_the_end
            if run.job_name == "refresh_courses_job"
            and set(run.run_config["ops"]["plan_course_refresh"]["config"]["course_ids"])
            & set(running)
        ]  # fmt: skip
        assert not refreshed, "a closed course was refreshed again"
        # the semester that just closed is trained on (its sensor ticks hourly)
        trained = [
            run for run in daemon.instance.get_runs()
            if run.job_name == "train_semester_job"
            and run.tags.get("dagster/partition") == courses.loc[watched, "semester"]
        ]  # fmt: skip
        assert trained and _settled(trained), _gate_reasons(engine)
        assert _courses(engine).loc[running, "final_grades_fetched_at"].tolist() == [
            final_fetch[course_id] for course_id in running
        ]
    assert utc_now() == daemon.now.replace(tzinfo=None)
