"""The V2 schema on both backends: idempotent creation and database-enforced invariants."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.create import create_schema, existing_triggers
from dropout_pipelines.warehouse.ddl import MYSQL_SCHEMA_PATH, render_mysql_schema
from dropout_pipelines.warehouse.engine import get_engine

NOW = datetime(2026, 11, 29, 12, 0, 0)


@pytest.fixture
def engine(db_url) -> sa.Engine:
    engine = get_engine(db_url)
    create_schema(engine)
    return engine


def _prediction(user_id: int, *, is_latest: bool, purpose: str = "serving") -> dict:
    return {
        "user_id": user_id,
        "course_id": "course-v1:DHQG-HCM+FM101+2025_S2",
        "model_name": "fm101_v4",
        "model_version": "1",
        "fail_risk_score": 80.0,
        "risk_level": "HIGH",
        "is_latest": is_latest,
        "purpose": purpose,
        "run_id": "r1",
        "predicted_at": NOW,
    }


def _model(version: str, *, is_default: bool, is_active: bool = True) -> dict:
    return {
        "model_name": "fm101",
        "model_version": version,
        "model_path": f"models/fm101/{version}/model.cbm",
        "model_type": "fail",
        "is_active": is_active,
        "is_default": is_default,
        "created_at": NOW,
    }


def _training_row(week: int | None) -> dict:
    return {
        "user_id": 1,
        "course_id": "c1",
        "semester": "2025_S1",
        "snapshot_week": week,
        "is_passed": True,
        "source": "legacy_migration",
        "created_at": NOW,
    }


def test_create_schema_is_idempotent(db_url):
    engine = get_engine(db_url)
    first = create_schema(engine)
    assert set(first["tables"]) == set(s.metadata.tables)
    assert len(first["triggers"]) == 2
    assert create_schema(engine) == {"tables": [], "triggers": [], "revisions": []}
    with engine.connect() as connection:
        assert set(s.metadata.tables) <= set(sa.inspect(connection).get_table_names())
        assert {"trg_training_data_no_update", "trg_training_data_no_delete"} <= (
            existing_triggers(connection)
        )


def test_second_latest_serving_prediction_is_rejected(engine):
    with engine.begin() as connection:
        connection.execute(sa.insert(s.predictions), [_prediction(1, is_latest=True)])
        # History rows and other students are fine.
        connection.execute(
            sa.insert(s.predictions),
            [_prediction(1, is_latest=False), _prediction(2, is_latest=True)],
        )
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(sa.insert(s.predictions), [_prediction(1, is_latest=True)])
    with engine.connect() as connection:
        latest = connection.execute(
            sa.select(sa.func.count()).where(s.predictions.c.is_latest.is_(True))
        ).scalar_one()
    assert latest == 2


# CHECK violations: IntegrityError on SQLite, OperationalError 4025 on MariaDB; both name
# the constraint.
def test_shadow_prediction_can_never_be_latest(engine):
    with (
        pytest.raises(sa.exc.DBAPIError, match="ck_predictions_shadow_never_latest"),
        engine.begin() as connection,
    ):
        connection.execute(
            sa.insert(s.predictions), [_prediction(1, is_latest=True, purpose="shadow")]
        )


def test_score_out_of_range_is_rejected(engine):
    row = _prediction(1, is_latest=False) | {"fail_risk_score": 101.0}
    with (
        pytest.raises(sa.exc.DBAPIError, match="ck_predictions_score_range"),
        engine.begin() as connection,
    ):
        connection.execute(sa.insert(s.predictions), [row])


def test_training_data_rejects_update_and_delete(engine):
    with engine.begin() as connection:
        connection.execute(sa.insert(s.training_data), [_training_row(None), _training_row(3)])
    with pytest.raises(sa.exc.DatabaseError, match="insert-only"), engine.begin() as connection:
        connection.execute(sa.update(s.training_data).values(is_passed=False))
    with pytest.raises(sa.exc.DatabaseError, match="insert-only"), engine.begin() as connection:
        connection.execute(sa.delete(s.training_data))
    with engine.connect() as connection:
        rows = connection.execute(sa.select(s.training_data.c.is_passed)).scalars().all()
    assert rows == [True, True]


def test_legacy_training_row_is_unique_without_a_week(engine):
    with engine.begin() as connection:
        connection.execute(sa.insert(s.training_data), [_training_row(None)])
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(sa.insert(s.training_data), [_training_row(None)])


def test_at_most_one_default_model(engine):
    with engine.begin() as connection:
        connection.execute(
            sa.insert(s.model_registry),
            [_model("1", is_default=True), _model("2", is_default=False)],
        )
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(sa.insert(s.model_registry), [_model("3", is_default=True)])
    # Switching the default atomically: clear the old one, set the new one.
    with engine.begin() as connection:
        connection.execute(sa.update(s.model_registry).values(is_default=False))
        connection.execute(
            sa.update(s.model_registry)
            .where(s.model_registry.c.model_version == "2")
            .values(is_default=True)
        )


def test_inactive_model_cannot_be_default(engine):
    with (
        pytest.raises(sa.exc.DBAPIError, match="ck_model_registry_default_active"),
        engine.begin() as connection,
    ):
        connection.execute(
            sa.insert(s.model_registry), [_model("1", is_default=True, is_active=False)]
        )


def test_rendered_mysql_ddl_matches_metadata():
    assert MYSQL_SCHEMA_PATH.read_text(encoding="utf-8") == render_mysql_schema(), (
        "sql/mysql/schema_v2.sql drifted from the metadata: "
        "run `python -m dropout_pipelines.warehouse.ddl`"
    )


def test_rendered_mysql_ddl_applies_on_mariadb(mariadb_url):
    """The rendered file is real DDL: a DBA can apply it as it is (statement by statement)."""
    text = MYSQL_SCHEMA_PATH.read_text(encoding="utf-8")
    body, _, triggers = text.partition("DELIMITER ;;")
    statements = [part.strip() for part in body.split(";") if part.strip()]
    trigger_statements = [
        part.strip() for part in triggers.replace("DELIMITER ;", "").split(";;") if part.strip()
    ]
    engine = get_engine(mariadb_url)
    with engine.begin() as connection:
        for statement in statements + trigger_statements:
            sql = "\n".join(
                line for line in statement.splitlines() if not line.startswith("--")
            ).strip()
            if sql:
                connection.exec_driver_sql(sql)
    assert create_schema(engine) == {"tables": [], "triggers": [], "revisions": []}
