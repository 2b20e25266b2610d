"""Work done once per distinct value of a column, not once per row.

Statements and submissions repeat a handful of verbs and activity types and a few thousand
activity ids hundreds of thousands of times: string work (regular expressions, case
folding) per row was most of the time spent parsing them and computing features.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd


def per_distinct(values: pd.Series, compute: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """`compute(values)`, run once per distinct value (a missing value included, as None)
    and spread back onto `values`' index. `compute` must work value by value: its answer
    for one value may not depend on the others."""
    codes, distinct = pd.factorize(values.astype(object))
    # A missing value gets code -1: the last entry, the None appended here.
    computed = compute(pd.Series([*distinct, None], dtype=object)).to_numpy()
    return pd.Series(computed[codes], index=values.index)
