"""Overlapping jobs: `score` (and `run --db`) started at the same moment against one database,
as overlapping cron jobs do, serialise their writes and duplicate nothing; one that waits says
so. Real processes against a real PostgreSQL server, SQLite and DuckDB files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from segmentation.cli import main
from segmentation.demo import demo_transactions
from segmentation.io.database import WAITING, Database

CUSTOMERS = 4_000  # enough rows that the write transactions of processes started together overlap
FIRST = 3_000  # customers of the run; the scoring adds the others as new customers
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def transactions():
    return demo_transactions(CUSTOMERS, seed=5)


def prepared(url: str, transactions: pd.DataFrame, out: Path) -> Path:
    """A database with a run of the first customers published, and the loans of all of them."""
    first = transactions[transactions["customer_id"] <= f"C{FIRST:07d}"]
    Database(url).replace_tables({"loans_first": first, "loans": transactions})
    assert main(["run", "--db", url, "--table", "loans_first", "--out", str(out), "--k", "3",
                 "--no-transactions-table"]) == 0
    return out / "model"


def score_process(url: str, model: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "segmentation", "score", "--db", url, "--table", "loans", "--model", str(model)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env,
    )


def assert_no_duplicates(url: str) -> None:
    db = Database(url)
    with db.connect() as con:
        for table in ("customer_features", "customer_segments"):
            rows, customers = db.read(con, f"SELECT COUNT(*) AS n, COUNT(DISTINCT customer_id) AS d FROM {table}").iloc[0]
            assert rows == customers == CUSTOMERS, f"{table}: {rows} rows for {customers} customers"
        history = db.read(con, "SELECT customer_id, model_version FROM segment_history")
    # scoring the same loans gives the same segments: every customer is in the history once
    assert len(history) == CUSTOMERS and not history.duplicated().any()


def database_url(kind: str, tmp_path: Path, request) -> str:
    if kind == "postgresql":
        postgres = request.getfixturevalue("postgres")
        return postgres.url(postgres.create_database())
    return f"{kind}:///{tmp_path / f'bank.{kind}'}"


@pytest.mark.parametrize("kind", ["postgresql", "sqlite", "duckdb"])
@pytest.mark.parametrize("processes", [2, 3])
def test_scorings_started_together_duplicate_nothing(tmp_path, transactions, request, kind, processes):
    url = database_url(kind, tmp_path, request)
    model = prepared(url, transactions, tmp_path / "run")
    jobs = [score_process(url, model) for _ in range(processes)]
    results = [(job.wait(timeout=300), *job.communicate()) for job in jobs]
    for code, out, err in results:
        assert code == 0, err
        assert f"scored {CUSTOMERS:,} customers in all" in out
    assert sum(f"{CUSTOMERS - FIRST:,} new or changed segment" in out for _, out, _ in results) == 1
    assert_no_duplicates(url)


@pytest.mark.parametrize("kind", ["postgresql", "sqlite", "duckdb"])
def test_a_scoring_that_waits_says_so_and_goes_on(tmp_path, transactions, request, kind):
    url = database_url(kind, tmp_path, request)
    model = prepared(url, transactions, tmp_path / "run")
    db = Database(url)
    with db.connect(write=True):  # another job's write transaction, held open
        job = score_process(url, model)
        deadline = time.monotonic() + 120
        line = ""
        while WAITING not in line and time.monotonic() < deadline and job.poll() is None:
            line = job.stderr.readline()
        assert WAITING in line, job.stderr.read()
        time.sleep(0.5)
        assert job.poll() is None  # still waiting while the other write is open
    out, err = job.communicate(timeout=300)
    assert job.returncode == 0, err
    assert f"{CUSTOMERS - FIRST:,} new or changed segment" in out
    assert_no_duplicates(url)
