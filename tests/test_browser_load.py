"""Many browsers at once against gunicorn as the Procfile runs it: ten pages opened at the same
moment all render; a k outside the model's range is refused with a message; stopping the server
in the middle of an upload's fit leaves no process of it behind. Debian's Chromium driven by
Playwright, real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from test_browser import kpi, wait_kpis
from test_fit_queue_browser import fit_upload, wait_text

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
    try:
        wait_for_url(f"http://127.0.0.1:{port}/_dash-layout", proc, log=log)
        yield {"url": f"http://127.0.0.1:{port}/", "log": log, "proc": proc}
    finally:
        stop(proc)


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


def job_processes(proc: subprocess.Popen) -> list[psutil.Process]:
    """The server's processes below its workers: background jobs and the fits they start."""
    workers = psutil.Process(proc.pid).children()
    return [p for worker in workers for p in worker.children(recursive=True)]


def customer_table(path: Path, n: int) -> Path:
    rng = np.random.default_rng(3)
    group = rng.integers(0, 4, n)
    pd.DataFrame({"id": np.arange(n), "income": rng.lognormal(8 + group, 0.5),
                  "spend": rng.lognormal(5 + group % 2, 0.6), "visits": rng.poisson(3 + 2 * group)}).to_csv(path, index=False)
    return path


def test_no_job_process_outlives_the_server(browser, gunicorn, tmp_path):
    """Runs last: it stops the server in the middle of an upload's fit (30,000 customers, tens of
    seconds on 2 cores) and looks for its workers, the job process and the fit process it started
    (well within the 30 s after which a job whose page stopped polling would end by itself)."""
    upload = customer_table(tmp_path / "big_table.csv", 30_000)
    page = browser.new_page()
    try:
        fit_upload(page, gunicorn["url"], "1,000", upload, "customer table")
        wait_text(page, "upload-fit-status", "fitting the model", 120_000)
        jobs = job_processes(gunicorn["proc"])
        assert len(jobs) >= 2, [p.cmdline() for p in jobs]  # the background job and its fit process
        every = psutil.Process(gunicorn["proc"].pid).children(recursive=True)  # the workers too
        stop(gunicorn["proc"])
        psutil.wait_procs(every, timeout=10)
        alive = [p for p in every if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, [(p.pid, p.name(), p.status()) for p in alive]
    finally:
        page.close()
