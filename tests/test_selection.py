"""Choosing k: the dip between neighbouring segments, the vote, its ties, a split vote, and the
close-call sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.model import Segmenter
from segmentation.model.selection import (
    CLOSE_DIP,
    MIN_DIP,
    choose_k,
    close_call_text,
    compare_labels,
    dequantize,
    dip,
    gap_choice,
    gap_statistic,
    min_dip,
    runner_up,
)


def table(**columns) -> pd.DataFrame:
    out = pd.DataFrame({"k": [2, 3, 4, 5], "inertia": [100.0, 50.0, 30.0, 25.0], **columns})
    out["eligible"] = True
    return out


def test_compare_labels_names_merged_and_split_segments():
    four = np.repeat([0, 1, 2, 3], 25)
    three = np.repeat([0, 1, 0, 2], 25)  # 0 and 2 together
    assert compare_labels(four, three) == {"merge": [[0, 2]], "split": []}
    assert compare_labels(three, four) == {"merge": [], "split": [0]}
    # a few customers changing sides do not change the answer
    noisy = three.copy()
    noisy[:3] = 2
    assert compare_labels(four, noisy) == {"merge": [[0, 2]], "split": []}
    # HDBSCAN's noise is in no segment
    assert compare_labels(np.r_[four, -1], np.r_[three, 1]) == {"merge": [[0, 2]], "split": []}


def test_close_call_sentence_in_plain_words():
    close = {"k": 3, "merge": [[1, 3]], "split": []}
    assert close_call_text(4, close) == "4 segments; 3 was close: it would merge segment 1 and segment 3"
    names = {1: "Late repayers", 3: "Rare large borrowers"}
    assert close_call_text(4, close, names) == (
        "4 segments; 3 was close: it would merge Late repayers and Rare large borrowers"
    )
    assert close_call_text(4, {"k": 5, "merge": [], "split": [2]}) == "4 segments; 5 was close: it would split segment 2"
    assert close_call_text(2, {"k": 3, "merge": [], "split": []}).endswith("regroup the same customers differently")


def test_a_tie_goes_to_the_higher_calinski_harabasz():
    # elbow: no knee (the curve bends the other way); Calinski-Harabasz (2 votes) for 3, silhouette and
    # Davies-Bouldin (1 each) for 4: 2 against 2
    t = table(
        silhouette=[0.3, 0.4, 0.6, 0.2],
        calinski_harabasz=[10.0, 40.0, 30.0, 5.0],
        davies_bouldin=[0.9, 0.7, 0.5, 0.8],
    )
    t["inertia"] = [100.0, 90.0, 70.0, 25.0]
    k, prefs, reason = choose_k(t, 0.01)
    assert prefs["elbow"] is None and k == 3
    assert "2 of 4 votes" in reason and "tie broken by the higher Calinski-Harabasz" in reason
    assert runner_up(t, prefs, k) == 4  # a tie is a close call
    # the same votes with Calinski-Harabasz higher at 4 turn the tie the other way
    t["calinski_harabasz"] = [10.0, 30.0, 40.0, 5.0]
    t["silhouette"] = [0.3, 0.6, 0.4, 0.2]
    t["davies_bouldin"] = [0.9, 0.5, 0.7, 0.8]
    k, _, reason = choose_k(t, 0.01)
    assert k == 4 and "tie broken" in reason


def test_a_split_vote_is_named_with_its_runner_up():
    # the case: elbow and Calinski-Harabasz say 4, silhouette and Davies-Bouldin 3
    t = table(
        silhouette=[0.3, 0.6, 0.5, 0.2],
        calinski_harabasz=[10.0, 30.0, 40.0, 5.0],
        davies_bouldin=[0.9, 0.5, 0.7, 0.8],
    )
    t["inertia"] = [100.0, 90.0, 30.0, 25.0]
    k, prefs, reason = choose_k(t, 0.01)
    assert prefs == {"elbow": 4, "silhouette": 3, "calinski_harabasz": 4, "davies_bouldin": 3}
    assert k == 4 and "3 of 5 votes" in reason and "tie" not in reason
    assert runner_up(t, prefs, k) == 3


def test_a_clear_vote_has_no_runner_up():
    t = table(
        silhouette=[0.3, 0.6, 0.5, 0.2],
        calinski_harabasz=[10.0, 40.0, 30.0, 5.0],
        davies_bouldin=[0.9, 0.5, 0.7, 0.8],
    )
    t["inertia"] = [100.0, 40.0, 35.0, 30.0]
    k, prefs, _ = choose_k(t, 0.01)
    assert k == 3 and set(prefs.values()) == {3}
    assert runner_up(t, prefs, k) is None
    # one dissenter with one vote is not close either: 4 votes against 1
    t["silhouette"] = [0.3, 0.5, 0.6, 0.2]
    k, prefs, _ = choose_k(t, 0.01)
    assert k == 3 and prefs["silhouette"] == 4 and runner_up(t, prefs, k) is None


def test_one_criterion_alone_is_not_a_close_call():
    # elbow, silhouette and Davies-Bouldin say 3 (3 votes); Calinski-Harabasz alone says 4 (2 votes):
    # one vote behind, but one criterion's dissent, not a split of the criteria
    t = table(
        silhouette=[0.3, 0.6, 0.5, 0.2],
        calinski_harabasz=[10.0, 30.0, 40.0, 5.0],
        davies_bouldin=[0.9, 0.5, 0.7, 0.8],
    )
    t["inertia"] = [100.0, 40.0, 35.0, 30.0]
    k, prefs, _ = choose_k(t, 0.01)
    assert k == 3 and prefs["calinski_harabasz"] == 4 and runner_up(t, prefs, k) is None
    # Davies-Bouldin joining Calinski-Harabasz turns the vote to 4 (3 votes); 3 (elbow, silhouette: 2) is close
    t["davies_bouldin"] = [0.9, 0.7, 0.5, 0.8]
    k, prefs, _ = choose_k(t, 0.01)
    assert k == 4 and runner_up(t, prefs, k) == 3


def test_gap_statistic_votes_for_the_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [8, 0], [0, 8]])
    Z = centres[np.repeat(np.arange(3), 200)] + rng.normal(size=(600, 2))
    t = gap_statistic(Z, range(2, 7))
    t["eligible"] = True
    assert gap_choice(t) == 3
    assert (t["gap_sd"] > 0).all()


@pytest.fixture(scope="module")
def two_close_blobs():
    """Four groups of 300; two of them only 3.5 standard deviations apart."""
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [3.5, 0], [12, 0], [0, 12]])
    group = np.repeat(np.arange(4), 300)
    X = pd.DataFrame(centres[group] + rng.normal(size=(1200, 2)), columns=["a", "b"])
    return X, group


def test_segmenter_says_which_segments_the_runner_up_would_merge(two_close_blobs):
    X, group = two_close_blobs
    model = Segmenter(n_stability=0).fit(X)
    assert model.n_clusters_ == 4 and model.k_close_["k"] == 3
    # the two close groups are the ones merged
    close = {int(np.bincount(model.labels_[group == g]).argmax()) for g in (0, 1)}
    assert model.k_close_["merge"] == [sorted(close)]
    sentence = close_call_text(4, model.k_close_)
    assert sentence in model.k_reason_ and sentence.startswith("4 segments; 3 was close: it would merge segment")
    table = model.k_selection_.set_index("k")
    assert table.loc[3, "close_call"] == sentence and table.loc[[2, 4, 5], "close_call"].eq("").all()


def test_the_bundle_names_the_merged_segments(two_close_blobs, tmp_path):
    from segmentation import fit_bundle, load_dataset

    X, _ = two_close_blobs
    path = tmp_path / "customers.csv"
    X.assign(customer_id=[f"C{i}" for i in range(len(X))]).to_csv(path, index=False)
    bundle = fit_bundle(load_dataset(path), n_stability=0)
    meta = bundle.metadata
    names = dict(zip(bundle.segments["segment"], bundle.segments["segment_name"], strict=True))
    a, b = meta["k_close"]["merge"][0]
    assert f"3 was close: it would merge {names[a]} ({a}) and {names[b]} ({b})" in meta["k_reason"]
    runner = next(row for row in meta["k_selection"] if row["k"] == 3)
    assert runner["close_call"] in meta["k_reason"]


def test_close_call_names_every_split_segment_once():
    close = {"k": 4, "merge": [], "split": [0, 1]}
    assert close_call_text(2, close) == "2 segments; 4 was close: it would split segment 0 and segment 1"


# -- the dip between neighbouring segments ------------------------------------------------------


def test_a_dip_between_two_groups_and_none_inside_one():
    rng = np.random.default_rng(1)
    apart = dip(rng.normal(size=(500, 2)), rng.normal(size=(500, 2)) + [6, 0])
    one = rng.normal(size=(1_000, 2))
    cut = dip(one[one[:, 0] < 0], one[one[:, 0] >= 0])  # what k-means does to one round group
    assert apart > 0.8 and cut < MIN_DIP
    # a 6% group on the flank of a large one, 5 standard deviations out, still dips
    big, small = rng.normal(size=(940, 2)), rng.normal(size=(60, 2)) + [5, 0]
    assert dip(big, small) > 0.2


def test_the_dip_is_looked_for_across_correlated_features():
    # Two long thin groups side by side: along the line joining their means they overlap (that
    # line runs along their length); across it they are 4 standard deviations apart.
    rng = np.random.default_rng(2)
    cov = [[10.0, 9.9], [9.9, 10.0]]
    a = rng.multivariate_normal([0, 0], cov, 800)
    b = rng.multivariate_normal([2, 0], cov, 800)
    assert dip(a, b) > 0.5
    assert dip(a, b, fisher=False) < MIN_DIP  # the first version's line (the benchmark's variant)


def test_sampling_noise_is_discounted_from_the_dip():
    # Two small groups 4 standard deviations apart dip; the discount makes the dip shallower
    # (as if the valley were higher and the peaks lower by 1.5 standard errors), not absent.
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + [4, 0]
    assert 0.2 < dip(a, b) < dip(a, b, noise_errors=0.0) - 0.1


def test_counts_do_not_dip_between_their_values():
    # One group with a small count (Poisson 3) and a continuous feature, split by k-means
    # between 2 and 3: the raw counts leave empty gaps that read as a dip; spread, none.
    rng = np.random.default_rng(3)
    Z = np.column_stack([rng.poisson(3, 2_000).astype(float), rng.normal(size=2_000)])
    labels = (Z[:, 0] >= 3).astype(int)
    assert dip(Z[labels == 0], Z[labels == 1]) > 0.5
    assert min_dip(Z, labels) < MIN_DIP
    spread = dequantize(Z)
    assert len(np.unique(spread[:, 0])) == len(Z)
    for v in range(1, 7):  # each count keeps its place: within half-way to its neighbours
        assert spread[Z[:, 0] == v, 0].max() <= v + 0.5 <= spread[Z[:, 0] == v + 1, 0].min()
    assert np.median(np.abs(spread[:, 1] - Z[:, 1])) < 1e-3  # continuous values barely move


def test_too_few_rows_have_no_dip_and_the_vote_decides():
    Z = np.random.default_rng(4).normal(size=(100, 2))
    assert np.isnan(min_dip(Z, (Z[:, 0] > 0).astype(int)))
    t = table(silhouette=[0.3, 0.6, 0.5, 0.2], calinski_harabasz=[10.0, 40.0, 30.0, 5.0],
              davies_bouldin=[0.9, 0.5, 0.7, 0.8], min_dip=[np.nan] * 4)
    k, prefs, reason = choose_k(t, 0.01)
    assert k == 3 and prefs["separation"] is None and "preferred by" in reason and "dip" not in reason


def _voting_for_3(**columns):
    t = table(silhouette=[0.3, 0.6, 0.5, 0.2], calinski_harabasz=[10.0, 40.0, 30.0, 5.0],
              davies_bouldin=[0.9, 0.5, 0.7, 0.8], **columns)
    t["inertia"] = [100.0, 40.0, 35.0, 30.0]
    return t


def test_the_dip_decides_over_a_vote_that_merges_groups():
    t = _voting_for_3(min_dip=[0.9, 0.8, 0.6, 0.0])
    k, prefs, reason = choose_k(t, 0.01)
    assert k == 4 and prefs["separation"] == 4 and prefs["calinski_harabasz"] == 3
    assert reason.startswith("k=4: the largest k at which every two neighbouring segments have a dip")
    assert "at k=5 only 0%: one group would be cut in two" in reason
    assert "the vote of the other criteria: 3 by elbow, silhouette, calinski-harabasz (2 votes), davies-bouldin" in reason
    # the vote is unanimous for 3 and 4 has no vote: the criteria split, so 3 is the runner-up
    assert runner_up(t, prefs, k) == 3


def test_the_dip_stops_at_the_first_k_without_one():
    # 4 dips again after 3 did not: a dip that comes back after a k without one is not trusted
    t = _voting_for_3(min_dip=[0.9, 0.0, 0.6, 0.5])
    assert choose_k(t, 0.01)[0] == 2
    # a k left out by the guardrail is skipped, not a stop
    t["eligible"] = [True, False, True, True]
    k, _, reason = choose_k(t, 0.05)
    assert k == 5 and "k=3 left out: a segment under 5%" in reason and "no larger k was tried" in reason


def test_without_a_dip_at_the_smallest_k_the_vote_decides_and_says_why():
    t = _voting_for_3(min_dip=[0.01, 0.0, 0.0, 0.0])
    k, prefs, reason = choose_k(t, 0.01)
    assert k == 3 and prefs["separation"] is None
    assert "preferred by" in reason and "no k had a dip between every two neighbouring segments" in reason


def test_a_shallow_dip_is_a_close_call_with_the_k_below():
    t = _voting_for_3(min_dip=[0.9, 0.8, CLOSE_DIP / 2, 0.0])
    t["calinski_harabasz"] = [10.0, 30.0, 40.0, 5.0]  # the vote for 4 as well: only the dip is close
    t["davies_bouldin"] = [0.9, 0.7, 0.5, 0.8]
    t["silhouette"] = [0.3, 0.5, 0.6, 0.2]
    k, prefs, _ = choose_k(t, 0.01)
    assert k == 4 and runner_up(t, prefs, k) == 3
    t["min_dip"] = [0.9, 0.8, 0.6, 0.0]
    k, prefs, _ = choose_k(t, 0.01)
    assert k == 4 and runner_up(t, prefs, k) is None
