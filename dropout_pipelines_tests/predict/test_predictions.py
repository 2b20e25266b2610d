"""The predictions asset, on-demand prediction, comparison and schedules — real models,
real databases (SQLite and MariaDB), concurrent runs as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from dagster import (
    DagsterInstance,
    RunRequest,
    build_schedule_context,
    instance_for_test,
)

from dropout_pipelines.api.reads import students_page
from dropout_pipelines.api.shapes import MAX_PAGE_SIZE, StudentsQuery
from dropout_pipelines.partitions import courses_partitions
from dropout_pipelines.predict.comparison import compare_models, risk_timeline
from dropout_pipelines.predict.registry import map_course, register_model
from dropout_pipelines.predict.service import NoFeaturesError, predict_course, predict_student
from dropout_pipelines.predict.writes import score_and_save
from dropout_pipelines.settings import PROJECT_ROOT
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import frame_records
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines.warehouse.risk_levels import risk_levels
from dropout_pipelines.warehouse.sql_files import named_query
from dropout_pipelines_tests.support.dagster_runs import RunOutcome

COURSE = "course-v1:O'Reilly+ML_101%+2026_S2"
NOW = datetime(2026, 11, 29, 9, 0, 0)
STUDENTS = 120


def _features(course_id: str = COURSE, students: int = STUDENTS, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user_id": np.arange(1, students + 1),
            "course_id": course_id,
            "mooc_grade_percentage": rng.uniform(0, 100, students),
            "mooc_completion_rate": rng.uniform(0, 1, students),
            "h5p_score_rate": rng.uniform(0, 1, students),
            "h5p_completion_rate": rng.uniform(0, 1, students),
            "days_since_last_activity": rng.integers(0, 40, students),
            "week_of_course": 9,
            "created_at": NOW,
            "updated_at": NOW,
        }
    )


def _load_features(engine: sa.Engine, frame: pd.DataFrame) -> None:
    with engine.begin() as connection:
        connection.execute(sa.insert(s.student_features), frame_records(frame))


@pytest.fixture
def course(warehouse, stored_model):
    """A course with features and a registered default model (fm101 v1)."""
    _load_features(warehouse, _features())
    model = stored_model("fm101", "1")
    register_model(warehouse, "fm101", "1", model.model_path, make_default=True)
    return warehouse


def _latest(engine: sa.Engine, course_id: str = COURSE) -> pd.DataFrame:
    p = s.predictions
    with engine.connect() as connection:
        rows = (
            connection.execute(
                sa.select(p).where(p.c.course_id == course_id, p.c.latest_serving_slot == 1)
            )
            .mappings()
            .all()
        )
    return pd.DataFrame(rows)


def _count(engine: sa.Engine, *where) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(s.predictions).where(*where)
        ).scalar_one()


def test_predict_course_scores_everyone_and_keeps_history(course):
    first = predict_course(course, COURSE, "run-1", NOW)
    assert first.summary()["students"] == STUDENTS
    latest = _latest(course)
    assert len(latest) == STUDENTS and set(latest["run_id"]) == {"run-1"}
    assert latest["fail_risk_score"].between(0, 100).all()
    assert (risk_levels(latest["fail_risk_score"]) == latest["risk_level"]).all()
    assert set(latest["model_name"]) == {"fm101"}
    # every saved prediction says why: up to three features that raised the risk
    reasons = [json.loads(r) if isinstance(r, str) else r for r in latest["reasons"]]
    assert all(len(r) <= 3 for r in reasons) and any(reasons)
    flagged = latest["fail_risk_score"].idxmax()
    assert {"feature", "value", "contribution"} <= set(reasons[flagged][0])
    predict_course(course, COURSE, "run-2", NOW.replace(hour=10))
    assert _count(course, s.predictions.c.course_id == COURSE) == 2 * STUDENTS
    assert set(_latest(course)["run_id"]) == {"run-2"}
    timeline = risk_timeline(course, 1, COURSE)
    assert [point["run_id"] for point in timeline] == ["run-1", "run-2"]
    assert [bool(point["is_latest"]) for point in timeline] == [False, True]


def test_scoring_that_fails_after_the_retire_was_sent_leaves_the_latest_rows(course):
    """The retire runs while the scores are made: a scoring error must undo it."""
    predict_course(course, COURSE, "run-1", NOW)

    def failing_score() -> pd.DataFrame:
        raise RuntimeError("the model crashed mid-course")

    with pytest.raises(RuntimeError, match="mid-course"):
        score_and_save(course, COURSE, failing_score, "run-2", NOW.replace(hour=10))
    latest = _latest(course)
    assert len(latest) == STUDENTS and set(latest["run_id"]) == {"run-1"}
    assert _count(course, s.predictions.c.course_id == COURSE) == STUDENTS


def test_scores_match_the_model_on_the_same_matrix(course, model_store):
    predict_course(course, COURSE, "run-1", NOW)
    loaded = model_store.load("fm101", "1")
    features = _features().set_index("user_id")
    expected = loaded.model.predict_proba(features[loaded.features].astype(float))[:, 1] * 100
    saved = _latest(course).set_index("user_id").loc[features.index, "fail_risk_score"]
    np.testing.assert_allclose(saved.to_numpy(), np.round(expected, 2), atol=0.01)


def test_shadow_and_ab_models(course, stored_model):
    for name in ("challenger", "arm_b"):
        model = stored_model(name, "1", seed=5)
        register_model(course, name, "1", model.model_path)
    map_course(
        course, COURSE, "fm101", shadow_model_name="challenger", ab_model_name="arm_b", ab_share=0.5
    )
    predict_course(course, COURSE, "run-ab", NOW)
    latest = _latest(course)
    assert len(latest) == STUDENTS
    assert set(latest["ab_arm"]) == {"A", "B"}
    assert set(latest.loc[latest["ab_arm"] == "B", "model_name"]) == {"arm_b"}
    assert set(latest.loc[latest["ab_arm"] == "A", "model_name"]) == {"fm101"}
    shadow = _count(course, s.predictions.c.purpose == "shadow")
    assert shadow == STUDENTS
    assert (
        _count(course, s.predictions.c.purpose == "shadow", s.predictions.c.is_latest.is_(True))
        == 0
    )
    # The same students land in the same arms on the next run.
    predict_course(course, COURSE, "run-ab-2", NOW.replace(hour=11))
    again = _latest(course).set_index("user_id")["ab_arm"]
    assert (
        again.sort_index().tolist() == latest.set_index("user_id")["ab_arm"].sort_index().tolist()
    )
    comparison = compare_models(course, COURSE)
    assert comparison["run_id"] == "run-ab-2"
    purposes = {(m["model_name"], m["purpose"]) for m in comparison["models"]}
    assert purposes == {("fm101", "serving"), ("arm_b", "serving"), ("challenger", "shadow")}
    assert comparison["agreement"]["students"] == STUDENTS
    assert 0 <= comparison["agreement"]["level_agreement"] <= 1
    json.dumps(comparison, default=str)  # JSON-ready for asset metadata (no DECIMAL)
    assert all(isinstance(m["mean_risk"], float) for m in comparison["models"])


def test_missing_feature_is_named(course, stored_model):
    model = stored_model("needs_more", "1", features=("mooc_grade_percentage", "days_enrolled_x"))
    with pytest.raises(Exception, match="days_enrolled_x"):
        register_model(course, "needs_more", "1", model.model_path, make_default=True)
        predict_course(course, COURSE, "run-x", NOW)


def test_predict_student_returns_saved_or_makes_one(course):
    made = predict_student(course, 7, COURSE, NOW)
    assert made["run_id"] == "on_demand" and made["user_id"] == 7
    assert _count(course) == 1
    assert predict_student(course, 7, COURSE, NOW)["id"] == made["id"]
    with pytest.raises(NoFeaturesError, match="ingest the course first"):
        predict_student(course, 99_999, COURSE, NOW)


def test_students_query_shows_placeholder_then_predictions(course):
    everyone = StudentsQuery(page_size=MAX_PAGE_SIZE)
    before = students_page(course, COURSE, everyone).students
    assert {row.fail_risk_score for row in before} == {50}
    predict_course(course, COURSE, "run-1", NOW)
    after = students_page(course, COURSE, everyone).students
    with course.connect() as connection:
        stats = connection.execute(named_query("course_statistics"), {"course_id": COURSE}).one()
    assert len(after) == STUDENTS and not any(row.is_placeholder for row in after)
    assert stats.total_students == STUDENTS


CONCURRENT_RUN = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    from dropout_pipelines.predict.service import predict_course
    from dropout_pipelines.warehouse.engine import get_engine
    url, course, run_id = sys.argv[1:4]
    for round_ in range(3):
        predict_course(get_engine(url), course, f"{run_id}-{round_}", datetime.now())
    """
)


def test_concurrent_runs_on_mariadb_keep_one_latest_and_every_row(
    mariadb_url, stored_model, monkeypatch, tmp_path
):
    engine = get_engine(mariadb_url)
    from dropout_pipelines.warehouse.create import create_schema

    create_schema(engine)
    _load_features(engine, _features(students=2_000))
    model = stored_model("fm101", "1")
    register_model(engine, "fm101", "1", model.model_path, make_default=True)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_RUN, mariadb_url, COURSE, f"proc{i}"],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
    assert _count(engine, s.predictions.c.course_id == COURSE) == 3 * 3 * 2_000
    latest = _latest(engine)
    assert len(latest) == 2_000 and latest["user_id"].is_unique
    assert latest["run_id"].nunique() == 1  # the last writer's run wins for everyone


def _schedule_context(instance: DagsterInstance, db_url: str):
    from dropout_pipelines.definitions import defs

    return build_schedule_context(
        instance=instance,
        repository_def=defs.get_repository_def(),
        scheduled_execution_time=datetime(2026, 11, 29, 2, 0),
        resources={"warehouse": WarehouseResource(db_url_env="TEST_SCHEDULE_DB_URL")},
    )


def test_schedules_follow_the_mapping_table_at_every_tick(
    course, stored_model, db_url, monkeypatch
):
    from dropout_pipelines.orchestration.schedules import predict_daily, predict_hourly

    monkeypatch.setenv("TEST_SCHEDULE_DB_URL", db_url)
    monkeypatch.delenv("DROPOUT_DEFAULT_PREDICT_FREQUENCY", raising=False)
    monkeypatch.delenv("DROPOUT_REFRESH_BATCH_SIZE", raising=False)
    with instance_for_test() as instance:
        _check_schedules(instance, course, db_url, predict_daily, predict_hourly, monkeypatch)


def _batches(result) -> list[list[str]]:
    assert all(isinstance(r, RunRequest) for r in result.run_requests)
    return [
        r.run_config["ops"]["plan_course_refresh"]["config"]["course_ids"]
        for r in result.run_requests
    ]


def _check_schedules(instance, course, db_url, predict_daily, predict_hourly, monkeypatch) -> None:
    other = "course-v1:UEL+NLTT241225+2026_S2"
    unmapped = "course-v1:UEL+NEW101+2026_S2"
    closed = "course-v1:UEL+OLD101+2026_S1"
    instance.add_dynamic_partitions(courses_partitions.name, [COURSE, other, unmapped, closed])
    map_course(course, COURSE, "fm101", frequency="daily")
    map_course(course, other, "fm101", frequency="manual")
    end = datetime(2026, 7, 20)
    with course.begin() as connection:  # ended, final grades fetched after the end: closed
        connection.execute(
            sa.insert(s.courses),
            [
                {"course_id": closed, "discovered_at": end, "end_at": end,
                 "final_grades_fetched_at": end.replace(day=22)},
                {"course_id": unmapped, "discovered_at": end, "end_at": datetime(2099, 1, 1),
                 "final_grades_fetched_at": None},
            ],
        )  # fmt: skip

    daily = predict_daily.evaluate_tick(_schedule_context(instance, db_url))
    # mapped daily, and the unmapped course on the default frequency; never the closed one
    assert _batches(daily) == [sorted([COURSE, unmapped])]
    assert daily.run_requests[0].run_key == "refresh_daily:20261129T0200:0"
    hourly = predict_hourly.evaluate_tick(_schedule_context(instance, db_url))
    assert not hourly.run_requests and hourly.skip_message

    # Edit the table: the next tick follows it, no reload.
    map_course(course, COURSE, "fm101", frequency="hourly")
    map_course(course, other, "fm101", frequency="hourly")
    hourly = predict_hourly.evaluate_tick(_schedule_context(instance, db_url))
    assert _batches(hourly) == [sorted([COURSE, other])]
    assert _batches(predict_daily.evaluate_tick(_schedule_context(instance, db_url))) == [
        [unmapped]
    ]
    map_course(course, other, "fm101", frequency="hourly", auto_predict=False)
    hourly = predict_hourly.evaluate_tick(_schedule_context(instance, db_url))
    assert _batches(hourly) == [[COURSE]]

    # One run per course, and another default frequency for unmapped courses.
    monkeypatch.setenv("DROPOUT_REFRESH_BATCH_SIZE", "1")
    map_course(course, other, "fm101", frequency="hourly", auto_predict=True)
    hourly = predict_hourly.evaluate_tick(_schedule_context(instance, db_url))
    assert _batches(hourly) == [[COURSE], [other]]
    monkeypatch.setenv("DROPOUT_DEFAULT_PREDICT_FREQUENCY", "hourly")
    hourly = predict_hourly.evaluate_tick(_schedule_context(instance, db_url))
    assert _batches(hourly) == [[COURSE], [unmapped], [other]]
    assert isinstance(
        predict_daily.evaluate_tick(_schedule_context(instance, db_url)).skip_message, str
    )


def test_predictions_asset_with_checks(course, db_url, monkeypatch):
    from dropout_pipelines.definitions import defs

    monkeypatch.setenv("DROPOUT_DB_URL", db_url)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(courses_partitions.name, [COURSE])
    result = defs.resolve_job_def("predict_course_job").execute_in_process(
        partition_key=COURSE, instance=instance, raise_on_error=False
    )
    run = RunOutcome(result, instance)
    assert run.success, run.failure_message()
    metadata = run.asset_metadata("predictions")
    assert metadata["students"] == STUDENTS
    assert metadata["high_risk"] + metadata["medium_risk"] + metadata["low_risk"] == STUDENTS
    assert metadata["model"] == "fm101:1"
    checks = {
        evaluation.check_name: evaluation.passed
        for evaluation in result.get_asset_check_evaluations()
    }
    assert checks == {
        "every_student_has_a_latest_prediction": True,
        "scores_within_range": True,
        "risk_level_matches_score": True,
        "predictions_are_fresh": True,
    }


def test_no_model_is_a_clear_error(warehouse, db_url, monkeypatch):
    _load_features(warehouse, _features())
    with pytest.raises(Exception, match="set-default"):
        predict_course(warehouse, COURSE, "run-1", NOW)
    assert _count(warehouse) == 0


def test_an_unenrolled_learner_is_reported_withdrawn_not_scored(course):
    with course.begin() as connection:
        connection.execute(
            sa.update(s.student_features)
            .where(s.student_features.c.user_id.in_([1, 2]))
            .values(is_unenrolled=True)
        )
    predict_course(course, COURSE, "run-1", NOW)
    latest = _latest(course).set_index("user_id")
    assert latest.loc[[1, 2], "fail_risk_score"].tolist() == [100.0, 100.0]
    assert set(latest.loc[[1, 2], "risk_level"]) == {"HIGH"}
    reasons = latest.loc[1, "reasons"]
    reasons = json.loads(reasons) if isinstance(reasons, str) else reasons
    assert reasons == [{"feature": "is_unenrolled", "value": 1.0, "contribution": None}]
    assert (latest.drop(index=[1, 2])["fail_risk_score"] < 100).any()
