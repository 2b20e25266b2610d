"""The registry jobs run in process against the warehouse, as the Dagster UI launches them."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, DagsterInvalidConfigError, Definitions

from dropout_pipelines.predict.registry import list_mappings, list_models
from dropout_pipelines.predict.registry.jobs import (
    REGISTRY_JOBS,
    deactivate_model_job,
    map_course_job,
    register_model_job,
    set_default_model_job,
)
from dropout_pipelines.predict.store_resource import ModelStoreResource
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines_tests.support.dagster_runs import RunOutcome

COURSE = "course-v1:UEL+NLTT241225+2025_12"
OP_OF = {
    "register_model_job": "register_model_op",
    "map_course_job": "map_course_op",
    "set_default_model_job": "set_default_model_op",
    "deactivate_model_job": "deactivate_model_op",
}


@pytest.fixture
def run_job(monkeypatch, model_store):
    def run(db_url: str, job, **config) -> RunOutcome:
        monkeypatch.setenv("DROPOUT_DB_URL", db_url)
        instance = DagsterInstance.ephemeral()
        result = job.execute_in_process(
            run_config={"ops": {OP_OF[job.name]: {"config": config}}},
            resources={
                "warehouse": WarehouseResource(),
                "model_store": ModelStoreResource(models_dir=str(model_store.root)),
            },
            instance=instance,
            raise_on_error=False,
        )
        return RunOutcome(result, instance)

    return run


def test_the_jobs_change_the_registry_and_say_what_changed(
    db_url, warehouse, stored_model, run_job, default_models
):
    stored_model("fm101", "1", seed=1)
    stored = stored_model("fm101", "2", seed=2)

    run = run_job(
        db_url,
        register_model_job,
        model_name="fm101",
        model_version="1",
        make_default=True,
        metrics={"auc": 0.8, "per_week_auc": {"3": 0.7}},
        trained_on=["2025_S1"],
        training_rows=300,
    )
    assert run.success, run.failure_message()
    meta = run.metadata("register_model_op")
    assert meta["changed"] is True and "registered model fm101 version 1" in meta["summary"]
    assert any("registered model fm101 version 1" in message for message in run.logs())

    run = run_job(
        db_url,
        register_model_job,
        model_name="fm101",
        model_version="2",
        model_path=str(stored.model_path),
    )
    assert run.success, run.failure_message()
    models = list_models(warehouse).set_index("model_version")
    assert models.loc["1"].run_id != models.loc["2"].run_id  # each run is recorded
    assert models.loc["2"].run_id == run.result.run_id

    run = run_job(
        db_url,
        map_course_job,
        course_id=COURSE,
        model_name="fm101",
        frequency="weekly",
        ab_model_name="fm101",
        ab_share=0.5,
    )
    assert run.success, run.failure_message()
    assert list_mappings(warehouse).iloc[0].predict_frequency == "weekly"

    run = run_job(db_url, set_default_model_job, model_name="fm101", model_version="2")
    assert run.success, run.failure_message()
    assert default_models(warehouse) == [("fm101", "2")]

    run = run_job(db_url, deactivate_model_job, model_name="fm101", model_version="2", force=True)
    assert run.success, run.failure_message()
    assert default_models(warehouse) == []
    assert any("there is now NO default" in message for message in run.logs())
    assert "NO default" in run.metadata("deactivate_model_op")["warnings"]


def test_a_refused_change_fails_the_run_and_changes_nothing(
    sqlite_url, stored_model, run_job, snapshot
):
    stored_model("fm101", "1")
    assert run_job(
        sqlite_url, register_model_job, model_name="fm101", model_version="1", make_default=True
    ).success
    engine = get_engine(sqlite_url)
    before = snapshot(engine)
    refused = [
        (register_model_job, {"model_name": "fm101", "model_version": "1"}, "already registered"),
        (
            register_model_job,
            {"model_name": "fm101", "model_version": "5"},
            "model fm101 version 5 is not in the store",
        ),
        (
            map_course_job,
            {"course_id": COURSE, "model_name": "fm101", "ab_share": 0.2},
            "ab_share is set without ab_model_name",
        ),
        (
            register_model_job,
            {"model_name": "fm101", "model_version": "2\n"},
            "model version '2\\n' may only hold",
        ),
        (set_default_model_job, {"model_name": "nope", "model_version": "1"}, "not registered"),
        (
            deactivate_model_job,
            {"model_name": "fm101", "model_version": "1"},
            "is the default model",
        ),
    ]
    for job, config, message in refused:
        run = run_job(sqlite_url, job, **config)
        assert not run.success, (job.name, config)
        failure = run.failure_message()
        # A request the shared shape refuses fails as the op's config is read, before any
        # change; one the registry refuses says so itself.
        assert message in failure, failure
        assert "nothing was changed" in failure or "validation error" in failure, failure
    # The Dagster launchpad knows the choices (the request's Literal): refused before a run.
    with pytest.raises(DagsterInvalidConfigError, match="frequency not in enum"):
        run_job(sqlite_url, map_course_job, course_id=COURSE, model_name="fm101", frequency="x")
    assert snapshot(engine) == before


def test_registry_jobs_are_exported_and_load_with_their_resources():
    assert {job.name for job in REGISTRY_JOBS} == set(OP_OF)
    defs = Definitions(
        jobs=REGISTRY_JOBS,
        resources={"warehouse": WarehouseResource(), "model_store": ModelStoreResource()},
    )
    # Loading reads Dagster's defs-state storage from the current instance context: give it
    # a live one (a test that leaves a disposed instance in that context would break this).
    with DagsterInstance.ephemeral():
        repository = defs.get_repository_def()  # fails when a job lacks a resource
    assert set(OP_OF) <= {job.name for job in repository.get_all_jobs()}
