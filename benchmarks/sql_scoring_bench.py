"""Scoring N customers: the compiled SQL inside DuckDB against Python's predict.

    python benchmarks/sql_scoring_bench.py --customers 1000000

Makes N demo customers (transactions -> features with the feature SQL), fits a model on a
sample of them, then assigns all N three ways and checks the SQL agrees with Python on every
row:

- ``Bundle.predict``: what every surface uses (same arithmetic as the SQL);
- scikit-learn's ``Pipeline.predict``, for reference;
- the SELECT from ``segmentation sql``, run inside DuckDB into a table (no Python per row).

Prints the best of ``--repeat`` timings of each. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
import time

import duckdb
import numpy as np

from segmentation import Dataset, fit_bundle
from segmentation.demo import write_demo
from segmentation.io.sources import transaction_features
from segmentation.outputs.sql import scoring_sql
from segmentation.shapes import TRANSACTION_MODEL_FEATURES


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def bench(customers: int, workdir: str = "/tmp", fit_sample: int = 50_000, repeat: int = 3, seed: int = 0) -> dict:
    """Seconds of the three assignments of ``customers`` demo customers, and whether they agree."""
    start = time.perf_counter()
    path = write_demo(f"{workdir}/sql_scoring_bench_{customers}.parquet", customers, seed)
    features, _ = transaction_features(path)
    prepared = time.perf_counter() - start
    sample = features.sample(min(fit_sample, len(features)), random_state=seed)
    dataset = Dataset(sample, "transactions", TRANSACTION_MODEL_FEATURES)
    bundle = fit_bundle(dataset, k=4, random_state=seed)

    con = duckdb.connect()
    con.execute("CREATE TABLE customer_features AS SELECT * FROM features")
    sql = scoring_sql(bundle.scoring, "customer_features")

    t_python, python = timed(lambda: bundle.predict(features), repeat)
    t_sklearn, sklearn = timed(lambda: bundle.pipeline.predict(features[bundle.features]), repeat)
    t_sql, _ = timed(lambda: con.execute(f"CREATE OR REPLACE TABLE scored AS {sql}"), repeat)
    in_sql = con.execute("SELECT customer_id, segment FROM scored").df()
    in_sql = in_sql.set_index("customer_id")["segment"].reindex(features["customer_id"]).to_numpy()
    return {
        "customers": len(features),
        "prepared_s": prepared,
        "k": bundle.metadata["k"],
        "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
        "sql_s": t_sql,
        "python_s": t_python,
        "sklearn_s": t_sklearn,
        "same": bool(np.array_equal(in_sql, python)),
        "sklearn_differs": int((sklearn != python).sum()),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000, help="N (100 to 1,000,000)")
    parser.add_argument("--fit-sample", type=int, default=50_000, help="customers the model is fit on")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default="/tmp", help="where the demo transactions file goes")
    args = parser.parse_args(argv)
    r = bench(args.customers, args.workdir, args.fit_sample, args.repeat, args.seed)
    n = r["customers"]
    print(f"{n:,} customers ({r['prepared_s']:.1f} s to make them and their features), "
          f"k={r['k']}, DuckDB threads: {r['threads']}")
    print(f"{'method':<40} {'seconds':>8} {'customers/s':>13}")
    for name, seconds in (
        ("SQL in DuckDB (CREATE TABLE AS SELECT)", r["sql_s"]),
        ("Python Bundle.predict", r["python_s"]),
        ("scikit-learn Pipeline.predict", r["sklearn_s"]),
    ):
        print(f"{name:<40} {seconds:>8.2f} {n / seconds:>13,.0f}")
    print(f"SQL equals Bundle.predict on every row: {'yes' if r['same'] else 'NO'}")
    print(f"scikit-learn's predict differs from them on {r['sklearn_differs']:,} rows (near-ties; see sql_scoring.py)")
    return 0 if r["same"] else 1


if __name__ == "__main__":
    sys.exit(main())
