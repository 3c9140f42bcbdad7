"""The benchmark harness runs end to end at tiny sizes (CI's smoke run; no timing asserted)."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

from benchmarks.harness import main


def test_smoke_benchmarks_write_a_table(tmp_path):
    out = tmp_path / "results.md"
    assert main(["--smoke", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("Machine: ") and "cores" in lines[0]
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| what")]
    whats = {row.split("|")[1].strip() for row in rows}
    assert {
        "features from CSV (DuckDB)",
        "fit, automatic k 2-10",
        "TabPy segment_assign, /evaluate end to end",
        "assign in SQL (DuckDB, `segmentation sql`)",
        "dashboard filter change (server)",
    } <= whats
    fit, extrapolated = [r for r in rows if r.startswith("| fit")]
    assert "same k: True" in fit  # the usual way and ours agree on the demo data
    assert "extrapolated from 1,000 and 2,000 rows" in extrapolated and "ARI" in extrapolated
    assert "4,000 customers" in extrapolated
    scoring = next(r for r in rows if r.startswith("| assign in SQL"))
    assert "same segment as Python on all 2,000 rows: True" in scoring
    spark = next(r for r in rows if r.startswith("| run --spark"))
    if importlib.util.find_spec("pyspark") and shutil.which("java"):
        assert "same segments as DuckDB's run: True" in spark and "customers scored inside Spark" in spark
    elif os.environ.get("CI") == "true":
        pytest.fail("the Spark benchmark needs PySpark and Java in CI")
