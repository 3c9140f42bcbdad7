"""Benchmarks: ours against the usual notebook way, as ratios taken in the same run.

    python -m benchmarks.harness --smoke        # seconds; what CI runs
    python -m benchmarks.harness                # full: 1M and 10M transactions, 100k and 1M customers,
                                                # TabPy at 1k-100k rows, SQL scoring and dashboard at 1M,
                                                # k recovery on 48 generated datasets and iris, wine,
                                                # run --spark (local mode) against run at 10M transactions,
                                                # 50 users on the dashboard at 100k customers for 60 s
    python -m benchmarks.harness --only load    # one group

Each measured call runs in a fresh process (spawn) so its peak memory (max RSS) is its own.
The feature rows are whole processes (start-up included) against the scripts a user would
write (benchmarks/features_cli.py: medians of 5 alternating runs); the others are single runs.
Writes a markdown table (what, size, ours, alternative, ratio, peak memory) to stdout and to
``--out`` (default benchmarks/results.md). Targets are checked and reported, never asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class Row:
    what: str
    size: str
    ours: float  # seconds
    alternative: str
    alt: float | None  # seconds
    peak_mb: float
    note: str = ""

    def markdown(self) -> str:
        ratio = f"{self.alt / self.ours:,.1f}x" if self.alt else "-"
        alt = f"{self.alternative}: {self.alt:,.2f} s" if self.alt else self.alternative
        return f"| {self.what} | {self.size} | {self.ours:,.2f} s | {alt} | {ratio} | {self.peak_mb:,.0f} MB | {self.note} |"


# -- measured calls (module level so a spawned process can import them) -----------------------


def _peak_mb() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: Linux carries
    ru_maxrss across exec, so a spawned worker would report its parent's peak (the benchmark
    data it generated) when that is higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn, *args):
    # Imports are not what is measured: load them before the clock starts.
    import duckdb  # noqa: F401
    import sklearn.cluster  # noqa: F401

    import segmentation.jobs  # noqa: F401

    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, _peak_mb(), out


def fit_ours(path: str):
    from segmentation.model import Segmenter
    from segmentation.shapes import TRANSACTION_MODEL_FEATURES

    X = pd.read_parquet(path)[TRANSACTION_MODEL_FEATURES]
    model = Segmenter().fit(X)
    return model.n_clusters_, model.labels_


def fit_notebook(path: str, n_rows: int | None = None, k: int | None = None):
    """The usual way: the same preprocessing, KMeans(n_init=10) for every k and a silhouette
    over all rows; k = the best silhouette; the final model on all rows. With ``k`` given,
    only that final model (for the labels at a size whose sweep cannot finish)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    from segmentation.model import Segmenter
    from segmentation.shapes import TRANSACTION_MODEL_FEATURES

    X = pd.read_parquet(path)[TRANSACTION_MODEL_FEATURES]
    if n_rows:
        X = X.iloc[:n_rows]
    Z = Segmenter(n_clusters=2).fit(X).scale(X)  # same imputation, log and scaling as ours
    if k is None:
        scores = {}
        for candidate in range(2, 11):
            labels = KMeans(candidate, n_init=10, random_state=0).fit_predict(Z)
            scores[candidate] = silhouette_score(Z, labels)
        k = max(scores, key=scores.get)
    return k, KMeans(k, n_init=10, random_state=0).fit_predict(Z)


def isolated(fn, *args):
    """(seconds, peak MB, result) of ``fn(*args)`` in a fresh Python process."""
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_timed, (fn, *args))


# -- benchmark groups -------------------------------------------------------------------------


def bench_features(root: Path, sizes: list[int], repeat: int) -> list[Row]:
    """`segmentation features` against a pandas script, a polars scan and a bare DuckDB GROUP BY,
    each a whole process on the same CSV (see benchmarks/features_cli.py), and `run` end to end."""
    from benchmarks.features_cli import OURS, bench, startup

    rows = [Row("CLI start-up (whole process)", name, seconds, "-", None, peak, f"median of {repeat}")
            for name, (seconds, peak) in startup(repeat).items()]
    results = bench(root / "features", sizes, repeat)
    ours = {(r["data"], r["rows"]): r for r in results if r["way"] == OURS}
    for r in results:
        mine = ours[(r["data"], r["rows"])]
        size = f"{r['rows']:,} transactions, {r['data']}"
        if r["vs_ours"] is None:
            rows.append(Row("segmentation run end to end (whole process)", size, r["median_s"], "-", None, r["peak_mb"]))
        elif r["way"] != OURS:
            note = f"medians of {repeat}; ours {mine['min_s']:.2f}-{mine['max_s']:.2f} s, theirs {r['min_s']:.2f}-{r['max_s']:.2f} s, peak {r['peak_mb']:,.0f} MB"
            rows.append(Row("features, whole process (CSV in, CSV out)", size, mine["median_s"], r["way"], r["median_s"],
                            mine["peak_mb"], note))
    return rows


#: The notebook way runs in full only when its time, extrapolated from two samples, is under this.
NOTEBOOK_LIMIT_S = 600


def bench_fit(root: Path, sizes: list[int], samples: tuple[int, int], limit_s: float = NOTEBOOK_LIMIT_S) -> list[Row]:
    """Ours against the notebook way at each size. The notebook way is first timed on the first
    ``samples`` rows; where the growth between them predicts more than ``limit_s``, its time is
    extrapolated and its labels come from its final KMeans at the k it chose on the larger
    sample (fitted on all rows), so the ARI and the k are still compared."""
    from sklearn.metrics import adjusted_rand_score

    from segmentation.demo import demo_transactions
    from segmentation.shapes.transactions import reference_features

    rows = []
    for n in sizes:
        path = root / f"features_{n}.parquet"
        reference_features(demo_transactions(n, seed=0)).to_parquet(path)
        ours, peak, (k_ours, labels) = isolated(fit_ours, str(path))
        small = [min(m, n) for m in samples]
        runs = [isolated(fit_notebook, str(path), m) for m in small]
        times = [r[0] for r in runs]
        exponent = np.log(times[1] / times[0]) / np.log(small[1] / small[0]) if small[0] < small[1] else 1.0
        predicted = times[1] * (n / small[1]) ** exponent
        if n == small[1]:
            alt, (k_nb, nb_labels), how = times[1], runs[1][2], ""
        elif predicted <= limit_s:
            alt, _, (k_nb, nb_labels) = isolated(fit_notebook, str(path))
            how = ""
        else:
            alt, k_nb = predicted, runs[1][2][0]
            _, _, (_, nb_labels) = isolated(fit_notebook, str(path), None, k_nb)
            how = (f"notebook way extrapolated from {small[0]:,} and {small[1]:,} rows ({times[0]:.1f} s, "
                   f"{times[1]:.1f} s: grows as n^{exponent:.2f}), its k picked on {small[1]:,} rows, its final "
                   "KMeans on all; ")
        note = f"{how}same k: {k_ours == k_nb} ({k_ours} vs {k_nb}); ARI {adjusted_rand_score(labels, nb_labels):.3f}"
        rows.append(Row("fit, automatic k 2-10", f"{n:,} customers", ours, "KMeans n_init=10 per k + full silhouette",
                        alt, peak, note))
    return rows


def dashboard_result(n: int) -> dict:
    from benchmarks.dashboard_bench import bench

    with tempfile.TemporaryDirectory() as tmp:
        return bench(n, Path(tmp))


def bench_dashboard(sizes: list[int]) -> list[str]:
    out = []
    for n in sizes:
        _, peak, r = isolated(dashboard_result, n)
        out.append(
            f"| dashboard filter change (server) | {n:,} customers | {r['filter_ms']:.0f} ms median "
            f"(max {r['filter_max_ms']:.0f} ms) | pandas filter + px.scatter/px.box of every point: "
            f"{r['usual_ms']:,.0f} ms | {r['usual_ms'] / r['filter_ms']:,.1f}x | {peak:,.0f} MB | first-page data "
            f"{r['payload_mb']:.2f} MB (the usual way's two figures: {r['usual_mb']:,.1f} MB); grid block "
            f"{r['rows_ms']:.0f} ms; memory: fit included |"
        )
    return out


def tabpy_results(sizes: list[int]) -> list[dict]:
    from benchmarks.tabpy_bench import bench

    with tempfile.TemporaryDirectory() as tmp:
        return bench(sizes, Path(tmp))


def bench_tabpy(sizes: list[int]) -> list[Row]:
    _, peak, results = isolated(tabpy_results, sizes)
    return [
        Row("TabPy segment_assign, /evaluate end to end", f"{r['rows']:,} rows", r["remote_s"],
            "the same call in-process", r["local_s"], r["server_peak_mb"],
            f"{r['json_mb']:.1f} MB of JSON; memory: the TabPy server's peak (the client's {peak:,.0f} MB); "
            "ratio under 1: the cost of TabPy's JSON round trips")
        for r in results
    ]


def sql_scoring_result(customers: int, workdir: str) -> dict:
    from benchmarks.sql_scoring_bench import bench

    return bench(customers, workdir, repeat=3)


def bench_sql_scoring(root: Path, customers: int) -> list[Row]:
    _, peak, r = isolated(sql_scoring_result, customers, str(root))
    note = (f"same segment as Python on all {r['customers']:,} rows: {r['same']}; "
            f"scikit-learn's predict {r['sklearn_s']:.2f} s; memory includes making the demo data")
    return [Row("assign in SQL (DuckDB, `segmentation sql`)", f"{r['customers']:,} customers", r["sql_s"],
                "Python Bundle.predict", r["python_s"], peak, note)]


def bench_krecovery(root: Path, smoke: bool) -> list[str]:
    """The k-recovery benchmark's tables (:mod:`benchmarks.k_recovery`): its own columns."""
    from benchmarks.k_recovery import N_DATASETS, report, run

    results = run(root / "krecovery", [6, 7] if smoke else range(N_DATASETS), public=not smoke, progress=lambda m: None)
    return ["", "K-recovery: is the planted number of groups chosen? (`python -m benchmarks.k_recovery`)", "",
            *report(results), ""]


def _children_peak_mb() -> float:
    """Peak resident memory of this process's descendants (Spark's JVM in local mode)."""
    kids, total = {os.getpid()}, 0.0
    for _ in range(3):  # python -> (spark-submit's shell ->) java
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                pid, ppid = int(stat.parent.name), int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid in kids:
                kids.add(pid)
    for pid in kids - {os.getpid()}:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def run_spark(path: str, out: str, driver_memory: str, breakdown: bool = True) -> dict:
    """`segmentation run --spark PATH` in local mode, step by step: the session, the features
    (and the one row per customer to the driver; not with ``breakdown=False``, which saves
    computing them twice), then the fit, scoring and tables."""
    from segmentation.io.spark import SparkSource, spark_session
    from segmentation.jobs import load_dataset, run

    start = time.perf_counter()
    spark, _ = spark_session("local[*]", {"spark.driver.memory": driver_memory, "spark.ui.enabled": "false"})
    session_s = time.perf_counter() - start
    source = SparkSource(path=path)
    features_s = float("nan")
    if breakdown:
        with source:
            t = time.perf_counter()
            load_dataset(source)
            features_s = time.perf_counter() - t
    t = time.perf_counter()
    result = run(source, out, transactions_table=False)
    run_s = time.perf_counter() - t
    jvm_mb = _children_peak_mb()
    spark.stop()
    return {"session_s": session_s, "features_s": features_s, "run_s": run_s, "jvm_mb": jvm_mb,
            "customers": result.tables.customers, "k": len(result.bundle.segments)}


def run_duckdb(path: str, out: str) -> int:
    from segmentation.jobs import run

    return len(run(path, out, transactions_table=False).bundle.segments)


def bench_spark(root: Path, n_txn: int, driver_memory: str = "4g", breakdown: bool = True) -> list[Row]:
    """`run --spark` in local mode on this machine against `run` with DuckDB, same CSV, same
    outputs (no transactions table in segmentation.db for either: the rows stay in Spark);
    ``breakdown``: also time the features alone."""
    import importlib.util
    import shutil

    from segmentation.demo import write_demo

    if importlib.util.find_spec("pyspark") is None or shutil.which("java") is None:
        return [Row("run --spark, local mode (features, fit, scoring)", f"{n_txn:,} transactions", 0.0,
                    "run with DuckDB", None, 0.0, "not run: needs `pip install .[spark]` and Java 17")]
    path = root / f"spark_{n_txn}.csv"
    write_demo(path, max(100, n_txn // 10), seed=0)
    with open(path) as lines:
        actual = sum(1 for _ in lines) - 1
    duck_s, _, k_duck = isolated(run_duckdb, str(path), str(root / "duck_out"))
    _, peak, r = isolated(run_spark, str(path), str(root / "spark_out"), driver_memory, breakdown)
    ours = r["session_s"] + r["run_s"]
    same = pd.read_csv(root / "duck_out" / "customer_segments.csv", dtype={"customer_id": str}).equals(
        pd.read_csv(root / "spark_out" / "customer_segments.csv", dtype={"customer_id": str}))
    label = f"{actual / 1e6:,.1f}M transactions" if actual >= 1e6 else f"{actual:,} transactions"
    alone = f" (features alone {r['features_s']:.1f} s)" if breakdown else ""
    note = (f"Spark session start {r['session_s']:.1f} s + run {r['run_s']:.1f} s{alone}; "
            f"{r['customers']:,} customers scored inside Spark; same segments as "
            f"DuckDB's run: {same} (k {r['k']} vs {k_duck}); memory: the Python driver's, Spark's JVM "
            f"{r['jvm_mb']:,.0f} MB more (spark.driver.memory={driver_memory}); ratio under 1: Spark is slower here")
    return [Row("run --spark, local mode (features, fit, scoring)", label, ours, "run with DuckDB", duck_s, peak, note)]


def bench_load(root: Path, customers: int, users: int, seconds: float) -> list[str]:
    """The dashboard under load (:mod:`benchmarks.dashboard_load`): gunicorn as the Procfile runs
    it, ``users`` replaying real callbacks without think time for ``seconds``."""
    from benchmarks.dashboard_load import TARGET_P95_S, run

    r = run(customers, users, seconds, root / "load")
    kinds = r["kinds"]
    f = kinds.get("filter")
    head = f"p95 {f['p95']:.2f} s (p50 {f['p50']:.2f}, max {f['max']:.2f})" if f else "no answer"
    others = "; ".join(f"{kind} p50 {s['p50']:.2f} / p95 {s['p95']:.2f} / max {s['max']:.2f} s"
                       for kind, s in kinds.items() if kind != "filter")
    return [f"| dashboard under load (gunicorn, loopback) | {customers:,} customers, {users} users, no think time, "
            f"{seconds:g} s | filter change {head} | target: p95 < {TARGET_P95_S:g} s | - | {r['peak_mb']:,.0f} MB | "
            f"{others}; errors {r['errors']} of {r['requests']:,} callbacks ({r['requests'] / seconds:.1f}/s); memory: "
            f"the server's master, workers and job processes, RSS summed (PSS: {r['peak_pss_mb']:,.0f} MB) |"]


GROUPS = ("features", "fit", "tabpy", "sql", "dashboard", "krecovery", "spark", "load")


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.md")))
    parser.add_argument("--only", choices=GROUPS, action="append", help="run only this group (repeatable)")
    args = parser.parse_args(argv)
    only = set(args.only or GROUPS)
    repeat = 1 if args.smoke else 5
    if args.smoke:
        txn, customers, samples, dash, tabpy, scoring = [20_000], [2_000, 4_000], (1_000, 2_000), [2_000], [1_000], 2_000
        spark_txn = 20_000
        limit_s = 0.0  # the smoke run takes the extrapolating path too
        load = (2_000, 3, 5.0)
    else:
        txn, customers, samples = [2_000_000, 10_000_000], [100_000, 1_000_000], (10_000, 20_000)
        limit_s = NOTEBOOK_LIMIT_S
        dash, tabpy, scoring = [10_000, 100_000, 1_000_000], [1_000, 10_000, 100_000], 1_000_000
        spark_txn = 10_000_000
        load = (100_000, 50, 60.0)
    lines = [
        f"Machine: {machine()}. Command: `{'make bench-smoke' if args.smoke else 'make bench'}`.",
        "",
        "| what | size | ours | the alternative | ratio | peak memory (ours) | note |",
        "|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        groups = {
            "features": lambda: [r.markdown() for r in bench_features(root, txn, repeat)],
            "fit": lambda: [r.markdown() for r in bench_fit(root, customers, samples, limit_s)],
            "tabpy": lambda: [r.markdown() for r in bench_tabpy(tabpy)],
            "sql": lambda: [r.markdown() for r in bench_sql_scoring(root, scoring)],
            "dashboard": lambda: bench_dashboard(dash),
            "krecovery": lambda: bench_krecovery(root, args.smoke),
            "spark": lambda: [r.markdown() for r in bench_spark(root, spark_txn, breakdown=not args.smoke)],
            "load": lambda: bench_load(root, *load),
        }
        for name in GROUPS:
            for line in groups[name]() if name in only else []:
                lines.append(line)
                print(line, flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
