"""Course ingestion end to end: live simulator over HTTP, real SQLite and MariaDB."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
import requests
import sqlalchemy as sa
from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from dropout_pipelines.api.reads import students_page
from dropout_pipelines.api.shapes import MAX_PAGE_SIZE, StudentsQuery
from dropout_pipelines.clock import utc_now
from dropout_pipelines.ingest.resources import OpenEdxResource
from dropout_pipelines.orchestration.sensors import course_discovery_sensor, plan_discovery
from dropout_pipelines.partitions import courses_partitions
from dropout_pipelines.simulator.openedx import (
    DataParams,
    FaultPlan,
    SimulatorConfig,
    start_simulator,
)
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines_tests.ingest.helpers import ingest, point_at

DATA = DataParams(seed=11, today=date(2026, 11, 29), students_per_course=40)
RUNNING = "course-v1:DHQG-HCM+FM101+2026_S2"
SPECIAL = "course-v1:DHQG-HCM+DS.AI-201_x~v2+2026_S2"
ENDED = "course-v1:UEL+NLTT241225+2026_S1"


@pytest.fixture(scope="module")
def simulator():
    with start_simulator(SimulatorConfig(data=DATA)) as running:
        yield running


def _faulty(spec: str):
    return start_simulator(SimulatorConfig(data=DATA, faults=FaultPlan.parse(spec)))


def _all_courses(simulator) -> list[dict]:
    """The simulator's own account of its courses (enrollment counts, phase)."""
    return requests.get(f"{simulator.base_url}/simulator/info", timeout=10).json()["courses"]


def _course_truth(simulator, course_id: str) -> dict:
    return next(c for c in _all_courses(simulator) if c["course_id"] == course_id)


def _count(engine: sa.Engine, table: sa.Table, course_id: str) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.course_id == course_id)
        ).scalar_one()


def _state(engine: sa.Engine, course_id: str) -> dict[str, pd.DataFrame]:
    frames = {}
    with engine.connect() as connection:
        for table in (s.enrollments, s.mooc_grades, s.student_features, s.feature_snapshots):
            columns = [c for c in table.columns if c.name not in ("id", "section_breakdown")]
            rows = (
                connection.execute(sa.select(*columns).where(table.c.course_id == course_id))
                .mappings()
                .all()
            )
            frames[table.name] = pd.DataFrame(rows).sort_values("user_id").reset_index(drop=True)
    return frames


def test_first_ingestion_creates_schema_and_fills_every_table(monkeypatch, simulator, db_url):
    point_at(monkeypatch, simulator, db_url)
    run = ingest(RUNNING)
    assert run.success, run.failure_message()
    engine = get_engine(db_url)
    truth = _course_truth(simulator, RUNNING)
    assert _count(engine, s.enrollments, RUNNING) == truth["enrollments"]
    assert _count(engine, s.student_features, RUNNING) == truth["enrollments"]
    assert _count(engine, s.mooc_grades, RUNNING) == truth["active_enrollments"]
    assert _count(engine, s.h5p_results, RUNNING) > 0
    # the outline's graded problems and the grading policy, for the policy-weighted grade
    assert _count(engine, s.course_assessments, RUNNING) > 0
    assert _count(engine, s.course_grading_policy, RUNNING) == 3
    assert run.asset_metadata("student_features")["students"] == truth["enrollments"]
    snapshots = run.asset_metadata("feature_snapshots")
    assert snapshots["rows"] == truth["enrollments"]  # this week's live capture
    assert snapshots["weeks_rebuilt_rows"] > 0  # the weeks before it, from the stored history
    assert _count(engine, s.feature_snapshots, RUNNING) == (
        snapshots["rows"] + snapshots["weeks_rebuilt_rows"]
    )
    assert run.asset_metadata("mooc_enrollments")["pages"] > 0
    with engine.connect() as connection:
        course = connection.execute(
            sa.select(s.courses).where(s.courses.c.course_id == RUNNING)
        ).one()
        weeks = set(
            connection.execute(sa.select(s.feature_snapshots.c.snapshot_week).distinct()).scalars()
        )
    assert course.semester == "2026_S2" and course.final_grades_fetched_at is None
    # Visible to instructors at once, with the placeholder risk, before any prediction.
    students = students_page(engine, RUNNING, StudentsQuery(page_size=MAX_PAGE_SIZE))
    assert students.total == truth["enrollments"]
    assert all(student.is_placeholder for student in students.students)
    assert {student.fail_risk_score for student in students.students} == {50}
    start = datetime.fromisoformat(truth["start"].replace("Z", ""))
    assert weeks == set(range(1, (utc_now() - start).days // 7 + 2))
    assert any("page" in message for message in run.logs())


def test_rerun_upserts_without_duplicates(monkeypatch, simulator, sqlite_url):
    point_at(monkeypatch, simulator, sqlite_url)
    assert ingest(RUNNING).success
    engine = get_engine(sqlite_url)
    before = {t.name: _count(engine, t, RUNNING) for t in (s.h5p_results, s.feature_snapshots)}
    second = ingest(RUNNING)
    assert second.success
    assert second.asset_metadata("h5p_results")["new_results"] == 0
    assert {t.name: _count(engine, t, RUNNING) for t in (s.h5p_results, s.feature_snapshots)} == (
        before
    )


def test_ended_course_marks_final_grades(monkeypatch, simulator, sqlite_url):
    point_at(monkeypatch, simulator, sqlite_url)
    assert ingest(ENDED).success
    with get_engine(sqlite_url).connect() as connection:
        course = connection.execute(
            sa.select(s.courses).where(s.courses.c.course_id == ENDED)
        ).one()
    assert course.final_grades_fetched_at is not None
    assert course.final_grades_fetched_at > course.end_at
    # after the end, pass/fail is Open edX's own decision (the course grades API)
    with get_engine(sqlite_url).connect() as connection:
        sources = connection.execute(
            sa.select(s.mooc_grades.c.passed_source, sa.func.count())
            .where(s.mooc_grades.c.course_id.in_([ENDED, RUNNING]))
            .group_by(s.mooc_grades.c.course_id, s.mooc_grades.c.passed_source)
        ).all()
    assert {source for source, _ in sources} == {"open_edx"}


def test_course_id_with_special_characters(monkeypatch, simulator, db_url):
    point_at(monkeypatch, simulator, db_url)
    run = ingest(SPECIAL)
    assert run.success, run.failure_message()
    assert (
        _count(get_engine(db_url), s.student_features, SPECIAL)
        == _course_truth(simulator, SPECIAL)["enrollments"]
    )


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        ("wrong_schema=/completion-aggregator", "completion-aggregator"),
        ("truncate=/api/grades", "/api/grades"),
        ("wrong_schema=/xAPI/statements", "statements"),
    ],
)
def test_malformed_payload_fails_naming_endpoint_and_keeps_previous_state(
    monkeypatch, simulator, db_url, fault, named
):
    point_at(monkeypatch, simulator, db_url)
    assert ingest(RUNNING).success
    engine = get_engine(db_url)
    before = _state(engine, RUNNING)
    with _faulty(fault) as broken:
        point_at(monkeypatch, broken, db_url)
        run = ingest(RUNNING)
    assert not run.success
    message = run.failure_message()
    assert named in message and "nothing written" in message
    after = _state(engine, RUNNING)
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


def test_database_failure_mid_write_rolls_back_the_whole_course(monkeypatch, simulator, sqlite_url):
    """A real database error on the last table of the transaction (a trigger that refuses
    snapshot writes) must leave every table of the course as it was."""
    point_at(monkeypatch, simulator, sqlite_url)
    assert ingest(RUNNING).success
    engine = get_engine(sqlite_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE student_features SET mooc_grade_percentage = -1")
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse_snapshots BEFORE UPDATE ON feature_snapshots "
            "BEGIN SELECT RAISE(ABORT, 'disk full (simulated by a trigger)'); END"
        )
    before = _state(engine, RUNNING)
    run = ingest(RUNNING)
    assert not run.success
    assert "disk full" in run.failure_message()
    after = _state(engine, RUNNING)
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)
    assert (after["student_features"]["mooc_grade_percentage"] == -1).all()


def test_wrong_client_secret_names_the_credential(monkeypatch, simulator, sqlite_url, capfd):
    point_at(monkeypatch, simulator, sqlite_url, OPENEDX_CLIENT_SECRET="not-the-secret-xyz")
    run = ingest(RUNNING)
    assert not run.success
    message = run.failure_message()
    assert "OPENEDX_CLIENT_SECRET" in message
    assert "not-the-secret-xyz" not in message + "\n".join(run.logs())
    assert "not-the-secret-xyz" not in capfd.readouterr().err


def test_non_staff_account_is_told_it_needs_staff_rights(monkeypatch, simulator, sqlite_url):
    credentials = simulator.config.credentials
    point_at(
        monkeypatch,
        simulator,
        sqlite_url,
        OPENEDX_CLIENT_ID=credentials.learner_client_id,
        OPENEDX_CLIENT_SECRET=credentials.learner_client_secret,
    )
    run = ingest(RUNNING)
    assert not run.success
    assert "staff" in run.failure_message()


def test_secrets_never_reach_logs_or_run_config(monkeypatch, simulator, db_url, capfd):
    point_at(monkeypatch, simulator, db_url)
    run = ingest(RUNNING)
    assert run.success
    credentials = simulator.config.credentials
    secrets = [credentials.client_secret, credentials.lrs_password]
    password = sa.make_url(db_url).password
    if password:
        secrets.append(password)
    logged = "\n".join(run.logs()) + str(run.result.dagster_run.run_config)
    captured = capfd.readouterr()
    for secret in secrets:
        assert secret not in logged
        assert secret not in captured.out + captured.err


def test_plan_discovery():
    new, ingest_now = plan_discovery(["a", "b", "c"], ["m"], ["a"])
    assert new == ["b", "c", "m"] and ingest_now == ["b", "c"]
    assert plan_discovery(["a"], [], ["a"]) == ([], [])


def test_course_discovery_sensor_adds_partitions_and_requests_runs(
    monkeypatch, simulator, sqlite_url
):
    point_at(monkeypatch, simulator, sqlite_url)
    instance = DagsterInstance.ephemeral()
    resources = {
        "openedx": OpenEdxResource(
            base_url=simulator.base_url,
            client_id=simulator.config.credentials.client_id,
            client_secret=simulator.config.credentials.client_secret,
        ),
        "warehouse": WarehouseResource(),
    }
    context = build_sensor_context(instance=instance, resources=resources)
    result = course_discovery_sensor(context)
    assert isinstance(result, SensorResult)
    listed = {c["course_id"] for c in _all_courses(simulator)}
    (refresh,) = result.run_requests  # one batch: ingest, then score, every new course
    assert set(refresh.run_config["ops"]["plan_course_refresh"]["config"]["course_ids"]) == listed
    (request,) = result.dynamic_partitions_requests
    assert set(request.partition_keys) == listed
    instance.add_dynamic_partitions(courses_partitions.name, list(request.partition_keys))
    again = course_discovery_sensor(build_sensor_context(instance=instance, resources=resources))
    assert isinstance(again, SkipReason)
