"""The warehouse checks, passing on sound tables and failing on broken ones, on both
backends. A table is broken the way a constraint cannot stop: rebuilt without its keys
(a restore, a hand-made repair), or, for the insert-only `training_data`, with its
delete trigger dropped by a hostile script."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from dagster import AssetSelection, DagsterInstance, Definitions, define_asset_job

from dropout_pipelines.definitions import defs
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.checks import (
    INGESTION_KEY_CHECKS,
    TRAINING_KEY_CHECK,
    WAREHOUSE_CHECKS,
    KeyCheck,
)
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.triggers import INSERT_ONLY_TRIGGERS
from dropout_pipelines_tests.support.dagster_runs import RunOutcome

STAMP = datetime(2026, 11, 30, 8, 0)
KEY_CHECKS = {check.name: check for check in (*INGESTION_KEY_CHECKS, TRAINING_KEY_CHECK)}
CHECKS_JOB = define_asset_job(
    "warehouse_checks_job", selection=AssetSelection.checks(*WAREHOUSE_CHECKS)
)
CHECK_DEFS = Definitions.merge(defs, Definitions(jobs=[CHECKS_JOB]))


@pytest.fixture
def warehouse(db_url, monkeypatch) -> sa.Engine:
    monkeypatch.setenv("DROPOUT_DB_URL", db_url)
    monkeypatch.delenv("DROPOUT_MODEL_AUC_FLOOR", raising=False)
    engine = get_engine(db_url)
    create_schema(engine)
    return engine


def run_checks(instance: DagsterInstance | None = None) -> dict[str, dict]:
    """Every warehouse check, evaluated in a real run: name → passed + metadata."""
    instance = instance or DagsterInstance.ephemeral()
    result = CHECK_DEFS.resolve_job_def("warehouse_checks_job").execute_in_process(
        instance=instance, raise_on_error=False
    )
    run = RunOutcome(result, instance)
    assert run.success, run.failure_message()
    return {
        evaluation.check_name: {
            "passed": evaluation.passed,
            "severity": evaluation.severity.value,
            **{key: getattr(value, "value", value) for key, value in evaluation.metadata.items()},
        }
        for evaluation in result.get_asset_check_evaluations()
    }


def _value(column: sa.Column):
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.Float):
        return 0.5
    if isinstance(kind, sa.DateTime):
        return STAMP
    if isinstance(kind, sa.JSON):
        return {}
    if column.name == "source":
        return "semester_close"
    return "x"


def row(table: sa.Table, **values) -> dict:
    """A row with every required column filled; `values` override."""
    filled = {
        column.name: _value(column)
        for column in table.columns
        if not column.nullable and column.computed is None and column.autoincrement is not True
    }
    return filled | values


def keys(check: KeyCheck, index: int) -> dict:
    values = {
        "user_id": index,
        "course_id": f"course-v1:ORG+C{index % 2}+2026",
        "semester": "2026_S1",
        "snapshot_week": index % 3,
        "statement_id": f"st-{index}",
    }
    return {name: values[name] for name in check.columns}


def without_keys(engine: sa.Engine, table: sa.Table) -> sa.Table:
    """Replace `table` by a copy with the same columns and no key, index or trigger."""
    bare = sa.Table(
        table.name,
        sa.MetaData(),
        *(
            sa.Column(column.name, column.type, nullable=True)
            for column in table.columns
            if column.computed is None
        ),
    )
    table.drop(engine)
    bare.create(engine)
    return bare


@pytest.mark.parametrize("name", sorted(KEY_CHECKS))
def test_key_checks_pass_on_sound_tables_and_fail_on_null_or_duplicated_keys(warehouse, name):
    check = KEY_CHECKS[name]
    with warehouse.begin() as connection:
        connection.execute(
            sa.insert(check.table), [row(check.table, **keys(check, i)) for i in range(1, 4)]
        )
    sound = run_checks()[name]
    assert sound["passed"] is True, sound
    assert (sound["null_keys"], sound["duplicated_keys"]) == (0, 0)

    bare = without_keys(warehouse, check.table)
    first_key = check.columns[0]
    broken = [
        row(check.table, **keys(check, 1)),
        row(check.table, **keys(check, 1)),  # the same key twice
        row(check.table, **keys(check, 2)),
        row(check.table, **(keys(check, 3) | {first_key: None})),
    ]
    if check.nullable:  # a NULL week is a legacy row's key, not a broken one
        broken.append(row(check.table, **(keys(check, 4) | {check.nullable[0]: None})))
    with warehouse.begin() as connection:
        connection.execute(sa.insert(bare), broken)
    failed = run_checks()[name]
    assert failed["passed"] is False and failed["severity"] == "ERROR"
    assert (failed["null_keys"], failed["duplicated_keys"]) == (1, 1)
    assert failed["table"] == check.table.name


def _training_rows(engine: sa.Engine, semester: str, users: range) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.insert(s.training_data),
            [row(s.training_data, user_id=user, course_id="course-v1:ORG+C1+" + semester,
                 semester=semester, snapshot_week=3) for user in users],
        )  # fmt: skip


def test_training_rows_never_decrease_fails_when_a_row_disappears(warehouse):
    delete_trigger = next(t for t in INSERT_ONLY_TRIGGERS if t.event == "DELETE")
    instance = DagsterInstance.ephemeral()  # the check's memory: its previous evaluations
    _training_rows(warehouse, "2026_S1", range(1, 4))
    _training_rows(warehouse, "2026_S2", range(1, 3))
    first = run_checks(instance)["training_rows_never_decrease"]
    assert first["passed"] is True
    assert first["high_water_rows"] == {"2026_S1": 3, "2026_S2": 2}

    _training_rows(warehouse, "2026_S1", range(4, 5))
    grown = run_checks(instance)["training_rows_never_decrease"]
    assert grown["passed"] is True and grown["rows"] == 6

    td = s.training_data
    with pytest.raises(sa.exc.DatabaseError, match="insert-only"), warehouse.begin() as c:
        c.execute(sa.delete(td).where(td.c.semester == "2026_S1", td.c.user_id == 4))
    # A hostile script drops the trigger, deletes a row, and puts the trigger back.
    with warehouse.begin() as connection:
        connection.exec_driver_sql(f"DROP TRIGGER {delete_trigger.name}")
        connection.execute(sa.delete(td).where(td.c.semester == "2026_S1", td.c.user_id == 4))
        connection.exec_driver_sql(delete_trigger.ddl(warehouse.dialect.name))

    shrunk = run_checks(instance)["training_rows_never_decrease"]
    assert shrunk["passed"] is False and shrunk["severity"] == "ERROR"
    assert shrunk["shrunk_semesters"] == {"2026_S1": {"rows": 3, "high_water": 4}}
    # It stays red: the high-water mark is not lowered by a failed evaluation.
    again = run_checks(instance)["training_rows_never_decrease"]
    assert again["passed"] is False
    assert again["high_water_rows"] == {"2026_S1": 4, "2026_S2": 2}


def _model(engine: sa.Engine, name: str, auc: float | None, active: bool = True, **extra):
    metrics = None if auc is None else {"roc_auc": auc, "pr_auc": 0.5}
    with engine.begin() as connection:
        connection.execute(
            sa.insert(s.model_registry),
            row(s.model_registry, model_name=name, model_version="1", model_path=f"/m/{name}.cbm",
                model_type="fail", metrics=metrics, is_active=active, is_default=False,
                created_at=STAMP) | extra,
        )  # fmt: skip


def test_model_quality_above_the_floor(warehouse, monkeypatch):
    _model(warehouse, "fail_risk", 0.81, is_default=True)
    _model(warehouse, "fm101_v4", None)  # the legacy model: no held-out AUC
    _model(warehouse, "refused_candidate", 0.41, active=False)
    good = run_checks()["model_quality_above_floor"]
    assert good["passed"] is True
    assert good["auc_floor"] == 0.6 and good["active_models"] == 2
    assert good["without_auc"] == ["fm101_v4:1"]

    _model(warehouse, "weak", 0.55)
    weak = run_checks()["model_quality_above_floor"]
    assert weak["passed"] is False and weak["severity"] == "ERROR"
    assert weak["below_floor"] == [{"model": "weak:1", "roc_auc": 0.55, "default": False}]
    monkeypatch.setenv("DROPOUT_MODEL_AUC_FLOOR", "0.5")
    assert run_checks()["model_quality_above_floor"]["passed"] is True
    monkeypatch.setenv("DROPOUT_MODEL_AUC_FLOOR", "high")
    misconfigured = run_checks()["model_quality_above_floor"]  # the run itself succeeds
    assert misconfigured["passed"] is False
    assert "DROPOUT_MODEL_AUC_FLOOR='high'" in misconfigured["error"]


def test_checks_on_an_empty_warehouse_pass(db_url, monkeypatch):
    monkeypatch.setenv("DROPOUT_DB_URL", db_url)
    outcomes = run_checks()
    assert set(outcomes) == {*KEY_CHECKS, "training_rows_never_decrease",
                             "model_quality_above_floor"}  # fmt: skip
    assert all(outcome["passed"] for outcome in outcomes.values())
