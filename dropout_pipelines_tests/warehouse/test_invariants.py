"""The invariants the database itself enforces, tried the way a careless script or a
hand-written statement would break them: on a fresh warehouse and on one upgraded from the
release before Alembic, on both backends."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines_tests.warehouse.test_upgrade import _apply_release_ddl

STAMP = datetime(2026, 11, 30, 8, 0)
PREDICTION = (
    "INSERT INTO predictions (user_id, course_id, model_name, model_version, fail_risk_score, "
    "risk_level, is_latest, purpose, run_id, predicted_at) VALUES "
    "(:user, 'c1', 'm', '1', :score, :level, :latest, 'serving', 'r', :t)"
)
MODEL = (
    "INSERT INTO model_registry (model_name, model_version, model_path, model_type, "
    "is_active, is_default, created_at) VALUES (:name, '1', '/m.cbm', 'fail', 1, :default, :t)"
)
TRAINING = (
    "{verb} INTO training_data (user_id, course_id, semester, snapshot_week, "
    "mooc_grade_percentage, source, created_at) "
    "VALUES (1, 'c1', '2026_S1', 3, :grade, 'semester_close', :t)"
)


@pytest.fixture(params=["fresh", "upgraded"])
def warehouse(request, db_url) -> sa.Engine:
    engine = get_engine(db_url)
    if request.param == "upgraded":
        _apply_release_ddl(engine)
    create_schema(engine)
    return engine


def _refused(engine: sa.Engine, sql: str, **params) -> None:
    with pytest.raises(sa.exc.DatabaseError), engine.begin() as connection:
        connection.execute(sa.text(sql), {"t": STAMP, **params})


def _accepted(engine: sa.Engine, sql: str, **params) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text(sql), {"t": STAMP, **params})


def test_flags_are_zero_or_one(warehouse):
    _accepted(warehouse, MODEL, name="a", default=1)
    _refused(warehouse, MODEL, name="b", default=2)  # would be a second default
    _accepted(warehouse, PREDICTION, user=1, score=95.0, level="HIGH", latest=1)
    _refused(warehouse, PREDICTION, user=1, score=95.0, level="HIGH", latest=2)


def test_level_must_agree_with_score(warehouse):
    _refused(warehouse, PREDICTION, user=2, score=95.0, level="LOW", latest=0)
    _refused(warehouse, PREDICTION, user=2, score=39.9, level="MEDIUM", latest=0)
    _accepted(warehouse, PREDICTION, user=2, score=40.0, level="MEDIUM", latest=0)
    _refused(warehouse, "UPDATE predictions SET risk_level = 'LOW' WHERE user_id = 2")


def test_training_rows_cannot_be_replaced(warehouse):
    _accepted(warehouse, TRAINING.format(verb="INSERT"), grade=40.0)
    verb = "INSERT OR REPLACE" if warehouse.dialect.name == "sqlite" else "REPLACE"
    with pytest.raises(sa.exc.DatabaseError, match="insert-only"), warehouse.begin() as c:
        c.execute(sa.text(TRAINING.format(verb=verb)), {"grade": 99.0, "t": STAMP})
    with warehouse.connect() as connection:
        grades = connection.execute(sa.text("SELECT mooc_grade_percentage FROM training_data"))
        assert grades.scalars().all() == [40.0]
