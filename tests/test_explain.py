"""Bundle.explain: the segment equals assign's, and every suggested change really moves the
customer (checked on random rows of several datasets and models), in the data's units."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from segmentation import Bundle, fit_bundle, load_dataset
from segmentation.book.explain import feature_scales
from segmentation.demo import DEMOS
from segmentation.errors import InputError
from segmentation.tabpy import segment_explain

from conftest import shared_file


@pytest.fixture(scope="module")
def bundle(demo_run):
    return Bundle.load(demo_run / "model")


@pytest.fixture(scope="module")
def customers(demo_run):
    return pd.read_csv(demo_run / "customer_segments.csv", dtype={"customer_id": str})


def random_rows(bundle, n: int, seed: int) -> pd.DataFrame:
    """Rows drawn uniformly within each feature's training range (whole numbers for counts),
    some values missing: customers nobody has seen."""
    rng = np.random.default_rng(seed)
    scales = feature_scales(bundle)
    cols = {}
    for f in bundle.features:
        s = scales[f]
        values = rng.uniform(s.low, s.high, n)
        cols[f] = np.round(values) if s.whole else values
    frame = pd.DataFrame(cols)
    holes = rng.random(frame.shape) < 0.05
    return frame.mask(holes)


def check_explanations(bundle, rows: pd.DataFrame) -> int:
    """Every explanation agrees with assign and each move, applied, gives its segment; returns
    how many rows got a move."""
    assigned = bundle.assign(rows)
    with_move = 0
    for i, row in enumerate(rows.to_dict("records")):
        out = bundle.explain(row)
        assert out.segment == assigned["segment"].iloc[i]
        assert out.segment_name == assigned["segment_name"].iloc[i]
        assert out.recommended_action == assigned["recommended_action"].iloc[i]
        if out.distances is not None:
            assert min(out.distances, key=out.distances.get) == out.segment
            assert out.nearest_other != out.segment
        scales = feature_scales(bundle)
        for move in out.moves:
            assert 1 <= len(move.changes) <= 2 and move.to_segment == out.nearest_other
            moved = dict(out.values)
            for change in move.changes:
                moved[change.feature] = change.after
                scale = scales[change.feature]
                assert scale.low <= change.after <= scale.high
                if scale.whole:
                    assert change.after == round(change.after)
            assert int(bundle.predict(pd.DataFrame([moved]))[0]) == move.to_segment
        sizes = [m.size for m in out.moves]
        assert sizes == sorted(sizes)
        with_move += bool(out.moves)
    return with_move


def test_segment_equals_assign_and_moves_move_on_the_training_customers(bundle, customers):
    rows = customers.sample(150, random_state=0)[bundle.features]
    assert check_explanations(bundle, rows) >= 140  # nearly everyone can be moved within range


def test_segment_equals_assign_on_random_customers(bundle):
    rows = random_rows(bundle, 300, seed=1)
    check_explanations(bundle, rows)


@pytest.mark.parametrize("shape", ["purchases", "ecommerce", "creditcard"])
def test_other_shapes_and_their_units(tmp_path, shape):
    data = DEMOS[shape](800, 4)
    bundle = fit_bundle(load_dataset(data), k=4, n_stability=0)
    rows = random_rows(bundle, 80, seed=2)
    assert check_explanations(bundle, rows) > 0


def test_the_text_is_in_the_datas_units(bundle, customers):
    texts = [bundle.explain(r).move_text for r in customers.head(60)[bundle.features].to_dict("records")]
    joined = " | ".join(texts)
    # counts are whole numbers, shares percentages, days in days, money with thousands separators
    for m in re.finditer(r"txn_count from (\S+) to (\S+)", joined):
        assert m[1].isdigit() and m[2].isdigit()
    for m in re.finditer(r"late_share from (\S+) to (\S+)", joined):
        assert m[1].endswith("%") and m[2].endswith("%")
    for m in re.finditer(r"(?:recency|repayment)_days from \S+ days to \S+ days", joined):
        assert m
    amounts = re.findall(r"avg_txn_amount from \S+ to (\S+)", joined) + re.findall(r"total_amount from \S+ to (\S+)", joined)
    assert amounts and all(re.fullmatch(r"\d{1,3}(,\d{3})*", a) for a in amounts if float(a.replace(",", "")) >= 1000)
    assert all(t.startswith("to move to ") for t in texts)


def test_a_hand_made_customer(bundle):
    # a late, slow payer: the nearest other segment is reached by paying on time
    out = bundle.explain({"txn_count": 6, "avg_txn_amount": 5_000, "total_amount": 30_000,
                          "avg_repayment_days": 60, "late_share": 0.9, "recency_days": 20})
    assert "Late" in out.segment_name
    assert out.moves and any(c.feature in ("late_share", "avg_repayment_days") and c.after < c.before
                             for m in out.moves for c in m.changes)
    assert out.text.startswith(f"{out.segment} {out.segment_name}; to move to {out.nearest_other} ")


def test_missing_values_take_the_median_and_bad_ones_are_refused(bundle):
    out = bundle.explain({"txn_count": 8})
    assert set(out.imputed) == set(bundle.features) - {"txn_count"}
    assert out.segment == bundle.assign(pd.DataFrame([{f: (8 if f == "txn_count" else np.nan) for f in bundle.features}]))["segment"][0]
    with pytest.raises(InputError, match="txn_count: 'many' is not a number"):
        bundle.explain({"txn_count": "many"})
    with pytest.raises(InputError, match="no feature value given"):
        bundle.explain({"something": 1})


def test_non_kmeans_models_say_plainly(demo_run):
    data = load_dataset(pd.read_csv(demo_run / "customer_features.csv").head(600), feature_set="table",
                        features=["txn_count", "avg_txn_amount", "late_share"])
    bundle = fit_bundle(data, k=3, algorithm="gmm", n_stability=0)
    row = data.customers[bundle.features].iloc[0].to_dict()
    out = bundle.explain(row)
    assert out.segment == int(bundle.predict(pd.DataFrame([row]))[0])
    assert out.moves == () and out.distances is None and "needs a k-means model; this one uses gmm" in out.note


def test_tabpy_endpoint_gives_the_text_and_null_for_bad_rows(bundle, customers):
    rows = customers.head(8)
    lists = [[None if pd.isna(v) else v for v in rows[f].tolist()] for f in bundle.features]
    lists[0][3] = "x"
    for values in lists:
        values[5] = None
    out = segment_explain(bundle, *lists)
    assert out[3] is None and out[5] is None
    for i in (0, 1, 2, 4, 6, 7):
        assert out[i] == bundle.explain(rows.iloc[i]).text


def test_the_cli_prints_the_same_answer(cli, demo_run, bundle, customers):
    row = customers.iloc[3]
    values = ",".join(f"{f}={row[f]}" for f in bundle.features if pd.notna(row[f]))
    code, out, err = cli("explain", "--model", demo_run / "model", "--values", values)
    assert code == 0, err
    expected = bundle.explain(row)
    assert out.startswith(f"segment {expected.segment}: {expected.segment_name}\n")
    assert row["segment"] == expected.segment  # the run's own segment
    assert f"what would move this customer to {expected.nearest_other} {expected.nearest_other_name}:" in out
    assert expected.moves[0].text in out
    code, out, err = cli("explain", "--model", demo_run / "model", "--values", "txn_count=8")
    assert code == 0 and "not given: late_share; the model uses its training median" in err
    for bad, message in [("txn_count=abc", "'abc' is not a number"), ("nope=1", "no feature 'nope'"),
                         ("txn_count", "expects feature=value")]:
        code, out, err = cli("explain", "--model", demo_run / "model", "--values", bad)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_the_nigerian_loans_model(tmp_path):
    path = shared_file("loans_trainprevloans.csv")
    mapping = {"customer_id": "customerid", "txn_date": "approveddate", "amount": "loanamount",
               "repayment_date": "closeddate"}
    data = load_dataset(path, mapping=mapping)
    bundle = fit_bundle(data, n_stability=0)
    rows = data.customers.sample(60, random_state=0)[bundle.features]
    assert check_explanations(bundle, rows) > 30
