"""The k-recovery benchmark's own measures: prediction strength, the vote with it, the
separable split and the told-apart table (the datasets themselves run in the harness's smoke
test), the dip steps recorded from one fit; and one of its datasets where the dip keeps the
groups the vote merges."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from benchmarks.k_recovery import prediction_strength, ps_choice, report, separable, vote_with_ps
from benchmarks.k_recovery_data import dataset, write


def _table(ks, **columns) -> pd.DataFrame:
    t = pd.DataFrame({"k": ks, "eligible": True, **columns})
    for name, default in (("inertia", 0.0), ("silhouette", 0.0), ("calinski_harabasz", 0.0),
                          ("davies_bouldin", 1.0), ("gap", 0.0), ("gap_sd", 0.1), ("ari", 0.5), ("gmm_bic", 0.0), ("prediction_strength", 0.5)):
        if name not in t:
            t[name] = default
    return t


def test_prediction_strength_is_high_up_to_the_real_groups_and_falls_after():
    X, _ = make_blobs(1_200, centers=[[0, 0], [8, 0], [0, 8]], cluster_std=0.6, random_state=3)
    ps = dict(zip(range(2, 7), prediction_strength(X, range(2, 7)), strict=True))
    assert ps[3] > 0.9
    assert max(ps[5], ps[6]) < 0.8  # cutting a round blob in two is arbitrary
    t = _table(list(ps), prediction_strength=list(ps.values()))
    assert ps_choice(t) == 3


def test_ps_choice_falls_back_to_the_smallest_k_when_no_k_is_strong():
    t = _table([2, 3, 4], prediction_strength=[0.5, 0.4, 0.3])
    assert ps_choice(t) == 2


def test_prediction_strength_as_two_votes_turns_a_tie():
    # elbow and gap say 4 (2 votes); Calinski-Harabasz (2 votes) says 3 and would win the
    # tie by its higher value; silhouette and Davies-Bouldin say 2. Prediction strength's
    # two votes for 4 decide it.
    t = _table([2, 3, 4, 5], inertia=[100.0, 60.0, 20.0, 18.0], silhouette=[0.6, 0.4, 0.5, 0.3],
               calinski_harabasz=[10.0, 30.0, 20.0, 5.0], davies_bouldin=[0.5, 0.9, 0.7, 1.0],
               gap=[0.1, 0.2, 0.9, 0.91], gap_sd=[0.05] * 4, prediction_strength=[1.0, 0.9, 0.85, 0.5])
    assert vote_with_ps(t, weight=0) == 3  # without it: a 2-2-2 split, Calinski-Harabasz's k
    assert vote_with_ps(t, weight=2) == 4


def test_the_separable_split_is_an_extra_table_beside_every_dataset():
    def result(name, half, planted, at_planted, chosen, accuracy=0.99):
        aris = [at_planted if k == planted else 0.3 for k in (2, 3, 4)]
        aris[chosen - 2] = max(aris[chosen - 2], 0.3)
        table = _table([2, 3, 4], ari=aris, calinski_harabasz=[1.0 if k == chosen else 0.0 for k in (2, 3, 4)])
        return {"name": name, "half": half, "shape": "table", "planted": planted, "table": table,
                "fit": {"k": chosen, "ari": aris[chosen - 2], "customers": 100, "classifier_accuracy": accuracy,
                        "mixture_ari": 0.7}}

    results = [result("a", "tune", 3, 0.95, 3), result("b", "tune", 4, 0.5, 2),
               result("c", "tune", 2, 0.9, 3, accuracy=0.6)]
    assert [separable(r) for r in results] == [True, False, True]
    lines = report(results)
    assert "| the product's rule | 33% | " in next(line for line in lines if line.startswith("| the product's rule"))
    split = [line for line in lines if line.startswith("| the product's rule")][1]
    assert "1 of 2 (50%; 2 of 3 separable)" in split
    assert any(line.startswith("| b | tune | table | 100 | 4 | 2 | 0.30 | 0.50 | no | 0.99 | 0.70 |") for line in lines)
    # a and b are told apart by the classifier, b is not separable by k-means: b's groups are
    # there, k-means misses them
    assert "| tune | 3 | 2 | 2 | 1 | 0.90 | 0.70 |" in lines
    assert np.isfinite(float(split.split("|")[-2]))


def test_the_jump_method_finds_three_blobs_from_the_inertia_alone():
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    from benchmarks.k_recovery_tried import jump

    X, _ = make_blobs(900, centers=[[0, 0], [8, 0], [0, 8]], cluster_std=0.8, random_state=1)
    Z = StandardScaler().fit_transform(X)  # k=1's inertia is then n x p
    ks = list(range(2, 9))
    t = _table(ks, inertia=[KMeans(k, n_init=4, random_state=0).fit(Z).inertia_ for k in ks])
    assert jump({"table": t, "fit": {"customers": len(Z), "features": "x, y"}}) == 3


def test_the_dip_keeps_unequal_groups_that_the_vote_merges(tmp_path):
    # A tune-half table of 1,650 customers with 4 groups of unequal shares: silhouette,
    # Calinski-Harabasz and Davies-Bouldin all prefer 2 (each scores the partition as a whole);
    # every pair of the 4 k-means segments has a dip between them, and 5 would cut one in two.
    from segmentation import load_dataset
    from segmentation.model import Segmenter
    from segmentation.model.selection import tally

    frame, truth, spec = dataset(6)
    ds = load_dataset(write(frame, tmp_path, spec.name))
    model = Segmenter(n_stability=0).fit(ds.customers[ds.model_features])
    assert tally(model.k_selection_, model.k_preferences_)[0][0] == 2
    assert model.n_clusters_ == spec.k == 4
    y = truth.reindex(ds.customers["customer_id"].to_numpy()).to_numpy()
    assert adjusted_rand_score(y, model.labels_) > 0.9


def test_the_dip_steps_are_recorded_from_the_products_own_fit(tmp_path):
    from benchmarks.k_recovery_tried import DIP_STEPS, dip_step_lines, fit_recording_dips
    from segmentation.model import estimator, selection

    (r,) = fit_recording_dips(tmp_path, [6], 800, progress=lambda m: None)
    assert estimator.min_dip is selection.min_dip  # the product's function is back
    t = r["table"]
    product = t[f"dip: {list(DIP_STEPS)[-1]}"]
    assert np.allclose(product, t["min_dip"], equal_nan=True)  # the last step is the product's dip
    assert not np.allclose(t[f"dip: {list(DIP_STEPS)[0]}"], product)  # and the first is not
    lines = dip_step_lines([r], [r])
    # the product's step decides as the product did
    hit, ari = r["fit"]["k"] == r["planted"], t.set_index("k").loc[r["fit"]["k"], "ari"]
    assert len(lines) == 1 + len(DIP_STEPS) and lines[-1].endswith(f"seeds 48-94 {hit:.0%} and {ari:.2f}")
