"""Data where it lives: `run` from a database table, tables written back, `score` after new rows
arrive, credentials kept out of every output. Against a real PostgreSQL server, and SQLite and
DuckDB files."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import threading

import duckdb
import numpy as np
import pandas as pd
import pytest
from postgres_server import PASSWORD, SUPERUSER

from segmentation.book.bundle import Bundle
from segmentation.cli import main
from segmentation.demo import demo_transactions
from segmentation.errors import InputError
from segmentation.io.database import Database, DatabaseSource
from segmentation.io.sources import purchase_features, transaction_features

CUSTOMERS = 1_000
TX_COLUMNS = "customer_id text, txn_date date, amount numeric(14,2), repayment_date date, due_date date"


def cli_process(*args):
    """The CLI as a real process: (exit code, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "segmentation", *map(str, args)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    return proc.returncode, proc.stdout, proc.stderr


def cli_call(*args):
    """The CLI in this process (imports once; usable in module fixtures): (code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def load_pg(postgres, db: str, frame: pd.DataFrame, table: str = "loans", create: bool = True) -> None:
    """Transactions into PostgreSQL with warehouse types (date, numeric), as psycopg sends them."""
    with postgres.connect(db) as con:
        if create:
            con.execute(f"CREATE TABLE {table} ({TX_COLUMNS})")
        with con.cursor().copy(f"COPY {table} FROM STDIN") as copy:
            for row in frame.itertuples(index=False):
                copy.write_row([None if pd.isna(v) else v for v in row])


def pg_frame(postgres, db: str, sql: str) -> pd.DataFrame:
    with postgres.connect(db) as con:
        cur = con.execute(sql)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("customer_id", ignore_index=True)


@pytest.fixture(scope="module")
def transactions():
    return demo_transactions(CUSTOMERS, seed=11)


@pytest.fixture(scope="module")
def pg_run(postgres, transactions, tmp_path_factory):
    """`run --db URL --table loans` as a real process, and the same data run from a CSV file."""
    db = postgres.create_database()
    load_pg(postgres, db, transactions)
    base = tmp_path_factory.mktemp("pg_run")
    code, out, err = cli_process(
        "run", "--db", postgres.url(db), "--table", "loans", "--out", base / "pg", "--k", "4"
    )
    assert code == 0, err
    transactions.to_csv(base / "tx.csv", index=False)
    code_csv, _, err_csv = cli_call("run", base / "tx.csv", "--out", base / "csv", "--k", "4")
    assert code_csv == 0, err_csv
    return {"db": db, "url": postgres.url(db), "out": base / "pg", "csv": base / "csv", "stdout": out, "stderr": err}


def test_run_from_postgres_equals_run_from_file(pg_run):
    report = json.loads((pg_run["out"] / "cleaning_report.json").read_text())
    assert report["engine"] == "postgresql"  # the feature SQL ran inside the server
    a = pd.read_csv(pg_run["out"] / "customer_segments.csv", dtype={"customer_id": str})
    b = pd.read_csv(pg_run["csv"] / "customer_segments.csv", dtype={"customer_id": str})
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)
    assert "written to postgresql+psycopg://" in pg_run["stdout"]


def test_tables_written_back_with_indexes(postgres, pg_run):
    db = pg_run["db"]
    bundle = Bundle.load(pg_run["out"] / "model")
    for table in ("customer_features", "customer_segments", "segment_profiles"):
        written = pg_frame(postgres, db, f"SELECT * FROM {table}")
        on_disk = pd.read_csv(pg_run["out"] / f"{table}.csv", dtype={"customer_id": str})
        if "customer_id" in written:
            written, on_disk = by_id(written), by_id(on_disk)
        pd.testing.assert_frame_equal(written, on_disk, check_dtype=False, rtol=1e-12)
    indexes = set(pg_frame(postgres, db, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")["indexname"])
    assert {
        "ix_customer_features_customer_id",
        "ix_customer_segments_customer_id",
        "ix_segment_history_customer_id",
    } <= indexes
    history = pg_frame(postgres, db, "SELECT * FROM segment_history")
    assert list(history.columns) == ["customer_id", "segment", "segment_name", "scored_at", "model_version"]
    assert len(history) == CUSTOMERS and set(history["model_version"]) == {bundle.model_version}
    assert not any(t.endswith("__new") for t in pg_frame(postgres, db, "SELECT tablename FROM pg_tables")["tablename"])


def test_credentials_never_printed_or_written(pg_run):
    assert PASSWORD not in pg_run["stdout"] + pg_run["stderr"]
    assert f"{SUPERUSER}:***@" in pg_run["stdout"]
    for path in pg_run["out"].rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_generated_sql_equals_python_for_every_customer(postgres, pg_run, tmp_path):
    code, sql, err = cli_call("sql", "--model", pg_run["out"] / "model", "--table", "customer_features")
    assert code == 0, err
    bundle = Bundle.load(pg_run["out"] / "model")
    features = by_id(pg_frame(postgres, pg_run["db"], "SELECT * FROM customer_features"))
    expected = pd.Series(bundle.predict(features), index=features["customer_id"])
    in_pg = pg_frame(postgres, pg_run["db"], sql).set_index("customer_id")["segment"]
    con = duckdb.connect()
    con.register("customer_features", features)
    in_duckdb = con.execute(sql).df().set_index("customer_id")["segment"]
    assert len(in_pg) == len(in_duckdb) == CUSTOMERS
    assert (in_pg.reindex(expected.index) == expected).all()
    assert (in_duckdb.reindex(expected.index) == expected).all()


# -- re-scoring -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rescored(postgres, transactions, tmp_path_factory):
    """A run, then new rows for some customers (and a new customer), then `score --since`."""
    db = postgres.create_database()
    url = postgres.url(db)
    load_pg(postgres, db, transactions)
    out = tmp_path_factory.mktemp("rescore")
    assert cli_call("run", "--db", url, "--table", "loans", "--out", out, "--k", "4")[0] == 0
    before = by_id(pg_frame(postgres, db, "SELECT * FROM customer_segments"))
    # Twenty customers of the lapsed segment (longest since their last loan) come back with
    # twelve loans in the last weeks, repaid within days; one customer appears for the first time.
    profiles = pg_frame(postgres, db, "SELECT segment, recency_days_mean FROM segment_profiles")
    lapsed = int(profiles.loc[profiles["recency_days_mean"].idxmax(), "segment"])
    last = pd.Timestamp(transactions["txn_date"].max())
    movers = before.loc[before["segment"] == lapsed, "customer_id"].head(20).tolist()

    def day(n):
        return (last - pd.Timedelta(days=n)).strftime("%Y-%m-%d")

    new_rows = pd.DataFrame(
        [(c, day(2 * d + 2), 1_500.0, day(2 * d), day(2 * d - 12)) for c in movers for d in range(12)]
        + [("NEWCOMER", day(0), 500.0, None, None)],
        columns=transactions.columns,
    )
    load_pg(postgres, db, new_rows, create=False)
    since = (last - pd.Timedelta(days=7)).strftime("%Y-%m-%d")
    code, stdout, stderr = cli_call(
        "score", "--db", url, "--table", "loans", "--model", out / "model", "--since", since,
        "--sankey", out / "migration.html",
    )  # fmt: skip
    assert code == 0, stderr
    return {
        "db": db, "url": url, "out": out, "before": before, "movers": movers, "since": since, "lapsed": lapsed,
        "all_rows": pd.concat([transactions, new_rows], ignore_index=True), "stdout": stdout,
    }  # fmt: skip


def test_score_reassigns_customers_with_new_rows(postgres, rescored, tmp_path):
    db, bundle = rescored["db"], Bundle.load(rescored["out"] / "model")
    after = by_id(pg_frame(postgres, db, "SELECT * FROM customer_segments"))
    # Reference: features of the whole new data set computed by DuckDB from a file.
    rescored["all_rows"].to_csv(tmp_path / "all.csv", index=False)
    reference, _ = transaction_features(tmp_path / "all.csv")
    recent = pd.to_datetime(rescored["all_rows"]["txn_date"]) >= rescored["since"]
    recent |= pd.to_datetime(rescored["all_rows"]["repayment_date"]) >= rescored["since"]
    active = set(rescored["all_rows"].loc[recent, "customer_id"])
    assert {"NEWCOMER", *rescored["movers"]} <= active
    assert f"scored {len(active):,} customers with transactions since {rescored['since']}" in rescored["stdout"]
    expected = bundle.assign(reference[reference["customer_id"].isin(active)]).set_index("customer_id")
    got = after.set_index("customer_id")
    pd.testing.assert_frame_equal(got.loc[expected.index], expected, rtol=1e-12, check_dtype=False)
    # Customers without new rows keep their row exactly; the new customer was added.
    untouched = rescored["before"][~rescored["before"]["customer_id"].isin(active)].set_index("customer_id")
    pd.testing.assert_frame_equal(got.loc[untouched.index], untouched)
    assert len(after) == CUSTOMERS + 1
    moved = [c for c in rescored["movers"] if got.loc[c, "segment"] != rescored["lapsed"]]
    assert len(moved) >= 10  # customers who came back left the lapsed segment


def test_history_and_migration_after_score(postgres, rescored):
    db = rescored["db"]
    history = pg_frame(postgres, db, "SELECT * FROM segment_history ORDER BY scored_at, customer_id")
    first, second = sorted(history["scored_at"].unique())
    later = history[history["scored_at"] == second].set_index("customer_id")
    segments = pg_frame(postgres, db, "SELECT customer_id, segment FROM customer_segments").set_index("customer_id")
    before = rescored["before"].set_index("customer_id")["segment"]
    changed = [c for c in segments.index if c not in before.index or before[c] != segments.loc[c, "segment"]]
    assert sorted(later.index) == sorted(changed) and "NEWCOMER" in later.index
    migration = pg_frame(postgres, db, "SELECT * FROM segment_migration")
    assert migration["customers"].sum() == CUSTOMERS + 1
    stay = migration[migration["from_segment"] == migration["to_segment"]]["customers"].sum()
    assert stay == CUSTOMERS - (len(changed) - 1)
    newcomers = migration[migration["from_segment"].isna()]
    assert newcomers["customers"].tolist() == [1] and newcomers["from_name"].tolist() == ["New customers"]
    html = (rescored["out"] / "migration.html").read_text()
    assert "sankey" in html and "New customers" in html


def test_score_twice_changes_nothing(postgres, rescored):
    db = rescored["db"]

    def snapshot():
        return {
            t: pg_frame(postgres, db, f"SELECT * FROM {t}").sort_values(list(keys), ignore_index=True)
            for t, keys in {
                "customer_segments": ["customer_id"],
                "customer_features": ["customer_id"],
                "segment_history": ["scored_at", "customer_id"],
                "segment_migration": ["from_name", "to_name"],
            }.items()
        }

    before = snapshot()
    for extra in (["--since", rescored["since"]], []):  # the same window again, then everyone
        code, out, err = cli_call(
            "score", "--db", rescored["url"], "--table", "loans", "--model", rescored["out"] / "model", *extra
        )
        assert code == 0, err
        assert " 0 new or changed segment" in out
        after = snapshot()
        for table in before:
            pd.testing.assert_frame_equal(after[table], before[table], obj=table)


def test_nothing_new_since_a_date(rescored):
    code, out, err = cli_call(
        "score", "--db", rescored["url"], "--table", "loans", "--model", rescored["out"] / "model",
        "--since", "2099-01-01",
    )  # fmt: skip
    assert code == 0, err
    assert "no customers with transactions since 2099-01-01: nothing to score" in out


# -- errors and credentials ----------------------------------------------------------------------


def test_wrong_password_and_missing_table_exit_2(postgres, pg_run):
    wrong = postgres.url(pg_run["db"], password="not-the-password")
    code, out, err = cli_process("run", "--db", wrong, "--table", "loans", "--out", pg_run["out"].parent / "x")
    assert code == 2 and "Traceback" not in err
    assert err.strip() == (
        f"error: cannot connect to postgresql+psycopg://{SUPERUSER}:***@127.0.0.1:{postgres.port}/{pg_run['db']}: "
        f'password authentication failed for user "{SUPERUSER}"'
    )
    assert "not-the-password" not in out + err
    code, _, err = cli_call(
        "score", "--db", pg_run["url"], "--table", "no_such_table", "--model", pg_run["out"] / "model"
    )
    assert code == 2 and "Traceback" not in err
    assert "cannot read table 'no_such_table' from postgresql+psycopg://" in err
    assert 'relation "no_such_table" does not exist' in err and PASSWORD not in err
    code, _, err = cli_call("run", "--db", pg_run["url"], "--query", "SELEC 1", "--out", pg_run["out"].parent / "y")
    assert code == 2 and "cannot read --query from" in err and 'syntax error at or near' in err


def test_password_from_environment_or_pgpass_file(postgres, pg_run, tmp_path, monkeypatch):
    no_password = postgres.url(pg_run["db"], password=None)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "absent"))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with pytest.raises(Exception, match="password"):
        DatabaseSource(no_password, table="loans").columns()
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    assert "txn_date" in DatabaseSource(no_password, table="loans").columns()
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{postgres.port}:*:{SUPERUSER}:{PASSWORD}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    monkeypatch.setenv("SEGMENTATION_DB_URL", no_password)
    assert "amount" in DatabaseSource(table="loans").columns()  # URL from the environment too


def test_run_from_a_query(postgres, pg_run, tmp_path, transactions):
    query = "SELECT * FROM loans WHERE customer_id <= 'C0000500'"
    code, _, err = cli_call("run", "--db", pg_run["url"], "--query", query, "--out", tmp_path / "q", "--k", "3")
    assert code == 0, err
    segments = pd.read_csv(tmp_path / "q" / "customer_segments.csv", dtype={"customer_id": str})
    assert segments["customer_id"].max() == "C0000500" and len(segments) == 500


def test_replaced_tables_are_never_seen_half_written(postgres, pg_db):
    db = Database(postgres.url(pg_db))
    sizes = [40_000, 70_000, 40_000, 70_000]

    def table(n):
        return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "segment": np.arange(n) % 4})

    db.replace_tables({"customer_segments": table(sizes[0])})
    seen, done = [], threading.Event()

    def reader():
        with postgres.connect(pg_db) as con:
            while not done.is_set():
                seen.append(con.execute("SELECT COUNT(*) FROM customer_segments").fetchone()[0])

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in sizes[1:]:
            db.replace_tables({"customer_segments": table(n)})
    finally:
        done.set()
        thread.join()
    assert set(seen) <= set(sizes) and len(seen) > 3


# -- SQLite and DuckDB files ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_database_files_work_the_same_way(tmp_path, transactions, kind):
    small = transactions[transactions["customer_id"] <= "C0000300"]
    path = tmp_path / f"bank.{kind}"
    Database(f"{kind}:///{path}").replace_tables({"loans": small})
    url = f"{kind}:///{path}"
    code, _, err = cli_call("run", "--db", url, "--table", "loans", "--out", tmp_path / "o", "--k", "3")
    assert code == 0, err
    db = Database(url)
    with db.connect() as con:
        written = by_id(db.read(con, "SELECT * FROM customer_segments"))
    on_disk = by_id(pd.read_csv(tmp_path / "o" / "customer_segments.csv", dtype={"customer_id": str}))
    pd.testing.assert_frame_equal(written, on_disk, check_dtype=False, rtol=1e-12)
    small.to_csv(tmp_path / "small.csv", index=False)
    reference, _ = transaction_features(tmp_path / "small.csv")
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "o" / "customer_features.csv", dtype={"customer_id": str}), reference, rtol=1e-12
    )
    code, out, err = cli_call("score", "--db", url, "--table", "loans", "--model", tmp_path / "o" / "model")
    assert code == 0 and "300 customers in all" in out and " 0 new or changed segment" in out, err


def test_a_model_from_before_loans_per_year_still_scores_its_tables(tmp_path, transactions):
    """A model and tables written before the feature SQL had loans_per_year: `score` writes the
    columns that run wrote (the tables refuse others), rather than failing the daily job."""
    small = transactions[transactions["customer_id"] <= "C0000200"]
    path = tmp_path / "bank.db"
    url = f"sqlite:///{path}"
    Database(url).replace_tables({"loans": small})
    code, _, err = cli_call("run", "--db", url, "--table", "loans", "--out", tmp_path / "o", "--k", "3")
    assert code == 0, err
    # make them as the previous version wrote them
    meta_path = tmp_path / "o" / "model" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["profile_features"].remove("loans_per_year")
    meta_path.write_text(json.dumps(meta))
    with sqlite3.connect(path) as con:
        for table in ("customer_features", "customer_segments"):
            con.execute(f"ALTER TABLE {table} DROP COLUMN loans_per_year")
        before = {t: [r[1] for r in con.execute(f"PRAGMA table_info({t})")] for t in ("customer_features", "customer_segments")}
    code, out, err = cli_call("score", "--db", url, "--table", "loans", "--model", tmp_path / "o" / "model")
    assert code == 0 and "200 customers in all" in out, err
    with sqlite3.connect(path) as con:
        after = {t: [r[1] for r in con.execute(f"PRAGMA table_info({t})")] for t in before}
        rows = con.execute("SELECT COUNT(*) FROM customer_segments").fetchone()[0]
    assert after == before and "loans_per_year" not in after["customer_features"] and rows == 200


def test_missing_database_file_and_unsupported_url(tmp_path, cli):
    code, _, err = cli("run", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--table", "t", "--out", tmp_path / "o")
    assert code == 2 and f"database file not found: {tmp_path / 'none.db'}" in err
    code, _, err = cli("run", "--db", "mysql://u:hunter2@h/db", "--table", "t", "--out", tmp_path / "o")
    assert code == 2 and "mysql is not supported" in err and "hunter2" not in err
    code, _, err = cli("run", "--db", "not a url", "--table", "t", "--out", tmp_path / "o")
    assert code == 2 and "--db is not a database URL" in err
    code, _, err = cli("run", tmp_path / "tx.csv", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--out", tmp_path / "o")
    assert code == 2 and "--db needs --table NAME or --query SQL (or use --out-db" in err


#: Odd text a lender's export holds: valid in other spellings, or bad (each a counted rejection).
ODD_ROWS = [
    ("formats", "2024-1-5", "10", "2024-01-07T10:30:00", ""),
    ("formats", "2024-02-29 23:59:59.123", " 7 ", "", ""),
    ("formats", "2024-03-01", ".5", "2024-03-02 08:00:00+05", ""),
    ("formats", "2024-03-02", "5.", "", "2024-03-10"),
    ("formats", "2024-03-03", "1e5", "", ""),
    ("formats", "2024-03-04", "+3", "", ""),
    ("bad", "2024-02-30", "10", "", ""),
    ("bad", "2023-02-29", "10", "", ""),
    ("bad", "2024-13-01", "10", "", ""),
    ("bad", "31/12/2024", "10", "", ""),
    ("bad", "2024-01-05 25:00:00", "10", "", ""),
    ("bad", "2024-01-05", "12abc", "", ""),
    ("bad", "2024-01-05", "1,5", "", ""),
    ("bad", "2024-01-05", "-5", "", ""),
    ("bad", "2024-01-05", "10", "2024-01-04", ""),
    ("bad", "2024-01-05", "10", "someday", ""),
    ("bad", "2024-01-05", "10", "", "2024-04-31"),
    ("", "2024-01-05", "10", "", ""),
    # numbers that are not finite or too large to add up: set aside with their own reasons
    ("bad", "2024-01-05", "inf", "", ""),
    ("bad", "2024-01-05", "NaN", "", ""),
    ("bad", "2024-01-05", "-Infinity", "", ""),
    ("bad", "2024-01-05", "1e400", "", ""),
    ("bad", "2024-01-05", "9" * 5000, "", ""),
    ("bad", "2024-01-05", "1e20", "", ""),
    # money as written in exports, and an id with a control character (the same customer)
    ("formats", "2024-03-05", "$1,200.50", "", ""),
    ("formats", "2024-03-06", "€ 12", "", ""),
    ("formats\t", "2024-03-07", "3", "", ""),
]


def test_postgres_staging_reads_messy_text_like_duckdb(postgres, pg_db, tmp_path):
    from test_features import EDGE_ROWS

    rows = pd.DataFrame(EDGE_ROWS * 4 + ODD_ROWS, columns=["customer_id", "txn_date", "amount", "repayment_date", "due_date"])
    Database(postgres.url(pg_db)).replace_tables({"raw_loans": rows.replace({"": None})})  # all text columns
    # EDGE_ROWS * 4: three of every four copies are exact duplicates, set aside in both engines.
    options = {"as_of": "2024-04-01", "max_rejected_share": 0.9}
    in_pg, pg_report = transaction_features(DatabaseSource(postgres.url(pg_db), table="raw_loans"), **options)
    rows.to_csv(tmp_path / "raw.csv", index=False)
    in_duckdb, duck_report = transaction_features(tmp_path / "raw.csv", **options)
    assert pg_report.engine == "postgresql"
    pd.testing.assert_frame_equal(in_pg, in_duckdb, rtol=1e-12)
    assert [(r.reason, r.n_rows, r.example) for r in pg_report.rejections] == [
        (r.reason, r.n_rows, r.example) for r in duck_report.rejections
    ]
    assert pg_report.rows_in - pg_report.rows_used == 18 + 3 * len(EDGE_ROWS)
    assert pg_report.rejections[0].reason == "duplicate_row"
    reasons = {r.reason: r.n_rows for r in pg_report.rejections}
    assert reasons["amount_not_finite"] == 3 and reasons["amount_too_large"] == 3
    assert reasons["customer_id_control_chars"] == 1
    assert in_pg.set_index("customer_id").loc["formats", "txn_count"] == 9


@pytest.mark.parametrize("command", ["score", "sql"])
def test_help_of_the_database_commands(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0 and f"usage: segmentation {command}" in capsys.readouterr().out


def test_postgres_column_types_give_the_same_features(postgres, pg_db, tmp_path):
    from test_features import EDGE_ROWS

    rows = pd.DataFrame(EDGE_ROWS * 3, columns=["customer_id", "txn_date", "amount", "repayment_date", "due_date"])
    rows.to_csv(tmp_path / "edge.csv", index=False)
    # The copies are meant as repeat loans here, not double entries.
    options = {"as_of": "2024-04-01", "keep_duplicate_rows": True}
    expected, _ = transaction_features(tmp_path / "edge.csv", **options)
    types = "customer_id varchar(20), txn_date timestamptz, amount double precision, repayment_date timestamp, due_date varchar"
    with postgres.connect(pg_db) as con:
        con.execute(f"CREATE TABLE typed_loans ({types})")
        with con.cursor().copy("COPY typed_loans FROM STDIN") as copy:
            for row in rows.replace({"": None}).itertuples(index=False):
                copy.write_row(row)
        con.execute("CREATE TABLE int_dates AS SELECT customer_id, 20240105 AS txn_date, amount FROM typed_loans")
    got, report = transaction_features(DatabaseSource(postgres.url(pg_db), table="typed_loans"), **options)
    pd.testing.assert_frame_equal(got, expected, rtol=1e-12)
    with pytest.raises(InputError, match=r"no usable rows: 9 of 30 rows: txn_date is not a date, e.g. '20240105'; 21 of 30 rows are exact copies"):
        transaction_features(DatabaseSource(postgres.url(pg_db), table="int_dates"))


def test_loans_per_year_is_the_same_in_duckdb_sqlite_and_postgres(postgres, pg_db, tmp_path):
    """The feature SQL's one float column computed from a CASE (SQLite has no GREATEST) gives
    the same bits in every engine, and a tenure under 30 days counts as 30."""
    from test_features import EDGE_ROWS

    columns = ["customer_id", "txn_date", "amount", "repayment_date", "due_date"]
    # two new customers: 3 loans in 9 days and 2 on their very first day (tenure 0)
    rows = pd.DataFrame(EDGE_ROWS + [("new", "2024-03-23", "90", "", ""), ("new", "2024-03-27", "90", "", ""),
                                     ("new", "2024-04-01", "90", "", ""), ("today", "2024-04-01", "40", "", ""),
                                     ("today", "2024-04-01", "60", "", "")], columns=columns).replace({"": None})
    urls = {"postgresql": postgres.url(pg_db), "sqlite": f"sqlite:///{tmp_path / 'l.db'}",
            "duckdb": f"duckdb:///{tmp_path / 'l.duckdb'}"}
    per_engine = {}
    for engine, url in urls.items():
        Database(url).replace_tables({"loans": rows})
        features, report = transaction_features(DatabaseSource(url, table="loans"), as_of="2024-04-01")
        assert report.engine == engine
        per_engine[engine] = features.set_index("customer_id")
    rate = {engine: f["loans_per_year"] for engine, f in per_engine.items()}
    pd.testing.assert_series_equal(rate["sqlite"], rate["duckdb"], rtol=0, atol=0)
    pd.testing.assert_series_equal(rate["postgresql"], rate["duckdb"], rtol=0, atol=0)
    f = per_engine["duckdb"]
    assert f.loc["new", "tenure_days"] == 9 and f.loc["today", "tenure_days"] == 0
    assert f.loc["new", "loans_per_year"] == 3 / (30 / 365)
    assert f.loc["today", "loans_per_year"] == 2 / (30 / 365)
    assert f.loc["single", "loans_per_year"] == 1 / (82 / 365)  # 82 days: its own tenure
    assert (f["loans_per_year"] == f["txn_count"] / (f["tenure_days"].clip(lower=30) / 365)).all()


def test_score_and_assign_read_new_data_as_the_model_was_trained(tmp_path, transactions):
    """Outlier caps, kept duplicate rows and the late-after days are the model's: scoring the
    training data again changes nothing, and assign gives the run's segments and features."""
    small = transactions[transactions["customer_id"] <= "C0000400"]
    small = pd.concat([small, small.head(30)], ignore_index=True)  # repeat loans, kept on purpose
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    Database(url).replace_tables({"loans": small})
    options = ["--cap-outliers", "90", "--keep-duplicate-rows", "--late-after-days", "20", "--k", "3"]
    code, _, err = cli_call("run", "--db", url, "--table", "loans", "--out", tmp_path / "o", *options)
    assert code == 0, err
    settings = json.loads((tmp_path / "o" / "model" / "metadata.json").read_text())["load_options"]
    assert settings["keep_duplicate_rows"] is True and settings["late_after_days"] == 20
    assert set(settings["caps"]) == {"txn_count", "avg_txn_amount", "total_amount", "avg_repayment_days",
                                     "late_share", "recency_days"}
    run_segments = by_id(pd.read_csv(tmp_path / "o" / "customer_segments.csv", dtype={"customer_id": str}))
    assert run_segments["txn_count"].max() == settings["caps"]["txn_count"][1]  # capped in the run

    code, out, err = cli_call("score", "--db", url, "--table", "loans", "--model", tmp_path / "o" / "model")
    assert code == 0 and " 0 new or changed segment" in out, err + out
    assert "capped to" in err and "model's caps" in err
    db = Database(url)
    with db.connect() as con:
        scored = by_id(db.read(con, "SELECT * FROM customer_segments"))
    pd.testing.assert_frame_equal(scored, run_segments, check_dtype=False, rtol=1e-12)

    small.to_csv(tmp_path / "loans.csv", index=False)
    code, _, err = cli_call("assign", tmp_path / "loans.csv", "--model", tmp_path / "o" / "model",
                            "--out", tmp_path / "assigned.csv")
    assert code == 0, err
    assigned = by_id(pd.read_csv(tmp_path / "assigned.csv", dtype={"customer_id": str}))
    pd.testing.assert_frame_equal(assigned[run_segments.columns], run_segments, check_dtype=False, rtol=1e-12)
    # without the model's settings the same file reads differently: the test can fail
    uncapped, _ = transaction_features(tmp_path / "loans.csv")
    assert (by_id(uncapped)["txn_count"].to_numpy() != run_segments["txn_count"].to_numpy()).any()


def test_a_purchase_log_model_rescores_recent_customers(tmp_path):
    from segmentation.demo import demo_purchases

    log = demo_purchases(300, seed=3)
    url = f"duckdb:///{tmp_path / 'shop.duckdb'}"
    Database(url).replace_tables({"orders": log})
    code, _, err = cli_call("run", "--db", url, "--table", "orders", "--out", tmp_path / "o")
    assert code == 0 and "feature set: purchases" in err, err
    last = pd.to_datetime(log["order_date"]).max()
    recent = log.loc[pd.to_datetime(log["order_date"]) >= last - pd.Timedelta(days=10), "customer_id"].nunique()
    since = (last - pd.Timedelta(days=10)).date().isoformat()
    code, out, err = cli_call("score", "--db", url, "--table", "orders", "--model", tmp_path / "o" / "model",
                              "--since", since)
    assert code == 0 and f"scored {recent:,} customers with transactions since {since}" in out, err + out
    assert " 0 new or changed segment" in out


def test_purchase_log_features_inside_postgres_equal_duckdb(postgres, pg_db, tmp_path):
    from segmentation.demo import demo_purchases

    log = demo_purchases(200, seed=4)
    log.to_csv(tmp_path / "orders.csv", index=False)
    Database(postgres.url(pg_db)).replace_tables({"orders": log})  # typed columns: date, bigint, float
    in_pg, report = purchase_features(DatabaseSource(postgres.url(pg_db), table="orders"))
    expected, _ = purchase_features(tmp_path / "orders.csv")
    assert report.engine == "postgresql" and report.rows_in == len(log)
    pd.testing.assert_frame_equal(in_pg, expected, check_dtype=False, rtol=1e-12)


def test_since_on_a_customer_table_is_one_clear_line(tmp_path, demo_run):
    features = pd.read_csv(demo_run / "customer_features.csv", dtype={"customer_id": str})
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    Database(url).replace_tables({"customers": features})
    code, _, err = cli_call("score", "--db", url, "--table", "customers", "--model", demo_run / "model",
                            "--since", "2026-01-01")
    assert code == 2 and "--since needs a log of transactions or purchases; a customer table is re-scored whole" in err
    code, out, err = cli_call("score", "--db", url, "--table", "customers", "--model", demo_run / "model")
    # the run's own customer features, scored with its model: every customer, no refit
    assert code == 0 and f"scored {len(features):,} customers in all" in out, err
