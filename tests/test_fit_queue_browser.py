"""The fit queue as a user sees it, on gunicorn as the Procfile runs it with one fit at a time:
while another process holds the only slot, a page asking for a new k (or fitting an upload) says
"waiting for 1 other fit" under the progress bar, and gets its model when the slot frees; a page
closed while it waits gives its place up (no fit made, no ticket left). Debian's Chromium, real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard.fits import Lock
from segmentation.demo import write_demo

from services import free_port, stop, wait_for_url

ROOT = Path(__file__).resolve().parents[1]
WAITING = "waiting for 1 other fit (at most 1 at a time)"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("queue")
    data = write_demo(tmp / "tx.csv", 800, seed=4)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DASHBOARD_USERS_FILE"}
    env.update(PORT=str(port), DASHBOARD_DATA=str(data), DASHBOARD_STORE=str(tmp / "store"), PYTHONPATH=str(ROOT),
               DASHBOARD_MAX_FITS="1", DASHBOARD_FIT_HEARTBEAT_S="3")
    log = tmp / "gunicorn.log"
    proc = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py",
                             "dashboard.app:server"], cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for_url(f"http://127.0.0.1:{port}/_dash-layout", proc, log=log)
        yield {"url": f"http://127.0.0.1:{port}/", "store": tmp / "store", "log": log, "proc": proc}
    finally:
        stop(proc)


def wait_text(page, element: str, text: str, timeout_ms: int) -> None:
    page.wait_for_function(
        f"(document.getElementById('{element}') || {{innerText: ''}}).innerText.includes('{text}')", timeout=timeout_ms)


def fit_upload(page, url: str, customers: str, path: Path, shape: str) -> None:
    """Open the page (its own data shows ``customers``), upload ``path`` and start its fit."""
    page.goto(url)
    page.wait_for_selector(f"#kpi-customers:has-text('{customers}')", timeout=120_000)
    page.click("text=Your data")
    page.set_input_files("#upload input[type=file]", str(path))
    page.wait_for_selector(f"#upload-shape:has-text('detected shape: {shape}')", timeout=60_000)
    page.click("#upload-fit")


def busy_slot(store: Path) -> Lock:
    """The server's only fit slot, taken as another process's fit would take it."""
    (store / "fit-slots").mkdir(mode=0o700, exist_ok=True)
    lock = Lock(store / "fit-slots" / "slot-0")
    assert lock.try_acquire()
    return lock


def fitted(store: Path, k: int) -> bool:
    return (store / "demo" / f"k-{k}" / "customers.parquet").exists()


def test_a_queued_fit_shows_its_place_and_runs_when_the_slot_frees(browser, server):
    slot = busy_slot(server["store"])
    page = browser.new_page()
    try:
        page.goto(server["url"] + "?k=5")
        wait_text(page, "fit-status", WAITING, 120_000)
        assert not fitted(server["store"], 5)
        slot.release()
        wait_text(page, "header-facts", "k = 5", 180_000)
        assert page.inner_text("#fit-status") == ""
        assert fitted(server["store"], 5)
    finally:
        slot.release()
        page.close()


def fits_made(store: Path) -> list[Path]:
    """Every fit on disk except the server's own automatic k (k=5 is made by the test above)."""
    return [p for p in store.glob("*/k-*/customers.parquet") if p.parts[-3:-1] not in (("demo", "k-auto"), ("demo", "k-5"))]


@pytest.mark.parametrize("what", ["a new k", "an upload"])
def test_a_page_closed_while_it_waits_gives_its_place_up(browser, server, tmp_path, what):
    slot = busy_slot(server["store"])
    try:
        page = browser.new_page()
        if what == "a new k":
            page.goto(server["url"] + "?k=6")
            wait_text(page, "fit-status", WAITING, 120_000)
        else:
            fit_upload(page, server["url"], "800", write_demo(tmp_path / "left.csv", 300, seed=5), "transactions")
            wait_text(page, "upload-fit-status", WAITING, 120_000)
        assert list((server["store"] / "fit-queue").glob("t-*"))
        page.close()
        deadline = time.monotonic() + 60
        while list((server["store"] / "fit-queue").glob("t-*")) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not list((server["store"] / "fit-queue").glob("t-*"))  # its job gave up the ticket
    finally:
        slot.release()
    time.sleep(3)
    assert not fits_made(server["store"])  # and never fitted once the slot was free
    assert "Traceback" not in server["log"].read_text()


def test_an_upload_waiting_for_a_slot_says_so_and_fits_when_it_frees(browser, server, tmp_path):
    upload = write_demo(tmp_path / "my_loans.csv", 300, seed=9)
    slot = busy_slot(server["store"])
    page = browser.new_page()
    try:
        fit_upload(page, server["url"], "800", upload, "transactions")
        wait_text(page, "upload-fit-status", WAITING, 120_000)
        slot.release()
        wait_text(page, "header-facts", "my_loans.csv", 180_000)
        assert page.inner_text("#upload-fit-status") == ""
    finally:
        slot.release()
        page.close()

