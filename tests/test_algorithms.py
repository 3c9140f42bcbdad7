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
