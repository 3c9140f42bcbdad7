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
        "features, whole process (CSV in, CSV out)",
        "CLI start-up (whole process)",
        "segmentation run end to end (whole process)",
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
    # the load group: gunicorn started, users replayed real callbacks, none failed
    load = next(r for r in rows if r.startswith("| dashboard under load"))
    assert "2,000 customers, 3 users" in load and "filter change p95" in load and "rows p50" in load
    assert "export p50" in load and "; errors 0 of " in load
    # the k-recovery group: its rules against the planted k, per dataset its chosen k and ARI
    assert any(line.startswith("| the product's rule | ") for line in lines)
    assert any(line.startswith("| 06-table-k4 | tune | table |") for line in lines)
    spark = next(r for r in rows if r.startswith("| run --spark"))
    if importlib.util.find_spec("pyspark") and shutil.which("java"):
        assert "same segments as DuckDB's run: True" in spark and "customers scored inside Spark" in spark
    elif os.environ.get("CI") == "true":
        pytest.fail("the Spark benchmark needs PySpark and Java in CI")


def test_the_peer_scripts_compute_our_features(tmp_path):
    """The pandas, polars and DuckDB scripts the benchmark times against compute the same numbers
    as `segmentation features` on the demo data (they check nothing; ours does)."""
    import numpy as np
    import pandas as pd

    from benchmarks.features_cli import WAYS, make_inputs, timed

    outputs = {}
    for label, src in make_inputs(tmp_path, 3_000).items():
        for way, cmd in WAYS.items():
            out = tmp_path / f"{way}-{label}.csv".replace(" ", "_")
            seconds, peak = timed(cmd(str(src), str(out)))
            assert seconds > 0 and peak > 10  # a peak in MB of the process itself
            outputs[way, label] = pd.read_csv(out, dtype={"customer_id": str}).set_index("customer_id").sort_index()
    for (way, label), got in outputs.items():
        ours = outputs["segmentation features", label]
        assert list(got.index) == list(ours.index), way
        for column in got.columns:
            assert np.allclose(got[column], ours[column], rtol=1e-9, equal_nan=True), (way, label, column)
