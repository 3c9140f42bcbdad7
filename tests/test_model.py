"""The estimator: recovers the demo's latent groups, chooses their number, is deterministic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score

import segmentation.model.estimator as model_module
from segmentation.demo import GROUPS
from segmentation.errors import InputError
from segmentation.model import Log1pColumns, Segmenter
from segmentation.model.selection import choose_k, knee
from segmentation.shapes import TRANSACTION_MODEL_FEATURES
from segmentation.shapes.transactions import reference_features


@pytest.fixture(scope="module")
def demo_customers(demo_frame):
    features = reference_features(demo_frame)
    groups = demo_frame.groupby("customer_id")["group"].first().loc[features["customer_id"]].to_numpy()
    return features, groups


@pytest.fixture(scope="module")
def fitted(demo_customers):
    features, _ = demo_customers
    return Segmenter(random_state=0).fit(features[TRANSACTION_MODEL_FEATURES])


def test_recovers_latent_groups_and_their_number(fitted, demo_customers):
    _, groups = demo_customers
    assert fitted.n_clusters_ == len(GROUPS)
    assert adjusted_rand_score(groups, fitted.labels_) >= 0.8
    assert fitted.k_reason_.startswith("k=4: the largest k at which every two neighbouring segments have a dip")
    assert "the vote of the other criteria: 4 by elbow, silhouette, calinski-harabasz (2 votes), davies-bouldin" in fitted.k_reason_


def test_k_selection_table_has_every_criterion(fitted):
    table = fitted.k_selection_
    assert list(table["k"]) == list(range(2, 11))
    for column in ("inertia", "silhouette", "calinski_harabasz", "davies_bouldin", "min_share", "gap", "gap_sd", "min_dip"):
        assert table[column].notna().all()
    assert table["inertia"].is_monotonic_decreasing
    assert set(fitted.k_preferences_) == {"separation", "elbow", "silhouette", "calinski_harabasz", "davies_bouldin", "gap"}
    # the dip is measured at every k: deep up to the 4 planted groups, none where k-means cuts one in two
    dips = table.set_index("k")["min_dip"]
    assert (dips[[2, 3, 4]] > 0.5).all() and dips[5] < 0.05


def test_two_fits_give_identical_labels(fitted, demo_customers):
    features, _ = demo_customers
    again = Segmenter(random_state=0).fit(features[TRANSACTION_MODEL_FEATURES])
    np.testing.assert_array_equal(again.labels_, fitted.labels_)
    np.testing.assert_array_equal(again.predict(features), fitted.labels_)


def test_segment_ids_ordered_largest_first(fitted):
    sizes = np.bincount(fitted.labels_)
    assert list(sizes) == sorted(sizes, reverse=True)


def test_predict_matches_training_labels_and_accepts_arrays(fitted, demo_customers):
    features, _ = demo_customers
    X = features[TRANSACTION_MODEL_FEATURES]
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)
    np.testing.assert_array_equal(fitted.predict(X.to_numpy()), fitted.labels_)
    # columns in another order are put back in the model's order
    np.testing.assert_array_equal(fitted.predict(X[X.columns[::-1]]), fitted.labels_)


def test_skewed_money_is_log_transformed_and_missing_values_imputed(fitted, demo_customers):
    assert {"avg_txn_amount", "total_amount"} <= set(fitted.log_features_)
    assert "txn_count" not in fitted.log_features_
    features, _ = demo_customers
    assert features["avg_repayment_days"].isna().any()  # customers with only open loans
    assert np.isfinite(fitted.transform(features)).all()


def test_estimator_conventions():
    est = Segmenter(n_clusters=3, random_state=5)
    assert est.get_params()["n_clusters"] == 3
    assert not hasattr(est, "pipeline_")  # __init__ only stores parameters
    twin = clone(est)
    assert twin.get_params() == est.get_params()


def test_random_state_changes_the_sweep_sample(demo_customers):
    features, _ = demo_customers
    X = features[TRANSACTION_MODEL_FEATURES]
    a = Segmenter(n_clusters=4, sweep_size=500, random_state=1).fit(X)
    b = Segmenter(n_clusters=4, sweep_size=500, random_state=2).fit(X)
    assert a.k_selection_["inertia"].iloc[0] != b.k_selection_["inertia"].iloc[0]


def test_fixed_k(demo_customers):
    features, _ = demo_customers
    est = Segmenter(n_clusters=6).fit(features[TRANSACTION_MODEL_FEATURES])
    assert est.n_clusters_ == 6 and len(np.unique(est.labels_)) == 6
    assert est.k_reason_ == "k=6: set by the user"


def test_silhouette_uses_a_bounded_sample(monkeypatch, demo_customers):
    seen = []
    real = model_module.silhouette_score

    def spy(X, labels, sample_size=None, random_state=None):
        seen.append(sample_size)
        return real(X, labels, sample_size=sample_size, random_state=random_state)

    monkeypatch.setattr(model_module, "silhouette_score", spy)
    features, _ = demo_customers
    Segmenter(k_range=(2, 4), silhouette_size=300).fit(features[TRANSACTION_MODEL_FEATURES])
    assert seen == [300, 300, 300]


def test_knee_of_an_elbow_curve():
    assert knee([1, 2, 3, 4, 5, 6], [100, 40, 12, 10, 9, 8]) == 3
    assert knee([2, 3, 4], [5, 5, 5]) is None
    assert knee([2, 3], [10, 5]) is None


def test_vote_and_guardrail():
    table = pd.DataFrame(
        {
            "k": [2, 3, 4, 5],
            "inertia": [100, 40, 30, 25],
            "silhouette": [0.5, 0.6, 0.7, 0.4],
            "calinski_harabasz": [10, 30, 20, 5],
            "davies_bouldin": [0.9, 0.5, 0.6, 0.8],
            "eligible": [True, True, True, True],
        }
    )
    k, prefs, reason = choose_k(table, 0.01)
    assert prefs == {"elbow": 3, "silhouette": 4, "calinski_harabasz": 3, "davies_bouldin": 3}
    assert k == 3 and "4 of 5 votes" in reason and "silhouette preferred 4" in reason
    table.loc[table["k"] == 3, "eligible"] = False
    k, _, reason = choose_k(table, 0.05)
    assert k != 3 and "k=3 left out: a segment under 5%" in reason


def test_log1p_columns_keeps_column_order():
    X = np.array([[0.0, 9.0, -9.0], [1.0, 99.0, 3.0]])
    out = Log1pColumns(columns=[1, 2]).fit_transform(X)
    np.testing.assert_allclose(out[:, 0], X[:, 0])
    np.testing.assert_allclose(out[:, 1], np.log1p(X[:, 1]))
    np.testing.assert_allclose(out[:, 2], np.sign(X[:, 2]) * np.log1p(np.abs(X[:, 2])))


@pytest.mark.parametrize(
    ("X", "params", "message"),
    [
        (pd.DataFrame({"a": [1.0, 2.0, 3.0]}), {"n_clusters": 4}, "only 3 customers, fewer than k=4"),
        (pd.DataFrame({"a": [1.0, 2.0]}), {}, "too few to choose"),
        (pd.DataFrame({"a": [np.nan] * 5, "b": range(5)}), {}, "feature 'a' has no values"),
        (pd.DataFrame({"a": ["x", "y", "z"]}), {}, "feature 'a' is not numeric"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0]}), {"n_clusters": "many"}, "k must be 'auto' or a whole number"),
    ],
)
def test_bad_input_to_fit(X, params, message):
    with pytest.raises(InputError, match=message):
        Segmenter(**params).fit(X)
