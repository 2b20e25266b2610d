"""`per_distinct`: one computation per distinct value, spread back in the original order."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dropout_pipelines.distinct import per_distinct


def test_each_distinct_value_is_computed_once_and_spread_back():
    values = pd.Series(["b", None, "a", "b", np.nan, "a", "b"], index=[10, 11, 12, 13, 14, 15, 16])
    seen: list[list] = []

    def upper(distinct: pd.Series) -> pd.Series:
        seen.append(distinct.tolist())
        return distinct.str.upper()

    result = per_distinct(values, upper)
    assert seen == [["b", "a", None]]  # missing values share one computation, on None
    assert result.index.tolist() == values.index.tolist()
    assert result.isna().tolist() == [False, True, False, False, True, False, False]
    assert result.dropna().tolist() == ["B", "A", "B", "A", "B"]


def test_an_empty_column_gives_an_empty_result():
    result = per_distinct(pd.Series([], dtype=object), lambda distinct: distinct.str.len())
    assert result.empty
