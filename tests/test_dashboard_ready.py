"""A server that is ready when it answers: gunicorn started as the Procfile starts it, then the
page, its layout and every script it loads asked for in parallel the moment the port accepts
connections (as the first browsers after a restart do): all 200."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dashboard.app import create_app
from segmentation.demo import write_demo

from services import free_port, stop

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("d") / "tx.csv", 300, seed=1)


def page_urls(small_demo, store) -> list[str]:
    """The page and what it loads (scripts, CSS, layout, dependencies), as a browser asks."""
    client = create_app(small_demo, store_dir=store).server.test_client()
    page = client.get("/").get_data(as_text=True)
    loaded = re.findall(r'(?:src|href)="(/[^"]+)"', page)
    return ["/", "/_dash-layout", "/_dash-dependencies", *dict.fromkeys(loaded)]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "gunicorn exited"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("gunicorn did not listen")


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("start", range(3))  # three restarts, as in the report
def test_the_first_requests_after_start_all_succeed(tmp_path, small_demo, start):
    urls = page_urls(small_demo, tmp_path / "store")
    assert any("dash_renderer" in u or "dash-renderer" in u for u in urls), urls
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DASHBOARD_USERS_FILE"}
    env.update(PORT=str(port), DASHBOARD_DATA=str(small_demo), DASHBOARD_STORE=str(tmp_path / "store"),
               PYTHONPATH=str(ROOT))
    log = tmp_path / "gunicorn.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "-c", "gunicorn.conf.py", "--threads", "8", "dashboard.app:server"],
                            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        requests = [f"http://127.0.0.1:{port}{u}" for u in urls] * 3
        barrier = threading.Barrier(len(requests))

        def fire(url):
            barrier.wait()
            return url, status(url)

        with ThreadPoolExecutor(len(requests)) as pool:
            answers = list(pool.map(fire, requests))
        failed = [(u, code) for u, code in answers if code != 200]
        assert not failed, f"{failed}\n{log.read_text()[-3000:]}"
        assert "is not a registered library" not in log.read_text()
    finally:
        stop(proc)
