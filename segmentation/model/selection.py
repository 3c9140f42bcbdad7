"""Choosing the number of segments: the criteria per k, the knee of the elbow, the vote."""

from __future__ import annotations

import numpy as np
import pandas as pd

CRITERIA = {
    "elbow": "the knee of the inertia curve",
    "silhouette": "the highest silhouette",
    "calinski_harabasz": "the highest Calinski-Harabasz",
    "davies_bouldin": "the lowest Davies-Bouldin",
    "gap": "the gap statistic (the smallest k within one standard error of the next)",
    "bic": "the lowest BIC (Gaussian mixture only)",
}
#: Votes per criterion. Measured on the k-recovery benchmark's tune half
#: (``benchmarks/k_recovery.py``): Calinski-Harabasz, the best single criterion there (and
#: Milligan and Cooper's first of 30), counts twice; the gap statistic joins the vote because
#: it tends to larger k than the silhouette and Davies-Bouldin, which merge small groups.
WEIGHTS = {"elbow": 1, "silhouette": 1, "calinski_harabasz": 2, "davies_bouldin": 1, "gap": 1, "bic": 1}


def gap_statistic(Z: np.ndarray, ks, seed: int = 0, n_refs: int = 10, size: int = 2_000) -> pd.DataFrame:
    """Tibshirani, Walther and Hastie's gap statistic per k (columns k, gap, gap_sd).

    The references are drawn uniformly in the box of the data's principal axes; everything
    runs on a random sample of at most ``size`` rows (k-means with 2 starts on the data, 1 on
    each reference).
    """
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    X = Z if len(Z) <= size else Z[rng.choice(len(Z), size, replace=False)]
    X = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(X, full_matrices=False)
    P = X @ vt.T
    lo, hi = P.min(axis=0), P.max(axis=0)
    refs = [rng.uniform(lo, hi, P.shape) @ vt for _ in range(n_refs)]
    rows = []
    for k in ks:
        if k >= len(X):
            rows.append({"k": k, "gap": np.nan, "gap_sd": np.nan})
            continue
        log_w = np.log(max(KMeans(k, n_init=2, random_state=seed).fit(X).inertia_, 1e-12))
        ref_w = np.log([max(KMeans(k, n_init=1, random_state=seed).fit(R).inertia_, 1e-12) for R in refs])
        rows.append({"k": k, "gap": ref_w.mean() - log_w, "gap_sd": ref_w.std() * np.sqrt(1 + 1 / n_refs)})
    return pd.DataFrame(rows)


def gap_choice(ok: pd.DataFrame) -> int | None:
    """The smallest k whose gap is within one standard error of the next k's, else the last k."""
    ok = ok.dropna(subset=["gap"]).reset_index(drop=True)
    if ok.empty:
        return None
    for i in range(len(ok) - 1):
        if ok.loc[i, "gap"] >= ok.loc[i + 1, "gap"] - ok.loc[i + 1, "gap_sd"]:
            return int(ok.loc[i, "k"])
    return int(ok["k"].iloc[-1])


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
    """The k each criterion prefers among the eligible rows of a per-k table (the gap
    statistic and BIC only when the table has them)."""
    ok = table[table["eligible"]]
    names = [c for c in CRITERIA if c not in ("gap", "bic") or c in table]
    if ok.empty:
        return dict.fromkeys(names)
    prefs = {
        "elbow": knee(ok["k"], ok["inertia"]),
        "silhouette": int(ok.loc[ok["silhouette"].idxmax(), "k"]),
        "calinski_harabasz": int(ok.loc[ok["calinski_harabasz"].idxmax(), "k"]),
        "davies_bouldin": int(ok.loc[ok["davies_bouldin"].idxmin(), "k"]),
    }
    if "gap" in names:
        prefs["gap"] = gap_choice(ok)
    if "bic" in names:
        prefs["bic"] = int(ok.loc[ok["bic"].idxmin(), "k"])
    return prefs


def tally(table: pd.DataFrame, prefs: dict) -> list[tuple[int, float, list[str]]]:
    """(k, votes, criteria) per preferred k, best first: most votes (:data:`WEIGHTS`), then
    the higher Calinski-Harabasz."""
    votes: dict[int, list[str]] = {}
    for name, k in prefs.items():
        if k is not None:
            votes.setdefault(k, []).append(name)
    ch = table.set_index("k")["calinski_harabasz"]
    out = [(k, float(sum(WEIGHTS[n] for n in names)), names) for k, names in votes.items()]
    return sorted(out, key=lambda row: (row[1], ch[row[0]]), reverse=True)


def _label(name: str) -> str:
    return name.replace("_", "-") + (" (2 votes)" if WEIGHTS[name] == 2 else "")


def choose_k(
    table: pd.DataFrame, min_segment_share: float, max_segments: int | None = None
) -> tuple[int, dict, str]:
    """Pick k by a weighted vote of the criteria (:data:`WEIGHTS`); ties go to the higher
    Calinski-Harabasz.

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
    ranked = tally(table, prefs)
    k, votes, names = ranked[0]
    total = sum(row[1] for row in ranked)
    winners = ", ".join(_label(n) for n in names)
    others = "; ".join(
        f"{n.replace('_', '-')} preferred {v}" for n, v in prefs.items() if v is not None and v != k
    )
    reason = f"k={k}: preferred by {winners} ({votes:g} of {total:g} votes)"
    if len(ranked) > 1 and ranked[1][1] == votes:
        reason += ", tie broken by the higher Calinski-Harabasz"
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


def compare_labels(chosen: np.ndarray, other: np.ndarray) -> dict:
    """What another fit with fewer or more segments does to the chosen segments.

    From the overlap of the two labellings of the same customers: with fewer segments, the
    chosen segments whose customers mostly land in the same other segment are merged; with
    more, a chosen segment that holds most of two or more other segments is split.

    Returns ``{"merge": [[a, b, ...], ...], "split": [a, ...]}`` (chosen segment ids, sorted).
    """
    chosen, other = np.asarray(chosen), np.asarray(other)
    keep = (chosen >= 0) & (other >= 0)  # HDBSCAN's noise belongs to no segment
    chosen, other = chosen[keep], other[keep]
    ids, cols = np.unique(chosen), np.unique(other)
    table = pd.crosstab(chosen, other).reindex(index=ids, columns=cols, fill_value=0).to_numpy()
    merge, split = [], []
    if len(cols) < len(ids):
        home = table.argmax(axis=1)
        merge = [sorted(int(i) for i in ids[home == j]) for j in range(len(cols)) if (home == j).sum() > 1]
    elif len(cols) > len(ids):
        home = table.argmax(axis=0)
        split = [int(ids[i]) for i in range(len(ids)) if (home == i).sum() > 1]
    return {"merge": sorted(merge), "split": sorted(split)}


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def close_call_text(k: int, close: dict, names: dict | None = None) -> str:
    """The plain sentence of a close call, e.g. "4 segments; 3 was close: it would merge A and B".

    ``close`` holds the runner-up ``k`` and what it does (:func:`compare_labels`); ``names``
    maps a segment id to its name (default "segment <id>").
    """

    def name(i: int) -> str:
        return (names or {}).get(i) or f"segment {i}"

    what = [f"merge {_and([name(i) for i in group])}" for group in close.get("merge", [])]
    if close.get("split"):
        what.append(f"split {_and([name(i) for i in close['split']])}")
    sentence = f"{k} segments; {close['k']} was close"
    if what:
        sentence += f": it would {_and(what)}"
    elif close["k"] != k:
        sentence += ": it would regroup the same customers differently"
    return sentence


def runner_up(table: pd.DataFrame, prefs: dict, k: int) -> int | None:
    """The runner-up k when the vote was close, else None.

    Close: the k with the most votes after ``k`` is one vote or less behind it (one criterion
    changing its mind would tie or turn the choice) and at least two criteria prefer it (one
    criterion alone, even Calinski-Harabasz with its two votes, is a dissent, not a split).
    """
    ranked = [row for row in tally(table, prefs) if row[0] != k] if prefs else []
    if not ranked:
        return None
    winner = sum(WEIGHTS[n] for n, v in prefs.items() if v == k)
    alt, votes, names = ranked[0]
    return int(alt) if votes >= winner - 1 and len(names) >= 2 else None
