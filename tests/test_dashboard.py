"""Dashboard logic as plain functions: filters, KPIs, figures, URL state, exports, uploads."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pantab
import pytest

import dashboard.store
from dashboard import aggregates, figures
from dashboard.filters import Filters, ViewState, build_query, filter_mask, parse_query, state_for
from dashboard.format import money
from dashboard.store import DEMO_ID, DataStore, Workspace
from dashboard.views import overview
from dashboard.views import upload as upload_view
from segmentation.demo import write_demo
from segmentation.errors import InputError


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    demo = write_demo(root / "demo.csv", 1_200, seed=5)
    s = DataStore(root / "store")
    s.add(demo, label="demo data", dataset_id=DEMO_ID)
    return s


@pytest.fixture(scope="module")
def ws(store):
    return store.get(DEMO_ID, "auto")


def test_workspace_holds_the_library_segments(ws):
    assert len(ws.frame) == 1_200
    assert ws.bundle.metadata["k"] == ws.frame["segment"].nunique()
    expected = ws.bundle.assign(ws.frame.drop(columns=["segment", "segment_name", "recommended_action"]))
    assert (expected["segment"].to_numpy() == ws.frame["segment"].to_numpy()).all()
    assert set(ws.rfm.columns) == {"r_score", "f_score", "m_score"} and ws.rfm.isin(range(1, 6)).all().all()


def test_filter_mask_by_segment_range_search_and_selection(ws):
    frame = ws.frame
    m = filter_mask(ws, Filters(segments=(0, 2)))
    assert m.sum() == frame["segment"].isin([0, 2]).sum()
    m = filter_mask(ws, Filters(ranges=(("txn_count", 5, 10),)))
    assert m.sum() == frame["txn_count"].between(5, 10).sum()
    m = filter_mask(ws, Filters(search="c00001"))
    assert m.sum() == frame["customer_id"].str.contains("C00001").sum() > 0
    box = {"x": [1_000, 5_000], "y": [2, 10], "lasso": False}
    m = filter_mask(ws, Filters(selection=box))
    assert m.sum() == (frame["avg_txn_amount"].between(1_000, 5_000) & frame["txn_count"].between(2, 10)).sum()
    lasso = {"x": [1_000, 5_000, 5_000, 1_000], "y": [2, 2, 10, 10], "lasso": True}
    assert filter_mask(ws, Filters(selection=lasso)).sum() <= m.sum()
    # a slider left at its full extent keeps customers with a missing value
    lo, hi = frame["avg_repayment_days"].min(), frame["avg_repayment_days"].max()
    assert filter_mask(ws, Filters(ranges=(("avg_repayment_days", lo, hi),))).all()


def test_kpis_match_pandas_and_compare_to_everyone(ws):
    mask = (ws.frame["segment"] == 1).to_numpy()
    cards = {c.id: c for c in aggregates.kpis(ws, mask)}
    part = ws.frame[mask]
    assert cards["kpi-customers"].value == f"{len(part):,}"
    assert cards["kpi-customers"].delta == f"{len(part) / len(ws.frame):.1%} of {len(ws.frame):,}"
    avg = part["total_amount"].sum() / part["txn_count"].sum()
    assert cards["kpi-avg-amount"].value == money(avg)
    late, late_all = part["late_share"].mean(), ws.frame["late_share"].mean()
    assert cards["kpi-late-share"].value == f"{late:.1%}"
    assert cards["kpi-late-share"].delta.startswith(f"{(late - late_all) / late_all:+.1%} vs all")
    assert cards["kpi-total-amount"].value == money(part["total_amount"].sum())
    assert cards["kpi-repayment-days"].value == f"{part['avg_repayment_days'].mean():,.1f} days"
    assert [c.label for c in cards.values()] == [
        "Customers", "Total amount", "Avg transaction amount", "Avg repayment days", "Late-repayment share"
    ]
    empty = {c.id: c for c in aggregates.kpis(ws, np.zeros(len(ws.frame), bool))}
    assert empty["kpi-customers"].value == "0" and empty["kpi-total-amount"].value == "-"


def test_panels_follow_url_filters_and_selection(ws):
    out = overview.panels(ws, "?seg=0", None)
    n0 = int((ws.frame["segment"] == 0).sum())
    assert out["count"] == f"{n0:,} of 1,200 customers shown"
    assert {t["name"].split(":")[0] for t in out["box"]["data"]} == {"0"}
    assert sum(sum(t["customdata"]) for t in out["ternary"]["data"]) == n0  # markers count customers
    sel = {"x": [0, 1e9], "y": [0, 3], "lasso": False}
    with_sel = overview.panels(ws, "?seg=0", sel)
    n_sel = int(((ws.frame["segment"] == 0) & (ws.frame["txn_count"] <= 3)).sum())
    assert with_sel["count"].startswith(f"{n_sel:,} of")
    # the scatter keeps every filtered customer: the selection filters the other panels
    assert sum(len(t["customdata"]) for t in with_sel["scatter"]["data"]) == n0


def test_scatter_samples_large_data_and_states_the_true_count(ws):
    mask = np.ones(len(ws.frame), dtype=bool)
    shown, total = aggregates.scatter_sample(ws, mask, 500)
    assert len(shown) == 500 and total == 1_200 and shown["customer_id"].is_unique
    fig = figures.scatter_amount_frequency(shown, total, {})
    assert sum(len(t["customdata"]) for t in fig["data"]) == 500
    assert "a random 500 of 1,200 customers" in fig["layout"]["title"]["text"]
    assert all(t["type"] == "scattergl" for t in fig["data"])
    # the typed arrays decode to the plotted values
    first = fig["data"][0]
    x = np.frombuffer(base64.b64decode(first["x"]["bdata"]), dtype="<f8")
    expected = ws.frame.set_index("customer_id").loc[first["customdata"], "avg_txn_amount"].to_numpy()
    np.testing.assert_array_equal(x, expected)
    # the same customers stay on the plot when a filter narrows the data
    narrower = mask & (ws.array("segment") != 0)
    again, _ = aggregates.scatter_sample(ws, narrower, 500)
    kept = set(shown.loc[shown["segment"] != 0, "customer_id"])
    assert kept <= set(again["customer_id"])


def test_log_axes_are_labelled_with_whole_numbers_over_the_data(ws):
    shown, total = aggregates.scatter_sample(ws, np.ones(len(ws.frame), dtype=bool), 2_000)
    fig = figures.scatter_amount_frequency(shown, total, {})
    for axis, column in (("xaxis", "x"), ("yaxis", "y")):
        ticks, labels = fig["layout"][axis]["tickvals"], fig["layout"][axis]["ticktext"]
        low, high = shown[column][shown[column] > 0].min(), shown[column].max()
        assert ticks[0] <= low * 2 and ticks[-1] >= high / 2.5  # the ticks span the data
        assert {f"{t:.0e}"[0] for t in ticks} <= {"1", "2", "5"}
        assert labels == [f"{t:,.0f}" if t >= 1 else f"{t:g}" for t in ticks]
    assert "tickvals" not in figures.scatter_amount_frequency(shown, total, {}, log_axes=False)["layout"]["xaxis"]


def test_box_plot_sends_quartiles_not_points(ws):
    everyone = np.ones(len(ws.frame), dtype=bool)
    fig = figures.box_by_segment(aggregates.box_table(ws, everyone, "avg_repayment_days"), {})
    seg0 = ws.frame.loc[ws.frame["segment"] == 0, "avg_repayment_days"].dropna()
    trace = next(t for t in fig["data"] if t["x"][0] == "0")
    assert trace["median"][0] == pytest.approx(seg0.median())
    assert trace["q3"][0] == pytest.approx(seg0.quantile(0.75))
    assert "y" not in trace
    assert aggregates.box_table(ws, everyone, "no_such_column") is None
    assert "No repayment data" in figures.box_by_segment(None, {})["layout"]["annotations"][0]["text"]


def test_rfm_counts_add_up_per_segment(ws):
    mask = ws.array("segment") == 1
    counts = aggregates.rfm_counts(ws, mask)
    expected = ws.rfm[mask].value_counts()
    assert counts["n"].sum() == mask.sum() and set(counts["segment"]) == {1}
    for row in counts.itertuples():
        assert expected[(row.r_score, row.f_score, row.m_score)] == row.n


def test_url_state_round_trip_and_forgiving_parse():
    state = ViewState(k="4", segments=[2, 0], search="C001", log_axes=False,
                      ranges={"txn_count": (3.0, 20.0)}, tab="model")
    again = parse_query(build_query(state))
    assert again.k == "4" and again.segments == [0, 2] and again.search == "C001"
    assert again.log_axes is False and again.ranges == {"txn_count": (3.0, 20.0)} and again.tab == "model"
    assert build_query(ViewState()) == ""
    odd = parse_query("?k=many&seg=a,b&r.x=1~&tab=evil&q=ok")
    assert odd.k == "auto" and odd.segments is None and odd.ranges == {} and odd.tab == "overview" and odd.search == "ok"


def test_a_new_k_drops_the_old_models_segments_and_ranges_from_the_url_state():
    search = "?k=4&seg=0,2&q=C001&log=0&r.txn_count=3~20&tab=model"
    same = state_for({"dataset": "demo", "k": "4"}, search)
    assert same.segments == [0, 2] and same.ranges == {"txn_count": (3.0, 20.0)}
    other = state_for({"dataset": "demo", "k": "3"}, search)
    assert other.k == "3" and other.segments is None and other.ranges == {}
    assert other.search == "C001" and other.log_axes is False and other.tab == "model"


def test_slider_slots_take_their_range_from_the_data_and_value_from_the_url(ws):
    specs = overview.slider_specs(ws, parse_query("?r.txn_count=3~12"))
    assert [s["feature"] for s in specs] == ws.slider_features() and len(specs) <= overview.SLIDER_SLOTS
    count = next(s for s in specs if s["feature"] == "txn_count")
    assert count["value"] == [3.0, 12.0]
    assert count["min"] <= ws.frame["txn_count"].min() and count["max"] >= ws.frame["txn_count"].max()
    others = [s for s in specs if s["feature"] != "txn_count"]
    assert all(s["value"] == [s["min"], s["max"]] for s in others)


def decode(download: dict) -> bytes:
    content = download["content"]
    return base64.b64decode(content) if download.get("base64") else content.encode()


def test_exports_hold_exactly_the_filtered_rows(ws, tmp_path):
    expected = set(ws.frame.loc[ws.frame["segment"].isin([1, 2]), "customer_id"])
    csv = pd.read_csv(io.BytesIO(decode(overview.export_file(ws, "?seg=1,2", None, ".csv"))), dtype={"customer_id": str})
    assert set(csv["customer_id"]) == expected and len(csv) == len(expected)
    assert list(csv.columns[:4]) == ["customer_id", "segment", "segment_name", "recommended_action"]
    xlsx = pd.read_excel(io.BytesIO(decode(overview.export_file(ws, "?seg=1,2", None, ".xlsx"))), dtype={"customer_id": str})
    assert set(xlsx["customer_id"]) == expected
    hyper = tmp_path / "x.hyper"
    hyper.write_bytes(decode(overview.export_file(ws, "?seg=1,2", None, ".hyper")))
    assert set(pantab.frame_from_hyper(hyper, table="customer_segments")["customer_id"]) == expected


def test_exported_cells_cannot_run_as_formulas(ws):
    frame = ws.frame.copy()
    frame["customer_id"] = frame["customer_id"].astype(object)
    for i, risky_text in enumerate(["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)"]):
        frame.loc[i, "customer_id"] = risky_text
    risky = Workspace("x", "x", "auto", ws.bundle, frame, ws.feature_set)
    text = decode(overview.export_file(risky, "", None, ".csv")).decode()
    assert all(f"'{t}" in text for t in ("=HYPERLINK", "+1+1", "-2+3", "@SUM(A1)"))
    sheet = pd.read_excel(io.BytesIO(decode(overview.export_file(risky, "", None, ".xlsx"))), dtype=str)
    assert list(sheet["customer_id"][:4]) == ["'=HYPERLINK(\"http://x\")", "'+1+1", "'-2+3", "'@SUM(A1)"]
    # numbers are not text: a negative amount stays a number
    assert not any(str(v).startswith("'") for v in sheet["avg_txn_amount"])


def test_table_rows_are_paged_and_sorted_on_the_server(ws):
    mask = (ws.frame["segment"] == 0).to_numpy()
    rows, total = aggregates.table_rows(ws, mask, 0, 50, [{"colId": "total_amount", "sort": "desc"}])
    assert total == mask.sum() and len(rows) == 50
    amounts = [r["total_amount"] for r in rows]
    assert amounts == sorted(amounts, reverse=True)
    assert amounts[0] == ws.frame.loc[mask, "total_amount"].max()


def test_store_reloads_fits_from_disk_without_refitting(store, ws, monkeypatch):
    def no_fit(*a, **k):
        raise AssertionError("refitted")

    monkeypatch.setattr(dashboard.store, "fit_bundle", no_fit)
    monkeypatch.setattr(DataStore, "_fit", no_fit)  # fits run in a child process the patch above does not reach
    again = DataStore(store.root).get(DEMO_ID, "auto")
    assert again.frame["segment"].equals(ws.frame["segment"])


def test_fixed_k_refits(store):
    ws3 = store.get(DEMO_ID, "3")
    assert ws3.frame["segment"].nunique() == 3 and ws3.bundle.metadata["k"] == 3


def upload_contents(raw: bytes) -> str:
    return "data:text/csv;base64," + base64.b64encode(raw).decode()


def test_upload_fit_and_isolation_between_sessions(store):
    rows = ["id,income,spend,city"] + [f"{i:04d},{20 + i % 50},{(i * 37) % 100},X" for i in range(60)]
    info = upload_view.read_upload(upload_contents("\n".join(rows).encode()), "mall.csv", store, 10_000_000)
    assert info["feature_set"] == "table" and info["rows"] == 60 and "income" in info["numeric"]
    assert "detected shape: customer table (pick the id column and the features): " in upload_view.upload_facts(info)
    choices = upload_view.upload_choices(info)  # a table: pick the id column and numeric features
    assert choices["id_column"] == "id" and choices["features"] == ["income", "spend"]
    dataset = upload_view.fit_upload(store, info, "id", ["income", "spend"], session="alice")
    ws = store.get(dataset, "auto", owner="alice")
    assert ws.frame["customer_id"].iloc[0] == "0000"  # ids kept as written
    assert ws.bundle.features == ["income", "spend"]
    with pytest.raises(KeyError):
        store.get(dataset, "auto", owner="bob")
    with pytest.raises(KeyError):
        store.meta("../" + dataset, owner="alice")
    out = overview.panels(ws, "", None)  # any table: its first two features, no money KPIs
    assert out["scatter"]["layout"]["xaxis"]["title"]["text"] == "income"
    assert out["scatter"]["layout"]["yaxis"]["title"]["text"] == "spend"
    assert out["box"]["layout"]["title"]["text"] == "income by segment"
    assert {c.id: c for c in out["kpis"]}["kpi-late-share"].value == "n/a"


# shape -> (scatter x, scatter y, box column, KPI labels after "Customers", has RFM scores)
SHAPE_PANELS = {
    "purchases": ("avg_order_value", "frequency", "recency_days",
                  ["Total spent", "Avg order value", "Avg days since last purchase", "Late-repayment share"], True),
    "ecommerce": ("avg_order_value", "number_of_orders", "recency",
                  ["Total spent", "Avg order value", "Avg recency", "Late-repayment share"], True),
    "creditcard": ("PURCHASES", "PURCHASES_TRX", "LIMIT_USAGE",
                   ["Total purchases", "Avg amount per transaction", "Avg balance", "Paid-in-full share"], False),
}


@pytest.mark.parametrize(
    ("shape", "said"),
    [("purchases", "purchase log (recency, frequency"), ("creditcard", "credit-card behaviour (its known columns")],
)
def test_upload_view_names_the_detected_shape(store, tmp_path, shape, said):
    raw = write_demo(tmp_path / f"{shape}.csv", 120, seed=2, shape=shape).read_bytes()
    info = upload_view.read_upload(upload_contents(raw), f"{shape}.csv", store, 10_000_000)
    assert info["feature_set"] == shape
    assert upload_view.upload_choices(info)["id_options"] == []  # a known shape needs no picking
    assert f"{shape}.csv: {info['rows']:,} rows" in upload_view.upload_facts(info) and said in upload_view.upload_facts(info)


@pytest.mark.parametrize("shape", sorted(SHAPE_PANELS))
def test_panels_fit_every_data_shape(tmp_path, shape):
    x, y, box, labels, has_rfm = SHAPE_PANELS[shape]
    store = DataStore(tmp_path / "store")
    store.add(write_demo(tmp_path / f"{shape}.csv", 800, seed=1, shape=shape), label=shape, dataset_id="d")
    ws = store.get("d", "auto")
    assert ws.feature_set == shape
    seg = ws.frame["segment"] == 0
    out = overview.panels(ws, "?seg=0", None)
    cards = out["kpis"]
    assert [c.label for c in cards[1:]] == labels
    total_col = ws.roles["total"].column
    assert cards[1].value == money(ws.frame.loc[seg, total_col].sum())
    # amount per transaction: total over count, not a mean of means
    per_txn = ws.frame.loc[seg, total_col].sum() / ws.frame.loc[seg, ws.roles["count"].column].sum()
    assert cards[2].value == money(per_txn)
    trace = out["scatter"]["data"][0]
    xs = np.frombuffer(base64.b64decode(trace["x"]["bdata"]), dtype="<f8")
    np.testing.assert_array_equal(xs, ws.frame.set_index("customer_id").loc[trace["customdata"], x].to_numpy())
    assert out["scatter"]["layout"]["yaxis"]["title"]["text"] == ws.roles["y"].label.lower()
    assert ws.roles["y"].column == y
    boxes = out["box"]["data"]
    assert len(boxes) == 1 and boxes[0]["median"][0] == pytest.approx(ws.frame.loc[seg, box].median())
    assert bool(out["ternary"]["data"]) == has_rfm
    if has_rfm:
        assert sum(sum(t["customdata"]) for t in out["ternary"]["data"]) == seg.sum()
    assert len(ws.slider_features()) == 4


@pytest.mark.parametrize(
    ("raw", "name", "limit", "message"),
    [
        (b"", "empty.csv", 1_000, "empty.csv is empty"),
        (b"a,b\n1,2\n" * 100, "big.csv", 100, "the limit is"),
        (b"%PDF-1.4 binary", "report.pdf", 1_000, "upload a CSV, Parquet, XLSX or JSON"),
        (b"a,b\n", "header.csv", 1_000, "has no rows"),
    ],
)
def test_bad_uploads_give_a_message(store, raw, name, limit, message):
    contents = upload_contents(raw) if raw else "data:text/csv;base64,"
    with pytest.raises(InputError, match=message):
        upload_view.read_upload(contents, name, store, limit)


def test_upload_with_fewer_rows_than_segments(store):
    info = upload_view.read_upload(upload_contents(b"id,x\n1,5\n2,6\n"), "tiny.csv", store, 1_000)
    with pytest.raises(InputError, match="too few to choose"):
        upload_view.fit_upload(store, info, "id", ["x"], session="carol")


def test_a_run_output_folder_shows_exactly_its_segments(demo_run, tmp_path):
    store = DataStore(tmp_path / "store")
    store.add(demo_run, label="run", dataset_id="run")
    ws = store.get("run", "auto")
    expected = pd.read_csv(demo_run / "customer_segments.csv", dtype={"customer_id": str})
    merged = ws.frame.merge(expected, on="customer_id", suffixes=("", "_run"))
    assert len(merged) == len(expected)
    assert (merged["segment"] == merged["segment_run"]).all()
    assert (merged["segment_name"] == merged["segment_name_run"]).all()
    assert ws.feature_set == "transactions" and ws.rfm is not None


def test_a_refit_at_another_k_is_the_run_at_that_k(demo_csv, tmp_path):
    """The dashboard's k chooser on a run folder refits with the run's own settings (caps,
    guardrails, seed): its segments are those of `segmentation run --k K` with the same options."""
    from segmentation.cli import main

    options = ["--cap-outliers", "95", "--min-segment-share", "0.02", "--seed", "3"]
    assert main(["run", str(demo_csv), "--out", str(tmp_path / "auto"), *options]) == 0
    assert main(["run", str(demo_csv), "--out", str(tmp_path / "k5"), "--k", "5", *options]) == 0
    store = DataStore(tmp_path / "store")
    store.add(tmp_path / "auto", label="run", dataset_id="run")
    ws = store.get("run", "5")
    expected = pd.read_csv(tmp_path / "k5" / "customer_segments.csv", dtype={"customer_id": str})
    merged = ws.frame.merge(expected, on="customer_id", suffixes=("", "_run"))
    assert len(merged) == len(expected)
    assert (merged["segment"] == merged["segment_run"]).all()
    assert ws.bundle.fit_options.random_state == 3 and ws.bundle.training_options.caps


def test_panels_asked_again_come_from_the_cache_and_equal_a_fresh_computation(ws):
    first = overview.cached_panels(ws, "?seg=1,0", None)
    assert overview.cached_panels(ws, "?seg=0,1", None) is first  # the same filters, written otherwise
    fresh = overview.panels(ws, "?seg=0,1", None)
    assert first["count"] == fresh["count"] and first["kpis"] == fresh["kpis"]
    assert overview.cached_panels(ws, "?seg=1", None)["count"] != first["count"]


def test_the_model_view_charts_the_dip_that_chose_k(ws):
    meta = ws.bundle.metadata
    fig = figures.k_criteria(pd.DataFrame(meta["k_selection"]), meta["k"], meta["k_preferences"])
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "Shallowest dip between segments" and len(titles) == 6
    dip = fig.data[0]
    assert list(dip.x) == [row["k"] for row in meta["k_selection"]]
    ringed = fig.data[1]  # the dip's own pick, ringed: the chosen k
    assert list(ringed.x) == [meta["k_preferences"]["separation"]] == [meta["k"]]
