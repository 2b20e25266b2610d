"""Scoring rules: matrix order, score scale, risk levels, stable A/B arms."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from catboost import Pool

from dropout_pipelines.predict.scoring import (
    MissingFeatureError,
    ab_arms,
    ab_bucket,
    fail_risk_scores,
    feature_matrix,
    top_reasons,
)
from dropout_pipelines_tests.predict.conftest import training_frame


def test_feature_matrix_follows_the_model_order_and_names_a_missing_feature():
    frame = pd.DataFrame({"b": [1, None], "a": ["0.5", 2], "extra": [9, 9]})
    matrix = feature_matrix(frame, ["a", "b"])
    assert list(matrix.columns) == ["a", "b"]
    assert matrix.dtypes.tolist() == [np.float64, np.float64]
    assert np.isnan(matrix.loc[1, "b"])
    with pytest.raises(MissingFeatureError, match="days_enrolled"):
        feature_matrix(frame, ["a", "days_enrolled"])


def test_scores_are_clipped_and_rounded():
    scores = fail_risk_scores(np.array([-0.1, 0.39999, 0.4, 0.69994, 0.7, 1.2]))
    assert scores.tolist() == [0.0, 40.0, 40.0, 69.99, 70.0, 100.0]


def test_ab_arms_are_stable_and_near_the_share():
    users = list(range(10_000))
    arms = ab_arms("course-v1:X+Y+Z", users, 0.3)
    assert ab_arms("course-v1:X+Y+Z", users, 0.3).tolist() == arms.tolist()
    assert 0.27 < (arms == "B").mean() < 0.33
    assert ab_bucket("course-v1:X+Y+Z", 5) == ab_bucket("course-v1:X+Y+Z", 5)
    # Another course shuffles students differently.
    assert ab_arms("course-v1:X+Y+W", users, 0.3).tolist() != arms.tolist()


def test_reasons_are_the_features_that_raised_the_risk_most(trained_model):
    model = trained_model()
    frame, _ = training_frame(seed=5, rows=40)
    reasons = [json.loads(text) for text in top_reasons(model, frame)]
    assert len(reasons) == 40
    shap = model.get_feature_importance(data=Pool(frame), type="ShapValues")[:, :-1]
    for row, row_reasons in enumerate(reasons):
        assert len(row_reasons) <= 3
        contributions = [reason["contribution"] for reason in row_reasons]
        assert contributions == sorted(contributions, reverse=True)
        assert all(c > 0 for c in contributions)
        expected = sorted((v for v in shap[row] if v > 0), reverse=True)[:3]
        assert contributions == pytest.approx(expected, abs=1e-4)
        for reason in row_reasons:
            assert reason["value"] == pytest.approx(frame.loc[row, reason["feature"]], abs=1e-4)


def test_reasons_text_is_what_json_dumps_writes_missing_values_included(trained_model):
    """The text is built column-wise, not by json.dumps: it must still be the same JSON,
    character for character, with a missing value as null."""
    model = trained_model()
    frame, _ = training_frame(seed=5, rows=40)
    frame.iloc[::3, :] = np.nan  # a student with nothing recorded yet
    frame.iloc[1::3, 1] = np.inf  # a ratio over zero: JSON has no infinity
    shap = model.get_feature_importance(data=Pool(frame), type="ShapValues")[:, :-1]
    texts = top_reasons(model, frame)
    assert any('"value": null' in text for text in texts)
    assert not any("Infinity" in text for text in texts)
    for row, text in enumerate(texts):
        order = np.argsort(-shap[row], kind="stable")[:3]
        value = frame.iloc[row].where(np.isfinite(frame.iloc[row]))
        expected = [
            {
                "feature": str(frame.columns[j]),
                "value": None if np.isnan(value.iat[j]) else float(np.round(value.iat[j], 4)),
                "contribution": float(np.round(shap[row, j], 4)),
            }
            for j in order
            if np.round(shap[row, j], 4) > 0
        ]
        assert text == json.dumps(expected)
