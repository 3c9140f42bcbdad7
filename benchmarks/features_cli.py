"""`segmentation features` against what a user would write instead, timed as whole processes.

    python -m benchmarks.features_cli --rows 2000000 10000000 --repeat 5

Every way reads the same transactions CSV and writes one row of features per customer to CSV,
in its own process (start-up included): ours (`python -m segmentation features`), a plain
pandas script, a polars lazy scan and one DuckDB GROUP BY over read_csv
(``benchmarks/peers/``). The peers compute the same nine features (checked equal to ours on
the demo data by ``tests/test_bench_smoke.py``) but check nothing: no bad value, duplicate row
or missing column is counted or set aside; ours does all of that. Each size runs on the demo
data (rows in date order, ids C0000001...) and on the same rows in random order with random
ids. The ways alternate within a repeat (ours, pandas, polars, DuckDB, ours, ...), so a busy
machine slows them alike; the median is reported with the range. Peak memory is the process's
maximum resident set (VmHWM).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PEERS = Path(__file__).resolve().parent / "peers"
WAYS = {
    "segmentation features": lambda src, out: [sys.executable, "-m", "segmentation", "features", src, "--out", out],
    "pandas script": lambda src, out: [sys.executable, str(PEERS / "pandas_features.py"), src, out],
    "polars lazy scan": lambda src, out: [sys.executable, str(PEERS / "polars_features.py"), src, out],
    "DuckDB GROUP BY": lambda src, out: [sys.executable, str(PEERS / "duckdb_features.py"), src, out],
}
OURS = "segmentation features"


def _vm_hwm(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one process running ``cmd``.

    The peak is the process's VmHWM, read until it exits: getrusage's ru_maxrss would carry
    this (large) parent's peak into the child across fork and exec.
    """
    with open(os.devnull, "wb") as null:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=null, stderr=subprocess.PIPE)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _vm_hwm(proc.pid))
            time.sleep(0.02)
        seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-1000:]}")
    return seconds, peak


def make_inputs(root: Path, rows: int) -> dict[str, Path]:
    """The demo transactions with about ``rows`` rows, and the same rows in random order with
    random ids (written once per size)."""
    import duckdb

    from segmentation.demo import write_demo

    root.mkdir(parents=True, exist_ok=True)
    demo = root / f"demo_{rows}.csv"
    shuffled = root / f"random_{rows}.csv"
    if not demo.exists():
        write_demo(demo, max(100, rows // 10), seed=0)  # about 10 loans per customer
    if not shuffled.exists():
        duckdb.execute("SET enable_progress_bar = false")
        duckdb.execute(
            f"COPY (SELECT left(md5(customer_id || 'salt'), 12) AS customer_id, txn_date, amount, repayment_date, "
            f"due_date FROM read_csv('{demo}', all_varchar = true) ORDER BY random()) TO '{shuffled}' (HEADER)"
        )
    return {"demo order": demo, "random order, random ids": shuffled}


#: Commands whose whole-process start-up is timed: they must not load the model libraries.
STARTUP = {
    "segmentation --help": [sys.executable, "-m", "segmentation", "--help"],
    "segmentation features --help": [sys.executable, "-m", "segmentation", "features", "--help"],
}


def startup(repeat: int = 5) -> dict[str, tuple[float, float]]:
    """Command -> (median seconds, peak MB) of :data:`STARTUP`, whole processes."""
    out = {}
    for name, cmd in STARTUP.items():
        runs = [timed(cmd) for _ in range(repeat)]
        out[name] = (statistics.median(r[0] for r in runs), max(r[1] for r in runs))
    return out


def bench(root: Path, sizes: list[int], repeat: int = 5, run_end_to_end: bool = True) -> list[dict]:
    """One row per (data, way): median, min and max seconds, peak MB, ratio to ours."""
    rows = []
    for size in sizes:
        for label, src in make_inputs(root, size).items():
            with open(src, "rb") as lines:
                n_rows = sum(1 for _ in lines) - 1
            times: dict[str, list[float]] = {w: [] for w in WAYS}
            peaks: dict[str, float] = dict.fromkeys(WAYS, 0.0)
            for _ in range(repeat):
                for way, cmd in WAYS.items():
                    seconds, peak = timed(cmd(str(src), str(root / "out.csv")))
                    times[way].append(seconds)
                    peaks[way] = max(peaks[way], peak)
            ours = statistics.median(times[OURS])
            for way in WAYS:
                median = statistics.median(times[way])
                rows.append({"data": label, "rows": n_rows, "way": way, "median_s": median,
                             "min_s": min(times[way]), "max_s": max(times[way]), "peak_mb": peaks[way],
                             "vs_ours": median / ours})
            if run_end_to_end and label == "demo order":
                seconds, peak = timed([sys.executable, "-m", "segmentation", "run", str(src), "--out", str(root / "run")])
                rows.append({"data": label, "rows": n_rows, "way": "segmentation run (features, auto k, all outputs)",
                             "median_s": seconds, "min_s": seconds, "max_s": seconds, "peak_mb": peak, "vs_ours": None})
    return rows


def markdown(rows: list[dict]) -> list[str]:
    out = ["| data | rows | way (one process, CSV in, CSV out) | median s | range s | peak MB | time vs ours |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "-" if r["vs_ours"] is None else f"{r['vs_ours']:.2f}x"
        out.append(f"| {r['data']} | {r['rows']:,} | {r['way']} | {r['median_s']:.2f} | "
                   f"{r['min_s']:.2f}-{r['max_s']:.2f} | {r['peak_mb']:,.0f} | {ratio} |")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--root", type=Path, default=Path("demo/bench-features"))
    args = parser.parse_args(argv)
    for name, (seconds, peak) in startup(args.repeat).items():
        print(f"{name}: {seconds:.2f} s (median of {args.repeat}), peak {peak:,.0f} MB")
    print("\n".join(markdown(bench(args.root, args.rows, args.repeat))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
