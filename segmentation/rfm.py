"""RFM scores: recency, frequency and monetary value as quintile scores 1-5 within the rows given.

A score is the quintile of the row's mid-rank percentile, ``ceil(5 * (rank - 0.5) / n)``, with
tied values sharing their average rank: equal values always get equal scores, a single row or
an all-equal column scores 3. Recency is reversed (fewer days since the last purchase scores
higher); 5 is the best score on each letter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BINS = 5


def quantile_scores(values: pd.Series, bins: int = BINS) -> pd.Series:
    """Score 1..``bins`` of each value by its rank among ``values`` (NaN stays NaN)."""
    rank = values.rank(method="average")
    n = rank.notna().sum()
    return np.ceil(bins * (rank - 0.5) / n).clip(1, bins)


def rfm_scores(recency, frequency, monetary, bins: int = BINS) -> pd.Series:
    """RFM score strings such as ``"545"`` per row; None where a value is missing.

    Parameters
    ----------
    recency : array-like of float
        Days since the customer's last transaction (lower is better).
    frequency : array-like of float
        Number of transactions.
    monetary : array-like of float
        Money spent or borrowed.
    bins : int, default=5
        Number of score levels.

    Returns
    -------
    Series of str or None
        One three-digit score per row, in the input order.
    """
    frame = pd.DataFrame({"r": recency, "f": frequency, "m": monetary}, dtype=float)
    complete = frame.notna().all(axis=1)
    scored = frame[complete]
    digits = (
        pd.DataFrame(
            {
                "r": quantile_scores(-scored["r"], bins),
                "f": quantile_scores(scored["f"], bins),
                "m": quantile_scores(scored["m"], bins),
            }
        )
        .astype(int)
        .astype(str)
    )
    out = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    out[complete] = (digits["r"] + digits["f"] + digits["m"]).to_numpy()
    return out
