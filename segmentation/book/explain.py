"""One customer explained: their segment, how far they are from every segment's centre, and what
would move them: the smallest change of one or two features, in the data's own units, that puts
them in the nearest other segment.

The search runs on the model itself. For a k-means model a customer belongs to the segment
whose centre is nearest in the scaled space (:mod:`segmentation.model.assignment`). Moving one
feature moves the customer along one axis of that space, and the values of that axis where a
given segment is the nearest form one interval (each "nearer than segment s" is a half-line, as
the difference of two squared distances is linear in the coordinate). So the smallest change of
one feature is found exactly, for every feature; for two features the first one walks a grid
and the second is solved exactly at each step. Each answer is then rounded to a value a person
would say (whole numbers for counts, two significant digits for amounts) and checked with
:meth:`Bundle.predict`, so it always agrees with :meth:`Bundle.assign`. Changes stay within the
training data's range of each feature.

Other models (Gaussian mixtures, HDBSCAN) have no centres to measure against: their
explanation gives the segment and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from ..errors import InputError

#: Steps of the grid the first feature of a pair walks (between its training min and max).
PAIR_GRID = 48
#: A change of two features is shown only when it is this much smaller than the best single one.
PAIR_GAIN = 0.75
#: Changes listed (best first).
MAX_MOVES = 3
#: How far inside a segment's region (in scaled units) an exact answer is placed.
EDGE = 1e-6


@dataclass(frozen=True)
class Change:
    """One feature's change: from ``before`` to ``after``, in the data's units."""

    feature: str
    before: float
    after: float
    text: str


@dataclass(frozen=True)
class Move:
    """A change of one or two features that puts the customer in segment ``to_segment``.

    ``size`` is the length of the change in the model's scaled space (standard deviations of
    the training data, after the log transform): what "smallest" is measured in.
    """

    to_segment: int
    to_name: str
    changes: tuple[Change, ...]
    size: float

    @property
    def text(self) -> str:
        return " and ".join(c.text for c in self.changes)


@dataclass(frozen=True)
class Explanation:
    """A customer's segment and what would move them (see :func:`explain`).

    Attributes
    ----------
    segment, segment_name, summary, recommended_action
        As :meth:`Bundle.assign` gives them, and the segment's profile summary.
    values : dict
        The feature values scored (a missing one filled with the training median).
    imputed : tuple of str
        Features that were missing and filled with the median.
    distances : dict or None
        Segment id -> distance of the customer to its centre in the scaled space (k-means only).
    nearest_other : int or None
        The segment whose centre is nearest after the customer's own.
    moves : tuple of Move
        Smallest changes that move the customer to ``nearest_other``, best first (may be empty).
    note : str
        Why there is no move, when there is none.
    """

    segment: int
    segment_name: str
    summary: str
    recommended_action: str
    values: dict[str, float]
    imputed: tuple[str, ...] = ()
    distances: dict[int, float] | None = None
    nearest_other: int | None = None
    nearest_other_name: str | None = None
    moves: tuple[Move, ...] = field(default_factory=tuple)
    note: str = ""

    @property
    def move_text(self) -> str:
        """What would move this customer, in one sentence."""
        if self.moves:
            target = f"{self.nearest_other} {self.nearest_other_name}"
            return f"to move to {target}: {self.moves[0].text}"
        return self.note

    @property
    def text(self) -> str:
        """The segment and what would move the customer, in one short line (TabPy, the CLI)."""
        return f"{self.segment} {self.segment_name}; {self.move_text}"


# -- units -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureScale:
    """One feature's scale: training range and median, whether its values are whole numbers
    (counts), and how a value is written (shares as percentages, days with "days", thousands
    separated)."""

    name: str
    low: float
    high: float
    whole: bool
    share: bool  # values between 0 and 1: written as percentages
    median: float = math.nan

    def write(self, value: float) -> str:
        if self.share:
            return f"{value:.0%}" if value == 0 or abs(value) >= 0.01 else f"{value:.2%}"
        if self.whole or abs(value) >= 100:
            text = f"{value:,.0f}"
        elif abs(value) >= 1:
            text = f"{value:,.1f}".removesuffix(".0")
        else:
            text = f"{value:,.2g}"
        return f"{text} days" if self.name.lower().endswith("_days") else text

    def nice(self, value: float, direction: float) -> list[float]:
        """Values near ``value`` a person would say, rounded away from the start
        (``direction`` > 0: up), coarsest first; the exact value last (never for counts)."""
        def out(step):
            return (math.ceil if direction > 0 else math.floor)(value / step - 1e-9 * direction) * step

        if self.whole:  # whole numbers only: past the boundary, else just before it
            return [out(1.0), float((math.floor if direction > 0 else math.ceil)(value))]
        if self.share:
            steps = [0.01, 0.001]
        else:
            magnitude = 10.0 ** math.floor(math.log10(abs(value))) if value else 1.0
            steps = [magnitude / 10, magnitude / 100, magnitude / 1000]
        return [*(out(s) for s in steps), value]


def feature_scales(bundle) -> dict[str, FeatureScale]:
    """Each model feature's training range, median and unit, from the bundle's metadata (a
    k-means bundle saved before it kept them: the range its centres span, three standard
    deviations out; another: unbounded)."""
    ranges = bundle.metadata.get("feature_ranges") or {}
    medians = bundle.pipeline.named_steps["impute"].statistics_
    axes = {}
    for j, name in enumerate(bundle.features):
        r = ranges.get(name)
        if r is None and bundle.has_centroids:
            centers = bundle.scoring.scaled_centers[:, j]
            inv = _inverse(bundle.scoring, j, np.array([centers.min() - 3, centers.max() + 3]))
            r = {"min": float(inv[0]), "max": float(inv[1])}
        r = r or {"min": -math.inf, "max": math.inf}
        low, high = float(r["min"]), float(r["max"])
        share = low >= 0 and high <= 1 and not r.get("whole")
        axes[name] = FeatureScale(name, low, high, bool(r.get("whole")), share, float(r.get("median", medians[j])))
    return axes


def describe_change(axis: FeatureScale, before: float, after: float) -> str:
    """``raise txn_count from 8 to 12``: the words for one change."""
    verb = "raise" if after > before else "lower"
    return f"{verb} {axis.name} from {axis.write(before)} to {axis.write(after)}"


# -- the search --------------------------------------------------------------------------------


def explain(bundle, row) -> Explanation:
    """The segment of one customer and the smallest change that moves them (see the module).

    Parameters
    ----------
    bundle : Bundle
    row : dict, Series or one-row DataFrame
        The customer's model features (others are ignored); a missing or empty value is filled
        with the training median, as :meth:`Bundle.assign` does.
    """
    frame = _one_row(row, bundle.features)
    if bundle.has_centroids:
        # the very arithmetic of Bundle.predict (ScoringParameters.predict is this argmin)
        d2 = bundle.scoring.distances(frame)[0]
        segment = int(np.argmin(d2))
    else:
        segment = int(bundle.predict(frame)[0])
    book = {r["segment"]: r for r in bundle.segments.to_dict("records")}

    def name(s):
        return str(book.get(s, {}).get("segment_name", f"segment {s}"))

    values = frame.iloc[0]
    imputed = tuple(f for f in bundle.features if pd.isna(values[f]))
    base = dict(
        segment=segment,
        segment_name=name(segment),
        summary=str(book.get(segment, {}).get("summary", "")),
        recommended_action=str(book.get(segment, {}).get("recommended_action", "")),
        imputed=imputed,
    )
    if not bundle.has_centroids:
        filled = {f: (None if pd.isna(v) else float(v)) for f, v in values.items()}
        algorithm = bundle.metadata.get("algorithm", "this model")
        return Explanation(values=filled, note=f"what would move this customer needs a k-means model; this one uses {algorithm}", **base)

    params = bundle.scoring
    x = np.where(np.isnan(values.to_numpy(dtype=float)), params.medians, values.to_numpy(dtype=float))
    z = params.transform(frame)[0]
    distances = {int(s): float(math.sqrt(d)) for s, d in enumerate(d2)}
    others = [s for s in np.argsort(d2, kind="stable") if s != segment]
    filled = dict(zip(bundle.features, map(float, x), strict=True))
    if not others:
        return Explanation(values=filled, distances=distances, note="the model has one segment", **base)
    target = int(others[0])
    axes = feature_scales(bundle)
    moves = _moves(bundle, params, axes, x, z, target, name(target))
    note = "" if moves else (
        f"no change of one or two features within the training data's ranges moves this customer to {target} {name(target)}"
    )
    return Explanation(
        values=filled, distances=distances, nearest_other=target, nearest_other_name=name(target),
        moves=tuple(moves), note=note, **base,
    )


def _moves(bundle, params, axes: dict[str, FeatureScale], x, z, target: int, target_name: str) -> list[Move]:
    features = bundle.features
    bounds = np.array([[_forward(params, j, axes[f].low), _forward(params, j, axes[f].high)]
                       for j, f in enumerate(features)])
    space = (params.scaled_centers, params.metric)
    candidates = []  # (size, {feature index: scaled value})
    for j in range(len(features)):
        u = float(_nearest_in(*_intervals(space, z[None, :], target, j), bounds[j], z[j])[0])
        if not math.isnan(u):
            candidates.append((abs(u - z[j]), {j: u}))
    singles = sorted(candidates, key=lambda c: c[0])
    best_single = singles[0][0] if singles else math.inf
    pairs = []
    for i, j in combinations(range(len(features)), 2):
        found = _best_pair(space, z, target, i, j, bounds)
        if found is not None and found[0] < PAIR_GAIN * best_single:
            pairs.append(found)
    ranked = sorted(singles + sorted(pairs, key=lambda c: c[0])[:1], key=lambda c: c[0])
    return _verified(bundle, params, axes, x, ranked[: 2 * MAX_MOVES], target, target_name)


def _intervals(space, Z: np.ndarray, target: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``Z``: the values u of coordinate ``j`` (the others fixed) where
    ``target``'s centre is strictly the nearest, as arrays lo and hi (empty: lo > hi).

    ``space`` is (the centres in the scaled space, the metric M of the squared distance
    ``(z - c) M (z - c)``). Along coordinate j, d_target - d_s = a - b * u: the u**2 terms
    cancel, a is the difference at u = 0 and b = 2 M[j] (c_target - c_s)."""
    centers, M = space
    base = np.array(Z, dtype=float, copy=True)
    base[:, j] = 0.0
    diff = base[:, None, :] - centers[None, :, :]  # (rows, k, features)
    q = np.einsum("rkf,fg,rkg->rk", diff, M, diff)
    lo = np.full(len(Z), -np.inf)
    hi = np.full(len(Z), np.inf)
    for s in range(len(centers)):
        if s == target:
            continue
        # negative where the target is nearer
        a = q[:, target] - q[:, s]
        b = 2.0 * float(M[j] @ (centers[target] - centers[s]))
        if b > 0:
            lo = np.maximum(lo, a / b)
        elif b < 0:
            hi = np.minimum(hi, a / b)
        else:
            lo = np.where(a >= 0, np.inf, lo)
    return lo, hi


def _nearest_in(lo, hi, bound, current: float) -> np.ndarray:
    """The point of [lo, hi] within ``bound`` nearest to ``current`` (NaN: none), a hair
    inside the interval's ends (at an end two centres are equally near)."""
    lo, hi = np.maximum(lo, bound[0]), np.minimum(hi, bound[1])
    margin = np.where(lo <= hi, np.minimum(EDGE, (hi - lo) / 2), 0.0)
    inside = np.clip(current, lo + margin, hi - margin)
    return np.where(lo > hi, np.nan, inside)


def _best_pair(space, z, target, i, j, bounds):
    """The smallest change of features ``i`` and ``j`` together (``i`` on a grid, ``j`` exact)."""
    grid = np.linspace(bounds[i][0], bounds[i][1], PAIR_GRID)
    grid = grid[grid != z[i]]
    Z = np.repeat(z[None, :], len(grid), axis=0)
    Z[:, i] = grid
    v = _nearest_in(*_intervals(space, Z, target, j), bounds[j], z[j])
    size = np.hypot(grid - z[i], v - z[j])
    size[np.isnan(v) | (v == z[j])] = np.inf  # a change of one feature only is a single
    best = int(np.argmin(size))
    if not np.isfinite(size[best]):
        return None
    return float(size[best]), {i: float(grid[best]), j: float(v[best])}


def _verified(bundle, params, axes, x, ranked, target, target_name) -> list[Move]:
    """The changes in the data's units, rounded to values a person would say and checked with
    the model's own predict (all candidates in one call); a change no rounding of which gives
    ``target`` is left out."""
    features = bundle.features
    tries, owners = [], []
    for n, (_, change) in enumerate(ranked):
        options = []
        for j, u in change.items():
            axis = axes[features[j]]
            exact = float(np.clip(_inverse(params, j, np.array([u]))[0], axis.low, axis.high))
            options.append([v for v in axis.nice(exact, exact - x[j]) if axis.low <= v <= axis.high] or [exact])
        for level in range(max(len(o) for o in options)):
            row = x.copy()
            for j, vals in zip(change, options, strict=True):
                row[j] = vals[min(level, len(vals) - 1)]
            tries.append(row)
            owners.append(n)
    if not tries:
        return []
    predicted = bundle.predict(np.array(tries))
    moves, done = [], set()
    for n, row, seg in zip(owners, tries, predicted, strict=True):
        if seg != target or n in done:
            continue
        done.add(n)
        size, change = ranked[n]
        changes = tuple(
            Change(features[j], float(x[j]), float(row[j]), describe_change(axes[features[j]], x[j], row[j]))
            for j in change
        )
        moves.append(Move(target, target_name, changes, float(size)))
    return moves[:MAX_MOVES]


# -- the scaled axis of one feature --------------------------------------------------------------


def _forward(params, j: int, value: float) -> float:
    v = float(value)
    if params.logged[j]:
        v = math.copysign(math.log1p(abs(v)), v)
    return (v - params.means[j]) / params.scales[j]


def _inverse(params, j: int, u: np.ndarray) -> np.ndarray:
    v = u * params.scales[j] + params.means[j]
    if params.logged[j]:
        v = np.sign(v) * np.expm1(np.abs(v))
    return v


def _one_row(row, features: list[str]) -> pd.DataFrame:
    """The row as a one-row float frame of the model's features (NaN for missing)."""
    if isinstance(row, pd.DataFrame):
        if len(row) != 1:
            raise InputError(f"explain takes one customer, got {len(row):,} rows")
        row = row.iloc[0]
    if isinstance(row, pd.Series):
        row = row.to_dict()
    if not isinstance(row, dict):
        raise InputError(f"explain takes a mapping of feature -> value, got {type(row).__name__}")
    values = {}
    for f in features:
        v = row.get(f)
        if v is None or (isinstance(v, str) and not v.strip()):
            values[f] = np.nan
            continue
        try:
            values[f] = float(v)
        except (TypeError, ValueError):
            raise InputError(f"{f}: {v!r} is not a number") from None
        if not math.isfinite(values[f]) and not math.isnan(values[f]):
            raise InputError(f"{f}: {v!r} is not a finite number")
    if all(math.isnan(v) for v in values.values()):
        raise InputError(f"no feature value given; the model needs {', '.join(features)}")
    return pd.DataFrame([values], columns=features)
