"""The segmentation estimator: impute, log-transform skewed money, scale, cluster (k-means in
the metric of its own segments).

Segment ids are ordered by a fixed rule so that the same data and settings always give the
same ids: **segment 0 is the largest segment**, then by decreasing size; equal sizes are
ordered by their centroid coordinates. HDBSCAN's noise (customers in no segment) is -1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import HDBSCAN
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ..errors import InputError
from .algorithms import (
    fit_hdbscan,
    make_clusterer,
    order_by_size,
    plain_clusterer,
    resolve_algorithm,
    stability,
    within_sum_of_squares,
)
from .selection import choose_k, close_call_text, compare_labels, gap_statistic, min_dip, runner_up

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


class Whitening(TransformerMixin, BaseEstimator):
    """Rows times a fixed matrix: the metric k-means learned from its segments
    (:class:`~segmentation.model.algorithms.WithinKMeans`), as a pipeline step.

    Parameters
    ----------
    matrix : ndarray of shape (n_features, n_features)
    """

    def __init__(self, matrix=None):
        self.matrix = matrix

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        return np.asarray(X, dtype=float) @ self.matrix


def skewed_columns(X: pd.DataFrame, threshold: float = 1.0) -> list[str]:
    """Columns whose skewness exceeds ``threshold`` and that have no negative values."""
    out = []
    for name in X.columns:
        values = X[name].dropna().to_numpy(dtype=float)
        if len(values) > 2 and values.min() >= 0 and values.std() > 0 and stats.skew(values) > threshold:
            out.append(name)
    return out


class Segmenter(ClusterMixin, BaseEstimator):
    """Segmentation with preprocessing, a choice of algorithm and automatic choice of k.

    Parameters
    ----------
    n_clusters : int or "auto", default="auto"
        Number of segments, or "auto" to choose it from ``k_range``: the largest k whose
        neighbouring segments all have a dip in density between them, else a weighted vote of
        the elbow, silhouette, Calinski-Harabasz (two votes), Davies-Bouldin and gap statistic
        criteria (BIC instead of the gap for ``gmm``); see :func:`~segmentation.model.selection.choose_k`.
        HDBSCAN finds the number itself and takes only "auto".
    k_range : tuple of int, default=(2, 10)
        Smallest and largest k tried with "auto".
    algorithm : {"auto", "kmeans", "minibatch", "gmm", "hdbscan"}, default="auto"
        "auto" is KMeans up to :data:`~segmentation.options.MINIBATCH_ABOVE` customers and
        MiniBatchKMeans above; see :mod:`segmentation.model.algorithms`.
    log_features : "auto" or list of str, default="auto"
        Features to log-transform; "auto" takes the non-negative ones with skewness above 1.
    min_segment_share : float, default=0.01
        Guardrail for "auto": a k whose smallest segment holds less than this share of the
        customers is not chosen. For HDBSCAN, the smallest segment it may form.
    max_segments : int or None, default=None
        Guardrail for "auto": never choose more segments than this (the criteria are still
        computed up to ``k_range[1]``). For HDBSCAN, the minimum segment size is raised until
        it finds at most this many.
    sweep_size : int, default=50_000
        The k sweep fits on a random sample of at most this many rows (the final model is fit
        on all rows), so choosing k stays fast at a million customers.
    silhouette_size : int, default=5_000
        Rows in the random sample the silhouette is computed on (it is quadratic in rows).
    n_stability : int, default=5
        Subsamples for the stability score of each k (0: not computed).
    stability_size : int, default=5_000
        Rows of the sweep sample the stability score is measured on.
    hdbscan_size : int, default=10_000
        HDBSCAN is fit on a random sample of at most this many rows (it is much slower than
        k-means); the other rows take the segment of their nearest sampled neighbour.
    n_init : int, default=4
        K-Means restarts per k.
    random_state : int, default=0
        Seed for samples and the algorithms.

    Attributes
    ----------
    pipeline_ : Pipeline
        Fitted imputer, log transform, scaler, for k-means the within-segment metric
        (``whiten``, a :class:`Whitening`), and clusterer; ``predict`` gives segment ids.
    algorithm_ : str
        The algorithm used ("auto" resolved).
    n_clusters_ : int
        The number of segments (without HDBSCAN's noise group).
    k_selection_ : DataFrame
        Per k: inertia, silhouette, calinski_harabasz, davies_bouldin, stability (mean
        adjusted Rand index across subsamples), min_dip (the shallowest dip in density between
        two neighbouring segments, on the stability rows), min_share, eligible, gap and gap_sd (bic
        instead for gmm, noise_share for hdbscan), and close_call on the runner-up k of a
        close vote.
    k_preferences_ : dict
        The k each criterion preferred.
    k_reason_ : str
        Why the k won, and when the criteria split, what the runner-up k would change
        (see :func:`~segmentation.model.selection.close_call_text`).
    k_close_ : dict or None
        The runner-up k of a close call and the segments it would merge or split
        (:func:`~segmentation.model.selection.compare_labels`); None when the choice was clear.
    labels_ : ndarray of shape (n_samples,)
        Segment of each training row (-1: HDBSCAN noise).
    log_features_ : list of str
        Features that were log-transformed.
    projection_ : PCA or None
        Two principal components of the space the clusters live in, for plots of the customers (None
        for fewer than 3 customers or no spread).
    feature_names_in_ : ndarray of str
        Features in input order.
    """

    def __init__(
        self,
        n_clusters="auto",
        k_range=(2, 10),
        algorithm="auto",
        log_features="auto",
        min_segment_share=0.01,
        max_segments=None,
        sweep_size=50_000,
        silhouette_size=5_000,
        n_stability=5,
        stability_size=5_000,
        hdbscan_size=10_000,
        n_init=4,
        random_state=0,
    ):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.algorithm = algorithm
        self.log_features = log_features
        self.min_segment_share = min_segment_share
        self.max_segments = max_segments
        self.sweep_size = sweep_size
        self.silhouette_size = silhouette_size
        self.n_stability = n_stability
        self.stability_size = stability_size
        self.hdbscan_size = hdbscan_size
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, X, y=None, progress: bool | None = False):
        """Fit the model on a frame of numeric features (one row per customer).

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features)
        y : ignored
        progress : bool, None or callable
            Show a progress bar over the k sweep (None: only on a terminal); a callable is
            called as ``progress(done, total, k)`` before each k of the sweep is tried.

        Returns
        -------
        self
        """
        self.algorithm_ = resolve_algorithm(self.algorithm, len(X))
        if self.max_segments is not None and int(self.max_segments) < 2:
            raise InputError(f"max segments must be 2 or more, got {self.max_segments}")
        if self.algorithm_ == "hdbscan":
            if self.n_clusters != "auto":
                raise InputError("HDBSCAN finds the number of segments itself: use k auto with it")
            if len(X) < 10:
                raise InputError(f"only {len(X):,} customers: too few for HDBSCAN")
        else:
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
        # A second stream, so that the sweep sample is the same with or without the extras.
        rng2 = np.random.default_rng([self.random_state, 1])
        with _threads(len(sweep)):
            if self.algorithm_ == "hdbscan":
                step = self._fit_hdbscan(Z, rng2)
            else:
                self._choose_k(sweep, k_lo, k_hi, rng2, progress)
        steps = [*prep.steps]
        if self.algorithm_ in ("kmeans", "minibatch"):
            # The metric k-means learned at the chosen k on the sweep rows; the final k-means
            # then runs once, on every row, in it.
            steps.append(("whiten", Whitening(self._sweep_metrics[self.n_clusters_]).fit(sweep)))
            Z = steps[-1][1].transform(Z)
        if self.algorithm_ != "hdbscan":
            with _threads(n):
                est = plain_clusterer(self.algorithm_, self.n_clusters_, self.n_init, self.random_state).fit(Z)
            order_by_size(est, Z)
            # The foundation's step name: scripts reach the centroids as named_steps["kmeans"].
            step = ("kmeans" if self.algorithm_ in ("kmeans", "minibatch") else self.algorithm_, est)
        self.pipeline_ = Pipeline([*steps, step])
        self.labels_ = self.pipeline_[-1].predict(Z).astype(int)
        self.k_close_ = None
        if self.algorithm_ != "hdbscan" and self.n_clusters == "auto":
            self._close_call(sweep, self.pipeline_[len(prep.steps):])
        # (a handful of identical rows, as a live Tableau partition can send, has no axes)
        spread = n >= 3 and bool(np.ptp(Z, axis=0).any())
        self.projection_ = (
            PCA(n_components=min(2, Z.shape[1]), random_state=self.random_state).fit(Z) if spread else None
        )
        return self

    def predict(self, X):
        """Segment id of each row of ``X`` (a frame with the training features, or an array
        with them in training order)."""
        check_is_fitted(self, "pipeline_")
        return self.pipeline_.predict(as_feature_frame(X, list(self.feature_names_in_)))

    def transform(self, X):
        """Rows in the space the clusters live in (scaled; for k-means, then whitened)."""
        check_is_fitted(self, "pipeline_")
        return self.pipeline_[:-1].transform(as_feature_frame(X, list(self.feature_names_in_)))

    def scale(self, X):
        """Rows imputed, log-transformed and standardised: the features' own axes, before the
        k-means metric (the space a plain k-means would cluster in)."""
        check_is_fitted(self, "pipeline_")
        end = list(self.pipeline_.named_steps).index("scale") + 1
        return self.pipeline_[:end].transform(as_feature_frame(X, list(self.feature_names_in_)))

    def project(self, X) -> np.ndarray:
        """The first two principal components of each row (one with a single feature)."""
        check_is_fitted(self, "projection_")
        if self.projection_ is None:
            raise InputError("too few distinct customers to project")
        return self.projection_.transform(self.transform(X))

    # -- helpers -------------------------------------------------------------------------

    def _choose_k(self, sweep: np.ndarray, k_lo: int, k_hi: int, rng: np.random.Generator, progress) -> None:
        stable = rng.choice(len(sweep), min(self.stability_size, len(sweep)), replace=False)
        self._sweep_metrics = {}  # k -> the k-means metric learned at k (kept for the final fit)
        if self.n_clusters != "auto":
            self.n_clusters_ = k_lo
            self.k_selection_ = pd.DataFrame([self._score_k(sweep, k_lo, stable)])
            self.k_preferences_ = {}
            self.k_reason_ = f"k={k_lo}: set by the user"
            return
        told = progress if callable(progress) else None
        ks = tqdm(
            range(k_lo, k_hi + 1),
            desc="choosing k",
            disable=True if told else None if progress is None else not progress,
            leave=False,
        )
        rows = []
        for k in ks:
            if told:
                told(k - k_lo, k_hi - k_lo + 1, k)
            rows.append(self._score_k(sweep, k, stable))
        self.k_selection_ = pd.DataFrame(rows)
        if self.algorithm_ != "gmm":  # (a mixture votes with its BIC)
            gaps = gap_statistic(sweep, self.k_selection_["k"].tolist(), seed=self.random_state)
            self.k_selection_ = self.k_selection_.merge(gaps, on="k")
        self.n_clusters_, self.k_preferences_, self.k_reason_ = choose_k(
            self.k_selection_, self.min_segment_share, self.max_segments
        )
        chosen = self.k_selection_.set_index("k")["stability"].get(self.n_clusters_)
        if chosen is not None and not np.isnan(chosen):
            self.k_reason_ += f"; stability {chosen:.2f} (adjusted Rand index across subsamples)"

    def _close_call(self, sweep: np.ndarray, est) -> None:
        """When the criteria split, say which segments the runner-up k would merge or split:
        from the overlap of the final segments (``est`` labels scaled rows) and a fit at that
        k, on the sweep rows."""
        alt = runner_up(self.k_selection_, self.k_preferences_, self.n_clusters_)
        if alt is None:
            return
        with _threads(len(sweep)):
            other = make_clusterer(self.algorithm_, alt, self.n_init, self.random_state).fit(sweep).predict(sweep)
        self.k_close_ = {"k": int(alt), **compare_labels(est.predict(sweep), other)}
        sentence = close_call_text(self.n_clusters_, self.k_close_)
        self.k_reason_ += f"; {sentence}"
        self.k_selection_["close_call"] = np.where(self.k_selection_["k"] == alt, sentence, "")

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
            if self.max_segments is not None and int(self.max_segments) < k_lo:
                raise InputError(f"max segments {self.max_segments} is below the smallest k tried ({k_lo})")
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

    def _score_k(self, Z: np.ndarray, k: int, stable: np.ndarray) -> dict:
        """The criteria of k on ``Z``; stability measured on the rows ``stable``."""
        est = make_clusterer(self.algorithm_, k, self.n_init, self.random_state).fit(Z)
        self._sweep_metrics[k] = getattr(est, "whitening_", None)
        labels = est.predict(Z)
        row = self._criteria(Z, labels, k)
        row["inertia"] = float(est.inertia_) if hasattr(est, "inertia_") else within_sum_of_squares(Z, labels)
        if self.algorithm_ == "gmm":
            row["bic"] = float(est.bic(Z))

        def refit(sample, seed):
            return make_clusterer(self.algorithm_, k, self.n_init, seed).fit(sample).predict

        row["stability"] = stability(refit, labels[stable], Z[stable], self.n_stability, self.random_state)
        row["min_dip"] = min_dip(Z[stable], labels[stable])
        within = self.max_segments is None or k <= int(self.max_segments)
        row["eligible"] = bool(row["min_share"] >= self.min_segment_share and row.pop("distinct") == k and within)
        return row

    def _criteria(self, Z: np.ndarray, labels: np.ndarray, k: int) -> dict:
        """Inertia, smallest share and the three label-based criteria of one labelling."""
        sizes = np.bincount(labels, minlength=k)
        distinct = int((sizes > 0).sum())
        row = {"k": k, "inertia": np.nan, "min_share": float(sizes.min() / len(Z)), "distinct": distinct}
        if 1 < distinct < len(Z):
            size = min(self.silhouette_size, len(Z))
            row["silhouette"] = float(
                silhouette_score(Z, labels, sample_size=size, random_state=self.random_state)
            )
            row["calinski_harabasz"] = float(calinski_harabasz_score(Z, labels))
            row["davies_bouldin"] = float(davies_bouldin_score(Z, labels))
        else:
            row.update(silhouette=np.nan, calinski_harabasz=np.nan, davies_bouldin=np.nan)
        return row

    def _fit_hdbscan(self, Z: np.ndarray, rng: np.random.Generator):
        n = len(Z)
        F = Z[np.sort(rng.choice(n, min(n, self.hdbscan_size), replace=False))]
        labels, size, nearest = fit_hdbscan(F, self.min_segment_share, self.max_segments)
        found = int(labels.max()) + 1
        all_labels = nearest.predict(Z)
        clustered = all_labels >= 0
        row = self._criteria(Z[clustered], all_labels[clustered], found)
        row.pop("distinct")
        row.update(
            inertia=within_sum_of_squares(Z[clustered], all_labels[clustered]),
            min_share=float(np.bincount(all_labels[clustered], minlength=found).min() / n),
            noise_share=float((~clustered).mean()),
        )
        stable = rng.choice(len(F), min(self.stability_size, len(F)), replace=False)

        def refit(part, seed):
            # seed unused: HDBSCAN is deterministic; the subsample is what varies
            sub = HDBSCAN(min_cluster_size=max(5, round(size * len(part) / len(F))), copy=True).fit(part)
            return KNeighborsClassifier(n_neighbors=1).fit(part, sub.labels_).predict

        row["stability"] = stability(refit, labels[stable], F[stable], self.n_stability, self.random_state)
        row["eligible"] = True
        self.n_clusters_ = found
        self.k_selection_ = pd.DataFrame([row])
        self.k_preferences_ = {}
        noise = int((~clustered).sum())
        self.k_reason_ = (
            f"HDBSCAN found {found} segments (smallest allowed {size:,} of {len(F):,} sampled customers); "
            f"{noise:,} customers ({noise / n:.1%}) fit none: segment -1, noise"
        )
        return ("hdbscan", nearest)


def fit_partition(rows: pd.DataFrame, k: int = 0, **params) -> Segmenter:
    """Cluster whatever rows a live caller sends (a Tableau partition: maybe a handful).

    The rule for such partitions: ``k=0`` chooses k automatically among 2 to min(10, distinct
    rows - 1), and all rows form one segment when there are fewer than 3 distinct rows; a k
    above the number of distinct rows is lowered to it. A feature empty in every row is left
    out (it cannot be scaled). ``params`` go to :class:`Segmenter`.

    Returns
    -------
    Segmenter
        Fitted; ``labels_`` holds each row's segment. Unfitted (no ``labels_``) when there is
        no row.
    """
    rows = rows.loc[:, rows.notna().any()]
    distinct = len(rows.fillna(rows.median()).drop_duplicates())  # as the model's imputer sees them
    if k == 0:
        model = Segmenter("auto", k_range=(2, min(10, distinct - 1)), **params) if distinct >= 3 else Segmenter(1, **params)
    else:
        model = Segmenter(min(k, max(distinct, 1)), **params)
    return model.fit(rows) if distinct else model


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
