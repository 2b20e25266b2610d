"""`predictions_are_fresh` through `freshness_check_job` (no materialization), at an injected
time, on both backends; and its hourly schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, DefaultScheduleStatus

from dropout_pipelines.clock import frozen_clock
from dropout_pipelines.definitions import defs
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines_tests.support.dagster_runs import RunOutcome

NOW = datetime(2026, 11, 30, 9, 0)
DAILY = "course-v1:DHQG-HCM+FM101+2026_S2"
HOURLY = "course-v1:UEL+NLTT241225+2026_12"
WEEKLY = "course-v1:UEL+WEEK101+2026_S2"
UNMAPPED = "course-v1:UEL+NEW101+2026_S2"
NEVER_SCORED = "course-v1:UEL+FRESHLY_INGESTED+2026_S2"
MANUAL = "course-v1:UEL+MAN101+2026_S2"
ENDED = "course-v1:UEL+OLD101+2026_S1"
STUDENTS = (1, 2, 3)


@pytest.fixture
def warehouse(db_url, monkeypatch) -> sa.Engine:
    monkeypatch.setenv("DROPOUT_DB_URL", db_url)
    monkeypatch.delenv("DROPOUT_DEFAULT_PREDICT_FREQUENCY", raising=False)
    engine = get_engine(db_url)
    create_schema(engine)
    return engine


def add_course(
    engine: sa.Engine,
    course_id: str,
    predicted_ago: timedelta | None,
    frequency: str | None = "daily",
    auto_predict: bool = True,
    end_at: datetime | None = None,
    final_grades_fetched_at: datetime | None = None,
) -> None:
    """A course with features for STUDENTS, a mapping (unless `frequency` is None) and,
    unless `predicted_ago` is None, one scoring run of every student that long ago."""
    with engine.begin() as connection:
        connection.execute(
            sa.insert(s.courses),
            [{"course_id": course_id, "discovered_at": NOW - timedelta(days=90),
              "end_at": end_at, "final_grades_fetched_at": final_grades_fetched_at}],
        )  # fmt: skip
        connection.execute(
            sa.insert(s.student_features),
            [{"user_id": user, "course_id": course_id, "created_at": NOW, "updated_at": NOW}
             for user in STUDENTS],
        )  # fmt: skip
        if frequency is not None:
            connection.execute(
                sa.insert(s.course_model_mapping),
                [{"course_id": course_id, "model_name": "fm101", "auto_predict": auto_predict,
                  "predict_frequency": frequency, "updated_at": NOW}],
            )  # fmt: skip
    if predicted_ago is not None:
        add_predictions(engine, course_id, NOW - predicted_ago, STUDENTS)


def add_predictions(
    engine: sa.Engine, course_id: str, predicted_at: datetime, users: tuple[int, ...]
) -> None:
    """A scoring run of `users` at `predicted_at`: their previous latest rows retired."""
    p = s.predictions
    with engine.begin() as connection:
        connection.execute(
            sa.update(p)
            .where(p.c.course_id == course_id, p.c.user_id.in_(users))
            .values(is_latest=False)
        )
        connection.execute(
            sa.insert(p),
            [{"user_id": user, "course_id": course_id, "model_name": "fm101",
              "model_version": "1", "fail_risk_score": 12.5, "risk_level": "LOW",
              "is_latest": True, "purpose": "serving", "run_id": f"run-{predicted_at:%j%H}",
              "predicted_at": predicted_at}
             for user in users],
        )  # fmt: skip


def run_freshness_check() -> dict:
    """`freshness_check_job` at NOW: the check's outcome and metadata."""
    instance = DagsterInstance.ephemeral()
    with frozen_clock(NOW):
        result = defs.resolve_job_def("freshness_check_job").execute_in_process(
            instance=instance, raise_on_error=False
        )
    run = RunOutcome(result, instance)
    assert run.success, run.failure_message()
    assert not result.get_asset_materialization_events()  # the check alone
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "predictions_are_fresh"
    assert evaluation.severity.value == "ERROR"
    metadata = {key: getattr(value, "value", value) for key, value in evaluation.metadata.items()}
    return {"passed": evaluation.passed, **metadata}


def stale_ids(outcome: dict) -> list[str]:
    return [course["course_id"] for course in outcome["stale"]]


def test_recent_predictions_pass(warehouse):
    add_course(warehouse, DAILY, timedelta(hours=47))
    add_course(warehouse, HOURLY, timedelta(minutes=110), frequency="hourly")
    add_course(warehouse, WEEKLY, timedelta(days=13), frequency="weekly")
    add_course(warehouse, UNMAPPED, timedelta(hours=30), frequency=None)
    outcome = run_freshness_check()
    assert outcome["passed"] is True
    assert outcome["stale_courses"] == 0 and outcome["courses_checked"] == 4


def test_old_predictions_fail_naming_the_course_and_its_age(warehouse, monkeypatch):
    add_course(warehouse, DAILY, timedelta(hours=49))
    add_course(warehouse, HOURLY, timedelta(hours=3), frequency="hourly")
    add_course(warehouse, WEEKLY, timedelta(days=13), frequency="weekly")
    add_course(warehouse, NEVER_SCORED, None)
    # Not judged: scored by hand only, or automatic prediction switched off.
    add_course(warehouse, MANUAL, timedelta(days=60), frequency="manual")
    add_course(warehouse, UNMAPPED, timedelta(days=60), frequency="daily", auto_predict=False)

    outcome = run_freshness_check()
    assert outcome["passed"] is False
    assert outcome["stale_courses"] == 3 and outcome["courses_checked"] == 4
    # Never scored first, then the oldest.
    assert stale_ids(outcome) == [NEVER_SCORED, DAILY, HOURLY]
    by_id = {course["course_id"]: course for course in outcome["stale"]}
    assert by_id[DAILY]["age_hours"] == 49.0 and by_id[DAILY]["frequency"] == "daily"
    assert by_id[HOURLY]["age_hours"] == 3.0
    assert by_id[NEVER_SCORED]["age_hours"] is None

    # One student scored on demand just now does not make the course fresh.
    add_predictions(warehouse, DAILY, NOW - timedelta(minutes=5), (2,))
    assert DAILY in stale_ids(run_freshness_check())
    # The next scheduled run scores everybody: fresh again.
    add_predictions(warehouse, DAILY, NOW - timedelta(minutes=1), STUDENTS)
    assert DAILY not in stale_ids(run_freshness_check())


def test_unmapped_courses_follow_the_default_frequency(warehouse, monkeypatch):
    add_course(warehouse, UNMAPPED, timedelta(days=5), frequency=None)
    assert stale_ids(run_freshness_check()) == [UNMAPPED]
    monkeypatch.setenv("DROPOUT_DEFAULT_PREDICT_FREQUENCY", "weekly")
    assert run_freshness_check()["passed"] is True
    monkeypatch.setenv("DROPOUT_DEFAULT_PREDICT_FREQUENCY", "manual")
    outcome = run_freshness_check()
    assert outcome["passed"] is True and outcome["courses_checked"] == 0


def test_a_course_closed_after_its_end_is_exempt(warehouse):
    end = NOW - timedelta(days=40)
    add_course(
        warehouse,
        ENDED,
        timedelta(days=38),
        end_at=end,
        final_grades_fetched_at=end + timedelta(days=2),
    )
    # Ended, but its grades were last fetched before the end: still refreshed, so judged.
    add_course(
        warehouse,
        DAILY,
        timedelta(days=38),
        end_at=end,
        final_grades_fetched_at=end - timedelta(days=1),
    )
    outcome = run_freshness_check()
    assert stale_ids(outcome) == [DAILY]
    assert outcome["closed_courses_exempt"] == 1


def test_the_first_twenty_stale_courses_are_listed_and_all_counted(warehouse):
    for index in range(23):
        add_course(warehouse, f"course-v1:ORG+C{index:02d}+2026_S2", timedelta(days=3 + index))
    outcome = run_freshness_check()
    assert outcome["stale_courses"] == 23
    assert len(outcome["stale"]) == 20
    assert outcome["stale"][0]["course_id"] == "course-v1:ORG+C22+2026_S2"  # oldest first


def test_an_empty_warehouse_passes(db_url, monkeypatch):
    monkeypatch.setenv("DROPOUT_DB_URL", db_url)
    outcome = run_freshness_check()
    assert outcome["passed"] is True and outcome["courses_checked"] == 0


def test_the_schedule_runs_the_check_hourly_by_default():
    schedule = defs.resolve_schedule_def("predictions_freshness_schedule")
    assert schedule.job_name == "freshness_check_job"
    assert schedule.cron_schedule == "30 * * * *"
    assert schedule.default_status == DefaultScheduleStatus.RUNNING
    job = defs.resolve_job_def("freshness_check_job")
    assert job.partitions_def is None
