"""`refresh_courses_job` for real: a batch of courses refreshed from the live simulator and
scored with the default model, one step per course, a failing course isolated."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterEventType, DagsterInstance

from dropout_pipelines.partitions import courses_partitions
from dropout_pipelines.predict.registry import register_model
from dropout_pipelines.simulator.openedx import DataParams, SimulatorConfig, start_simulator
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines_tests.ingest.helpers import point_at

DATA = DataParams(seed=13, today=date(2026, 11, 29), students_per_course=30)
RUNNING = "course-v1:DHQG-HCM+FM101+2026_S2"
ENDED = "course-v1:UEL+NLTT241225+2026_S1"
MISSING = "course-v1:NOPE+GHOST101+2026_S2"


@pytest.fixture(scope="module")
def simulator():
    with start_simulator(SimulatorConfig(data=DATA)) as running:
        yield running


def _refresh(instance: DagsterInstance, courses: list[str]):
    from dropout_pipelines.definitions import defs

    instance.add_dynamic_partitions(courses_partitions.name, courses)
    config = {"ops": {"plan_course_refresh": {"config": {"course_ids": courses}}}}
    return defs.resolve_job_def("refresh_courses_job").execute_in_process(
        run_config=config, instance=instance, raise_on_error=False
    )


def _latest_per_course(engine: sa.Engine) -> dict[str, int]:
    p = s.predictions
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(p.c.course_id, sa.func.count())
            .where(p.c.latest_serving_slot == 1)
            .group_by(p.c.course_id)
        ).all()
    return dict(rows)


def test_a_batch_is_refreshed_then_scored_and_a_bad_course_fails_alone(
    monkeypatch, simulator, db_url, stored_model
):
    point_at(monkeypatch, simulator, db_url)
    engine = get_engine(db_url)
    create_schema(engine)
    model = stored_model("fm101", "1")
    register_model(engine, "fm101", "1", model.model_path, make_default=True)
    instance = DagsterInstance.ephemeral()

    result = _refresh(instance, [RUNNING, MISSING, ENDED])
    assert not result.success  # the ghost course failed …
    failed = {event.step_key for event in result.all_events if event.is_step_failure}
    assert len(failed) == 1 and "GHOST101" in next(iter(failed))
    retried = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert not retried  # a missing course is not an outage: no retry
    # … and the others were refreshed and scored all the same, with the default model.
    latest = _latest_per_course(engine)
    with engine.connect() as connection:
        features = dict(
            connection.execute(
                sa.select(s.student_features.c.course_id, sa.func.count()).group_by(
                    s.student_features.c.course_id
                )
            ).all()
        )
    assert set(latest) == {RUNNING, ENDED} and latest == features
    for key in ("student_features", "predictions"):
        materialized = instance.get_materialized_partitions(AssetKey(key))
        assert materialized == {RUNNING, ENDED}

    # The next tick's refresh reads only what is new: nothing, here.
    again = _refresh(instance, [RUNNING])
    assert again.success
    (h5p,) = [
        event.event_specific_data.materialization.metadata
        for event in again.all_events
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION
        and event.event_specific_data.materialization.asset_key == AssetKey("h5p_results")
    ]
    assert h5p["new_statements"].value == 0
    with engine.connect() as connection:
        history = connection.execute(
            sa.select(sa.func.count())
            .select_from(s.predictions)
            .where(s.predictions.c.course_id == RUNNING)
        ).scalar_one()
    assert history == 2 * latest[RUNNING]  # scored again: history kept, one latest each
    assert _latest_per_course(engine)[RUNNING] == latest[RUNNING]
