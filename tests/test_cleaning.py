"""Cleaning with a report: each rule with its count, counts that add up, bad tables exit 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from segmentation import load_dataset
from segmentation.demo import demo_ecommerce


def messy_table() -> pd.DataFrame:
    """100 good customers and one row for each rule."""
    rng = np.random.default_rng(0)
    good = pd.DataFrame(
        {
            "id": [f"a{i:03d}" for i in range(100)],
            "spend": rng.gamma(2.0, 50.0, 100).round(2).astype(str),
            "visits": rng.integers(1, 30, 100).astype(str),
            "city": rng.choice(["Lagos", "Abuja"], 100),
        }
    )
    good.loc[7, "spend"] = "n/a"  # not a number: treated as missing, then imputed
    bad = pd.DataFrame(
        [
            good.iloc[3].tolist(),  # exact copy of a003
            ["b1", "10", "3", "Lagos"],  # b1 twice, with different values
            ["b1", "99", "4", "Lagos"],
            ["", "10", "3", "Abuja"],  # no id
        ],
        columns=good.columns,
    )
    return pd.concat([good, bad], ignore_index=True)


def test_every_rule_is_counted_and_the_counts_add_up(tmp_path, cli):
    path = tmp_path / "customers.csv"
    messy_table().to_csv(path, index=False)
    before = path.read_bytes()
    code, out, err = cli("run", path, "--out", tmp_path / "o", "--k", "2")
    assert code == 0, err
    assert path.read_bytes() == before
    report = json.loads((tmp_path / "o" / "cleaning_report.json").read_text())
    assert report["rows_in"] == 104 and report["rows_used"] == 100 and report["rows_set_aside"] == 4
    assert report["set_aside_by_reason"] == {"id_missing": 1, "duplicate_row": 1, "duplicate_id": 2}
    assert report["rows_in"] == report["rows_used"] + sum(report["set_aside_by_reason"].values())
    rules = {(r["reason"], r["column"]): (r["n_rows"], r["action"]) for r in report["rules"]}
    assert rules[("not_a_number", "spend")] == (1, "treated as missing")
    assert rules[("missing_value", "spend")] == (1, "imputed")
    assert "set aside 2 of 104 rows: id column 'id' has 1 ids on more than one row, e.g. 'b1'" in err
    assert "set aside 1 of 104 rows: exact copies of an earlier row" in err
    assert "104 rows in, 100 used, 4 set aside; 100 customers segmented" in out
    seg = pd.read_csv(tmp_path / "o" / "customer_segments.csv")
    assert len(seg) == 100 and "b1" not in set(seg["customer_id"]) and seg["customer_id"].is_unique
    # --keep-duplicate-rows keeps the copy, which then repeats an id: set aside as a conflict
    dataset = load_dataset(path, keep_duplicate_rows=True)
    assert dataset.report["set_aside_by_reason"] == {"id_missing": 1, "duplicate_id": 4}


def test_impossible_values_are_set_aside(tmp_path, cli):
    frame = demo_ecommerce(200, seed=4)
    frame.loc[[5, 9], "total_spent"] = -12.5
    frame.loc[11, "age"] = 140
    frame.to_csv(tmp_path / "shop.csv", index=False)
    code, _, err = cli("run", tmp_path / "shop.csv", "--out", tmp_path / "o", "--k", "3")
    assert code == 0, err
    assert "set aside 2 of 200 rows: total_spent is negative, e.g. '-12.5'" in err
    assert "set aside 1 of 200 rows: age is above 120, e.g. '140'" in err
    report = json.loads((tmp_path / "o" / "cleaning_report.json").read_text())
    assert report["set_aside_by_reason"] == {"negative_value": 2, "out_of_range": 1}
    assert report["customers"] == 197


def test_negative_amounts_in_a_purchase_log_are_set_aside(tmp_path, cli):
    rows = [(f"c{i % 40}", f"2024-0{1 + i % 9}-1{i % 10}", str(10 + i)) for i in range(200)]
    rows[17] = ("c17", "2024-03-03", "-40")
    pd.DataFrame(rows, columns=["customer", "date", "amount"]).to_csv(tmp_path / "o.csv", index=False)
    code, out, err = cli("run", tmp_path / "o.csv", "--out", tmp_path / "o", "--k", "2")
    assert code == 0, err
    assert "set aside 1 of 200 rows: amount is negative, e.g. '-40'" in err
    assert "200 rows in, 199 used, 1 set aside" in out


def test_outliers_are_capped_only_when_asked(tmp_path):
    frame = messy_table().iloc[:100].copy()
    frame.loc[0, "spend"] = "1000000"
    plain = load_dataset(frame)
    assert plain.customers["spend"].max() == 1_000_000
    assert not any(r["reason"] == "outlier_capped" for r in plain.report["rules"])
    capped = load_dataset(frame, cap_outliers=99)
    spend = plain.customers["spend"]
    lo, hi = np.nanpercentile(spend, [1, 99])
    assert capped.customers["spend"].dropna().between(lo, hi).all()
    rule = next(r for r in capped.report["rules"] if r["reason"] == "outlier_capped" and r["column"] == "spend")
    assert rule["n_rows"] == int(((spend < lo) | (spend > hi)).sum()) and rule["action"] == "capped"
    assert capped.report["rows_used"] == 100  # capped rows are kept


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("id,name\n1,a\n2,b\n3,a\n", [], "no numeric column to segment on; found id, name"),
        (
            "id,x\n1,5\n1,6\n2,7\n2,8\n3,1\n",
            [],
            "id column 'id' has 2 ids on more than one row, e.g. '1'",
        ),
        ("id,x,y\n1,5,2\n2,6,3\n3,7,1\n", ["--features", "x,z"], "no feature named 'z'; available: x, y"),
        ("id,x,y\n1,5,5\n2,5,5\n3,5,5\n", [], "every feature is constant (x, y): nothing to segment on"),
        ("id,x\n,5\n,6\n", [], "no usable rows: 2 of 2 rows: the id column 'id' is empty"),
        ("id,x\n1,5\n2,6\n3,7\n", ["--map", "customer_id=ID"], "--map customer_id=ID: no such column"),
    ],
)
def test_bad_tables_give_one_line_and_exit_2(tmp_path, cli, content, args, message):
    path = tmp_path / "t.csv"
    path.write_text(content)
    code, _, err = cli("run", path, "--out", tmp_path / "o", *args)
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, err
    assert "Traceback" not in err


@pytest.mark.parametrize(("name", "data"), [("data.pdf", b"%PDF-1.4"), ("garbage.csv", bytes(range(256)) * 20)])
def test_files_that_are_not_tables(tmp_path, cli, name, data):
    (tmp_path / name).write_bytes(data)
    code, _, err = cli("run", tmp_path / name, "--out", tmp_path / "o")
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
