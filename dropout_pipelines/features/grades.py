"""Letter grades from Open edX grade cutoffs, vectorised (live grades and rebuilt ones)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def letter_for(percent: pd.Series, cutoffs: dict[str, float]) -> pd.Series:
    """The highest letter whose cutoff the fraction reaches (vectorised); None below all."""
    if not cutoffs:
        return pd.Series([None] * len(percent), index=percent.index, dtype=object)
    ordered = sorted(cutoffs.items(), key=lambda item: item[1])
    letters = np.array([None] + [letter for letter, _ in ordered], dtype=object)
    bounds = np.array([bound for _, bound in ordered])
    positions = np.searchsorted(bounds, percent.fillna(-1).to_numpy(), side="right")
    return pd.Series(letters[positions], index=percent.index, dtype=object)
