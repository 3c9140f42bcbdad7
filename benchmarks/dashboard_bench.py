"""Dashboard speed: server time of a filter change and the size of the first page's data.

    python benchmarks/dashboard_bench.py 10000 100000 1000000

For each size: demo customers are generated and fitted once (not timed), then
- filter: median server time of the panels callback (KPIs, scatter, box, ternary) over several
  filter changes (segments, a range, a search);
- rows: the grid's first block of 100 sorted rows;
- payload: bytes of the first page's data (layout + the controls and panels callbacks' JSON).
Prints one markdown row per size.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import plotly

from dashboard import aggregates, views
from dashboard.filters import Filters, filter_mask
from dashboard.store import DEMO_ID, DataStore
from dashboard.views import frame, model, overview
from segmentation.demo import write_demo

FILTERS = ["?seg=0,1", "?seg=2", "?r.txn_count=3~12", "?q=C00012", "", "?seg=0,1,2&r.recency_days=0~100"]


def payload_bytes(ws) -> int:
    """Bytes of what the first page load sends: the layout, the panels, and everything the
    callbacks run on READY send (the model view's figures too, though that tab is not shown yet)."""
    panels = overview.panels(ws, "", None)
    first = {
        "layout": views.page(views.Settings(50)),
        "panels": [panels["scatter"], panels["box"], panels["ternary"], [c.__dict__ for c in panels["kpis"]]],
        "controls": [overview.action_panel(ws), overview.segment_options(ws), model.describe_table(ws),
                     overview.table_columns(ws), model.model_facts(ws), frame.header_facts(ws),
                     model.pca_figure(ws), model.k_figure(ws)],
        "rows": aggregates.table_rows(ws, filter_mask(ws, Filters()), 0, 100, None)[0],
    }
    return len(json.dumps(first, cls=plotly.utils.PlotlyJSONEncoder))


def usual_callback(ws, segments: list[int]) -> tuple[float, int]:
    """The usual Dash sample-app callback, for comparison: filter the whole frame with pandas,
    draw every point with plotly express, send the figures' JSON. (seconds, bytes)."""
    import plotly.express as px

    start = time.perf_counter()
    part = ws.frame[ws.frame["segment"].isin(segments)]
    scatter = px.scatter(part, x="avg_txn_amount", y="txn_count", color="segment_name", log_x=True, log_y=True,
                         render_mode="webgl", hover_data=["customer_id"])
    box = px.box(part, x="segment", y="avg_repayment_days", color="segment_name")
    size = len(scatter.to_json()) + len(box.to_json())
    return time.perf_counter() - start, size


def bench(n: int, root: Path) -> dict:
    source = write_demo(root / f"tx_{n}.parquet", n, seed=0)
    store = DataStore(root / f"store_{n}")
    store.add(source, label="bench", dataset_id=DEMO_ID)
    t0 = time.perf_counter()
    ws = store.get(DEMO_ID, "auto")
    fit = time.perf_counter() - t0
    times = []
    for search in FILTERS * 2:
        t0 = time.perf_counter()
        out = overview.panels(ws, search, None)
        json.dumps([out["scatter"], out["box"], out["ternary"]], cls=plotly.utils.PlotlyJSONEncoder)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    mask = filter_mask(ws, Filters(segments=(0, 1)))
    aggregates.table_rows(ws, mask, 0, 100, [{"colId": "total_amount", "sort": "desc"}])
    rows = time.perf_counter() - t0
    usual = [usual_callback(ws, segments) for segments in ([0, 1], [2], [0, 1, 2, 3])]
    return {"n": n, "fit_s": fit, "filter_ms": 1000 * statistics.median(times), "filter_max_ms": 1000 * max(times),
            "rows_ms": 1000 * rows, "payload_mb": payload_bytes(ws) / 1e6,
            "usual_ms": 1000 * statistics.median(t for t, _ in usual), "usual_mb": max(b for _, b in usual) / 1e6}


def main(sizes: list[int]) -> None:
    print("| customers | fit (s, once) | filter change, median (ms) | max (ms) | grid block (ms) | first-page data (MB) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            r = bench(n, Path(tmp))
            print(f"| {r['n']:,} | {r['fit_s']:.1f} | {r['filter_ms']:.0f} | {r['filter_max_ms']:.0f} | "
                  f"{r['rows_ms']:.0f} | {r['payload_mb']:.2f} |", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000])
