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

from segmentation.demo import write_demo
from segmentation.features import transaction_features
from segmentation.pipeline import TRANSACTION_MODEL_FEATURES, Dataset, fit_bundle
from segmentation.sql_scoring import scoring_sql


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000, help="N (100 to 1,000,000)")
    parser.add_argument("--fit-sample", type=int, default=50_000, help="customers the model is fit on")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default="/tmp", help="where the demo transactions file goes")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    path = write_demo(f"{args.workdir}/sql_scoring_bench_{args.customers}.parquet", args.customers, args.seed)
    features, _ = transaction_features(path)
    prepared = time.perf_counter() - start
    sample = features.sample(min(args.fit_sample, len(features)), random_state=args.seed)
    dataset = Dataset(sample, "transactions", TRANSACTION_MODEL_FEATURES)
    bundle = fit_bundle(dataset, k=4, random_state=args.seed)

    con = duckdb.connect()
    con.execute("CREATE TABLE customer_features AS SELECT * FROM features")
    sql = scoring_sql(bundle.scoring, "customer_features")

    t_python, python = timed(lambda: bundle.predict(features), args.repeat)
    t_sklearn, sklearn = timed(lambda: bundle.pipeline.predict(features[bundle.features]), args.repeat)
    t_sql, _ = timed(lambda: con.execute(f"CREATE OR REPLACE TABLE scored AS {sql}"), args.repeat)
    in_sql = con.execute("SELECT customer_id, segment FROM scored").df()
    in_sql = in_sql.set_index("customer_id")["segment"].reindex(features["customer_id"]).to_numpy()

    n = len(features)
    same = bool(np.array_equal(in_sql, python))
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(
        f"{n:,} customers ({prepared:.1f} s to make them and their features), "
        f"k={bundle.metadata['k']}, DuckDB threads: {threads}"
    )
    print(f"{'method':<40} {'seconds':>8} {'customers/s':>13}")
    for name, seconds in (
        ("SQL in DuckDB (CREATE TABLE AS SELECT)", t_sql),
        ("Python Bundle.predict", t_python),
        ("scikit-learn Pipeline.predict", t_sklearn),
    ):
        print(f"{name:<40} {seconds:>8.2f} {n / seconds:>13,.0f}")
    print(f"SQL equals Bundle.predict on every row: {'yes' if same else 'NO'}")
    differ = int((sklearn != python).sum())
    print(f"scikit-learn's predict differs from them on {differ:,} rows (near-ties; see sql_scoring.py)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
