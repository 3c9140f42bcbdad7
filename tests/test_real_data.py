"""Real public files from ../shared/data, end to end (skipped on a user's clone, required in CI)."""

from __future__ import annotations

import json

import pandas as pd

from conftest import shared_file

LOANS_MAP = "customer_id=customerid,txn_date=approveddate,amount=loanamount,repayment_date=closeddate"


def test_loans_file_end_to_end(tmp_path, cli):
    path = shared_file("loans_trainprevloans.csv")
    code, out, err = cli("run", path, "--out", tmp_path / "o", "--map", LOANS_MAP)
    assert code == 0, err
    seg = pd.read_csv(tmp_path / "o" / "customer_segments.csv")
    assert len(seg) == 4_359  # every customer of the file
    report = json.loads((tmp_path / "o" / "cleaning_report.json").read_text())
    assert report["rows_in"] == report["rows_used"] == 18_183
    assert report["as_of"].startswith("2017-07")
    features = pd.read_csv(tmp_path / "o" / "customer_features.csv")
    assert features["txn_count"].between(1, 26).all() and features["txn_count"].max() == 26
    assert features["avg_txn_amount"].between(3_000, 60_000).all()
    profiles = pd.read_csv(tmp_path / "o" / "segment_profiles.csv")
    assert 2 <= len(profiles) <= 10 and profiles["segment_name"].is_unique
    # what the README reports for this file
    assert ("k=3: the largest k at which every two neighbouring segments have a dip in density between them "
            "(the shallowest dip 28% deep; at k=4 only 0%") in out
    assert list(profiles["segment_name"]) == [
        "Punctual, low-volume borrowers", "Large-loan, high-volume borrowers", "Late-paying, slow-repaying borrowers"
    ]
    assert list(profiles["size"]) == [2_035, 1_321, 1_003]


def test_credit_card_file_end_to_end(tmp_path, cli):
    path = shared_file("CC_GENERAL.csv")
    code, out, err = cli("run", path, "--out", tmp_path / "o")
    assert code == 0, err
    assert "feature set: creditcard" in err and "17 of the 17 credit-card behaviour columns" in err
    report = json.loads((tmp_path / "o" / "cleaning_report.json").read_text())
    rules = {(r["reason"], r["column"]): r for r in report["rules"]}
    assert rules[("missing_value", "MINIMUM_PAYMENTS")]["n_rows"] == 313
    assert rules[("missing_value", "CREDIT_LIMIT")]["n_rows"] == 1
    assert rules[("missing_value", "CREDIT_LIMIT")]["example"] == "C15349"
    assert rules[("frequency_above_1", "CASH_ADVANCE_FREQUENCY")]["n_rows"] == 8
    assert rules[("balance_above_limit", "BALANCE")]["n_rows"] == 227
    assert report["rows_in"] == report["rows_used"] == 8_950 and report["rows_set_aside"] == 0
    seg = pd.read_csv(tmp_path / "o" / "customer_segments.csv")
    assert len(seg) == 8_950 and seg["segment"].notna().all() and seg["customer_id"].is_unique
    assert seg["segment_name"].str.endswith("cardholders").all()
    # what the README reports for this file
    assert ("k=5: the largest k at which every two neighbouring segments have a dip in density between them "
            "(the shallowest dip 53% deep; at k=6 only 3%") in out
    assert seg["segment"].value_counts().sort_index().tolist() == [2_640, 2_499, 1_329, 1_264, 1_218]
    assert len(pd.read_csv(tmp_path / "o" / "pca.csv")) == 8_950


def test_mall_customers_keep_their_ids(tmp_path, cli):
    path = shared_file("Mall_Customers.csv")
    code, out, err = cli("run", path, "--out", tmp_path / "o")
    assert code == 0, err
    assert "feature set: table (id column 'CustomerID', 3 features)" in err
    assert "Genre: categorical (2 values), one-hot encoded" in err
    seg = pd.read_csv(tmp_path / "o" / "customer_segments.csv", dtype={"customer_id": str})
    assert len(seg) == 200 and seg["customer_id"].iloc[0] == "0001" and seg["customer_id"].str.len().eq(4).all()
    meta = json.loads((tmp_path / "o" / "model" / "metadata.json").read_text())
    assert meta["features"] == ["Age", "Annual Income (k$)", "Spending Score (1-100)"]
    assert {"Genre=Female", "Genre=Male"} <= set(meta["profile_features"])


def test_customer_segmentation_table_end_to_end(tmp_path, cli):
    path = shared_file("customer_segmentation_data.csv")
    code, out, err = cli("run", path, "--out", tmp_path / "o", "--max-segments", "6")
    assert code == 0, err
    assert "feature set: table (id column 'id', 6 features)" in err
    assert "preferred_category: categorical" in err and "gender: categorical" in err
    report = json.loads((tmp_path / "o" / "cleaning_report.json").read_text())
    assert report["rows_in"] == report["rows_used"] == 1_000
    assert not [r for r in report["rules"] if r["reason"] == "missing_value"]  # the file has no gaps
    seg = pd.read_csv(tmp_path / "o" / "customer_segments.csv")
    assert len(seg) == 1_000 and 2 <= seg["segment"].nunique() <= 6
