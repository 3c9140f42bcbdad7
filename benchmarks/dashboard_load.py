"""The dashboard under load: gunicorn as the Procfile runs it, many users replaying real callbacks.

    python -m benchmarks.dashboard_load --customers 100000 --users 50 --seconds 60 [--auth]

Starts ``gunicorn -c gunicorn.conf.py dashboard.app:server`` on 127.0.0.1 (a free port) with
``DASHBOARD_DATA`` = that many demo customers, waits until it serves, then each user (a thread
with its own HTTP session, signed in when ``--auth``) loads the page once, takes the callbacks'
real signatures from ``/_dash-dependencies`` and replays, without think time, until the time is
up: a filter change (``update_panels`` for a new URL query: segments, a range, a search), the
grid's rows for it, and every fifth round an export (CSV). Loopback only; bounded in users and
time; the server is stopped at the end.

Reports per callback kind the count, p50, p95 and max latency and the errors (non-200 answers
or Dash errors), and the server's peak memory: the largest sum of the resident memory of
gunicorn's master, workers and their job processes, sampled every half second.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
USER, PASSWORD = "loadtest", "load-test-password"
#: The callbacks replayed, found in /_dash-dependencies by an output they own.
KINDS = {"filter": "kpi-row.children", "rows": "segment-table.getRowsResponse", "export": "download.data"}
TARGET_P95_S = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path, store: Path, log: Path, users_file: Path | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DASHBOARD_USERS_FILE"}
    env.update(PORT=str(port), DASHBOARD_DATA=str(data), DASHBOARD_STORE=str(store), HOST="127.0.0.1",
               PYTHONPATH=str(ROOT))
    if users_file:
        env.update(DASHBOARD_USERS_FILE=str(users_file), DASHBOARD_SECRET_KEY=uuid.uuid4().hex)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "-c", "gunicorn.conf.py", "dashboard.app:server"], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if requests.get(url + "/login", timeout=5).status_code in (200, 404):
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"gunicorn did not serve within {timeout:.0f} s")


class MemorySampler(threading.Thread):
    """Peak of the summed memory of a process and all its descendants: RSS (pages shared by the
    forked workers counted in each) and PSS (shared pages split between them: the machine's real cost)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self.peak_pss_mb, self.done = pid, 0.0, 0.0, threading.Event()

    def run(self):
        while not self.done.wait(0.5):
            try:
                root = psutil.Process(self.pid)
                rss = pss = 0
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                        info = p.memory_full_info()
                        rss, pss = rss + info.rss, pss + info.pss
                self.peak_mb = max(self.peak_mb, rss / 2**20)
                self.peak_pss_mb = max(self.peak_pss_mb, pss / 2**20)
            except psutil.NoSuchProcess:
                return


def callbacks(dependencies: list[dict]) -> dict[str, dict]:
    """The replayed callbacks' signatures (output string, outputs, inputs, state) from the page."""
    found = {}
    for kind, output in KINDS.items():
        dep = next(d for d in dependencies if output in d["output"])
        outputs = [_spec(part) for part in dep["output"].strip(".").split("...")]
        multi = dep["output"].startswith("..")  # "..a.b...c.d..": a list of outputs, even of one
        found[kind] = {"output": dep["output"], "outputs": outputs if multi else outputs[0],
                       "inputs": dep["inputs"], "state": dep["state"]}
    return found


def _spec(part: str) -> dict:
    component, _, prop = part.rpartition(".")
    return {"id": json.loads(component) if component.startswith("{") else component, "property": prop}


def body(signature: dict, values: dict, changed: str) -> dict:
    """A /_dash-update-component request as the renderer sends it: every input and state with its
    value (``values`` by "id.property"), the changed one named."""
    def fill(items):
        return [{**item, "value": values.get(f"{item['id']}.{item['property']}")} for item in items]
    return {"output": signature["output"], "outputs": signature["outputs"], "inputs": fill(signature["inputs"]),
            "changedPropIds": [changed], "state": fill(signature["state"])}


def filter_queries(rng: random.Random, k: int) -> str:
    """A new URL query as the filter widgets write it: some segments, maybe a range, maybe a search."""
    params = []
    segments = sorted(rng.sample(range(k), rng.randint(1, k)))
    if len(segments) < k:
        params.append("seg=" + ",".join(map(str, segments)))
    if rng.random() < 0.5:
        lo = rng.randint(1, 10)
        params.append(f"r.txn_count={lo}~{lo + rng.randint(2, 40)}")
    if rng.random() < 0.2:
        params.append(f"q=C{rng.randint(0, 99):02d}")
    return "?" + "&".join(params) if params else ""


class User(threading.Thread):
    def __init__(self, url: str, until: float, auth: bool, seed: int, results: list, errors: list):
        super().__init__(daemon=True)
        self.url, self.until, self.auth, self.rng = url, until, auth, random.Random(seed)
        self.results, self.errors = results, errors
        self.http = requests.Session()

    def post(self, kind: str, payload: dict) -> None:
        start = time.perf_counter()
        try:
            answer = self.http.post(self.url + "/_dash-update-component", json=payload, timeout=120)
            ok = answer.status_code == 200 and "response" in answer.json()
            why = "" if ok else f"{answer.status_code} {answer.text[:200]}"
        except (requests.RequestException, ValueError) as exc:
            ok, why = False, f"{type(exc).__name__}: {exc}"
        self.results.append((kind, time.perf_counter() - start, ok))
        if not ok:
            self.errors.append(f"{kind}: {why}")

    def run(self):
        try:
            self.replay()
        except Exception as exc:  # noqa: BLE001 - counted, never a crashed benchmark
            self.errors.append(f"user: {type(exc).__name__}: {exc}")

    def replay(self):
        if self.auth:
            self.http.post(self.url + "/login", data={"name": USER, "password": PASSWORD}, timeout=60).raise_for_status()
        self.http.get(self.url + "/", timeout=60).raise_for_status()
        self.http.get(self.url + "/_dash-layout", timeout=60).raise_for_status()
        signatures = callbacks(self.http.get(self.url + "/_dash-dependencies", timeout=60).json())
        ready = {"dataset": "demo", "k": "auto"}
        values = {"ready.data": ready, "session-id.data": uuid.uuid4().hex, "selection.data": None,
                  "table-version.data": 0}
        k = 4
        round_ = 0
        while time.monotonic() < self.until:
            values["url.search"] = filter_queries(self.rng, k)
            self.post("filter", body(signatures["filter"], values, "url.search"))
            values["segment-table.getRowsRequest"] = {"startRow": 0, "endRow": 100, "sortModel": self.rng.choice(
                [[], [{"colId": "total_amount", "sort": "desc"}], [{"colId": "recency_days", "sort": "asc"}]])}
            self.post("rows", body(signatures["rows"], values, "segment-table.getRowsRequest"))
            if round_ % 5 == 4:
                values["export-csv.n_clicks"] = round_
                self.post("export", body(signatures["export"], values, "export-csv.n_clicks"))
            round_ += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(customers: int, users: int, seconds: float, workdir: Path, auth: bool = False,
        start_timeout: float = 1200) -> dict:
    """Start the server, replay, stop it; the figures (seconds, MB)."""
    from segmentation.demo import write_demo

    data = write_demo(workdir / f"demo_{customers}.csv", customers, seed=0)
    users_file = None
    if auth:
        from werkzeug.security import generate_password_hash

        users_file = workdir / "users.txt"
        users_file.write_text(f"{USER}:{generate_password_hash(PASSWORD)}\n")
    log = workdir / "gunicorn.log"
    started = time.monotonic()
    proc, url = start_server(data, workdir / "store", log, users_file)
    memory = MemorySampler(proc.pid)
    memory.start()
    try:
        wait_ready(proc, url, log, start_timeout)
        ready_s = time.monotonic() - started
        results: list = []
        errors: list = []
        until = time.monotonic() + seconds
        threads = [User(url, until, auth, seed, results, errors) for seed in range(users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 300)
    finally:
        memory.done.set()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    out = {"customers": customers, "users": users, "seconds": seconds, "auth": auth, "start_s": ready_s,
           "peak_mb": memory.peak_mb, "peak_pss_mb": memory.peak_pss_mb, "errors": len(errors), "error_examples": sorted(set(errors))[:5],
           "requests": len(results), "kinds": {}}
    for kind in KINDS:
        times = [t for k, t, _ in results if k == kind]
        if times:
            out["kinds"][kind] = {"n": len(times), "p50": statistics.median(times), "p95": percentile(times, 0.95),
                                  "max": max(times), "errors": sum(1 for k, _, ok in results if k == kind and not ok)}
    return out


def summary(r: dict) -> str:
    parts = [f"{kind} n={s['n']} p50 {s['p50']:.2f} s, p95 {s['p95']:.2f} s, max {s['max']:.2f} s, errors {s['errors']}"
             for kind, s in r["kinds"].items()]
    return "; ".join(parts) + (f"; {r['requests'] / r['seconds']:.1f} callbacks/s; server peak {r['peak_mb']:,.0f} MB RSS summed, "
                                f"{r['peak_pss_mb']:,.0f} MB PSS")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--auth", action="store_true", help="configure a user and sign every user in")
    args = parser.parse_args(argv)
    if args.users > 200 or args.seconds > 900:
        parser.error("bounded: at most 200 users and 900 seconds")
    with tempfile.TemporaryDirectory() as tmp:
        r = run(args.customers, args.users, args.seconds, Path(tmp), auth=args.auth)
    print(json.dumps(r, indent=2))
    print(summary(r))
    filter_p95 = r["kinds"].get("filter", {}).get("p95", float("inf"))
    print(f"filter change p95 {filter_p95:.2f} s against a target of {TARGET_P95_S:.0f} s: "
          f"{'met' if filter_p95 < TARGET_P95_S else 'missed'}; errors {r['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
