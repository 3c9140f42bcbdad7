"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real server."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import SHARED_DATA
from services import free_port, processes_text, stop, wait_for_url

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "overview.png"
# Chromium without a GPU logs WebGL performance notes as warnings; errors are what matter.
IGNORED = ("GPU stall", "WebGL")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("dash")


@pytest.fixture(scope="module")
def server(store_dir):
    tmp = store_dir
    port = free_port()
    log = tmp / "server.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DASHBOARD_USERS_FILE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--port", str(port), "--store", str(tmp / "store"), "--max-upload-mb", "1"],
        cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_url(url, proc, log=log)
        yield url
    finally:
        stop(proc)


def open_page(browser, url, errors=None):
    context = browser.new_context(viewport={"width": 1600, "height": 1400}, accept_downloads=True)
    page = context.new_page()
    if errors is not None:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not any(i in m.text for i in IGNORED) else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    wait_kpis(page)
    return page


def wait_kpis(page, timeout=60_000):
    page.wait_for_function(
        "(() => { const e = document.querySelector('#kpi-customers'); return e && /[0-9]/.test(e.innerText); })()",
        timeout=timeout,
    )
    page.wait_for_selector(".ag-row", timeout=timeout)


def wait_fitted(page, name: str, store_dir: Path, timeout=120_000) -> None:
    """Wait for the header to name the fitted file; on a timeout, say what the page and the
    server said (a fit queued, failed, or still running)."""
    try:
        page.wait_for_selector(f"#header-facts:has-text('{name}')", timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - re-raised with the page's and the server's words
        said = {i: page.inner_text(f"#{i}") for i in ("upload-fit-status", "upload-status", "fit-status", "page-alert")
                if page.locator(f"#{i}").count()}
        # (the log's requests are the page's polls: its other lines are what the server said)
        log = [line for line in (store_dir / "server.log").read_text().splitlines() if '"POST /_dash' not in line]
        raise AssertionError(f"{name} not fitted: the page says {said}; the server's log ends:\n" + "\n".join(log[-30:])
                             + "\nprocesses:\n" + processes_text()) from exc


def kpi(page) -> int:
    return int(page.inner_text("#kpi-customers").replace(",", ""))


def test_page_loads_without_errors_and_every_panel_renders(browser, server, store_dir):
    errors = []
    page = open_page(browser, server, errors)
    assert kpi(page) == 5_000
    for graph in ("scatter-amount-frequency", "box-repayment", "ternary-rfm"):
        page.wait_for_selector(f"#{graph} .main-svg", timeout=20_000)
    assert page.locator("#scatter-amount-frequency canvas").count() >= 1  # WebGL scatter
    assert page.locator("#box-repayment .boxlayer path").count() >= 2
    assert page.locator("#action-panel .action-item").count() >= 2
    assert page.locator("#segment-filter input[type=checkbox]").count() >= 2
    assert page.locator("#segment-table .ag-row").count() > 5
    page.click("text=Model")
    page.wait_for_selector("#k-criteria .main-svg")
    assert page.locator("#describe-segments tr").count() > 3
    page.click("text=Overview")
    time.sleep(1)
    # The README's screenshot: refreshed with UPDATE_SCREENSHOTS=1, else only taken.
    target = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") == "1" else Path(store_dir) / SCREENSHOT.name
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 50_000
    assert errors == []


def test_unticking_a_segment_filters_kpis_table_and_export(browser, server):
    page = open_page(browser, server)
    page.locator("#segment-filter input").nth(0).uncheck()
    page.wait_for_function("document.querySelector('#kpi-customers').innerText != '5,000'", timeout=20_000)
    shown = kpi(page)
    assert 0 < shown < 5_000
    assert "seg=" in page.url
    page.wait_for_function(
        f"document.querySelector('#segment-table-note').innerText.startsWith('{shown:,} of')", timeout=20_000
    )
    # the grid reloaded its rows: none of segment 0 is left
    page.wait_for_function(
        "(() => { const cells = [...document.querySelectorAll('#segment-table .ag-cell[col-id=segment]')];"
        " return cells.length > 5 && cells.every(c => c.innerText.trim() !== '' && c.innerText.trim() !== '0'); })()",
        timeout=20_000,
    )
    with page.expect_download() as download:
        page.click("#export-csv")
    exported = pd.read_csv(download.value.path(), dtype={"customer_id": str})
    assert len(exported) == shown
    assert 0 not in set(exported["segment"])


def test_a_copied_url_restores_the_view(browser, server):
    page = open_page(browser, server)
    page.locator("#segment-filter input").nth(1).uncheck()
    page.fill("#customer-search", "C00001")
    page.press("#customer-search", "Enter")
    page.wait_for_function("window.location.search.includes('q=C00001')", timeout=20_000)
    time.sleep(1)
    shown = kpi(page)
    other = open_page(browser, page.url)
    time.sleep(1.5)
    assert kpi(other) == shown
    assert other.locator("#segment-filter input").nth(1).is_checked() is False
    assert other.input_value("#customer-search") == "C00001"


def test_upload_flow_and_isolation_between_browsers(browser, server, store_dir, tmp_path):
    rows = ["CustomerID,Annual Income,Spending Score"] + [
        f"{i:04d},{15 + (i * 7) % 120},{(i * 37) % 100}" for i in range(1, 201)
    ]
    path = tmp_path / "mall.csv"
    path.write_text("\n".join(rows))
    page = open_page(browser, server)
    page.click("text=Your data")
    page.set_input_files("#upload input[type=file]", str(path))
    page.wait_for_selector("text=detected shape: customer table", timeout=20_000)
    page.click("#upload-fit")
    page.wait_for_function("document.querySelector('#kpi-customers').innerText == '200'", timeout=60_000)
    wait_fitted(page, "mall.csv", store_dir, timeout=60_000)
    assert page.locator("#segment-filter input").count() >= 2

    other = open_page(browser, server)  # another browser context: its own session
    assert "demo data" in other.inner_text("#header-facts") and kpi(other) == 5_000

    # a bad upload shows a message and keeps the current view
    bad = tmp_path / "notes.pdf"
    bad.write_bytes(b"%PDF-1.4")
    page.click("text=Your data")
    page.set_input_files("#upload input[type=file]", str(bad))
    page.wait_for_selector("text=upload a CSV, Parquet, XLSX or JSON file", timeout=20_000)
    assert kpi(page) == 200

    # a file over the limit (1 MB here), which the browser itself refuses, is named too
    big = tmp_path / "big.csv"
    big.write_text("id,x\n" + "".join(f"{i:07d},{i % 97}\n" for i in range(110_000)))
    page.set_input_files("#upload input[type=file]", str(big))
    page.wait_for_selector("#upload-size-note >> text=big.csv is 1.2 MB; the limit is 1 MB", timeout=20_000)
    assert kpi(page) == 200


def test_box_selection_cross_filters_the_other_panels(browser, server, store_dir):
    page = open_page(browser, server)
    time.sleep(1)
    area = page.locator("#scatter-amount-frequency .nsewdrag").first.bounding_box()
    page.mouse.move(area["x"] + area["width"] * 0.05, area["y"] + area["height"] * 0.05)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * 0.45, area["y"] + area["height"] * 0.6, steps=8)
    page.mouse.up()
    page.wait_for_selector("#selection-note:has-text('Scatter selection')", timeout=20_000)
    rect = page.evaluate(
        "document.querySelector('#scatter-amount-frequency .js-plotly-plot')._fullLayout.selections[0]"
    )
    frame = pd.read_parquet(Path(store_dir) / "store" / "demo" / "k-auto" / "customers.parquet")
    inside = frame["avg_txn_amount"].between(*sorted([rect["x0"], rect["x1"]])) & frame["txn_count"].between(
        *sorted([rect["y0"], rect["y1"]])
    )
    page.wait_for_function(
        f"document.querySelector('#kpi-customers').innerText == '{int(inside.sum()):,}'", timeout=20_000
    )
    page.click("#clear-selection")
    page.wait_for_function("document.querySelector('#kpi-customers').innerText == '5,000'", timeout=20_000)


def test_choosing_k_refits_and_updates_every_panel(browser, server):
    page = open_page(browser, server)
    page.click("text=Model")
    page.click("#k-chooser")
    page.click("text=k = 3")
    page.wait_for_selector("#header-facts:has-text('k = 3')", timeout=60_000)
    page.wait_for_function("window.location.search.includes('k=3')", timeout=20_000)
    assert page.locator("#segment-filter input").count() == 3
    assert page.locator("#action-panel .action-item").count() == 3
    page.click("text=Overview")
    page.wait_for_function(
        "document.querySelectorAll('#box-repayment .boxlayer .trace').length == 3", timeout=20_000
    )



def slider_inputs(page, slot: int) -> list[str]:
    wrap = page.locator(".dash-slider-container").nth(slot)
    return [wrap.locator(f".dash-range-slider-{end}-input").input_value() for end in ("min", "max")]


def test_a_range_in_the_url_sets_its_slider_and_reset_clears_it(browser, server, store_dir):
    frame = pd.read_parquet(Path(store_dir) / "store" / "demo" / "k-auto" / "customers.parquet")
    expected = int(frame["txn_count"].between(3, 12).sum())
    page = open_page(browser, server + "?r.txn_count=3~12")
    page.wait_for_function(f"document.querySelector('#kpi-customers').innerText == '{expected:,}'", timeout=20_000)
    assert page.locator(".dash-slider-container:visible").count() == 4  # every slot used by the demo data
    assert "txn count" in page.inner_text("#controls")
    page.wait_for_function(
        "document.querySelector('.dash-slider-container .dash-range-slider-min-input').value == '3'", timeout=20_000
    )
    assert slider_inputs(page, 0) == ["3", "12"]
    time.sleep(1)
    assert "r.txn_count=3~12" in page.url  # restoring the slider did not rewrite the link
    page.click("#reset-filters")
    page.wait_for_function("document.querySelector('#kpi-customers').innerText == '5,000'", timeout=20_000)
    page.wait_for_function("!window.location.search.includes('r.txn_count')", timeout=20_000)
    lo, hi = frame["txn_count"].min(), frame["txn_count"].max()
    assert slider_inputs(page, 0) == [str(lo), str(hi)]


# -- the score, movement and upload-mapping views ------------------------------------------------

DOCS = ROOT / "docs"


def open_view(browser, url, errors=None):
    """A page opened on another tab than the overview: ready once the model is (the KPIs filled)."""
    context = browser.new_context(viewport={"width": 1500, "height": 1200}, accept_downloads=True)
    page = context.new_page()
    if errors is not None:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not any(i in m.text for i in IGNORED) else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function(
        "(() => { const e = document.querySelector('#kpi-customers'); return e && /[0-9]/.test(e.textContent); })()",
        timeout=60_000,
    )
    return page


def screenshot(page, name: str, store_dir) -> None:
    """A README screenshot: refreshed under docs/ with UPDATE_SCREENSHOTS=1, else only taken."""
    target = DOCS / name if os.environ.get("UPDATE_SCREENSHOTS") == "1" else Path(store_dir) / name
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 30_000


def test_score_view_gives_the_clis_segment_and_what_would_move(browser, server, store_dir, tmp_path):
    from segmentation.cli import main

    frame = pd.read_parquet(Path(store_dir) / "store" / "demo" / "k-auto" / "customers.parquet")
    row = frame[frame["customer_id"] == "C0000042"].iloc[0]
    model = Path(store_dir) / "store" / "demo" / "k-auto" / "model"
    features = [f for f in ("txn_count", "avg_txn_amount", "total_amount", "avg_repayment_days", "late_share",
                            "recency_days") if pd.notna(row[f])]
    values = ",".join(f"{f}={float(row[f])!r}" for f in features)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["explain", "--model", str(model), "--values", values]) == 0
    first = buffer.getvalue().splitlines()
    segment_line = first[0]  # "segment 2: Late-paying, slow-repaying borrowers"
    move = next(line.strip() for line in first if line.startswith("  ") and ("raise " in line or "lower " in line))

    errors = []
    page = open_view(browser, server + "?tab=score", errors)
    page.fill("#score-customer-id", "C0000042")
    page.press("#score-customer-id", "Enter")
    name = segment_line.split(": ", 1)[1]
    page.wait_for_selector(f"#score-result:has-text('{name}')", timeout=20_000)
    assert row["recommended_action"].split(" | ")[0] in page.inner_text("#score-result")
    page.wait_for_selector(f"#score-explain:has-text('{move}')", timeout=20_000)
    page.wait_for_selector("#score-distances .main-svg .bars", timeout=20_000)
    page.wait_for_function("window.location.search.includes('cust=C0000042')", timeout=20_000)
    # a copied link opens the same customer
    other = open_view(browser, page.url)
    other.wait_for_selector(f"#score-result:has-text('{name}')", timeout=20_000)
    assert other.input_value("#score-customer-id") == "C0000042"
    screenshot(page, "score.png", store_dir)
    page.fill("#score-customer-id", "nobody")
    page.press("#score-customer-id", "Enter")
    page.wait_for_selector("#score-lookup-note:has-text(\"No customer 'nobody'\")", timeout=20_000)
    assert errors == []


def test_movement_view_shows_the_demo_history(browser, server, store_dir):
    from segmentation.outputs.migration import read_history, scorings, segment_state

    history = read_history(f"sqlite:///{Path(store_dir) / 'store' / 'demo_history_5000.db'}")
    times = scorings(history)
    assert len(times) >= 5
    errors = []
    page = open_view(browser, server + f"?tab=movement&mb={times[0].isoformat()}", errors)
    page.wait_for_selector("#movement-sankey .main-svg .sankey", timeout=30_000)
    page.wait_for_selector("#movement-sizes .main-svg .scatterlayer .trace", timeout=20_000)
    assert page.locator("#movement-sizes .scatterlayer .trace").count() == history["segment"].nunique()
    page.wait_for_selector("#movement-note:has-text('customers from')", timeout=20_000)
    note = page.inner_text("#movement-note")
    # the note names the flow the pickers show
    for picker in ("#movement-from", "#movement-to"):
        assert page.inner_text(picker).strip().split(" ")[0] in note
    assert "any segment" not in note
    shown = int(note.split(" ")[0].replace(",", ""))
    old, new = segment_state(history, times[0])["segment"], segment_state(history, times[-1])["segment"]
    moved = new.index[new.index.isin(old.index)]
    assert 0 < shown <= int((old[moved] != new[moved]).sum())
    with page.expect_download() as download:
        page.click("#movement-export-csv")
    exported = pd.read_csv(download.value.path(), dtype={"customer_id": str})
    assert len(exported) == shown
    assert (old[exported["customer_id"]].to_numpy() == exported["from_segment"].to_numpy()).all()
    assert (new[exported["customer_id"]].to_numpy() == exported["to_segment"].to_numpy()).all()
    assert "mb=" in page.url
    time.sleep(1)
    screenshot(page, "movement.png", store_dir)
    assert errors == []


def pick(page, role: str, column: str) -> None:
    page.click(f"button[id*='\"role\":\"{role}\"']")
    page.get_by_role("option", name=column, exact=True).click()


def test_the_nigerian_loans_upload_maps_and_segments(browser, server, store_dir, tmp_path):
    from segmentation.cli import main

    source = SHARED_DATA / "loans_trainprevloans.csv"
    if not source.exists():
        pytest.skip(f"{source} not present")
    # the test server takes 1 MB uploads: the first 4,000 loans
    path = tmp_path / "loans.csv"
    path.write_text("".join(source.open().readlines()[:4_001]))
    page = open_page(browser, server)
    page.click("text=Your data")
    page.set_input_files("#upload input[type=file]", str(path))
    page.wait_for_selector("#upload-shape:has-text('detected shape: customer table')", timeout=20_000)
    assert "customerid" in page.inner_text("#upload-roles") and "loanamount" in page.inner_text("#upload-roles")
    pick(page, "txn_date", "approveddate")
    pick(page, "repayment_date", "closeddate")
    page.wait_for_selector("#upload-shape:has-text('detected shape: transactions')", timeout=20_000)
    screenshot(page, "upload.png", store_dir)
    page.click("#upload-fit")
    wait_fitted(page, "loans.csv", store_dir)
    assert main(["run", str(path), "--out", str(tmp_path / "cli"), "--map",
                 "customer_id=customerid,txn_date=approveddate,amount=loanamount,repayment_date=closeddate"]) == 0
    expected = pd.read_csv(tmp_path / "cli" / "customer_segments.csv", dtype={"customer_id": str})
    page.wait_for_function(f"document.querySelector('#kpi-customers').innerText == '{len(expected):,}'",
                           timeout=30_000)
    with page.expect_download() as download:
        page.click("#export-csv")
    shown = pd.read_csv(download.value.path(), dtype={"customer_id": str})
    merged = shown.merge(expected, on="customer_id", suffixes=("", "_cli"))
    assert len(merged) == len(expected)
    assert (merged["segment"] == merged["segment_cli"]).all()


def read_as(page, option: str, value: str) -> None:
    """Type a reading option of the upload view (read when Enter is pressed)."""
    field = page.locator(f"input[id*='\"option\":\"{option}\"']")
    field.fill(value)
    field.press("Enter")


def test_reading_options_read_the_upload_again_and_fit_with_them(browser, server, store_dir, tmp_path):
    from test_dashboard_views import european_export

    path = tmp_path / "export.csv"
    path.write_bytes(european_export())
    page = open_page(browser, server)
    page.click("text=Your data")
    page.set_input_files("#upload input[type=file]", str(path))
    page.wait_for_selector("#upload-shape:has-text('detected shape: purchase log')", timeout=20_000)
    page.click("#upload-fit")  # the dates have two readings: the library's message, in the page
    page.wait_for_selector("#upload-status:has-text('--date-format %d/%m/%Y')", timeout=60_000)
    read_as(page, "encoding", "klingon")
    page.wait_for_selector("#upload-status:has-text('--encoding klingon: unknown encoding')", timeout=20_000)
    assert page.locator("#upload-fit").is_disabled()
    read_as(page, "encoding", "")
    read_as(page, "date_format", "%d/%m/%Y")
    page.click("button[id*='\"option\":\"decimal\"']")
    page.get_by_role("option", name=", (1,5)", exact=True).click()
    page.wait_for_function("!document.querySelector('#upload-fit').disabled", timeout=20_000)
    assert page.inner_text("#upload-status").strip() == ""
    page.click("#upload-fit")
    wait_fitted(page, "export.csv", store_dir)
    page.wait_for_function("document.querySelector('#kpi-customers').innerText == '80'", timeout=30_000)
