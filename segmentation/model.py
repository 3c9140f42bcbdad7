"""The segmentation estimator: impute, log-transform skewed money, scale, K-Means.

Segment ids are ordered by a fixed rule so that the same data and settings always give the
same ids: **segment 0 is the largest segment**, then by decreasing size; equal sizes are
ordered by their centroid coordinates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.impute import SimpleImputer
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .errors import InputError
from .selection import choose_k

#: Below this many rows K-Means and the metrics run on one thread: thread start-up and
#: synchronisation cost more than the work (30x slower on a busy 2-core machine).
SINGLE_THREAD_ROWS = 20_000


def _threads(n_rows: int):
    return threadpool_limits(1) if n_rows < SINGLE_THREAD_ROWS else threadpool_limits(None)


class Log1pColumns(TransformerMixin, BaseEstimator):
    """``sign(x) * log1p(|x|)`` on the chosen columns, the others passed through in place.

    Parameters
    ----------
    columns : list of int
        Positions of the columns to transform.
    """

    def __init__(self, columns=()):
        self.columns = columns

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        X = np.array(X, dtype=float, copy=True)
        idx = list(self.columns)
        X[:, idx] = np.sign(X[:, idx]) * np.log1p(np.abs(X[:, idx]))
        return X


def skewed_columns(X: pd.DataFrame, threshold: float = 1.0) -> list[str]:
    """Columns whose skewness exceeds ``threshold`` and that have no negative values."""
    out = []
    for name in X.columns:
        values = X[name].dropna().to_numpy(dtype=float)
        if len(values) > 2 and values.min() >= 0 and values.std() > 0 and stats.skew(values) > threshold:
            out.append(name)
    return out


class Segmenter(ClusterMixin, BaseEstimator):
    """K-Means segmentation with preprocessing and automatic choice of k.

    Parameters
    ----------
    n_clusters : int or "auto", default="auto"
        Number of segments, or "auto" to choose it from ``k_range`` by vote of the elbow,
        silhouette, Calinski-Harabasz and Davies-Bouldin criteria.
    k_range : tuple of int, default=(2, 10)
        Smallest and largest k tried with "auto".
    log_features : "auto" or list of str, default="auto"
        Features to log-transform; "auto" takes the non-negative ones with skewness above 1.
    min_segment_share : float, default=0.01
        Guardrail for "auto": a k whose smallest segment holds less than this share of the
        customers is not chosen.
    sweep_size : int, default=50_000
        The k sweep fits on a random sample of at most this many rows (the final model is fit
        on all rows), so choosing k stays fast at a million customers.
    silhouette_size : int, default=5_000
        Rows in the random sample the silhouette is computed on (it is quadratic in rows).
    n_init : int, default=4
        K-Means restarts per k.
    random_state : int, default=0
        Seed for samples and K-Means.

    Attributes
    ----------
    pipeline_ : Pipeline
        Fitted imputer, log transform, scaler and K-Means; ``predict`` gives segment ids.
    n_clusters_ : int
        The k used.
    k_selection_ : DataFrame
        Per k: inertia, silhouette, calinski_harabasz, davies_bouldin, min_share, eligible.
    k_preferences_ : dict
        The k each criterion preferred.
    k_reason_ : str
        Why the k won.
    labels_ : ndarray of shape (n_samples,)
        Segment of each training row.
    log_features_ : list of str
        Features that were log-transformed.
    feature_names_in_ : ndarray of str
        Features in input order.
    """

    def __init__(
        self,
        n_clusters="auto",
        k_range=(2, 10),
        log_features="auto",
        min_segment_share=0.01,
        sweep_size=50_000,
        silhouette_size=5_000,
        n_init=4,
        random_state=0,
    ):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.log_features = log_features
        self.min_segment_share = min_segment_share
        self.sweep_size = sweep_size
        self.silhouette_size = silhouette_size
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, X, y=None, progress: bool | None = False):
        """Fit the model on a frame of numeric features (one row per customer).

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features)
        y : ignored
        progress : bool or None
            Show a progress bar over the k sweep (None: only on a terminal).

        Returns
        -------
        self
        """
        k_lo, k_hi = self._k_bounds(len(X))
        X = self._validate_frame(X)
        n = len(X)
        rng = np.random.default_rng(self.random_state)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.log_features_ = skewed_columns(X) if self.log_features == "auto" else list(self.log_features)
        unknown = sorted(set(self.log_features_) - set(X.columns))
        if unknown:
            raise InputError(f"log_features: no feature named {unknown[0]!r}")
        prep = Pipeline(
            [
                ("impute", SimpleImputer(strategy="median")),
                ("log", Log1pColumns([list(X.columns).index(c) for c in self.log_features_])),
                ("scale", StandardScaler()),
            ]
        ).fit(X)
        Z = prep.transform(X)

        sweep = Z if n <= self.sweep_size else Z[rng.choice(n, self.sweep_size, replace=False)]
        if self.n_clusters == "auto":
            ks = tqdm(
                range(k_lo, k_hi + 1),
                desc="choosing k",
                disable=None if progress is None else not progress,
                leave=False,
            )
            with _threads(len(sweep)):
                self.k_selection_ = pd.DataFrame([self._score_k(sweep, k) for k in ks])
            self.n_clusters_, self.k_preferences_, self.k_reason_ = choose_k(
                self.k_selection_, self.min_segment_share
            )
        else:
            self.n_clusters_ = k_lo
            with _threads(len(sweep)):
                self.k_selection_ = pd.DataFrame([self._score_k(sweep, k_lo)])
            self.k_preferences_ = {}
            self.k_reason_ = f"k={k_lo}: set by the user"

        with _threads(n):
            kmeans = KMeans(self.n_clusters_, n_init=self.n_init, random_state=self.random_state).fit(Z)
        _order_clusters(kmeans)
        self.pipeline_ = Pipeline([*prep.steps, ("kmeans", kmeans)])
        self.labels_ = kmeans.labels_
        return self

    def predict(self, X):
        """Segment id of each row of ``X`` (a frame with the training features, or an array
        with them in training order)."""
        check_is_fitted(self, "pipeline_")
        return self.pipeline_.predict(as_feature_frame(X, list(self.feature_names_in_)))

    def transform(self, X):
        """Rows in the scaled space the clusters live in."""
        check_is_fitted(self, "pipeline_")
        return self.pipeline_[:-1].transform(as_feature_frame(X, list(self.feature_names_in_)))

    # -- helpers -------------------------------------------------------------------------

    def _validate_frame(self, X) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(np.asarray(X, dtype=float))
            X.columns = [f"x{i}" for i in range(X.shape[1])]
        if X.shape[1] == 0:
            raise InputError("no features to segment on")
        bad = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        if bad:
            raise InputError(f"feature {bad[0]!r} is not numeric (e.g. {X[bad[0]].dropna().iloc[0]!r})")
        X = X.astype(float)
        empty = [c for c in X.columns if X[c].isna().all()]
        if empty:
            raise InputError(f"feature {empty[0]!r} has no values in any of the {len(X):,} rows")
        if np.isinf(X.to_numpy()).any():
            col = X.columns[np.isinf(X.to_numpy()).any(axis=0)][0]
            raise InputError(f"feature {col!r} has infinite values")
        return X

    def _k_bounds(self, n: int) -> tuple[int, int]:
        if self.n_clusters == "auto":
            k_lo, k_hi = (int(v) for v in self.k_range)
            if not 2 <= k_lo <= k_hi:
                raise InputError(f"k range must satisfy 2 <= min <= max, got {self.k_range}")
            if n < k_lo + 1:
                raise InputError(f"only {n:,} customers: too few to choose among {k_lo} or more segments")
            return k_lo, min(k_hi, n - 1)
        try:
            k = int(self.n_clusters)
        except (TypeError, ValueError):
            raise InputError(f"k must be 'auto' or a whole number, got {self.n_clusters!r}") from None
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        if n < k:
            raise InputError(f"only {n:,} customers, fewer than k={k} segments")
        return k, k

    def _score_k(self, Z: np.ndarray, k: int) -> dict:
        km = KMeans(k, n_init=self.n_init, random_state=self.random_state).fit(Z)
        labels = km.labels_
        sizes = np.bincount(labels, minlength=k)
        distinct = len(np.unique(labels))
        row = {"k": k, "inertia": float(km.inertia_), "min_share": float(sizes.min() / len(Z))}
        if 1 < distinct < len(Z):
            size = min(self.silhouette_size, len(Z))
            row["silhouette"] = float(
                silhouette_score(Z, labels, sample_size=size, random_state=self.random_state)
            )
            row["calinski_harabasz"] = float(calinski_harabasz_score(Z, labels))
            row["davies_bouldin"] = float(davies_bouldin_score(Z, labels))
        else:
            row.update(silhouette=np.nan, calinski_harabasz=np.nan, davies_bouldin=np.nan)
        row["eligible"] = bool(row["min_share"] >= self.min_segment_share and distinct == k)
        return row


def _order_clusters(kmeans: KMeans) -> None:
    """Renumber a fitted KMeans in place: largest cluster first, ties by centroid."""
    sizes = np.bincount(kmeans.labels_, minlength=kmeans.n_clusters)
    centers = kmeans.cluster_centers_
    keys = [(-sizes[i], *np.round(centers[i], 9)) for i in range(len(sizes))]
    order = sorted(range(len(sizes)), key=lambda i: keys[i])
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    kmeans.cluster_centers_ = centers[order]
    kmeans.labels_ = rank[kmeans.labels_].astype(kmeans.labels_.dtype)


def as_feature_frame(X, features: list[str]) -> pd.DataFrame:
    """``X`` as a float frame with exactly ``features`` as columns, in that order."""
    if isinstance(X, pd.DataFrame):
        missing = [f for f in features if f not in X.columns]
        if missing:
            raise InputError(
                f"missing feature column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                f"the model needs {', '.join(features)}"
            )
        return X[features].astype(float)
    arr = np.asarray(X, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != len(features):
        raise InputError(f"expected {len(features)} features ({', '.join(features)}), got shape {arr.shape}")
    return pd.DataFrame(arr, columns=features)
