"""The risk level of a score, in SQL and in numpy: the one place the SPEC thresholds
(LOW < 40 ≤ MEDIUM < 70 ≤ HIGH, `schema.MEDIUM_RISK_FROM` / `HIGH_RISK_FROM`) are applied.

The migration labels legacy scores in SQL, scoring labels new ones in numpy, and an asset
check recomputes the label in SQL; all three must agree with the database's own check
constraint, so they share these two functions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dropout_pipelines.warehouse.schema import HIGH_RISK_FROM, MEDIUM_RISK_FROM


def risk_level_sql(score: sa.ColumnElement) -> sa.ColumnElement:
    """The level of a score column, as an SQL CASE."""
    return sa.case(
        (score >= HIGH_RISK_FROM, "HIGH"), (score >= MEDIUM_RISK_FROM, "MEDIUM"), else_="LOW"
    )


def risk_levels(scores: np.ndarray | pd.Series) -> np.ndarray:
    """The levels of scores (object array); a missing score has no level (None)."""
    values = np.asarray(scores, dtype="float64")
    levels = np.select(
        [values >= HIGH_RISK_FROM, values >= MEDIUM_RISK_FROM], ["HIGH", "MEDIUM"], "LOW"
    ).astype(object)
    levels[np.isnan(values)] = None
    return levels


def risk_level(score: float) -> str:
    """The level of one score."""
    return str(risk_levels(np.array([score]))[0])
