"""The feature SQL: DuckDB and SQLite agree with the pandas reference, bad rows are counted."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from segmentation.errors import InputError
from segmentation.io.database import DatabaseSource
from segmentation.io.sources import FileSource, purchase_features, transaction_features
from segmentation.io.sql_runner import TRANSACTION_FEATURES
from segmentation.shapes.transactions import reference_features

EDGE_ROWS = [
    # customer_id, txn_date, amount, repayment_date, due_date
    ("single", "2024-01-10", "500", "2024-01-20", ""),  # one transaction
    ("sameday", "2024-02-01", "100", "2024-02-01", ""),  # repaid the same day
    ("sameday", "2024-02-05 13:45:00", "300", "2024-02-05 18:00:00", ""),  # same day, with times
    ("open", "2024-03-01", "1000", "", ""),  # open, not yet due on as_of
    ("open", "2024-01-01", "2000", "", ""),  # open and overdue
    ("late", "2024-01-01", "700", "2024-03-15", "2024-02-01"),  # repaid after its due date
    ("late", "2024-02-01", "700", "2024-02-28", "2024-03-01"),  # on time
    ("ontime_edge", "2024-01-01", "50", "2024-01-31", ""),  # repaid on day 30: not late
    ("late_edge", "2024-01-01", "50", "2024-02-01", ""),  # day 31: late
    ("allopen", "2024-03-20", "80", "", ""),  # nothing known yet: late_share is null
]


def edge_frame() -> pd.DataFrame:
    return pd.DataFrame(
        EDGE_ROWS, columns=["customer_id", "txn_date", "amount", "repayment_date", "due_date"]
    )


def write_csv(frame: pd.DataFrame, path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


@pytest.fixture
def edge_csv(tmp_path):
    return write_csv(edge_frame(), tmp_path / "edge.csv")


def reference_of(frame: pd.DataFrame, **kwargs) -> pd.DataFrame:
    clean = frame.replace({"": None})
    return reference_features(clean, **kwargs)


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_sql_equals_pandas_reference_on_demo_data(tmp_path, demo_frame, engine):
    path = tmp_path / "demo.csv"
    demo_frame.drop(columns="group").to_csv(path, index=False)
    features, report = transaction_features(path, engine=engine)
    expected = reference_features(demo_frame)
    pd.testing.assert_frame_equal(features, expected, rtol=1e-12)
    assert report.rows_in == report.rows_used == len(demo_frame)
    assert report.customers == demo_frame["customer_id"].nunique()


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_sql_equals_pandas_reference_on_edge_cases(edge_csv, engine):
    features, _ = transaction_features(edge_csv, engine=engine, as_of="2024-04-01")
    expected = reference_of(edge_frame(), as_of="2024-04-01")
    pd.testing.assert_frame_equal(features, expected, rtol=1e-12)


def test_edge_case_values_by_hand(edge_csv):
    f, report = transaction_features(edge_csv, as_of="2024-04-01")
    f = f.set_index("customer_id")
    assert report.as_of == "2024-04-01"
    assert f.loc["single", "txn_count"] == 1 and f.loc["single", "avg_repayment_days"] == 10
    assert f.loc["single", "tenure_days"] == f.loc["single", "recency_days"] == 82
    assert f.loc["sameday", "avg_repayment_days"] == 0
    assert f.loc["sameday", "total_amount"] == 400 and f.loc["sameday", "max_amount"] == 300
    assert f.loc["open", "open_loans"] == 2
    assert f.loc["open", "late_share"] == 1.0  # only the overdue loan's outcome is known
    assert pd.isna(f.loc["open", "avg_repayment_days"])
    assert f.loc["late", "late_share"] == 0.5  # due_date column used when present
    assert f.loc["ontime_edge", "late_share"] == 0.0
    assert f.loc["late_edge", "late_share"] == 1.0
    assert pd.isna(f.loc["allopen", "late_share"])
    # loans per year of tenure: 1 loan in 82 days; a first loan 12 days ago counts as 30 days
    assert f.loc["single", "loans_per_year"] == pytest.approx(365 / 82, rel=1e-12)
    assert f.loc["allopen", "tenure_days"] == 12
    assert f.loc["allopen", "loans_per_year"] == pytest.approx(365 / 30, rel=1e-12)
    assert f.loc["sameday", "loans_per_year"] == pytest.approx(2 * 365 / 60, rel=1e-12)


def test_late_after_days_moves_the_due_day(edge_csv):
    f, _ = transaction_features(edge_csv, as_of="2024-04-01", late_after_days=40)
    assert f.set_index("customer_id").loc["late_edge", "late_share"] == 0.0


def test_default_reference_day_is_last_date_in_data(edge_csv):
    _, report = transaction_features(edge_csv)
    assert report.as_of == "2024-03-20"


def test_parquet_input_equals_csv(tmp_path, demo_frame):
    frame = demo_frame.drop(columns="group")
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_csv(tmp_path / "t.csv", index=False)
    a, _ = transaction_features(tmp_path / "t.parquet")
    b, _ = transaction_features(tmp_path / "t.csv")
    pd.testing.assert_frame_equal(a, b)


def test_sqlite_table_engine(tmp_path, demo_frame):
    con = sqlite3.connect(tmp_path / "t.db")
    demo_frame.drop(columns="group").astype(str).replace({"NaT": None}).to_sql("loans", con, index=False)
    con.close()
    features, report = transaction_features(DatabaseSource(f"sqlite:///{tmp_path / 't.db'}", table="loans"))
    pd.testing.assert_frame_equal(features, reference_features(demo_frame), rtol=1e-12)
    assert report.engine == "sqlite"


def test_bad_rows_are_counted_reported_and_left_out(tmp_path):
    good = edge_frame()
    bad = pd.DataFrame(
        [
            ("single", "not a date", "10", "", ""),
            ("x1", "2024-01-01", "12abc", "", ""),
            ("x2", "2024-01-01", "-5", "", ""),
            ("x3", "2024-01-05", "10", "2024-01-01", ""),
            ("", "2024-01-01", "10", "", ""),
        ],
        columns=good.columns,
    )
    rows = pd.concat([good] * 20 + [bad], ignore_index=True)
    # the 20 copies of the good rows are exact duplicates: kept here on purpose
    features, report = transaction_features(
        write_csv(rows, tmp_path / "t.csv"), as_of="2024-04-01", keep_duplicate_rows=True
    )
    reasons = {r.reason: r.n_rows for r in report.rejections}
    assert reasons == {
        "txn_date_invalid": 1,
        "amount_invalid": 1,
        "amount_negative": 1,
        "repayment_before_txn": 1,
        "customer_id_missing": 1,
    }
    assert report.rows_in == len(rows) and report.rows_used == len(rows) - 5
    assert {"x1", "x2", "x3"}.isdisjoint(features["customer_id"])
    # the customer with one bad row but good ones too is still there, from good rows only
    assert features.set_index("customer_id").loc["single", "txn_count"] == 20
    message = next(r.message for r in report.rejections if r.reason == "amount_invalid")
    assert "amount" in message and "12abc" in message and "1 of 205 rows" in message


def test_too_many_bad_rows_stop_with_a_clear_message(tmp_path):
    # (03/04/2024 is 3 April or 4 March: nothing in the data tells; 31/12/2024 would read day first)
    rows = edge_frame().assign(txn_date="03/04/2024")
    with pytest.raises(
        InputError, match=r"no usable rows: 10 of 10 rows: txn_date is not a date, e.g. '03/04/2024' "
        r"\(day or month first\? set --date-format %d/%m/%Y or %m/%d/%Y\)"
    ):
        transaction_features(write_csv(rows, tmp_path / "t.csv"))


def test_repayment_before_txn_over_the_limit_stops(tmp_path):
    rows = edge_frame()
    rows.loc[:3, "repayment_date"] = "2023-01-01"
    with pytest.raises(InputError, match="repayment_date is before the transaction date"):
        transaction_features(write_csv(rows, tmp_path / "t.csv"))


def test_columns_matched_by_alias_and_by_mapping(tmp_path):
    rows = edge_frame().rename(
        columns={"customer_id": "CustomerID", "txn_date": "Transaction Date", "amount": "loan_amount"}
    )
    a, report = transaction_features(write_csv(rows, tmp_path / "a.csv"), as_of="2024-04-01")
    assert report.columns["customer_id"] == "CustomerID" and report.columns["amount"] == "loan_amount"
    rows = edge_frame().rename(columns={"txn_date": "approved", "amount": "principal"})
    b, _ = transaction_features(
        write_csv(rows, tmp_path / "b.csv"),
        mapping={"txn_date": "approved", "amount": "principal"},
        as_of="2024-04-01",
    )
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["customer_id", *TRANSACTION_FEATURES]


def test_missing_column_names_what_is_missing_and_found(tmp_path):
    rows = edge_frame().drop(columns="amount")
    with pytest.raises(
        InputError, match=r"missing column amount; found customer_id, txn_date, repayment_date, due_date"
    ):
        transaction_features(write_csv(rows, tmp_path / "t.csv"))


def test_semicolon_and_bom_csv_work(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("\ufeff" + edge_frame().to_csv(index=False, sep=";"), encoding="utf-8")
    features, _ = transaction_features(path, as_of="2024-04-01")
    pd.testing.assert_frame_equal(features, reference_of(edge_frame(), as_of="2024-04-01"), rtol=1e-12)


def test_duckdb_memory_cap_from_the_environment(tmp_path, monkeypatch, demo_csv, cli):
    expected, _ = transaction_features(demo_csv)
    monkeypatch.setenv("SEGMENTATION_DUCKDB_MEMORY_LIMIT", "200MB")
    capped, _ = transaction_features(demo_csv)
    pd.testing.assert_frame_equal(capped, expected)
    from segmentation.io.sources import connect_duckdb

    assert connect_duckdb().execute("SELECT current_setting('memory_limit')").fetchone()[0] in ("190.7 MiB", "200.0 MB")
    monkeypatch.setenv("SEGMENTATION_DUCKDB_MEMORY_LIMIT", "lots")
    code, _, err = cli("features", demo_csv, "--out", tmp_path / "f.csv")
    assert code == 2 and "SEGMENTATION_DUCKDB_MEMORY_LIMIT='lots' is not a memory size" in err


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_run_keeps_the_checked_rows_of_the_engine_that_checked_them(tmp_path, engine):
    """segmentation.db's transactions and rejected_transactions come from the engine that ran
    the checks (before, the SQLite path read tables that only DuckDB had)."""
    from segmentation import LoadOptions, run

    rows = [*EDGE_ROWS, ("x1", "2024-01-01", "12abc", "", ""), ("x2", "not a date", "5", "", "")]
    path = write_csv(pd.DataFrame(rows, columns=edge_frame().columns), tmp_path / "t.csv")
    result = run(path, tmp_path / "out", LoadOptions(engine=engine, max_rejected_share=0.5))
    con = sqlite3.connect(tmp_path / "out" / "segmentation.db")
    clean = con.execute("SELECT COUNT(*), MIN(txn_date) FROM transactions").fetchone()
    rejected = con.execute("SELECT reject_reason FROM rejected_transactions ORDER BY 1").fetchall()
    assert result.dataset.report["engine"] == engine
    assert clean == (result.dataset.report["rows_used"], "2024-01-01")
    assert rejected == [("amount_invalid",), ("txn_date_invalid",)]


class _TextOnly(FileSource):
    """The file staged from text only, as before the typed fast path."""

    def _typed_view(self, kind, options):
        return None


VARIED_CLEAN = [
    # every value valid, written the many ways a clean export writes them
    ("a", "2024-01-10", "500", "2024-01-20", ""),
    ("a", "2024-02-05 13:45:00", "300.25", "2024-02-05 18:00:00", "2024-03-01"),
    ("b", "2024-03-01T08:00:00", ".5", "", ""),
    ("b", "2024-03-02", "1e5", "2024-03-09", ""),
    ("c", "2024-03-03", "+3", "", "2024-03-10"),
    ("c", "2024-01-01", "0", "2024-01-31", ""),
    ("d", "2024-02-29", "12.000", "2024-03-31 23:59:59", ""),
]


@pytest.mark.parametrize("kind", ["transactions", "purchases"])
@pytest.mark.parametrize(
    "extra, typed_kept",
    [
        ([], True),  # a clean file: the typed read's result is the answer
        ([VARIED_CLEAN[0]], False),  # an exact copy of a row: staged again from text
        ([("e", "2024-01-05", "-5", "", "")], False),  # a negative amount
        ([("e", "2024-01-05", "$1,200.50", "", "")], False),  # an amount the typed read cannot take
        ([("e", "someday", "5", "", "")], False),  # a bad date
        ([("e\x00", "2024-01-05", "5", "", "")], False),  # an id with a NUL byte
        ([("e", "2024-01-05", "inf", "", "")], False),  # not finite
    ],
)
def test_the_typed_read_gives_the_text_staging_answer(tmp_path, monkeypatch, kind, extra, typed_kept):
    """One typed pass for a clean file, the text staging otherwise: the same features and the
    same report of set-aside rows either way (issue 15)."""
    import segmentation.io.sql_runner as runner

    path = write_csv(pd.DataFrame(VARIED_CLEAN + extra, columns=edge_frame().columns), tmp_path / "t.csv")
    outcomes = []
    checked = runner._checked_result

    def spy(*args, **kwargs):
        result = checked(*args, **kwargs)
        outcomes.append((kwargs.get("typed", False), result is not None))
        return result

    monkeypatch.setattr(runner, "_checked_result", spy)
    compute = transaction_features if kind == "transactions" else purchase_features
    fast, fast_report = compute(path, max_rejected_share=0.5, as_of="2024-04-01")
    assert outcomes[0] == (True, typed_kept)
    slow, slow_report = compute(_TextOnly(path), max_rejected_share=0.5, as_of="2024-04-01")
    pd.testing.assert_frame_equal(fast, slow)
    assert fast_report == slow_report
