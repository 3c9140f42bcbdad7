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
