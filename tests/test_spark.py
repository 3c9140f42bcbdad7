"""Spark as an engine, in local mode: the same features as DuckDB on messy logs, the same segment
as Python on every row (ties included), run and score end to end on Parquet.

One SparkSession (local[2], UI off, two shuffle partitions, 127.0.0.1 only) for the module;
without Java or PySpark these tests skip, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segmentation import fit_bundle, load_dataset
from segmentation.book.bundle import Bundle
from segmentation.demo import demo_purchases, demo_transactions
from segmentation.errors import InputError
from segmentation.io.sources import purchase_features, transaction_features
from segmentation.outputs.sql import scoring_sql

from services import missing

COLUMNS = ["customer_id", "txn_date", "amount", "repayment_date", "due_date"]


@pytest.fixture(scope="session")
def spark():
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        missing("PySpark", "pip install .[spark]; `make test` installs requirements-dev.txt")
    if shutil.which("java") is None:
        missing("Java", "apt-get install openjdk-17-jre-headless; `make test` does it")
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    session = (
        SparkSession.builder.master("local[2]")
        .appName("segmentation-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def spark_source(path, **kwargs):
    from segmentation.io.spark import SparkSource

    return SparkSource(path=str(path), **kwargs)


def same_report(a, b) -> None:
    assert (a.rows_in, a.rows_used) == (b.rows_in, b.rows_used)
    assert [(r.reason, r.n_rows, r.example) for r in a.rejections] == [
        (r.reason, r.n_rows, r.example) for r in b.rejections
    ]


# -- features ---------------------------------------------------------------------------------


def test_messy_transactions_give_duckdbs_features_and_rejections(spark, tmp_path):
    from test_database import ODD_ROWS
    from test_features import EDGE_ROWS

    # EDGE_ROWS: one-row customers, open loans (overdue or not), due dates, same-day repayments;
    # * 4: three of every four copies are exact duplicates; ODD_ROWS: other spellings and bad values.
    rows = pd.DataFrame(EDGE_ROWS * 4 + ODD_ROWS, columns=COLUMNS)
    rows.to_csv(tmp_path / "raw.csv", index=False)
    options = {"as_of": "2024-04-01", "max_rejected_share": 0.9}
    expected, duck = transaction_features(tmp_path / "raw.csv", **options)
    got, report = transaction_features(spark_source(tmp_path / "raw.csv"), **options)
    assert report.engine == "spark"
    pd.testing.assert_frame_equal(got, expected, rtol=1e-12)
    same_report(report, duck)
    assert report.rows_in - report.rows_used == 18 + 3 * len(EDGE_ROWS)
    assert {"duplicate_row", "txn_date_invalid", "amount_invalid", "due_date_invalid", "amount_not_finite",
            "amount_too_large", "customer_id_control_chars"} <= {r.reason for r in report.rejections}
    # the default reference day too, and duplicates kept on request
    kept, _ = transaction_features(spark_source(tmp_path / "raw.csv"), keep_duplicate_rows=True, max_rejected_share=0.9)
    kept_duck, _ = transaction_features(tmp_path / "raw.csv", keep_duplicate_rows=True, max_rejected_share=0.9)
    pd.testing.assert_frame_equal(kept, kept_duck, rtol=1e-12)


def test_typed_parquet_and_a_glob_of_csv_files(spark, tmp_path, demo_frame):
    log = demo_frame.drop(columns="group")
    log.to_parquet(tmp_path / "log.parquet")  # dates as timestamps, amounts as doubles
    expected, duck = transaction_features(tmp_path / "log.parquet")
    got, report = transaction_features(spark_source(tmp_path / "log.parquet"))
    pd.testing.assert_frame_equal(got, expected, rtol=1e-12)
    same_report(report, duck)
    parts = tmp_path / "parts"
    parts.mkdir()
    text = log.astype(str).replace({"NaT": ""})
    for i in range(3):
        text.iloc[i::3].to_csv(parts / f"part-{i}.csv", index=False)
    from_glob, _ = transaction_features(spark_source(parts / "*.csv"))
    pd.testing.assert_frame_equal(from_glob, expected, rtol=1e-12)


def test_purchase_logs_give_duckdbs_features(spark, tmp_path):
    log = demo_purchases(300, seed=4)
    messy = pd.concat(
        [
            log.astype(str),
            log.head(5).astype(str),  # exact duplicates
            pd.DataFrame(
                [
                    ("P-one", "2026-01-05", "12.5"),  # a one-purchase customer
                    ("P-bad", "2026-02-30", "10"),
                    ("P-bad", "2026-01-05", "ten"),
                    ("", "2026-01-05", "10"),
                ],
                columns=log.columns[:3],
            ),
        ],
        ignore_index=True,
    )
    messy.to_csv(tmp_path / "orders.csv", index=False)
    log.to_parquet(tmp_path / "orders.parquet")
    for path in (tmp_path / "orders.csv", tmp_path / "orders.parquet"):
        expected, duck = purchase_features(path)
        got, report = purchase_features(spark_source(path))
        pd.testing.assert_frame_equal(got, expected, rtol=1e-12)
        same_report(report, duck)
    assert "P-one" in set(got["customer_id"]) or path.suffix == ".parquet"


def test_conversions_keep_nulls_ids_and_integers(spark, tmp_path):
    """The pandas conversions PySpark calls not fully supported with pandas 3, checked."""
    from segmentation.io.spark import _to_pandas, _to_spark

    frame = pd.DataFrame(
        {"customer_id": ["007", "a b", "é"], "n": [1, 2, 3], "x": [0.1, None, 2.5], "s": ["p", None, "q"]}
    )
    back = _to_pandas(_to_spark(spark, frame))
    assert back["customer_id"].tolist() == ["007", "a b", "é"]
    assert back["n"].tolist() == [1, 2, 3] and pd.isna(back["x"][1]) and back["x"][2] == 2.5
    assert pd.isna(back["s"][1])


# -- scoring ----------------------------------------------------------------------------------


def score_in_spark(spark, frame: pd.DataFrame, params) -> np.ndarray:
    """``frame`` as a Spark view (missing values as SQL nulls), the compiled model run on it."""
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    schema = StructType(
        [StructField("customer_id", StringType())] + [StructField(f, DoubleType()) for f in params.features]
    )
    rows = [
        (row[0], *(None if pd.isna(v) else float(v) for v in row[1:]))
        for row in frame[["customer_id", *params.features]].itertuples(index=False)
    ]
    spark.createDataFrame(rows, schema).createOrReplaceTempView("features_to_score")
    out = spark.sql(scoring_sql(params, "features_to_score", float_type="DOUBLE")).toPandas()
    return out.set_index("customer_id")["segment"].reindex(frame["customer_id"]).to_numpy()


@pytest.fixture(scope="module")
def demo_bundle(demo_frame):
    dataset = load_dataset(demo_frame.drop(columns="group"))
    return fit_bundle(dataset, k=4), dataset.customers


def test_every_customer_and_exact_ties_as_in_python(spark, demo_bundle):
    from test_sql_scoring import grid_rows, hand_made

    bundle, customers = demo_bundle
    assert score_in_spark(spark, customers, bundle.scoring).tolist() == bundle.predict(customers).tolist()
    params, grid = hand_made(), grid_rows()
    nearest = np.sort(params.distances(grid), axis=1)
    assert (nearest[:, 0] == nearest[:, 1]).sum() >= 20  # exact ties: the lowest id in both
    assert score_in_spark(spark, grid, params).tolist() == params.predict(grid).tolist()


def test_near_ties_differ_only_in_the_last_bits(spark, demo_bundle):
    """Java's LN (fdlibm) and C's log can differ in the last bit: a customer may then flip only
    when their two nearest centroids are equally far to about 13 significant digits."""
    from test_sql_scoring import near_tie_rows

    bundle, _ = demo_bundle
    frame = near_tie_rows(bundle.scoring, n=400, seed=2)
    got, expected = score_in_spark(spark, frame, bundle.scoring), bundle.predict(frame)
    d = np.sort(bundle.scoring.distances(frame), axis=1)
    gap = (d[:, 1] - d[:, 0]) / d[:, 1]
    assert np.median(gap) < 1e-12  # near-ties indeed
    flipped = got != expected
    assert (gap[flipped] < 1e-13).all(), gap[flipped]
    assert flipped.mean() < 0.5


# -- run and score end to end -----------------------------------------------------------------


def read_parquet_table(path: Path) -> pd.DataFrame:
    import pyarrow.dataset as ds

    return ds.dataset(path, format="parquet", partitioning="hive").to_table().to_pandas()


@pytest.fixture(scope="module")
def spark_run(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_run")
    log = demo_transactions(400, seed=11)
    log.to_parquet(root / "loans.parquet")
    return root, log


def test_run_and_score_end_to_end_on_parquet(spark, spark_run, cli):
    root, log = spark_run
    code, out, err = cli("run", root / "loans.parquet", "--out", root / "local")
    assert code == 0, err
    code, out, err = cli("run", "--spark", root / "loans.parquet", "--out", root / "sp")
    assert code == 0, err
    assert "every customer (400) fitted on the driver" in out
    assert f"400 customers scored inside Spark; customer_segments, segment_profiles, segment_history written to {root / 'sp'}/tables/" in out
    local = pd.read_csv(root / "local" / "customer_segments.csv", dtype={"customer_id": str})
    ours = pd.read_csv(root / "sp" / "customer_segments.csv", dtype={"customer_id": str})
    pd.testing.assert_frame_equal(ours, local, rtol=1e-12)  # the same segments as a run on the file

    tables = root / "sp" / "tables"
    spark_segments = read_parquet_table(tables / "customer_segments").set_index("customer_id").sort_index()
    assert len(spark_segments) == 400
    assert {p.name for p in (tables / "customer_segments").iterdir() if p.is_dir()} == {
        f"segment={s}" for s in local["segment"].unique()
    }
    assert (spark_segments["segment"].astype(int) == local.set_index("customer_id")["segment"]).all()
    assert (spark_segments["segment_name"] == local.set_index("customer_id")["segment_name"]).all()
    profiles = read_parquet_table(tables / "segment_profiles")
    assert profiles["segment_name"].tolist() == pd.read_csv(root / "sp" / "segment_profiles.csv")["segment_name"].tolist()
    history = read_parquet_table(tables / "segment_history")
    assert len(history) == 400 and history["model_version"].nunique() == 1
    assert not [p for p in tables.rglob("*") if p.name.startswith("_") and p.is_dir()]  # no temp folder left

    # New loans for some customers: they are re-scored inside Spark, the history grows by the movers.
    later = log.copy()
    extra = log[log["customer_id"].isin(log["customer_id"].unique()[:60])].copy()
    extra["txn_date"] = pd.Timestamp("2026-11-20")
    extra["repayment_date"] = pd.NaT
    extra["amount"] = extra["amount"] * 20
    later = pd.concat([later, extra], ignore_index=True)
    dates = ["txn_date", "repayment_date"]
    later[dates] = later[dates].astype("datetime64[us]")  # Spark reads no nanosecond timestamps
    later.to_parquet(root / "later.parquet")
    code, out, err = cli("score", "--spark", root / "later.parquet", "--model", root / "sp" / "model")
    assert code == 0, err
    after = read_parquet_table(tables / "customer_segments").set_index("customer_id").sort_index()
    bundle = Bundle.load(root / "sp" / "model")
    dataset = load_dataset(root / "later.parquet", bundle.load_options())
    expected = bundle.assign(dataset.customers).set_index("customer_id").sort_index()
    assert (after["segment"].astype(int) == expected["segment"]).all()  # every customer as Python
    history = read_parquet_table(tables / "segment_history")
    moved = int((after["segment"] != spark_segments["segment"]).sum())
    assert moved > 0 and len(history) == 400 + moved
    assert f"scored 400 customers in all with model {bundle.model_version}: {moved:,} new or changed segment" in out
    assert "->" in out  # the moves, from segment to segment

    code, out, err = cli("score", "--spark", root / "later.parquet", "--model", root / "sp" / "model")
    assert code == 0 and ": 0 new or changed segment" in out, err
    assert len(read_parquet_table(tables / "segment_history")) == 400 + moved


def test_fit_on_a_sample_when_the_driver_holds_fewer(spark, spark_run, tmp_path):
    from segmentation.jobs import run

    root, _ = spark_run
    result = run(spark_source(root / "loans.parquet", driver_customers=150), tmp_path / "out", fit=None)
    assert len(result.dataset.customers) == 150
    assert any("fitted on 150 of 400 customers, drawn inside Spark" in n for n in result.dataset.notices)
    assert result.tables.customers == 400
    segments = read_parquet_table(Path(result.tables.folder) / "customer_segments")
    assert len(segments) == 400  # every customer scored, not only the sample
    features = segments.drop(columns=["segment", "segment_name", "recommended_action"])
    assert (segments["segment"].astype(int).to_numpy() == result.bundle.predict(features)).all()
    again = run(spark_source(root / "loans.parquet", driver_customers=150), tmp_path / "again")
    assert sorted(again.dataset.customers["customer_id"]) == sorted(result.dataset.customers["customer_id"])


def test_a_failed_write_leaves_the_old_table(spark, tmp_path):
    from pyspark.errors import PySparkException

    from segmentation.io.spark import _Folder

    folder = _Folder(spark, str(tmp_path))
    folder.replace("t", spark.sql("SELECT id FROM range(10)").write)
    broken = spark.sql("SELECT IF(id < 5, id, raise_error('disk full')) AS id FROM range(10)")
    with pytest.raises(PySparkException):
        folder.replace("t", broken.write)
    assert sorted(read_parquet_table(tmp_path / "t")["id"]) == list(range(10))
    folder.replace("t", spark.sql("SELECT id FROM range(3)").write)
    assert sorted(read_parquet_table(tmp_path / "t")["id"]) == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("_")] == ["t"]


def test_bad_spark_input_is_one_line_and_exit_2(spark, tmp_path, cli):
    code, _, err = cli("run", "--spark", tmp_path / "nope.parquet", "--out", tmp_path / "o")
    assert code == 2 and "Spark cannot read" in err and "no such file or folder" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = cli("run", "--spark", "--out", tmp_path / "o")
    assert code == 2 and "--spark needs a PATH" in err
    code, _, err = cli("run", "--spark", "--table", "no_such_table", "--out", tmp_path / "o")
    assert code == 2 and "no such table" in err
    with pytest.raises(InputError, match="--spark reads Parquet or CSV, not XLSX"):
        transaction_features(spark_source(tmp_path / "book.xlsx"))


def test_a_spark_table(spark, spark_run, tmp_path, cli):
    root, _ = spark_run
    spark.read.parquet(str(root / "loans.parquet")).createOrReplaceTempView("lake_loans")
    code, out, err = cli("run", "--spark", "--table", "lake_loans", "--out", tmp_path / "o", "--k", "3")
    assert code == 0, err
    assert "400 customers scored inside Spark" in out


def test_a_local_session_gets_shuffle_partitions_for_its_cores_and_the_users_setting_wins():
    from segmentation.io.spark import LOCAL_PARTITIONS_PER_CORE, session_conf

    per_core = LOCAL_PARTITIONS_PER_CORE
    assert session_conf("local[3]")["spark.sql.shuffle.partitions"] == str(3 * per_core)
    assert session_conf("local[2,4]")["spark.sql.shuffle.partitions"] == str(2 * per_core)
    assert session_conf(None)["spark.sql.shuffle.partitions"] == str((os.cpu_count() or 1) * per_core)
    assert session_conf("local[*]") == session_conf(None)
    mine = {"spark.sql.shuffle.partitions": "64", "spark.driver.memory": "4g"}
    assert session_conf("local[2]", mine) == mine
    # a cluster's master keeps Spark's (or spark-defaults.conf's) setting
    assert session_conf("spark://head:7077", {"spark.driver.memory": "4g"}) == {"spark.driver.memory": "4g"}
