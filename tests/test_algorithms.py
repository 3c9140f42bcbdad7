"""Analyst controls: algorithms, stability per k, guardrails, the PCA projection, saved bundles."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import segmentation.model.algorithms as algorithms
from segmentation import fit_bundle, load_dataset
from segmentation.book.bundle import Bundle
from segmentation.demo import demo_ecommerce
from segmentation.errors import InputError
from segmentation.model import Segmenter
from segmentation.model.selection import choose_k


@pytest.fixture(scope="module")
def shop():
    """600 e-commerce customers (five behaviour groups) as a Dataset."""
    return load_dataset(demo_ecommerce(600, seed=5))


@pytest.fixture(scope="module")
def hdbscan_bundle(shop):
    return fit_bundle(shop, algorithm="hdbscan")


def round_trip(bundle: Bundle, folder) -> Bundle:
    bundle.save(folder)
    return Bundle.load(folder)


def test_auto_switches_to_minibatch_above_the_documented_size(monkeypatch, shop):
    assert algorithms.MINIBATCH_ABOVE == 1_000_000  # the size the README documents
    assert algorithms.resolve_algorithm("auto", 1_000_000) == "kmeans"
    assert algorithms.resolve_algorithm("auto", 1_000_001) == "minibatch"
    monkeypatch.setattr(algorithms, "MINIBATCH_ABOVE", 500)
    bundle = fit_bundle(shop, k=5, n_stability=0)
    assert bundle.metadata["algorithm"] == "minibatch"
    assert type(bundle.pipeline.named_steps["kmeans"]).__name__ == "MiniBatchKMeans"


def test_gaussian_mixture_votes_with_bic_and_round_trips(tmp_path, shop, capsys):
    bundle = fit_bundle(shop, algorithm="gmm", k_range=(2, 6))
    table = pd.DataFrame(bundle.metadata["k_selection"])
    assert {"bic", "stability", "silhouette"} <= set(table.columns)
    assert "bic" in bundle.metadata["k_preferences"]
    loaded = round_trip(bundle, tmp_path / "m")
    assert loaded.assign(shop.customers).equals(bundle.assign(shop.customers))
    sizes = bundle.segments["size"].tolist()
    assert sizes == sorted(sizes, reverse=True)  # ids ordered by size for every algorithm
    # a mixture has no nearest-centroid rule for SQL: one clear line, and a stable version
    assert loaded.model_version == bundle.model_version and len(loaded.model_version) == 12
    from segmentation.cli import main

    assert main(["sql", "--model", str(tmp_path / "m"), "--table", "customer_features"]) == 2
    assert "scoring as SQL needs a k-means model; this one uses gmm" in capsys.readouterr().err


def test_hdbscan_reports_noise_as_its_own_group(tmp_path, hdbscan_bundle, shop):
    bundle = hdbscan_bundle
    segments = bundle.segments.set_index("segment")
    assert -1 in segments.index and bundle.metadata["noise_customers"] == segments.loc[-1, "size"] > 0
    assert segments.loc[-1, "segment_name"] == "Unusual customers (noise)"  # ecommerce.yaml's noise entry
    assert "noise" in bundle.metadata["k_reason"] and bundle.metadata["k"] == len(segments) - 1
    assert list(segments.index[1:]) == list(range(bundle.metadata["k"]))
    # the nearest-neighbour step needs two types beyond skops' defaults, listed in TRUSTED_TYPES
    loaded = round_trip(bundle, tmp_path / "m")
    scored = loaded.assign(shop.customers)
    assert scored.equals(bundle.assign(shop.customers))
    assert (scored["segment"] == -1).sum() == bundle.metadata["noise_customers"]


def test_hdbscan_refuses_a_fixed_k_and_respects_max_segments(shop, hdbscan_bundle):
    with pytest.raises(InputError, match="HDBSCAN finds the number of segments itself"):
        fit_bundle(shop, algorithm="hdbscan", k=4)
    assert hdbscan_bundle.metadata["k"] > 3
    capped = fit_bundle(shop, algorithm="hdbscan", max_segments=3)
    assert 1 <= capped.metadata["k"] <= 3


def test_stability_per_k(shop):
    model = Segmenter(k_range=(2, 7), random_state=0).fit(shop.customers[shop.model_features])
    table = model.k_selection_.set_index("k")
    assert table["stability"].between(-1, 1).all()
    # five well-separated groups: the five-segment solution comes back on every subsample
    assert model.n_clusters_ == 5 and table.loc[5, "stability"] > 0.95
    assert f"stability {table.loc[5, 'stability']:.2f} (adjusted Rand index" in model.k_reason_
    quiet = Segmenter(k_range=(2, 3), n_stability=0).fit(shop.customers[shop.model_features])
    assert quiet.k_selection_["stability"].isna().all()


def test_max_segments_guardrail(shop):
    model = Segmenter(k_range=(2, 8), max_segments=3, n_stability=0).fit(shop.customers[shop.model_features])
    assert model.n_clusters_ <= 3
    assert "k=4, 5, 6, 7, 8 left out: more than 3 segments (--max-segments)" in model.k_reason_
    assert len(model.k_selection_) == 7  # the criteria are still shown for every k
    with pytest.raises(InputError, match="max segments 1 is below|max segments must be 2 or more"):
        Segmenter(max_segments=1).fit(shop.customers[shop.model_features])


def test_choose_k_names_both_guardrails():
    table = pd.DataFrame(
        {
            "k": [2, 3, 4, 5],
            "inertia": [100, 40, 30, 25],
            "silhouette": [0.5, 0.6, 0.7, 0.8],
            "calinski_harabasz": [10, 30, 20, 40],
            "davies_bouldin": [0.9, 0.5, 0.6, 0.4],
            "eligible": [True, False, True, False],
        }
    )
    k, _, reason = choose_k(table, 0.05, max_segments=4)
    assert k in (2, 4)
    assert "k=3 left out: a segment under 5%" in reason and "k=5 left out: more than 4 segments" in reason


def test_projection_for_plots(tmp_path, shop):
    bundle = fit_bundle(shop, k=5, n_stability=0)
    projected = bundle.project(shop.customers)
    assert projected.shape == (len(shop.customers), 2)
    # principal components: uncorrelated, the first with the larger variance
    assert abs(np.corrcoef(projected[:, 0], projected[:, 1])[0, 1]) < 1e-6
    assert projected[:, 0].var() > projected[:, 1].var()
    ratios = bundle.metadata["projection_explained_variance"]
    assert len(ratios) == 2 and ratios[0] >= ratios[1] > 0
    # saved with the model: a customer lands on the same point whatever else is plotted
    loaded = round_trip(bundle, tmp_path / "m")
    np.testing.assert_allclose(loaded.project(shop.customers), projected)
    np.testing.assert_allclose(loaded.project(shop.customers.iloc[:10]), projected[:10])
    # a bundle saved without it fits a PCA on the customers given (same axes up to sign here)
    (tmp_path / "m" / "projection.skops").unlink()
    refit = Bundle.load(tmp_path / "m").project(shop.customers)
    np.testing.assert_allclose(np.abs(refit), np.abs(projected), atol=1e-8)


def test_tiny_data_has_no_projection_and_no_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = Segmenter(n_clusters=1, n_stability=0).fit(pd.DataFrame({"a": [2.0, 2.0]}))
    assert model.projection_ is None


def test_single_feature_projection_has_one_axis():
    bundle = fit_bundle(load_dataset(demo_ecommerce(200, seed=1), features=["total_spent"]), k=3, n_stability=0)
    projected = bundle.project(pd.DataFrame({"total_spent": [10.0, 2000.0]}))
    assert projected.shape == (2, 1) and projected[0, 0] != projected[1, 0]


def test_cli_controls_and_pca_file(tmp_path, cli, demo_csv):
    code, out, err = cli(
        "run", demo_csv, "--out", tmp_path / "o", "--algorithm", "gmm", "--max-segments", "3", "--k-max", "5"
    )
    assert code == 0, err
    assert "k=4, 5 left out: more than 3 segments (--max-segments)" in out
    k_table = pd.read_csv(tmp_path / "o" / "k_selection.csv")
    assert {"stability", "bic"} <= set(k_table.columns) and list(k_table["k"]) == [2, 3, 4, 5]
    meta = json.loads((tmp_path / "o" / "model" / "metadata.json").read_text())
    assert meta["algorithm"] == "gmm" and meta["k"] <= 3
    pca = pd.read_csv(tmp_path / "o" / "pca.csv")
    seg = pd.read_csv(tmp_path / "o" / "customer_segments.csv")
    assert list(pca.columns) == ["customer_id", "pc1", "pc2", "segment", "segment_name"]
    assert pca["customer_id"].tolist() == seg["customer_id"].tolist()
    assert pca["segment"].tolist() == seg["segment"].tolist()
    code, _, err = cli("run", demo_csv, "--out", tmp_path / "o2", "--algorithm", "hdbscan", "--k", "4")
    assert code == 2 and "HDBSCAN finds the number of segments itself" in err


# -- k-means in the metric of its own segments --------------------------------------------------


@pytest.mark.parametrize(("index", "customers"), [(26, 3_000), (62, 1_500)])
def test_kmeans_in_its_segments_metric_finds_groups_that_plain_kmeans_cuts_across(tmp_path, index, customers):
    # Two k-recovery datasets (designs past the benchmark's 48, none held-out): a table whose
    # two correlated copies and two no-signal columns weigh as much as the signal after
    # standard scaling (plain k-means at the planted k: ARI 0.42), and a 4-group purchase log
    # whose groups stretch along tenure and recency (0.74).
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from benchmarks.k_recovery_data import dataset, write

    frame, truth, spec = dataset(index, customers)
    ds = load_dataset(write(frame, tmp_path, spec.name))
    X = ds.customers[ds.model_features]
    y = truth.reindex(ds.customers["customer_id"].to_numpy()).to_numpy()
    model = Segmenter(n_clusters=spec.k, log_features=ds.log_features, n_stability=0).fit(X)
    plain = KMeans(spec.k, n_init=model.n_init, random_state=0).fit_predict(model.scale(X))
    assert adjusted_rand_score(y, plain) < 0.8
    assert adjusted_rand_score(y, model.labels_) > 0.9
    assert list(model.pipeline_.named_steps)[-2:] == ["whiten", "kmeans"]


def test_the_metric_is_the_within_segment_covariance_made_round():
    # In the whitened space the pooled within-segment covariance is a multiple of the identity
    # up to the shrinkage, and the rows keep their total variance.
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 500)
    Z = rng.multivariate_normal([0, 0, 0], [[4, 1.8, 0], [1.8, 1, 0], [0, 0, 0.2]], 1_000) + labels[:, None] * [0, 3, 0]
    A = algorithms.whitening(Z, labels, shrinkage=0.0)
    U = Z @ A
    W = np.cov(U - np.vstack([U[labels == i].mean(axis=0) for i in (0, 1)])[labels], rowvar=False)
    assert np.allclose(W, W[0, 0] * np.eye(3), atol=1e-9)
    assert np.isclose((A**2).sum(), 3)
    # shrunk: a direction constant inside every segment is no longer weighed without bound
    flag = np.column_stack([Z[:, :2], labels.astype(float)])
    assert np.abs(algorithms.whitening(flag, labels)).max() < 10


def test_scoring_applies_the_metric_like_the_pipeline(shop):
    from segmentation.model.assignment import ScoringParameters

    bundle = fit_bundle(shop, k=5, n_stability=0)
    params = bundle.scoring
    assert params.whitening is not None
    X = shop.customers[bundle.features]
    assert np.allclose(params.whiten(params.transform(X)), bundle.pipeline[:-1].transform(X), atol=1e-9)
    assert (params.predict(X) == bundle.pipeline.predict(X)).mean() == 1.0
    # a model saved before the metric (no whiten step) measures plain distances in the scaled space
    old = ScoringParameters(params.features, params.medians, params.logged, params.means, params.scales,
                            params.scaled_centers)
    Z = params.transform(X)
    plain = ((Z[:, None, :] - params.scaled_centers[None]) ** 2).sum(axis=2)
    assert old.whitening is None and np.allclose(old.distances(X), plain)
    assert not np.allclose(params.distances(X), plain)
