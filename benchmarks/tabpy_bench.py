"""segment_assign over N rows: in-process, and through a real TabPy server's /evaluate.

    python benchmarks/tabpy_bench.py [ROWS]        # default 100,000 rows

Fits a model on 5,000 demo customers, draws ROWS customers from them, starts TabPy (with
authentication, as `serve` does) on a free port in a temp folder, and times:

- in-process: ``segment_assign`` on the lists, what the endpoint itself costs;
- /evaluate: from sending the request (body already JSON, as Tableau serialises on its side)
  to the parsed reply: TabPy's script, its ``tabpy.query`` hop to ``/query`` and back.

Each is the median of 5 runs after one warm-up; the replies are checked equal to the
in-process answers. Target: under 2 s for 100,000 rows end to end.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import time
from pathlib import Path

from segmentation import Bundle, fit_bundle, load_dataset
from segmentation.demo import demo_transactions
from segmentation.tabpy import segment_assign
from segmentation.tabpy.server import ServerSettings, running_server

RUNS = 5
USER, PASSWORD = "bench", "bench-password"


def timed(func, runs: int = RUNS) -> tuple[float, object]:
    func()  # warm-up
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of process ``pid`` (Linux: VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench(sizes: list[int], root: Path) -> list[dict]:
    """Per number of rows: in-process and /evaluate medians, JSON size, TabPy's peak memory.

    One model (5,000 demo customers) and one TabPy server serve every size.
    """
    dataset = load_dataset(demo_transactions(5_000, seed=0))
    fit_bundle(dataset).save(root / "model")
    bundle = Bundle.load(root / "model")
    settings = ServerSettings(root / "state", free_port())
    out = []
    with running_server(root / "model", settings, (USER, PASSWORD), say=lambda line: None) as (conn, process):
        for rows in sizes:
            sample = dataset.customers.sample(rows, replace=True, random_state=0)
            lists = [[None if v != v else v for v in sample[f].tolist()] for f in bundle.features]
            local, expected = timed(lambda lists=lists: segment_assign(bundle, *lists))
            script = "return tabpy.query('segment_assign', {})['response']".format(
                ", ".join(f"_arg{i}" for i in range(1, len(lists) + 1))
            )
            body = {"script": script, "data": {f"_arg{i}": v for i, v in enumerate(lists, start=1)}}
            encode, encoded = timed(lambda body=body: json.dumps(body).encode())
            remote, reply = timed(lambda encoded=encoded: conn.request("POST", "evaluate", encoded, timeout=120))
            status, answer = reply
            assert status == 200 and answer == expected, f"/evaluate answered {status}: {str(answer)[:200]}"
            out.append({"rows": rows, "features": len(lists), "local_s": local, "remote_s": remote,
                        "encode_s": encode, "json_mb": len(encoded) / 1e6, "server_peak_mb": peak_rss_mb(process.pid)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=int, default=100_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory() as tmp:
        (r,) = bench([rows], Path(tmp))
    print(
        f"segment_assign on {rows:,} rows ({r['features']} features, {r['json_mb']:.1f} MB of JSON), median of {RUNS}:"
    )
    print(f"  in-process                                 {r['local_s']:7.3f} s")
    print(f"  TabPy /evaluate -> tabpy.query, end to end {r['remote_s']:7.3f} s   (target < 2 s at 100,000 rows)")
    print(f"  + encoding the request in Python           {r['encode_s']:7.3f} s   (Tableau encodes on its side)")


if __name__ == "__main__":
    main()
