"""N demo customers' transactions in PostgreSQL: features pushed down, tables written back,
the generated scoring SQL run inside the server.

    python benchmarks/postgres_bench.py --customers 1000000 [--url postgresql://...]

Without --url it starts a throwaway server the way the tests do (tests/postgres_server.py;
needs Debian's postgresql package). The database given by --url gets a ``bench_loans`` table
and the result tables. Not a test: numbers depend on the machine and the server's settings.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb

from segmentation import Dataset, fit_bundle
from segmentation.demo import write_demo
from segmentation.io.database import DatabaseSource
from segmentation.jobs import publish
from segmentation.outputs.sql import scoring_sql
from segmentation.shapes import TRANSACTION_MODEL_FEATURES

COLUMNS = "customer_id text, txn_date date, amount numeric(14,2), repayment_date date, due_date date"


def bench(url: str, customers: int, workdir: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parquet = write_demo(f"{workdir}/postgres_bench_{customers}.parquet", customers, 0)
    u = make_url(url)
    conninfo = {"host": u.host, "port": u.port, "user": u.username, "password": u.password, "dbname": u.database}
    with psycopg.connect(**{k: v for k, v in conninfo.items() if v is not None}, autocommit=True) as pg:
        start = time.perf_counter()
        pg.execute("DROP TABLE IF EXISTS bench_loans")
        pg.execute(f"CREATE TABLE bench_loans ({COLUMNS})")
        cursor = duckdb.connect().execute(f"SELECT * FROM read_parquet('{parquet}')")
        with pg.cursor().copy("COPY bench_loans FROM STDIN WITH (FORMAT csv)") as copy:
            while not (chunk := cursor.fetch_df_chunk(20)).empty:
                copy.write(chunk.to_csv(index=False, header=False))
        pg.execute("ANALYZE bench_loans")
        rows = pg.execute("SELECT COUNT(*) FROM bench_loans").fetchone()[0]
        print(f"{rows:,} transactions loaded in {time.perf_counter() - start:.1f} s (setup, not timed below)")

    def step(name, fn):
        start = time.perf_counter()
        result = fn()
        print(f"{name:<62} {time.perf_counter() - start:>7.1f} s")
        return result

    features, _ = step(
        "features computed inside PostgreSQL", lambda: DatabaseSource(url, table="bench_loans").features()
    )
    sample = features.sample(min(50_000, len(features)), random_state=0)
    bundle = fit_bundle(Dataset(sample, "transactions", TRANSACTION_MODEL_FEATURES), k=4)
    segments = bundle.assign(features)
    step("tables written back (features, segments, profiles, history)", lambda: publish(features, segments, bundle, url))
    sql = scoring_sql(bundle.scoring, "customer_features")
    with psycopg.connect(**{k: v for k, v in conninfo.items() if v is not None}, autocommit=True) as pg:
        pg.execute("DROP TABLE IF EXISTS bench_scored")
        step(f"`segmentation sql` inside PostgreSQL ({len(features):,} customers)", lambda: pg.execute(f"CREATE TABLE bench_scored AS {sql}"))
        differ = pg.execute(
            "SELECT COUNT(*) FROM bench_scored s JOIN customer_segments c USING (customer_id) WHERE s.segment <> c.segment"
        ).fetchone()[0]
    print(f"customers whose SQL segment differs from Python's: {differ}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--url", help="a PostgreSQL database to use (default: start a throwaway server)")
    parser.add_argument("--workdir", default="/tmp")
    args = parser.parse_args(argv)
    if args.url:
        bench(args.url, args.customers, args.workdir)
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from postgres_server import PostgresServer, find_bindir

    if find_bindir() is None:
        print("PostgreSQL is not installed (apt-get install postgresql), or pass --url", file=sys.stderr)
        return 2
    server = PostgresServer(find_bindir()).start()
    try:
        bench(server.url(server.create_database()), args.customers, args.workdir)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
