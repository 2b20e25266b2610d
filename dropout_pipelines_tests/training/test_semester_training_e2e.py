"""The learning loop end to end on the simulator's closed semester: ingest its courses (which
rebuilds the weeks nobody watched from the stored history), point-in-time rows, train,
evaluate, promote — and the trained model must beat the grade-so-far baseline where the
data gives it signal. Training reads only the warehouse: no Open edX or LRS variable is
needed once ingestion is done."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import requests
import sqlalchemy as sa
from dagster import DagsterInstance

from dropout_pipelines.clock import utc_now
from dropout_pipelines.partitions import semesters_partitions
from dropout_pipelines.simulator.openedx import DataParams, SimulatorConfig, start_simulator
from dropout_pipelines.training.semesters import closed_semesters
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines_tests.ingest.helpers import ingest, point_at
from dropout_pipelines_tests.support.dagster_runs import RunOutcome

DATA = DataParams(seed=7, today=date(2026, 11, 29), students_per_course=300)
SEMESTER = "2026_S1"
SIGNAL_WEEKS = range(3, 13)


@pytest.fixture(scope="module")
def simulator():
    with start_simulator(SimulatorConfig(data=DATA)) as running:
        yield running


def _closed_courses(simulator) -> list[str]:
    info = requests.get(f"{simulator.base_url}/simulator/info", timeout=10).json()
    return [c["course_id"] for c in info["courses"] if c["semester"] == SEMESTER]


def test_closed_semester_trains_a_model_that_beats_the_grade_baseline(
    monkeypatch, simulator, sqlite_url
):
    point_at(monkeypatch, simulator, sqlite_url)
    instance = DagsterInstance.ephemeral()
    for course_id in _closed_courses(simulator):
        run = ingest(course_id, instance)
        assert run.success, run.failure_message()
    engine = get_engine(sqlite_url)
    assert closed_semesters(engine, utc_now()) == [SEMESTER]
    for name in ("OPENEDX_BASE_URL", "OPENEDX_CLIENT_SECRET", "LRS_URL", "LRS_PASSWORD"):
        monkeypatch.delenv(name)

    from dropout_pipelines.definitions import defs

    instance.add_dynamic_partitions(semesters_partitions.name, [SEMESTER])
    result = defs.resolve_job_def("train_semester_job").execute_in_process(
        partition_key=SEMESTER, instance=instance, raise_on_error=False
    )
    outcome = RunOutcome(result, instance)
    assert outcome.success, outcome.failure_message()
    data = outcome.asset_metadata("training_data")
    assert data["rows_inserted"] > 0
    assert data["labels_from_cutoff"] == 0  # every label is Open edX's own decision
    trained = outcome.asset_metadata("trained_model")
    assert trained["promoted"] is True  # no model served before
    with engine.connect() as connection:
        metrics = connection.execute(
            sa.select(s.model_registry.c.metrics).where(s.model_registry.c.is_default.is_(True))
        ).scalar_one()
    model_curve = {int(k): v for k, v in metrics["auc_by_week"].items()}
    baseline_curve = {int(k): v for k, v in metrics["baseline_auc_by_week"].items()}
    weeks = [w for w in SIGNAL_WEEKS if w in model_curve and w in baseline_curve]
    assert len(weeks) >= 5
    model_mean = np.mean([model_curve[w] for w in weeks])
    baseline_mean = np.mean([baseline_curve[w] for w in weeks])
    print(f"AUC weeks {weeks}: model {model_mean:.3f} vs grade-so-far {baseline_mean:.3f}")
    assert model_mean > baseline_mean
    assert metrics["roc_auc"] > 0.7

    # Rerunning the semester adds no training row and does not fail.
    again = defs.resolve_job_def("train_semester_job").execute_in_process(
        partition_key=SEMESTER,
        instance=instance,
        raise_on_error=False,
        asset_selection=None,
    )
    assert RunOutcome(again, instance).asset_metadata("training_data")["rows_inserted"] == 0
