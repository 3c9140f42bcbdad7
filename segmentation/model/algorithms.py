"""The clustering algorithms a :class:`~segmentation.model.Segmenter` can use, and what they share.

- ``kmeans``: :class:`sklearn.cluster.KMeans`, the default up to :data:`MINIBATCH_ABOVE` customers;
- ``minibatch``: :class:`sklearn.cluster.MiniBatchKMeans` (batches of 65,536), chosen by
  ``auto`` above that size, where each pass of KMeans over every row grows costly. Measured
  here on a million customers (``benchmarks/minibatch_vs_kmeans.py``: CC_GENERAL's customers
  repeated with noise, 8 features, 2 busy cores): KMeans 4.0 s at k=4 and 4.8 s at k=8;
  MiniBatchKMeans 2.2-6.8 s over three seeds, with 2-6% more inertia and segments that agree
  with KMeans' only at an adjusted Rand index of 0.51-0.67. So up to a million customers (the
  range tested) KMeans stays the default;
- ``gmm``: :class:`sklearn.mixture.GaussianMixture` (full covariances: segments of different
  shapes and sizes);
- ``hdbscan``: :class:`sklearn.cluster.HDBSCAN`, which finds the number of segments itself and
  leaves customers that fit no segment as noise (segment -1). It has no ``predict``; it is fit
  on a sample and every customer (new ones too) gets the segment of the nearest sampled
  customer, through a 1-nearest-neighbour classifier that the saved model carries.

Both k-means work in the metric of their own segments (:class:`WithinKMeans`): standardised
features weigh every feature alike, so a feature that carries no group (or a group's long
spread along one feature) pulls k-means into cutting across it; the pooled within-segment
covariance, as Fisher's linear discriminant uses it, weighs each direction by how tightly the
segments hold it. Measured on the k-recovery benchmark (``benchmarks/k_recovery.py``; README,
"k recovery").
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import HDBSCAN, KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KNeighborsClassifier

from ..errors import InputError
from ..options import ALGORITHMS, MINIBATCH_ABOVE

NOISE = -1


def resolve_algorithm(algorithm: str, n_rows: int) -> str:
    """The algorithm ``auto`` stands for at ``n_rows`` customers (others unchanged)."""
    if algorithm not in ALGORITHMS:
        raise InputError(f"unknown algorithm {algorithm!r}; use {', '.join(ALGORITHMS)}")
    if algorithm == "auto":
        return "minibatch" if n_rows > MINIBATCH_ABOVE else "kmeans"
    return algorithm


def make_clusterer(algorithm: str, k: int, n_init: int, seed: int):
    """An unfitted estimator with ``k`` clusters and ``fit``/``predict`` (k-means in its
    segments' own metric for ``kmeans`` and ``minibatch``)."""
    if algorithm in ("kmeans", "minibatch"):
        return WithinKMeans(k, algorithm=algorithm, n_init=n_init, random_state=seed)
    return plain_clusterer(algorithm, k, n_init, seed)


def plain_clusterer(algorithm: str, k: int, n_init: int, seed: int):
    """The scikit-learn estimator itself (k-means in the space it is given)."""
    if algorithm == "kmeans":
        return KMeans(k, n_init=n_init, random_state=seed)
    if algorithm == "minibatch":
        return MiniBatchKMeans(k, n_init=n_init, batch_size=65_536, max_no_improvement=20, random_state=seed)
    if algorithm == "gmm":
        # reg_covar: the features are standardised; a little regularisation keeps a segment
        # that is constant on a feature (a one-hot column) from a singular covariance.
        return GaussianMixture(k, covariance_type="full", n_init=1, reg_covar=1e-4, random_state=seed)
    raise InputError(f"{algorithm} does not take a number of segments")


#: Rounds of k-means and the within-segment covariance of its segments (:class:`WithinKMeans`).
WITHIN_ROUNDS = 3
#: The covariance is shrunk this far towards a sphere of the same total variance, so that a
#: feature constant inside every segment (a flag, a one-hot column) cannot weigh without bound.
WITHIN_SHRINKAGE = 0.3


def whitening(Z: np.ndarray, labels: np.ndarray, shrinkage: float | None = None) -> np.ndarray:
    """The matrix ``A`` such that in ``Z @ A`` the pooled within-segment covariance of
    ``labels`` (shrunk by ``shrinkage``, default :data:`WITHIN_SHRINKAGE`, towards a sphere) is
    the identity, scaled so that the rows keep the total variance of ``Z`` (k-means' inertia
    stays on the same scale)."""
    shrinkage = WITHIN_SHRINKAGE if shrinkage is None else shrinkage
    ids = np.unique(labels)
    means = np.zeros((ids.max() + 1, Z.shape[1]))
    for i in ids:
        means[i] = Z[labels == i].mean(axis=0)
    W = np.atleast_2d(np.cov(Z - means[labels], rowvar=False))
    W = (1 - shrinkage) * W + shrinkage * np.trace(W) / len(W) * np.eye(len(W))
    values, vectors = np.linalg.eigh(W)
    A = vectors / np.sqrt(np.maximum(values, 1e-12 * values.max()))
    return A * np.sqrt(len(W) / (A**2).sum())


class WithinKMeans(ClusterMixin, BaseEstimator):
    """K-means in the metric of its own segments: k-means, then again in the space where the
    pooled within-segment covariance of its segments is the identity (:func:`whitening`), for
    :data:`WITHIN_ROUNDS` rounds.

    The distance is Fisher's (linear discriminant analysis'), so k-means behaves like a
    Gaussian mixture whose segments share one covariance: a group stretched along a feature,
    or a feature that separates nothing, no longer draws the cuts across it; on standardised
    features with no such structure the rounds change little (the covariance is near a sphere).

    ``shrinkage`` (default :data:`WITHIN_SHRINKAGE`) goes to :func:`whitening`; ``rounds=0`` is
    plain k-means.

    Attributes
    ----------
    whitening_ : ndarray of shape (n_features, n_features)
        Rows times this matrix are the space the centres live in.
    kmeans_ : KMeans or MiniBatchKMeans
        The last round's k-means, fitted in that space.
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Its centres (in the whitened space).
    inertia_ : float
        Within-segment sum of squares in the input space (comparable across k and with plain
        k-means).
    labels_ : ndarray of shape (n_samples,)
    """

    def __init__(self, n_clusters=8, *, algorithm="kmeans", n_init=4, random_state=0, rounds=WITHIN_ROUNDS,
                 shrinkage=None):
        self.n_clusters = n_clusters
        self.algorithm = algorithm
        self.n_init = n_init
        self.random_state = random_state
        self.rounds = rounds
        self.shrinkage = shrinkage

    def fit(self, Z, y=None):
        Z = np.asarray(Z, dtype=float)
        A = np.eye(Z.shape[1])
        est = plain_clusterer(self.algorithm, self.n_clusters, self.n_init, self.random_state).fit(Z)
        labels = est.labels_
        for _ in range(self.rounds):
            if len(np.unique(labels)) < 2 or len(Z) <= Z.shape[1] + self.n_clusters:
                break
            A = whitening(Z, labels, self.shrinkage)
            est = plain_clusterer(self.algorithm, self.n_clusters, self.n_init, self.random_state).fit(Z @ A)
            labels = est.labels_
        self.whitening_, self.kmeans_ = A, est
        self.cluster_centers_ = est.cluster_centers_
        self.labels_ = np.asarray(labels)
        self.inertia_ = within_sum_of_squares(Z, self.labels_)
        return self

    def predict(self, Z):
        return self.kmeans_.predict(np.asarray(Z, dtype=float) @ self.whitening_)


def within_sum_of_squares(Z: np.ndarray, labels: np.ndarray) -> float:
    """Sum of squared distances of rows to their segment's mean (k-means' inertia)."""
    total = 0.0
    for label in np.unique(labels):
        part = Z[labels == label]
        total += float(((part - part.mean(axis=0)) ** 2).sum())
    return total


def centres(est) -> np.ndarray:
    """Cluster centres of a fitted k-means or mixture model."""
    return est.means_ if isinstance(est, GaussianMixture) else est.cluster_centers_


def order_by_size(est, Z: np.ndarray) -> np.ndarray:
    """Renumber a fitted k-means or mixture model in place (largest cluster first, ties by
    centre) and return the new labels of ``Z``."""
    labels = est.predict(Z)
    k = len(centres(est))
    order = _size_order(labels, k, centres(est))
    if isinstance(est, GaussianMixture):
        for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
            setattr(est, name, getattr(est, name)[order])
    else:
        est.cluster_centers_ = est.cluster_centers_[order]
        if hasattr(est, "labels_"):
            est.labels_ = _rank(order)[est.labels_].astype(est.labels_.dtype)
    return _rank(order)[labels]


def _size_order(labels: np.ndarray, k: int, centers: np.ndarray | None = None) -> list[int]:
    sizes = np.bincount(labels, minlength=k)
    key = (lambda i: (-sizes[i], *np.round(centers[i], 9))) if centers is not None else (lambda i: (-sizes[i], i))
    return sorted(range(k), key=key)


def _rank(order: list[int]) -> np.ndarray:
    rank = np.empty(len(order), dtype=int)
    rank[order] = np.arange(len(order))
    return rank


def fit_hdbscan(
    F: np.ndarray, min_share: float, max_segments: int | None
) -> tuple[np.ndarray, int, KNeighborsClassifier]:
    """HDBSCAN on ``F``: labels ordered largest first (noise -1), the min_cluster_size used,
    and a 1-nearest-neighbour classifier that gives new rows the label of the nearest row of F.

    The smallest segment is ``min_share`` of the rows; above ``max_segments`` segments the
    minimum size is doubled until at most that many remain.
    """
    size = max(5, int(np.ceil(min_share * len(F))))
    while True:
        labels = HDBSCAN(min_cluster_size=size, copy=True).fit(F).labels_
        found = int(labels.max()) + 1
        if max_segments is None or found <= max_segments or size * 2 > len(F) // 2:
            break
        size *= 2
    if found == 0:
        raise InputError(
            f"HDBSCAN found no segment in {len(F):,} customers (all noise at a minimum segment "
            f"size of {size:,}): lower --min-segment-share or use another --algorithm"
        )
    ordered = relabel_noise_last(labels, found)
    return ordered, size, KNeighborsClassifier(n_neighbors=1).fit(F, ordered)


def relabel_noise_last(labels: np.ndarray, found: int) -> np.ndarray:
    """Clusters renumbered by size (largest 0); noise stays -1."""
    clustered = labels >= 0
    rank = _rank(_size_order(labels[clustered], found))
    out = np.full(len(labels), NOISE)
    out[clustered] = rank[labels[clustered]]
    return out


def stability(
    refit, reference: np.ndarray, S: np.ndarray, n_resamples: int, seed: int, share: float = 0.8
) -> float:
    """Mean adjusted Rand index between ``reference`` labels of ``S`` and the labels given to
    ``S`` by models refit on random ``share`` subsamples of it (1: the same segments every
    time; near 0: chance agreement).

    ``refit(sample, seed)`` fits a model on ``sample`` and returns a function labelling rows.
    """
    if n_resamples <= 0 or len(S) < 10:
        return float("nan")
    rng = np.random.default_rng(seed)
    scores = []
    for b in range(n_resamples):
        idx = rng.choice(len(S), int(share * len(S)), replace=False)
        scores.append(adjusted_rand_score(reference, refit(S[idx], seed + b + 1)(S)))
    return float(np.mean(scores))
