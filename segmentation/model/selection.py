"""Choosing the number of segments: the criteria per k, the dip between neighbouring segments,
the knee of the elbow, the vote."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

CRITERIA = {
    "separation": "the largest k whose neighbouring segments all have a dip in density between them",
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


#: A k is *separated* when every two neighbouring segments have a dip in density between them at
#: least this deep (:func:`dip`, which already discounts sampling noise): the density at the
#: lowest point between them is at most 1 - MIN_DIP of the smaller one's peak. On the k-recovery
#: benchmark's tune half (``benchmarks/k_recovery.py``) 0.02 and 0.05 chose alike; from 0.1 up,
#: small groups that barely dip were merged again.
MIN_DIP = 0.05
#: Standard errors of the smoothed density by which a dip is judged shallower than it looks.
NOISE_ERRORS = 1.5
#: Below this many rows a density has too few points to show a dip: the vote decides alone.
MIN_DIP_ROWS = 300
#: Two segments are neighbours when at least this many rows have one as their nearest centre
#: and the other as their second nearest.
MIN_BOUNDARY_ROWS = 20


def dip(A: np.ndarray, B: np.ndarray, bandwidth: float = 0.75, *, fisher: bool = True,
        noise_errors: float | None = None) -> float:
    """How deep the density dips between two groups of rows: 1 - (the density at its lowest
    point between the two means) / (the lower of the two peaks), in [0, 1].

    Along Fisher's discriminant direction (the pooled covariance's inverse times the
    difference of the means: the line that best tells the two apart, not the line joining the
    means, which correlated features tilt), on a histogram smoothed with ``bandwidth`` times
    Silverman's rule. One group that k-means cut in two has no dip (0); two groups with an
    empty gap between them dip fully (1); a small group on the flank of a large one dips
    too (a group of 6% five standard deviations out: 0.3 to 0.7), where the whole-partition
    criteria would rather merge it.

    ``fisher=False`` projects on the line joining the means instead, and ``noise_errors``
    overrides :data:`NOISE_ERRORS` (0: no discount): the variants the benchmark compares
    (``benchmarks/k_recovery_tried.py``).
    """
    ca, cb = A.mean(axis=0), B.mean(axis=0)
    d = cb - ca
    w = d
    if fisher:
        pooled = np.atleast_2d(np.cov(np.vstack([A - ca, B - cb]), rowvar=False))
        pooled += 1e-3 * max(np.trace(pooled) / len(pooled), 1e-12) * np.eye(len(pooled))
        w = np.linalg.solve(pooled, d)
    if not np.isfinite(w).all() or abs(d @ w) < 1e-12:
        return 0.0
    t = (np.vstack([A, B]) - ca) @ w / (d @ w)  # the first mean at 0, the second at 1
    q75, q25 = np.percentile(t, [75, 25])
    spread = min(t.std(), (q75 - q25) / 1.34) or t.std()
    edges = np.linspace(-0.5, 1.5, 401)
    step = edges[1] - edges[0]
    counts, _ = np.histogram(np.clip(t, -1.0, 2.0), bins=edges)
    sigma = max(bandwidth * 1.06 * spread * len(t) ** -0.2 / step, 1.0)
    density = gaussian_filter1d(counts.astype(float), sigma, mode="constant")
    centre = (edges[:-1] + edges[1:]) / 2
    between = np.flatnonzero((centre >= 0) & (centre <= 1))
    low = between[np.argmin(density[between])]
    peak = min(density[: low + 1].max(), density[low:].max())
    # Sampling noise: the smoothed counts' standard error is sqrt(count / (2 sqrt(pi) sigma));
    # judged NOISE_ERRORS errors towards no dip, so that a few hundred rows do not dip by chance.
    errors = (NOISE_ERRORS if noise_errors is None else noise_errors) / np.sqrt(2 * np.sqrt(np.pi) * sigma)
    valley, top = density[low] + errors * np.sqrt(density[low]), peak - errors * np.sqrt(peak)
    return float(np.clip(1 - valley / top, 0.0, 1.0)) if top > 0 else 0.0


def neighbours(Z: np.ndarray, labels: np.ndarray) -> list[tuple[int, int]]:
    """Pairs of segments that touch: :data:`MIN_BOUNDARY_ROWS` rows or more have one's centre
    nearest and the other's second nearest."""
    ids = np.unique(labels)
    if len(ids) < 2:
        return []
    centres = np.vstack([Z[labels == i].mean(axis=0) for i in ids])
    dist = ((Z[:, None, :] - centres[None]) ** 2).sum(axis=2)
    two = np.sort(np.argsort(dist, axis=1)[:, :2], axis=1)
    pairs, counts = np.unique(two, axis=0, return_counts=True)
    return [(int(ids[a]), int(ids[b])) for (a, b), c in zip(pairs, counts, strict=True) if c >= MIN_BOUNDARY_ROWS]


def dequantize(Z: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each repeated value spread evenly over the interval half-way to its neighbouring values.

    Counts, ratings and flags take few values, with empty gaps between them that a density
    would read as dips inside one group (a segment cut between 0 and 1 support tickets);
    spread out, a count is as smooth as its neighbours allow. Columns whose values are all
    distinct barely move.
    """
    rng = np.random.default_rng(seed)
    out = np.array(Z, dtype=float, copy=True)
    for j in range(out.shape[1]):
        values, inverse = np.unique(out[:, j], return_inverse=True)
        if len(values) < 2:
            continue
        gaps = np.diff(values)
        width = (np.r_[gaps[0], gaps] + np.r_[gaps, gaps[-1]]) / 2
        out[:, j] += (rng.random(len(out)) - 0.5) * width[inverse]
    return out


def min_dip(Z: np.ndarray, labels: np.ndarray, *, spread: bool = True, **options) -> float:
    """The shallowest :func:`dip` between two neighbouring segments, on rows spread by
    :func:`dequantize` (NaN under :data:`MIN_DIP_ROWS` rows or without neighbours).
    ``spread=False`` skips the spreading; ``options`` go to :func:`dip`."""
    if len(Z) < MIN_DIP_ROWS:
        return float("nan")
    Z = dequantize(Z) if spread else Z
    pairs = neighbours(Z, labels)
    if not pairs:
        return float("nan")
    return min(dip(Z[labels == a], Z[labels == b], **options) for a, b in pairs)


def eligible_dips(table: pd.DataFrame) -> pd.Series:
    """``min_dip`` of the eligible k, by k (empty when the table has no dips)."""
    if "min_dip" not in table:
        return pd.Series(dtype=float)
    return table[table["eligible"]].set_index("k")["min_dip"].sort_index()


def separation_choice(table: pd.DataFrame) -> int | None:
    """The largest eligible k such that it and every smaller eligible k are separated
    (``min_dip`` at least :data:`MIN_DIP`); None when the table has no dips or the smallest
    eligible k is not separated already."""
    dips = eligible_dips(table)
    if dips.empty or dips.isna().any():
        return None
    short = dips.index[dips < MIN_DIP]
    before = dips.index[dips.index < short[0]] if len(short) else dips.index
    return int(before[-1]) if len(before) else None


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


#: The criteria a table needs a column for, and the column.
OPTIONAL = {"separation": "min_dip", "gap": "gap", "bic": "bic"}


def preferences(table: pd.DataFrame) -> dict[str, int | None]:
    """The k each criterion prefers among the eligible rows of a per-k table (separation, the
    gap statistic and BIC only when the table has their column)."""
    ok = table[table["eligible"]]
    names = [c for c in CRITERIA if c not in OPTIONAL or OPTIONAL[c] in table]
    if ok.empty:
        return dict.fromkeys(names)
    prefs = {
        "elbow": knee(ok["k"], ok["inertia"]),
        "silhouette": int(ok.loc[ok["silhouette"].idxmax(), "k"]),
        "calinski_harabasz": int(ok.loc[ok["calinski_harabasz"].idxmax(), "k"]),
        "davies_bouldin": int(ok.loc[ok["davies_bouldin"].idxmin(), "k"]),
    }
    if "separation" in names:
        prefs["separation"] = separation_choice(table)
    if "gap" in names:
        prefs["gap"] = gap_choice(ok)
    if "bic" in names:
        prefs["bic"] = int(ok.loc[ok["bic"].idxmin(), "k"])
    return {name: prefs[name] for name in names}


def tally(table: pd.DataFrame, prefs: dict) -> list[tuple[int, float, list[str]]]:
    """(k, votes, criteria) per k the voting criteria (:data:`WEIGHTS`; not separation)
    prefer, best first: most votes, then the higher Calinski-Harabasz."""
    votes: dict[int, list[str]] = {}
    for name, k in prefs.items():
        if k is not None and name in WEIGHTS:
            votes.setdefault(k, []).append(name)
    ch = table.set_index("k")["calinski_harabasz"]
    out = [(k, float(sum(WEIGHTS[n] for n in names)), names) for k, names in votes.items()]
    return sorted(out, key=lambda row: (row[1], ch[row[0]]), reverse=True)


def _label(name: str) -> str:
    return name.replace("_", "-") + (" (2 votes)" if WEIGHTS[name] == 2 else "")


def _separation_reason(table: pd.DataFrame, k: int) -> str:
    dips = eligible_dips(table)
    reason = (f"k={k}: the largest k at which every two neighbouring segments have a dip in density "
              f"between them (the shallowest dip {dips[k]:.0%} deep")
    after = dips[dips.index > k]
    if after.empty:
        return reason + "; no larger k was tried)"
    return reason + f"; at k={after.index[0]} only {after.iloc[0]:.0%}: one group would be cut in two)"


def _vote_reason(prefs: dict, ranked: list) -> str:
    k, votes, names = ranked[0]
    total = sum(row[1] for row in ranked)
    reason = f"k={k}: preferred by {', '.join(_label(n) for n in names)} ({votes:g} of {total:g} votes)"
    if len(ranked) > 1 and ranked[1][1] == votes:
        reason += ", tie broken by the higher Calinski-Harabasz"
    others = "; ".join(
        f"{n.replace('_', '-')} preferred {v}" for n, v in prefs.items()
        if v is not None and v != k and n in WEIGHTS
    )
    return f"{reason}; {others}" if others else reason


def choose_k(
    table: pd.DataFrame, min_segment_share: float, max_segments: int | None = None
) -> tuple[int, dict, str]:
    """Pick k: the largest k whose neighbouring segments are all separated by a dip in density
    (:func:`separation_choice`), else a weighted vote of the other criteria (:data:`WEIGHTS`;
    ties go to the higher Calinski-Harabasz).

    The dip decides first because it measured best on the k-recovery benchmark: the
    vote's criteria (Calinski-Harabasz, silhouette, ...) score a partition as a whole and
    prefer merging a small group into a large neighbour; a dip is local to each pair of
    segments, so it keeps a small group that is a group of its own, and it is absent when k-means cuts
    one group in two. The vote decides when no dip can be measured (fewer than
    :data:`MIN_DIP_ROWS` rows) or even the smallest k has two segments without one.

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
    if prefs.get("separation") is not None:
        k = prefs["separation"]
        reason = _separation_reason(table, k)
        if len(ranked) == 1 and ranked[0][0] == k:
            reason += "; the vote of the other criteria agrees"
        elif ranked:
            reason += "; the vote of the other criteria: " + "; ".join(
                f"{alt} by {', '.join(_label(n) for n in names)}" for alt, _, names in ranked)
    else:
        k = ranked[0][0]
        reason = _vote_reason(prefs, ranked)
        first = eligible_dips(table)
        if len(first) and not first.isna().any():
            reason += (f"; no k had a dip between every two neighbouring segments (the shallowest at "
                       f"k={first.index[0]}: {first.iloc[0]:.0%}), so the vote decided")
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


#: A chosen k whose shallowest dip is under this is a close call: k - 1 would merge that pair.
CLOSE_DIP = 0.15


def runner_up(table: pd.DataFrame, prefs: dict, k: int) -> int | None:
    """The runner-up k when the choice was close, else None.

    When the dip chose ``k`` and its shallowest dip is under :data:`CLOSE_DIP`: the next
    smaller k (it would merge the two segments that barely dip). Otherwise the k with the most
    votes other than ``k``, if it has at least the votes of ``k`` less one (one criterion
    changing its mind would tie or turn the vote) and at least two criteria prefer it (one
    criterion alone, even Calinski-Harabasz with its two votes, is a dissent, not a split).
    """
    if k is not None and prefs.get("separation") == k:
        dips = eligible_dips(table)
        before = dips[dips.index < k]
        if len(before) and dips[k] < CLOSE_DIP:
            return int(before.index[-1])
    ranked = [row for row in tally(table, prefs) if row[0] != k] if prefs else []
    if not ranked:
        return None
    winner = sum(WEIGHTS[n] for n, v in prefs.items() if v == k and n in WEIGHTS)
    alt, votes, names = ranked[0]
    return int(alt) if votes >= winner - 1 and len(names) >= 2 else None
