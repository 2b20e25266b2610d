"""Fit a CatBoost fail-risk model on labelled rows (pandas in, fitted model out).

Used wherever a real model is trained: the demo (from the migrated legacy training data),
test fixtures, and the training assets.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from catboost import CatBoostClassifier

from dropout_pipelines.warehouse.legacy_schema import LEGACY_FEATURE_NAMES
from dropout_pipelines.warehouse.schema import BASE_FEATURE_NAMES

# The features every source provides, legacy rows included (their week-based features are
# unknown, so a model meant for legacy data must not lean on them): the v1 columns and the
# H5P score rate the migration derives from them, less the pass flag (the label's twin)
# and the letter grade (text).
LEGACY_MODEL_FEATURES: tuple[str, ...] = tuple(
    name
    for name in BASE_FEATURE_NAMES
    if name in (*LEGACY_FEATURE_NAMES, "h5p_score_rate")
    and name not in ("mooc_is_passed", "mooc_letter_grade")
)


def fail_target(labels: pd.Series) -> pd.Series:
    """1 when the student did not pass (the event the score predicts), else 0."""
    return (~labels.astype("boolean").fillna(False)).astype("int64")


def fit_fail_model(
    training: pd.DataFrame,
    features: Sequence[str],
    *,
    iterations: int = 300,
    depth: int = 4,
    seed: int = 7,
    eval_set: pd.DataFrame | None = None,
) -> CatBoostClassifier:
    """A CatBoost classifier of P(fail) over `features` (NULLs allowed: CatBoost's Min)."""
    labelled = training[training["is_passed"].notna()]
    if labelled.empty or fail_target(labelled["is_passed"]).nunique() < 2:
        raise ValueError("training needs labelled rows of both outcomes (passed and failed)")
    model = CatBoostClassifier(
        iterations=iterations,
        depth=depth,
        learning_rate=0.08,
        loss_function="Logloss",
        random_seed=seed,
        thread_count=2,
        allow_writing_files=False,
        verbose=False,
    )
    fit_args = {}
    if eval_set is not None and len(eval_set):
        fit_args = {
            "eval_set": (
                eval_set.loc[:, list(features)].astype("float64"),
                fail_target(eval_set["is_passed"]),
            ),
            "early_stopping_rounds": 40,
        }
    model.fit(
        labelled.loc[:, list(features)].astype("float64"),
        fail_target(labelled["is_passed"]),
        **fit_args,
    )
    return model
