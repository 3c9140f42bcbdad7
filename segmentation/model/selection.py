"""Choosing the number of segments: the criteria per k, the knee of the elbow, the vote."""

from __future__ import annotations

import numpy as np
import pandas as pd

CRITERIA = {
    "elbow": "the knee of the inertia curve",
    "silhouette": "the highest silhouette",
    "calinski_harabasz": "the highest Calinski-Harabasz",
    "davies_bouldin": "the lowest Davies-Bouldin",
    "bic": "the lowest BIC (Gaussian mixture only)",
}


def knee(ks, inertia) -> int | None:
    """Knee of a decreasing inertia curve (Kneedle: farthest point below the chord).

    Both axes are scaled to [0, 1]; the knee is the k whose scaled inertia lies furthest
    below the straight line from the first to the last point. None for fewer than 3 points or
    a curve with no bend.
    """
    ks = np.asarray(ks, dtype=float)
    y = np.asarray(inertia, dtype=float)
    if len(ks) < 3 or y[0] == y[-1]:
        return None
    x = (ks - ks[0]) / (ks[-1] - ks[0])
    y = (y - y[-1]) / (y[0] - y[-1])
    gap = (1.0 - x) - y
    best = int(np.argmax(gap))
    return int(ks[best]) if gap[best] > 0 else None


def preferences(table: pd.DataFrame) -> dict[str, int | None]:
    """The k each criterion prefers among the eligible rows of a per-k table."""
    ok = table[table["eligible"]]
    names = [c for c in CRITERIA if c != "bic" or "bic" in table]
    if ok.empty:
        return dict.fromkeys(names)
    prefs = {
        "elbow": knee(ok["k"], ok["inertia"]),
        "silhouette": int(ok.loc[ok["silhouette"].idxmax(), "k"]),
        "calinski_harabasz": int(ok.loc[ok["calinski_harabasz"].idxmax(), "k"]),
        "davies_bouldin": int(ok.loc[ok["davies_bouldin"].idxmin(), "k"]),
    }
    if "bic" in names:
        prefs["bic"] = int(ok.loc[ok["bic"].idxmin(), "k"])
    return prefs


def choose_k(
    table: pd.DataFrame, min_segment_share: float, max_segments: int | None = None
) -> tuple[int, dict, str]:
    """Pick k by majority vote of the criteria; ties go to the higher silhouette.

    Only eligible rows (``eligible``: every segment at least ``min_segment_share`` of the
    customers, at most ``max_segments`` segments) take part. Returns the k, each criterion's
    preference, and a sentence saying why k won.
    """
    prefs = preferences(table)
    if all(v is None for v in prefs.values()):
        # No k keeps every segment above the guardrail: fall back to the smallest k.
        k = int(table["k"].min())
        return (
            k,
            prefs,
            (
                f"k={k}: no k in the range keeps every segment above {min_segment_share:.0%} of "
                "customers, so the smallest k was taken"
            ),
        )
    votes: dict[int, list[str]] = {}
    for name, k in prefs.items():
        if k is not None:
            votes.setdefault(k, []).append(name)
    silhouette = table.set_index("k")["silhouette"]
    ranked = sorted(votes, key=lambda c: (len(votes[c]), silhouette[c]), reverse=True)
    k = ranked[0]
    winners = ", ".join(n.replace("_", "-") for n in votes[k])
    others = "; ".join(
        f"{n.replace('_', '-')} preferred {v}" for n, v in prefs.items() if v is not None and v != k
    )
    reason = f"k={k}: preferred by {winners} ({len(votes[k])} of {sum(map(len, votes.values()))} criteria)"
    if len(ranked) > 1 and len(votes[ranked[1]]) == len(votes[k]):
        reason += ", tie broken by the higher silhouette"
    if others:
        reason += f"; {others}"
    too_many = table["k"] > max_segments if max_segments is not None else table["k"] < 0
    excluded = table.loc[~table["eligible"] & ~too_many, "k"].tolist()
    if excluded:
        reason += (
            f"; k={', '.join(map(str, excluded))} left out: a segment under "
            f"{min_segment_share:.0%} of customers"
        )
    if too_many.any():
        reason += (
            f"; k={', '.join(map(str, table.loc[too_many, 'k']))} left out: more than "
            f"{max_segments} segments (--max-segments)"
        )
    return int(k), prefs, reason
