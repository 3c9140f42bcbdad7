"""RFM scores: recency, frequency and monetary value as quintile scores from 1 to 5."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Columns that play each RFM role, by feature set, first match wins.
_ROLES = {
    "r": ("recency_days", "recency"),
    "f": ("txn_count", "frequency", "number_of_orders", "purchase_frequency"),
    "m": ("total_amount", "monetary", "total_spent"),
}


def quintile_score(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """Scores 1-5 by quintile of the average rank, so tied values always share a score.

    Missing values get the middle score 3.
    """
    ranks = values.rank(method="average", pct=True, ascending=higher_is_better)
    return np.ceil(ranks * 5).clip(1, 5).fillna(3).astype(int)


def rfm_scores(frame: pd.DataFrame, feature_set: str | None = None) -> pd.DataFrame | None:
    """R, F and M scores (columns r_score, f_score, m_score) of each row; None when the frame
    lacks a recency, frequency or monetary column."""
    cols = {}
    for role, names in _ROLES.items():
        found = next((n for n in names if n in frame.columns and frame[n].notna().any()), None)
        if found is None:
            return None
        cols[role] = found
    return pd.DataFrame(
        {
            "r_score": quintile_score(frame[cols["r"]], higher_is_better=False),
            "f_score": quintile_score(frame[cols["f"]]),
            "m_score": quintile_score(frame[cols["m"]]),
        },
        index=frame.index,
    )
