"""The settings of a job as two values, built once where the user's words come in (the CLI, the
dashboard, TabPy, a script) and passed whole down to the SQL runner and the estimator.

Both are saved whole in the model bundle, so that scoring new data (``assign``, ``score``, the
dashboard's refit, TabPy) reads and fits it exactly as the model's training data was.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import InputError

#: The data shapes (see :mod:`segmentation.shapes`), in the order detection tries them.
SHAPES = ("transactions", "purchases", "features", "creditcard", "ecommerce", "table")
#: Clustering algorithms (see :mod:`segmentation.model.algorithms`).
ALGORITHMS = ("auto", "kmeans", "minibatch", "gmm", "hdbscan")
#: ``algorithm="auto"`` uses MiniBatchKMeans above this many customers, KMeans up to it.
MINIBATCH_ABOVE = 1_000_000


@dataclass(frozen=True)
class LoadOptions:
    """How an input is read, cleaned and turned into features.

    Parameters
    ----------
    feature_set : str
        "auto" (detected from the columns) or a shape name (see :mod:`segmentation.shapes`).
    mapping : dict
        Role -> column, for columns named otherwise (``{"customer_id": "customerid"}``).
    features : tuple of str, optional
        The features to cluster on (a categorical column stands for its one-hot columns);
        default: the shape's.
    late_after_days : int
        Due day of a loan without a due date: this many days after the transaction.
    as_of : str, optional
        Reference day (ISO) for recency, tenure and overdue loans; default the last day in the data.
    max_rejected_share : float
        Stop when more than this share of rows is set aside.
    keep_duplicate_rows : bool
        Use rows that repeat an earlier row exactly instead of setting them aside.
    cap_outliers : float, optional
        Cap each model feature at this percentile and the opposite one.
    caps : dict, optional
        Feature -> [low, high] to cap to (a saved model's), instead of ``cap_outliers``' percentiles.
    engine : {"duckdb", "sqlite"}
        Where the feature SQL of a file runs (a database source runs it in its database).
    rfm_rules : str, optional
        Score-to-segment table for ``rfm_segment``; default the built-in one.
    since : str, optional
        For a database source of a log: only customers with a row on or after this day.
    encoding : str, optional
        A CSV file's text encoding (e.g. "cp1252", "latin-1", "utf-16"); default: UTF-8, or
        detected (Windows-1252 when the bytes are not UTF-8, UTF-16 with its byte-order mark).
    sheet : str, optional
        The sheet of an XLSX workbook to read (its name, or its number from 1); default the
        sheet holding the most cells.
    date_format : str, optional
        How a log's dates are written when not ISO, e.g. "%d/%m/%Y" (%d, %m, %Y, %y, %b);
        default ISO, or day/month order when the data leaves only one reading.
    decimal : {".", ","}, optional
        A log's decimal separator; default "." (or "," when every amount is written so).
    thousands : str, optional
        A log's thousands separator, removed from amounts; default the other of "." and ","
        where it groups digits by three ("1,200.50"). Currency symbols are always stripped.
    """

    feature_set: str = "auto"
    mapping: dict = field(default_factory=dict)
    features: tuple[str, ...] | None = None
    late_after_days: int = 30
    as_of: str | None = None
    max_rejected_share: float = 0.05
    keep_duplicate_rows: bool = False
    cap_outliers: float | None = None
    caps: dict | None = None
    engine: str = "duckdb"
    rfm_rules: str | None = None
    since: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    date_format: str | None = None
    decimal: str | None = None
    thousands: str | None = None

    def __post_init__(self):
        # Normalised once here, so that every layer below may rely on the types.
        object.__setattr__(self, "mapping", dict(self.mapping or {}))
        if self.features is not None:
            object.__setattr__(self, "features", tuple(self.features))
        for name in ("as_of", "since", "rfm_rules", "sheet"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, str(value))

    def replace(self, **changes) -> LoadOptions:
        """A copy with ``changes``; None values leave a setting as it is."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["features"] = None if self.features is None else list(self.features)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> LoadOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def for_new_data(self) -> LoadOptions:
        """These options as new data is read with the fitted model: the same features, caps,
        late-after days and duplicate rule; the shape detected again (transactions and the
        features made from them both score with a transactions model), no reference day (time
        moves on) and no --since."""
        return dataclasses.replace(self, feature_set="auto", as_of=None, since=None, cap_outliers=None)


@dataclass(frozen=True)
class FitOptions:
    """How the model is fitted; the parameters of :class:`~segmentation.model.Segmenter` that a
    user sets, and the rule table that names the segments.

    Parameters
    ----------
    k : "auto" or int
    k_range : tuple of int
        Smallest and largest k tried with "auto".
    rules_path : str, optional
        Rule table of names and actions; default the shape's.
    min_segment_share : float
    max_segments : int, optional
    algorithm : {"auto", "kmeans", "minibatch", "gmm", "hdbscan"}
    n_stability : int
    random_state : int
    """

    k: str | int = "auto"
    k_range: tuple[int, int] = (2, 10)
    rules_path: str | None = None
    min_segment_share: float = 0.01
    max_segments: int | None = None
    algorithm: str = "auto"
    n_stability: int = 5
    random_state: int = 0

    def __post_init__(self):
        object.__setattr__(self, "k_range", tuple(int(v) for v in self.k_range))
        if self.k != "auto":
            try:
                object.__setattr__(self, "k", int(self.k))
            except (TypeError, ValueError):
                raise InputError(f"k must be 'auto' or a whole number, got {self.k!r}") from None
        if self.rules_path is not None:
            object.__setattr__(self, "rules_path", str(self.rules_path))

    def replace(self, **changes) -> FitOptions:
        """A copy with ``changes``; None values leave a setting as it is."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["k_range"] = list(self.k_range)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> FitOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
