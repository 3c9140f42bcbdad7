"""Every data shape end to end through the CLI: detection, cleaning report, outputs, names."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segmentation.book.naming import Rules, describe_segments
from segmentation.demo import demo_creditcard, demo_ecommerce, demo_purchases
from segmentation.shapes.ecommerce import BEHAVIOUR
from segmentation.shapes.rfm import RfmTable

N = 1_000
RFM_NAMES = [rule["name"] for rule in RfmTable.load().segments]


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_segments(out) -> pd.DataFrame:
    return pd.read_csv(out / "customer_segments.csv", dtype={"customer_id": str})


def test_purchase_log_gets_rfm_and_kmeans_segments(tmp_path, cli):
    code, _, _ = cli("demo-data", "--shape", "purchases", "--customers", N, "--seed", 1, "--out", tmp_path / "orders.csv")
    assert code == 0
    code, out, err = cli("run", tmp_path / "orders.csv", "--out", tmp_path / "o")
    assert code == 0, err
    assert "feature set: purchases" in err and "no repayment date column" in err
    seg = read_segments(tmp_path / "o")
    assert len(seg) == N
    for column in ("recency_days", "frequency", "monetary", "avg_order_value", "tenure_days", "r_score", "rfm_segment"):
        assert column in seg
    assert seg[["r_score", "f_score", "m_score"]].isin(range(1, 6)).all().all()
    assert seg["rfm_segment"].isin(RFM_NAMES).all()
    # the cross-tabulation of K-Means segments and RFM segments, in the file and on screen
    crosstab = pd.read_csv(tmp_path / "o" / "segment_rfm_crosstab.csv", index_col=0)
    expected = pd.crosstab(seg["segment"], seg["rfm_segment"])
    for name in expected.columns:
        assert crosstab.loc[[str(i) for i in expected.index], name].astype(int).tolist() == expected[name].tolist()
    assert int(crosstab.loc["total", "total"]) == N
    assert "Champions" in out and "all" in out
    code, out, _ = cli("profile", "--model", tmp_path / "o" / "model")
    assert code == 0 and "customers per segment and named RFM segment" in out
    # the K-Means segments find the demo's behaviour groups
    groups = demo_purchases(N, seed=1, with_groups=True).groupby("customer_id")["group"].first()
    assert adjusted_rand_score(groups.loc[seg["customer_id"]], seg["segment"]) > 0.8
    # all five of them, as the README's example says (every purchase feature log-transformed)
    assert seg["segment"].nunique() == groups.nunique() == 5
    assert seg["segment_name"].str.endswith("shoppers").all()  # the purchase log's rule table


def test_ecommerce_table_end_to_end(tmp_path, cli):
    code, out, _ = cli("demo-data", "--shape", "ecommerce", "--customers", N, "--seed", 2, "--out", tmp_path / "shop.csv")
    assert code == 0 and "an e-commerce customer table" in out
    code, out, err = cli("run", tmp_path / "shop.csv", "--out", tmp_path / "o")
    assert code == 0, err
    assert "feature set: ecommerce" in err and "12 of the 12 e-commerce customers columns" in err
    assert "gender: categorical (2 values), one-hot encoded" in err
    seg = read_segments(tmp_path / "o")
    meta = json.loads((tmp_path / "o" / "model" / "metadata.json").read_text())
    assert meta["features"] == list(BEHAVIOUR)  # behaviour clustered; demographics profiled
    assert {"age", "income", "gender=Female", "preferred_category=Books"} <= set(meta["profile_features"])
    assert set(seg["rfm_segment"]) <= set(RFM_NAMES)
    groups = demo_ecommerce(N, seed=2, with_groups=True).set_index("customer_id")["group"]
    assert adjusted_rand_score(groups.loc[seg["customer_id"]], seg["segment"]) > 0.8
    # a shop's words: the support-heavy group gets service recovery, not a card or loan offer
    profiles = pd.read_csv(tmp_path / "o" / "segment_profiles.csv")
    complaints = profiles.loc[profiles["support_tickets_z"].idxmax()]
    assert "Complaint-prone" in complaints["segment_name"] and complaints["plan"].startswith("Service recovery")


def test_credit_card_table_end_to_end(tmp_path, cli):
    source = tmp_path / "cards.csv"
    code, _, _ = cli("demo-data", "--shape", "creditcard", "--customers", N, "--seed", 3, "--out", source)
    assert code == 0
    before = digest(source)
    raw = pd.read_csv(source)
    code, out, err = cli("run", source, "--out", tmp_path / "o")
    assert code == 0, err
    assert digest(source) == before  # the input is never modified
    assert "feature set: creditcard" in err and "17 of the 17 credit-card behaviour columns" in err
    report = json.loads((tmp_path / "o" / "cleaning_report.json").read_text())
    rules = {(r["reason"], r["column"]): r for r in report["rules"]}
    assert rules[("missing_value", "MINIMUM_PAYMENTS")]["n_rows"] == raw["MINIMUM_PAYMENTS"].isna().sum() > 0
    assert rules[("missing_value", "CREDIT_LIMIT")]["n_rows"] == 1
    assert rules[("missing_value", "CREDIT_LIMIT")]["action"] == "imputed"
    capped = rules[("frequency_above_1", "CASH_ADVANCE_FREQUENCY")]
    assert capped["n_rows"] == (raw["CASH_ADVANCE_FREQUENCY"] > 1).sum() == 3 and capped["action"] == "capped"
    assert "capped: CASH_ADVANCE_FREQUENCY: 3 of 1,000 rows above 1" in err
    assert report["rows_in"] == report["rows_used"] == N
    seg = read_segments(tmp_path / "o")
    assert len(seg) == N and seg["segment"].notna().all()
    assert seg["CASH_ADVANCE_FREQUENCY"].max() <= 1 and seg["MINIMUM_PAYMENTS"].notna().all()
    assert seg["segment_name"].str.endswith("cardholders").all()
    groups = demo_creditcard(N, seed=3, with_groups=True).set_index("CUST_ID")["group"]
    assert adjusted_rand_score(groups.loc[seg["customer_id"]], seg["segment"]) > 0.9
    meta = json.loads((tmp_path / "o" / "model" / "metadata.json").read_text())
    assert {"BALANCE", "CASH_ADVANCE", "PAYMENT_MINIMUM_RATIO"} <= set(meta["log_features"])
    code, _, err = cli("assign", source, "--model", tmp_path / "o" / "model", "--out", tmp_path / "a.csv")
    assert code == 0, err
    assert pd.read_csv(tmp_path / "a.csv")["segment"].tolist() == seg["segment"].tolist()


def test_features_command_reads_a_purchase_log_with_both_engines(tmp_path, cli):
    path = tmp_path / "orders.csv"
    demo_purchases(300, seed=2).to_csv(path, index=False)
    for engine in ("duckdb", "sqlite"):
        code, out, err = cli("features", path, "--out", tmp_path / f"{engine}.csv", "--engine", engine)
        assert code == 0 and "feature set: purchases" in err and "wrote features of 300 customers" in out, err
    duck, lite = (pd.read_csv(tmp_path / f"{e}.csv") for e in ("duckdb", "sqlite"))
    pd.testing.assert_frame_equal(duck, lite)
    assert len(duck) == 300 and {"r_score", "rfm_segment"} <= set(duck.columns)


def test_names_and_actions_fit_the_shape():
    def one_segment(values):
        row = {"segment": 0, "share": 0.2}
        for f, (mean, z) in values.items():
            row.update({f"{f}_mean": mean, f"{f}_median": mean, f"{f}_z": z})
        return pd.DataFrame([row])

    card = one_segment({"CASH_ADVANCE": (4_000, 1.6), "PAYMENT_MINIMUM_RATIO": (1.1, -1.2), "BALANCE": (5_000, 0.3)})
    named = describe_segments(card, ["CASH_ADVANCE", "PAYMENT_MINIMUM_RATIO", "BALANCE"], Rules.load(feature_set="creditcard"))
    assert named.loc[0, "segment_name"] == "Cash-advance heavy, minimum-paying cardholders"
    assert named.loc[0, "plan"].startswith("Debt-consolidation loan")
    shop = one_segment({"recency_days": (320, 1.4), "monetary": (2_400, 1.1), "frequency": (8, 0.2)})
    named = describe_segments(shop, ["recency_days", "monetary", "frequency"], Rules.load(feature_set="purchases"))
    assert named.loc[0, "segment_name"] == "Lapsed, big-spending shoppers"
    assert named.loc[0, "plan"].startswith("Win-back")


MALL = (
    "CustomerID,Genre,Age,Annual Income (k$),Spending Score (1-100)\n"
    "0001,Male,19,15,39\n0002,Male,21,15,81\n0003,Female,20,16,6\n0004,Female,23,16,77\n"
    "0005,Female,31,17,40\n0006,Female,22,17,76\n0007,Female,35,18,6\n0008,Female,23,18,94\n"
    "0009,Male,64,19,3\n0010,Female,30,19,72\n0011,Male,67,19,14\n0012,Female,35,19,99\n"
)


def test_any_table_keeps_ids_and_odd_column_names(tmp_path, cli):
    path = tmp_path / "mall.csv"
    path.write_text(MALL)
    code, out, err = cli(
        "run",
        path,
        "--out",
        tmp_path / "o",
        "--k",
        "3",
        "--features",
        "Annual Income (k$),Spending Score (1-100),Genre",
    )
    assert code == 0, err
    assert "feature set: table (id column 'CustomerID', 4 features)" in err
    assert "Genre: categorical (2 values), one-hot encoded as Genre=<value>; clustered on" in err
    seg = read_segments(tmp_path / "o")
    assert seg["customer_id"].tolist()[:3] == ["0001", "0002", "0003"]
    assert (tmp_path / "o" / "customer_segments.csv").read_text().splitlines()[1].startswith("0001,")
    meta = json.loads((tmp_path / "o" / "model" / "metadata.json").read_text())
    assert meta["features"] == ["Annual Income (k$)", "Spending Score (1-100)", "Genre=Female", "Genre=Male"]
    # the saved model scores the same table again, ids as written
    code, _, err = cli("assign", path, "--model", tmp_path / "o" / "model", "--out", tmp_path / "a.csv")
    assert code == 0, err
    assigned = pd.read_csv(tmp_path / "a.csv", dtype={"customer_id": str})
    assert assigned["segment"].tolist() == seg["segment"].tolist() and assigned["customer_id"][0] == "0001"
    # without --features the categorical column is profiled, not clustered on
    code, _, err = cli("run", path, "--out", tmp_path / "o2", "--k", "2")
    assert code == 0 and "profiled per segment (cluster on it with --features Genre)" in err
    profiles = pd.read_csv(tmp_path / "o2" / "segment_profiles.csv")
    assert "Genre=Female_mean" in profiles  # share of women per segment


@pytest.mark.parametrize("kind", ["semicolon-bom", "xlsx", "parquet"])
def test_table_formats(tmp_path, cli, kind):
    frame = pd.read_csv(pd.io.common.StringIO(MALL), dtype={"CustomerID": str})
    if kind == "semicolon-bom":
        path = tmp_path / "t.csv"
        path.write_text("\ufeff" + frame.to_csv(index=False, sep=";"), encoding="utf-8")
    elif kind == "xlsx":
        path = tmp_path / "t.xlsx"
        frame.to_excel(path, index=False)
    else:
        path = tmp_path / "t.parquet"
        frame.to_parquet(path)
    code, _, err = cli("run", path, "--out", tmp_path / "o", "--k", "2")
    assert code == 0, err
    assert "id column 'CustomerID'" in err
    assert read_segments(tmp_path / "o")["customer_id"][0] == "0001"


def test_feature_set_can_be_forced(tmp_path, cli, demo_csv):
    # a loan file read as a purchase log: repayments ignored, RFM instead
    code, _, err = cli("run", demo_csv, "--out", tmp_path / "o", "--feature-set", "purchases", "--k", "3")
    assert code == 0, err
    assert "feature set: purchases" in err and "set with --feature-set" in err
    assert "rfm_segment" in read_segments(tmp_path / "o")
    path = tmp_path / "cards.csv"
    demo_creditcard(200, seed=0).to_csv(path, index=False)
    code, _, err = cli("run", path, "--out", tmp_path / "o2", "--feature-set", "table", "--k", "2")
    assert code == 0 and "feature set: table (id column 'CUST_ID', 16 features)" in err
    assert "TENURE: the same value for every customer, left out of the model" in err
