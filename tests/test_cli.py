"""The CLI end to end: outputs of `run`, each command, and every bad-input case (exit 2)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest

from segmentation.io.sql_runner import TRANSACTION_FEATURES


def test_run_writes_every_output(demo_run):
    for name in (
        "customer_features.csv",
        "customer_segments.csv",
        "segment_profiles.csv",
        "feature_anova.csv",
        "k_selection.csv",
        "cleaning_report.json",
        "elbow.png",
        "silhouette.png",
        "segmentation.db",
        "model/model.skops",
        "model/metadata.json",
    ):
        assert (demo_run / name).stat().st_size > 0, name
    assert (demo_run / "elbow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_customer_segments_columns_and_consistency(demo_run):
    seg = pd.read_csv(demo_run / "customer_segments.csv", dtype={"customer_id": str})
    assert list(seg.columns) == [
        "customer_id",
        *TRANSACTION_FEATURES,
        "segment",
        "segment_name",
        "recommended_action",
    ]
    assert seg["customer_id"].is_unique and len(seg) == 1_500
    profiles = pd.read_csv(demo_run / "segment_profiles.csv")
    assert profiles["size"].sum() == len(seg)
    assert seg["segment"].value_counts().sort_index().tolist() == profiles["size"].tolist()
    assert abs(profiles["share"].sum() - 1) < 1e-9
    for f in TRANSACTION_FEATURES:
        assert {f"{f}_mean", f"{f}_median", f"{f}_z"} <= set(profiles.columns)
    anova = pd.read_csv(demo_run / "feature_anova.csv")
    assert set(anova["feature"]) == set(TRANSACTION_FEATURES) and (anova["p_value"] < 0.05).any()
    meta = json.loads((demo_run / "model" / "metadata.json").read_text())
    assert meta["features"] == [
        "txn_count",
        "avg_txn_amount",
        "total_amount",
        "avg_repayment_days",
        "late_share",
        "recency_days",
    ]


def test_sqlite_database_holds_the_tables(demo_run, demo_csv):
    con = sqlite3.connect(demo_run / "segmentation.db")
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"transactions", "customer_features", "customer_segments", "segment_profiles"} <= tables
    n_txn = con.execute("SELECT COUNT(*) FROM transactions").fetchone()[0]
    assert n_txn == len(pd.read_csv(demo_csv))
    n_seg = con.execute("SELECT COUNT(DISTINCT customer_id) FROM customer_segments").fetchone()[0]
    assert n_seg == 1_500
    indexes = {r[0] for r in con.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'index'")}
    assert {"transactions", "customer_segments"} <= indexes


def test_fit_assign_profile_export(tmp_path, demo_csv, demo_run, cli):
    code, out, _ = cli("fit", demo_csv, "--model", tmp_path / "m", "--k", "3")
    assert code == 0 and "k=3: set by the user" in out
    code, out, _ = cli(
        "assign", demo_run / "customer_features.csv", "--model", tmp_path / "m", "--out", tmp_path / "a.csv"
    )
    assert code == 0 and "assigned 1,500 customers to 3 segments" in out
    assigned = pd.read_csv(tmp_path / "a.csv")
    assert set(assigned["segment"]) == {0, 1, 2}
    # assigning from the transactions gives the same result as from the features
    code, _, _ = cli("assign", demo_csv, "--model", tmp_path / "m", "--out", tmp_path / "b.csv")
    assert code == 0 and pd.read_csv(tmp_path / "b.csv")["segment"].equals(assigned["segment"])
    code, out, _ = cli("profile", "--model", tmp_path / "m", "--out", tmp_path / "p.xlsx")
    assert code == 0 and "[0]" in out and "action:" in out
    assert len(pd.read_excel(tmp_path / "p.xlsx")) == 3
    code, out, _ = cli("export", tmp_path / "a.csv", "--segment", "1", "--out", tmp_path / "s1.xlsx")
    assert code == 0
    assert (pd.read_excel(tmp_path / "s1.xlsx")["segment"] == 1).all()
    assert len(pd.read_excel(tmp_path / "s1.xlsx")) == (assigned["segment"] == 1).sum()


def test_features_command_with_both_engines(tmp_path, demo_csv, cli):
    assert cli("features", demo_csv, "--out", tmp_path / "d.csv")[0] == 0
    assert cli("features", demo_csv, "--out", tmp_path / "s.csv", "--engine", "sqlite")[0] == 0
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "d.csv"), pd.read_csv(tmp_path / "s.csv"), rtol=1e-12
    )


def test_export_neutralises_formulas(tmp_path, cli):
    pd.DataFrame(
        {
            "customer_id": ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "ok"],
            "segment": [0, 0, 0, 0, 1],
            "total": [-5, 1, 2, 3, 4],
        }
    ).to_csv(tmp_path / "s.csv", index=False)
    assert cli("export", tmp_path / "s.csv", "--out", tmp_path / "e.csv")[0] == 0
    text = (tmp_path / "e.csv").read_text()
    for cell in ("'=HYPERLINK", "'+1", "'-2", "'@SUM"):
        assert cell in text
    assert ",-5" in text  # numbers stay numbers


def test_customer_table_input_is_detected(tmp_path, demo_run, cli):
    code, out, err = cli(
        "run",
        demo_run / "customer_features.csv",
        "--out",
        tmp_path / "o",
        "--features",
        "txn_count,avg_txn_amount,late_share",
    )
    assert code == 0, err
    # (the run's own features file: recognised as such, its --features still obeyed)
    assert "feature set: features (per-customer features made by this product, id column 'customer_id', 3 features)" in err
    meta = json.loads((tmp_path / "o" / "model" / "metadata.json").read_text())
    assert meta["features"] == ["txn_count", "avg_txn_amount", "late_share"]


def test_mapping_option(tmp_path, cli):
    pd.DataFrame(
        {
            "cid": ["a", "a", "b", "c", "d", "e"],
            "when": ["2024-01-01"] * 6,
            "amt": [1, 2, 3, 4, 50, 60],
            "paid": ["2024-01-05"] * 6,
        }
    ).to_csv(tmp_path / "t.csv", index=False)
    code, out, err = cli(
        "run",
        tmp_path / "t.csv",
        "--out",
        tmp_path / "o",
        "--k",
        "2",
        "--map",
        "customer_id=cid,txn_date=when",
        "--map",
        "amount=amt",
        "--map",
        "repayment_date=paid",
    )
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "o" / "customer_segments.csv")) == 5


# -- bad input: one line on stderr, exit code 2 -------------------------------------------------


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


HEADER = "customer_id,txn_date,amount,repayment_date\n"


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "input file not found"),
        ("", [], "input file is empty"),
        (HEADER, [], "the input has no rows"),
        (
            "customer_id,txn_date,amt\nA,2024-01-01,5\n",
            ["--feature-set", "transactions"],
            "missing column amount; found customer_id, txn_date, amt (map yours with --map amount=YOUR_COLUMN)",
        ),
        (  # a log with a misnamed amount: the message names the missing role and the --map to write
            "customer_id,txn_date,amt,repayment_date\nA,2024-01-01,5,\nA,2024-02-01,6,\nB,2024-01-03,7,\n",
            [],
            "this looks like a transactions log (customer id, transaction date, repayment date) but has no "
            "amount column; found amt: name it with --map amount=amt",
        ),
        (
            HEADER + "A,yesterday,5,\nB,someday,5,\n",
            [],
            "2 of 2 rows: txn_date is not a date, e.g. 'someday'",
        ),
        (
            HEADER + "A,2024-01-01,five,\nB,2024-01-01,5,\n",
            [],
            "1 of 2 rows: amount is not a number, e.g. 'five'",
        ),
        (
            HEADER + "A,2024-01-05,5,2024-01-01\nB,2024-01-01,5,\n",
            [],
            "repayment_date is before the transaction date, e.g. 'A: repaid 2024-01-01, lent 2024-01-05'",
        ),
        (
            HEADER + "A,2024-01-01,5,\nB,2024-01-01,6,\n",
            ["--k", "3"],
            "only 2 customers, fewer than k=3 segments",
        ),
        (HEADER + "A,2024-01-01,5,\n", [], "too few to choose"),
        (HEADER + "A,2024-01-01,5,\n", ["--k", "lots"], "--k must be 'auto' or a whole number"),
        (HEADER + "A,2024-01-01,5,\n", ["--map", "amount"], "--map expects role=column"),
        (HEADER + "A,2024-01-01,5,\n", ["--map", "colour=amount"], "--map: unknown role 'colour'"),
        (HEADER + "A,2024-01-01,5,\n", ["--features", "shoe_size"], "no feature named 'shoe_size'"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(tmp_path, cli, content, args, message):
    path = tmp_path / "missing.csv" if content is None else write(tmp_path, content)
    code, out, err = cli("run", path, "--out", tmp_path / "o", *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], err
    assert "Traceback" not in err


def test_not_a_table_file(tmp_path, cli):
    code, _, err = cli("run", write(tmp_path, "x", "data.xml"), "--out", tmp_path / "o")
    assert code == 2 and "expected a CSV, Parquet, XLSX or JSON file, got '.xml'" in err


def test_few_bad_rows_do_not_stop_the_run(tmp_path, demo_csv, cli):
    rows = pd.read_csv(demo_csv, dtype=str)
    rows.loc[[3, 10, 20], "amount"] = "n/a"
    rows.loc[[5], "txn_date"] = "2024-13-45"
    rows.to_csv(tmp_path / "t.csv", index=False)
    code, out, err = cli("run", tmp_path / "t.csv", "--out", tmp_path / "o", "--k", "4")
    assert code == 0, err
    assert f"set aside 3 of {len(rows):,} rows: amount is not a number, e.g. 'n/a'" in err
    assert f"{len(rows):,} rows in, {len(rows) - 4:,} used, 4 set aside" in out
    report = json.loads((tmp_path / "o" / "cleaning_report.json").read_text())
    assert report["rows_in"] == report["rows_used"] + sum(r["n_rows"] for r in report["rules"] if r["action"] == "set aside")
    con = sqlite3.connect(tmp_path / "o" / "segmentation.db")
    assert con.execute("SELECT COUNT(*) FROM rejected_transactions").fetchone()[0] == 4
    assert len(pd.read_csv(tmp_path / "o" / "customer_segments.csv")) == 1_500  # everyone still has good rows


def test_bad_model_folder(tmp_path, demo_csv, cli):
    code, _, err = cli("assign", demo_csv, "--model", tmp_path, "--out", tmp_path / "a.csv")
    assert code == 2 and "is not a model folder" in err


def test_real_process_prints_no_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "segmentation",
            "run",
            str(tmp_path / "nope.csv"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: input file not found: {tmp_path / 'nope.csv'}"


def test_help_on_every_command():
    for command in ("demo-data", "features", "fit", "assign", "profile", "export", "run"):
        proc = subprocess.run(
            [sys.executable, "-m", "segmentation", command, "--help"], capture_output=True, text=True
        )
        assert proc.returncode == 0 and "usage: segmentation " + command in proc.stdout


def test_demo_data_size_limits(tmp_path, cli):
    code, _, err = cli("demo-data", "--customers", "50", "--out", tmp_path / "d.csv")
    assert code == 2 and "--customers must be from 100 to 1,000,000" in err
    code, out, _ = cli("demo-data", "--customers", "100", "--out", tmp_path / "d.parquet")
    assert code == 0 and pd.read_parquet(tmp_path / "d.parquet")["customer_id"].nunique() == 100
