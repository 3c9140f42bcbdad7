"""Many browsers at once against gunicorn as the Procfile runs it: ten pages opened at the same
moment all render; a k outside the model's range is refused with a message; no background-job
process outlives the server. Debian's Chromium driven by Playwright, real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from test_browser import kpi, wait_kpis

from segmentation.demo import write_demo

from services import free_port, stop, wait_for_url

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = 10


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn")
    data = write_demo(tmp / "tx.csv", 1_000, seed=2)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DASHBOARD_USERS_FILE"}
    env.update(PORT=str(port), DASHBOARD_DATA=str(data), DASHBOARD_STORE=str(tmp / "store"), PYTHONPATH=str(ROOT))
    log = tmp / "gunicorn.log"
    proc = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py",
                             "dashboard.app:server"], cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    seen: set[int] = set()  # every process of the server, workers and job processes
    try:
        wait_for_url(f"http://127.0.0.1:{port}/_dash-layout", proc, log=log)
        yield {"url": f"http://127.0.0.1:{port}/", "proc": proc, "seen": seen, "log": log}
    finally:
        stop(proc)


def descendants(proc: subprocess.Popen) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def test_ten_pages_opened_at_once_all_render(browser, gunicorn):
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(BROWSERS)]
    try:
        # k=3 and k=4 too: pages that start background fits at the same moment
        pages = []
        for i, context in enumerate(contexts):
            page = context.new_page()
            page.goto(gunicorn["url"] + ("", "?k=3", "?k=4")[i % 3], wait_until="commit")
            pages.append(page)
        for page in pages:
            gunicorn["seen"].update(descendants(gunicorn["proc"]))
            wait_kpis(page, timeout=120_000)
            assert kpi(page) == 1_000
            assert not page.is_visible("#page-alert") or "failed" not in page.inner_text("#page-alert")
    finally:
        for context in contexts:
            context.close()
    assert "Traceback" not in gunicorn["log"].read_text()


def test_a_k_beyond_the_models_range_is_refused_with_a_message(browser, gunicorn):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(gunicorn["url"] + "?k=2000")
        wait_kpis(page)  # the automatic k instead, at once
        page.wait_for_selector("#page-alert", state="visible")
        assert "k=2000 is outside this model's range: choose k from 2 to 10" in page.inner_text("#page-alert")
        assert not list((gunicorn["log"].parent / "store" / "demo").glob("k-2000*"))  # nothing fitted
    finally:
        context.close()


def test_no_job_process_outlives_the_server(gunicorn):
    gunicorn["seen"].update(descendants(gunicorn["proc"]))
    assert len(gunicorn["seen"]) >= 2  # the workers at least
    stop(gunicorn["proc"])
    alive = [pid for pid in gunicorn["seen"] if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not alive, [psutil.Process(p).cmdline() for p in alive]
