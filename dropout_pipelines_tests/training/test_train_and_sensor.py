"""Training, registration, lineage and the promotion gate on generated point-in-time rows;
the semester_closed_sensor with an injected clock. Real CatBoost, real databases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from catboost import CatBoostClassifier
from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from dropout_pipelines.clock import frozen_clock
from dropout_pipelines.predict.model_store import LocalModelStore, ModelStoreError
from dropout_pipelines.predict.registry import register_model
from dropout_pipelines.predict.selection import resolve_default_model
from dropout_pipelines.predict.service import predict_course
from dropout_pipelines.simulator.roster import write_course
from dropout_pipelines.training.semesters import closed_semesters
from dropout_pipelines.training.sensors import semester_closed_sensor
from dropout_pipelines.training.train import MODEL_FEATURES, load_training_rows, train_and_register
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import frame_records
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines_tests.support.memory_store import InMemoryModelStore

NOW = datetime(2026, 11, 29, 12, 0)


def _rows(semester: str, students: int = 160, weeks: int = 8, seed: int = 0) -> pd.DataFrame:
    """Rows whose label depends on engagement that the weekly features reveal gradually."""
    rng = np.random.default_rng(seed)
    engagement = rng.normal(size=students)
    fail = rng.random(students) < 1 / (1 + np.exp(2.5 * engagement))
    frames = []
    for week in range(1, weeks + 1):
        noise = rng.normal(scale=1.5 / week, size=students)
        signal = engagement + noise
        frames.append(
            pd.DataFrame(
                {
                    "user_id": np.arange(students),
                    "course_id": f"course-v1:ORG+C1+{semester}",
                    "semester": semester,
                    "snapshot_week": week,
                    "mooc_grade_percentage": np.clip(50 + 15 * signal, 0, 100) * week / weeks,
                    "mooc_completion_rate": np.clip(0.5 + 0.2 * signal, 0, 1),
                    "h5p_score_rate": np.clip(0.6 + 0.15 * signal, 0, 1),
                    "days_since_last_activity": np.clip(10 - 4 * signal, 0, 60).round(),
                    "week_of_course": week,
                    "is_passed": ~fail,
                    "is_dropout": fail & (engagement < -1),
                    "final_grade": np.clip(60 + 20 * engagement, 0, 100),
                    "source": "semester_close",
                    "created_at": NOW,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _add_course(engine: sa.Engine, rows: pd.DataFrame, weeks: int = 14) -> None:
    """The training rows and their ended course (`weeks` long)."""
    with engine.begin() as connection:
        connection.execute(sa.insert(s.training_data), frame_records(rows))
        connection.execute(
            sa.insert(s.courses),
            [
                {
                    "course_id": rows["course_id"].iloc[0],
                    "semester": rows["semester"].iloc[0],
                    "start_at": NOW - timedelta(days=200),
                    "end_at": NOW - timedelta(days=200 - 7 * weeks),
                    "discovered_at": NOW,
                }
            ],
        )


@pytest.fixture
def warehouse(db_url) -> sa.Engine:
    engine = get_engine(db_url)
    create_schema(engine)
    _add_course(engine, _rows("2026_S1"))
    return engine


def _registry(engine: sa.Engine) -> list[dict]:
    with engine.connect() as connection:
        return [dict(r) for r in connection.execute(sa.select(s.model_registry)).mappings()]


def test_train_registers_records_lineage_and_promotes_when_no_model_serves(warehouse, tmp_path):
    store = LocalModelStore(tmp_path)
    logs: list[str] = []
    outcome = train_and_register(
        warehouse, store, "2026_S1", iterations=80, now=NOW, log=logs.append
    )
    assert outcome.metrics["roc_auc"] > 0.7
    assert set(outcome.auc_by_week) <= set(range(1, 9)) and outcome.auc_by_week
    assert outcome.promoted
    (row,) = _registry(warehouse)
    assert row["is_active"] and row["is_default"] and row["model_type"] == "fail"
    assert store.load(outcome.model_name, outcome.model_version).features == list(MODEL_FEATURES)
    with warehouse.connect() as connection:
        lineage = connection.execute(sa.select(s.model_training_lineage)).mappings().all()
    assert [(r["semester"], r["training_rows"]) for r in lineage] == [
        ("2026_S1", outcome.training_rows)
    ]
    assert len(lineage[0]["data_hash"]) == 64
    assert any("promotion gate" in line for line in logs)


def test_promote_never_registers_only_and_gate_compares_on_held_out_rows(warehouse, tmp_path):
    store = LocalModelStore(tmp_path)
    first = train_and_register(warehouse, store, "2026_S1", iterations=80, now=NOW, log=print)
    _add_course(warehouse, _rows("2026_S1", seed=1).assign(course_id="course-v1:ORG+C2+2026_S1"))
    second = train_and_register(
        warehouse,
        store,
        "2026_S1",
        iterations=40,
        promote="never",
        now=NOW + timedelta(minutes=1),
        log=print,
    )
    assert not second.promoted
    roles = {row["role"]: row for row in second.comparison}
    assert roles["serving default"]["model"] == f"{first.model_name}:{first.model_version}"
    assert roles["candidate"]["held_out_auc"] is not None
    defaults = [r for r in _registry(warehouse) if r["is_default"]]
    assert [(d["model_name"], d["model_version"]) for d in defaults] == [
        (first.model_name, first.model_version)
    ]


def test_rerun_on_the_same_rows_registers_nothing_new(warehouse, tmp_path):
    store = LocalModelStore(tmp_path)
    first = train_and_register(warehouse, store, "2026_S1", iterations=60, now=NOW, log=print)
    logs: list[str] = []
    again = train_and_register(
        warehouse,
        store,
        "2026_S1",
        iterations=60,
        now=NOW + timedelta(hours=1),
        log=logs.append,
    )
    assert (again.model_name, again.model_version) == (first.model_name, first.model_version)
    assert again.promoted and len(_registry(warehouse)) == 1
    assert any("nothing to do" in line for line in logs)


def test_a_refused_candidate_stays_inactive_and_nothing_picks_it(warehouse, tmp_path):
    store = LocalModelStore(tmp_path)
    # A serving model that has seen every row, held-out ones included: no honest candidate
    # can beat it on them.
    rows = load_training_rows(warehouse, ["2026_S1"])
    oracle = CatBoostClassifier(iterations=300, depth=6, verbose=False, allow_writing_files=False)
    oracle.fit(rows[list(MODEL_FEATURES)].astype("float64"), (~rows["is_passed"]).astype(int))
    saved = store.save("oracle", "1", oracle, list(MODEL_FEATURES), {})
    register_model(warehouse, "oracle", "1", saved.model_path, make_default=True)

    candidate = train_and_register(warehouse, store, "2026_S1", iterations=40, now=NOW, log=print)
    assert not candidate.promoted and "refused" in candidate.gate["reason"]
    registry = {r["model_name"]: r for r in _registry(warehouse)}
    assert registry["oracle"]["is_default"]
    stored = registry[candidate.model_name]
    assert not stored["is_active"] and stored["metrics"]["gate"]["promote"] is False
    with warehouse.connect() as connection:  # the fallback never picks a refused candidate
        assert resolve_default_model(connection).model_name == "oracle"


def test_a_serving_model_that_cannot_be_evaluated_blocks_automatic_promotion(warehouse, tmp_path):
    store = LocalModelStore(tmp_path)
    # The serving model needs a feature the held-out rows do not have (an older schema).
    features = [*MODEL_FEATURES[:3], "gone_feature"]
    rng = np.random.default_rng(0)
    legacy = CatBoostClassifier(iterations=10, depth=2, verbose=False, allow_writing_files=False)
    legacy.fit(pd.DataFrame(rng.random((60, 4)), columns=features), np.arange(60) % 2)
    saved = store.save("legacy", "1", legacy, features, {})
    register_model(warehouse, "legacy", "1", saved.model_path, make_default=True)

    outcome = train_and_register(warehouse, store, "2026_S1", iterations=40, now=NOW, log=print)
    assert not outcome.promoted
    assert "cannot evaluate the serving model legacy:1" in outcome.gate["reason"]
    assert "gone_feature" in outcome.gate["reason"]
    assert [r["model_name"] for r in _registry(warehouse) if r["is_default"]] == ["legacy"]


def test_rows_after_the_course_end_never_train(warehouse, tmp_path):
    # a 6-week course: its week-7 and week-8 rows are after its end
    _add_course(
        warehouse, _rows("2026_S1", seed=5).assign(course_id="course-v1:ORG+SHORT+2026_S1"), 6
    )
    rows = load_training_rows(warehouse, ["2026_S1"])
    short = rows[rows["course_id"] == "course-v1:ORG+SHORT+2026_S1"]
    assert set(short["snapshot_week"]) == set(range(1, 7))
    assert set(rows.loc[rows["course_id"] == "course-v1:ORG+C1+2026_S1", "snapshot_week"]) == set(
        range(1, 9)
    )


def test_no_training_rows_is_a_clear_error(warehouse, tmp_path):
    with pytest.raises(ValueError, match="materialize training_data for 2025_S9"):
        train_and_register(warehouse, LocalModelStore(tmp_path), "2025_S9", now=NOW)


def _courses(engine: sa.Engine, rows: list[dict]) -> None:
    with engine.begin() as connection:
        connection.execute(sa.insert(s.courses), [r | {"discovered_at": NOW} for r in rows])


def test_semester_closed_sensor_with_an_injected_clock(sqlite_url, monkeypatch):
    engine = get_engine(sqlite_url)
    create_schema(engine)
    end = datetime(2026, 7, 21)
    _courses(
        engine,
        [
            {
                "course_id": "a",
                "semester": "2026_S1",
                "end_at": end,
                "final_grades_fetched_at": end + timedelta(days=2),
            },
            {
                "course_id": "b",
                "semester": "2026_S1",
                "end_at": end + timedelta(days=1),
                "final_grades_fetched_at": None,
            },
            {
                "course_id": "c",
                "semester": "2026_S2",
                "end_at": datetime(2027, 1, 19),
                "final_grades_fetched_at": None,
            },
        ],
    )
    assert closed_semesters(engine, datetime(2026, 8, 1)) == []  # b has no final grades
    with engine.begin() as connection:
        connection.execute(
            sa.update(s.courses)
            .where(s.courses.c.course_id == "b")
            .values(final_grades_fetched_at=end + timedelta(days=3))
        )
    assert closed_semesters(engine, datetime(2026, 7, 21, 12)) == []  # b not ended yet
    monkeypatch.setenv("SENSOR_DB_URL", sqlite_url)
    resources = {"warehouse": WarehouseResource(db_url_env="SENSOR_DB_URL")}
    instance = DagsterInstance.ephemeral()

    with frozen_clock(datetime(2026, 8, 1)):
        result = semester_closed_sensor(
            build_sensor_context(instance=instance, resources=resources)
        )
    assert isinstance(result, SensorResult)
    assert [r.partition_key for r in result.run_requests] == ["2026_S1"]
    assert json.loads(result.cursor) == ["2026_S1"]
    # Once per semester: the cursor remembers it.
    again = semester_closed_sensor(
        build_sensor_context(instance=instance, resources=resources, cursor=result.cursor)
    )
    assert isinstance(again, SkipReason)
    # Months later the running semester closes too (grades fetched after its end).
    with engine.begin() as connection:
        connection.execute(
            sa.update(s.courses)
            .where(s.courses.c.course_id == "c")
            .values(final_grades_fetched_at=datetime(2027, 1, 25))
        )
    with frozen_clock(datetime(2027, 2, 1)):
        later = semester_closed_sensor(
            build_sensor_context(instance=instance, resources=resources, cursor=result.cursor)
        )
    assert [r.partition_key for r in later.run_requests] == ["2026_S2"]


def test_training_and_scoring_use_only_the_store_they_are_given(warehouse, tmp_path, monkeypatch):
    """A second ModelStore (in memory): training saves, registers and gates through it, and
    scoring loads from it; the local store under DROPOUT_MODELS_DIR is never touched."""
    local = tmp_path / "local-models"
    monkeypatch.setenv("DROPOUT_MODELS_DIR", str(local))
    store = InMemoryModelStore()
    first = train_and_register(warehouse, store, "2026_S1", iterations=60, now=NOW, log=print)
    _add_course(warehouse, _rows("2026_S1", seed=1).assign(course_id="course-v1:ORG+C2+2026_S1"))
    second = train_and_register(
        warehouse,
        store,
        "2026_S1",
        iterations=40,
        promote="never",
        now=NOW + timedelta(minutes=1),
        log=print,
    )
    assert first.promoted and not second.promoted
    # the gate scored the held-out rows with the serving model, loaded from the store
    roles = {row["role"]: row for row in second.comparison}
    assert roles["serving default"]["early_mean_auc"] is not None, roles
    rows = _registry(warehouse)
    assert sorted(row["model_path"] for row in rows) == sorted(
        [f"{first.model_name}/{first.model_version}", f"{second.model_name}/{second.model_version}"]
    )
    assert all(row["features_csv_path"] is None for row in rows)

    course = "course-v1:ORG+LIVE+2026_S2"
    write_course(warehouse, course, 40, NOW)
    loads_before = store.loads
    scores = predict_course(warehouse, course, "run-memory", NOW, store=store)
    assert scores.summary()["students"] == 40
    assert scores.serving_model == f"{first.model_name}:{first.model_version}"
    assert store.loads > loads_before
    assert not local.exists()  # nothing went around the store to the default folder
    # The same rows through the default (local) store: its key is not there.
    with pytest.raises(ModelStoreError, match="is not in the store"):
        predict_course(warehouse, course, "run-local", NOW)
