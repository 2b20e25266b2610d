"""The level of a score is the same in numpy (scoring), in SQL (migration, asset check)
and in the database's check constraint."""

import numpy as np
import pytest
import sqlalchemy as sa

from dropout_pipelines.warehouse.risk_levels import risk_level, risk_level_sql, risk_levels

SCORES = [0.0, 39.99, 40.0, 69.99, 70.0, 100.0]
LEVELS = ["LOW", "LOW", "MEDIUM", "MEDIUM", "HIGH", "HIGH"]


def test_levels_at_the_thresholds():
    assert risk_levels(np.array(SCORES)).tolist() == LEVELS
    assert risk_level(50) == "MEDIUM"


def test_a_missing_score_has_no_level():
    assert risk_levels(np.array([np.nan, 75.0])).tolist() == [None, "HIGH"]


@pytest.mark.parametrize("score,level", list(zip(SCORES, LEVELS, strict=True)))
def test_sql_agrees_with_numpy(score: float, level: str):
    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        value = connection.execute(sa.select(risk_level_sql(sa.literal(score)))).scalar_one()
    assert value == level
