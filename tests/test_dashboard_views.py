"""The score, movement and upload-mapping views as plain functions: the score form gives assign's
segment, the movement view reads the history `score` writes (SQLite, DuckDB, PostgreSQL), and an
upload mapped in the page segments as the CLI does with the same --map."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pytest

from dashboard import figures
from dashboard.filters import ViewState, build_query, parse_query, state_for
from dashboard.store import DEMO_ID, DataStore
from dashboard.views import movement, score
from dashboard.views import upload as upload_view
from segmentation.book.explain import feature_scales
from segmentation.demo import demo_transactions, write_demo
from segmentation.demo.history import write_demo_history
from segmentation.errors import InputError
from segmentation.io.database import Database, DatabaseSource
from segmentation.jobs import score as score_job
from segmentation.outputs.migration import migration_table, read_history, scorings, segment_state

from conftest import shared_file

LOAN_MAP = {"customer_id": "customerid", "txn_date": "approveddate", "amount": "loanamount",
            "repayment_date": "closeddate"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("views")
    s = DataStore(root / "store")
    s.add(write_demo(root / "demo.csv", 1_200, seed=5), label="demo data", dataset_id=DEMO_ID)
    return s


@pytest.fixture(scope="module")
def ws(store):
    return store.get(DEMO_ID, "auto")


def contents(raw: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(raw).decode()


# -- score a customer ---------------------------------------------------------------------------


def test_the_form_has_one_field_per_feature_with_units_range_and_median(ws):
    fields = {f["feature"]: f for f in score.form_fields(ws)}
    assert list(fields) == ws.bundle.features
    frame = ws.frame
    assert fields["txn_count"]["label"] == "txn_count (count)" and fields["txn_count"]["step"] == 1
    assert fields["late_share"]["label"] == "late_share (share, 0 to 1)"
    assert fields["recency_days"]["label"] == "recency_days (days)"
    assert fields["avg_txn_amount"]["label"] == "avg_txn_amount (amount)"
    lo, med, hi = frame["txn_count"].min(), frame["txn_count"].median(), frame["txn_count"].max()
    assert fields["txn_count"]["hint"] == f"training {lo:,.0f} to {hi:,.0f}; median {med:,.0f}"
    assert fields["total_amount"]["hint"].startswith(f"training {frame['total_amount'].min():,.0f} to ")


def test_the_forms_segment_is_assigns_on_the_data_and_on_random_values(ws):
    # the data's customers, looked up by id as the page does
    sample = ws.frame.sample(120, random_state=0)
    for cid, expected in zip(sample["customer_id"], sample["segment"], strict=True):
        values = ws.customer(cid)
        assert values["customer_id"] == cid
        shown = dict(zip(ws.bundle.features, score.shown_values(ws, values), strict=True))  # what the form shows
        assert all(v is None or len(f"{v:.15g}".replace(".", "").replace("-", "").lstrip("0").rstrip("0")) <= 6
                   or v == values[f] for f, v in shown.items())
        out = score.score_panels(ws, shown)
        assert out["segment"] == expected
    # values nobody has seen, some fields left empty (scored with the median)
    rng = np.random.default_rng(3)
    scales = feature_scales(ws.bundle)
    rows = []
    for _ in range(300):
        row = {f: float(rng.uniform(s.low, s.high)) for f, s in scales.items()}
        row = {f: (None if rng.random() < 0.1 else (round(v) if scales[f].whole else v)) for f, v in row.items()}
        rows.append(row)
    rows = [r for r in rows if any(v is not None for v in r.values())]
    assigned = ws.bundle.assign(pd.DataFrame(rows).astype(float))["segment"].tolist()
    assert [score.score_panels(ws, r)["segment"] for r in rows] == assigned


def test_the_score_panels_show_name_action_moves_and_distances(ws):
    cid = ws.frame["customer_id"].iloc[7]
    values = {f: ws.customer(cid)[f] for f in ws.bundle.features}
    out = score.score_panels(ws, values)
    text = str(out["result"])
    row = ws.frame.iloc[7]
    assert row["segment_name"] in text and row["recommended_action"] in text
    explained = ws.bundle.explain(values)
    assert explained.moves and explained.moves[0].text in str(out["explain"])
    bars = out["distances"]["data"][0]
    assert len(bars["x"]) == ws.bundle.metadata["k"] and min(bars["x"]) == bars["x"][int(row["segment"])]
    empty = score.score_panels(ws, dict.fromkeys(ws.bundle.features))
    assert empty["segment"] is None and empty["result"] == score.EMPTY
    bad = score.score_panels(ws, {"txn_count": "lots"})
    assert bad["segment"] is None and "is not a number" in str(bad["result"])


def test_customer_lookup(ws):
    cid = ws.frame["customer_id"].iloc[0]
    assert ws.customer(cid.lower())["customer_id"] == cid
    assert ws.customer("nobody") is None and ws.customer("C") is None  # no partial matches


def test_url_keeps_every_views_state():
    state = ViewState(k="4", segments=[1], tab="score", customer="C0000012", before="2026-10-03T00:00:00",
                      after="2026-10-31T00:00:00", move_from=2, move_to=0)
    query = build_query(state)
    assert "cust=C0000012" in query and "mb=2026-10-03T00:00:00" in query and "mf=2" in query
    again = parse_query(query)
    assert (again.customer, again.before, again.after, again.move_from, again.move_to, again.tab) == (
        "C0000012", "2026-10-03T00:00:00", "2026-10-31T00:00:00", 2, 0, "score")
    # another k drops the old model's segments, not the customer or the scorings
    other = state_for({"dataset": "demo", "k": "3"}, query)
    assert other.segments is None and other.customer == "C0000012" and other.move_from == 2
    assert parse_query("?mf=x&tab=movement").move_from is None


# -- movement -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_history(ws, tmp_path_factory, store):
    """The demo data of the store scored every other week, as make run does."""
    folder = tmp_path_factory.mktemp("history")
    frame = demo_transactions(1_200, seed=5)
    url = f"sqlite:///{folder / 'history.db'}"
    write_demo_history(frame, ws.bundle, url, scorings=5)
    return url


def test_demo_history_ends_with_the_models_segments(ws, demo_history):
    history = read_history(demo_history)
    assert 2 <= len(scorings(history)) <= 5
    final = segment_state(history)["segment"]
    assert (final.reindex(ws.frame["customer_id"]).to_numpy() == ws.frame["segment"].to_numpy()).all()
    sizes = movement.segment_sizes(history)
    assert sizes.groupby("scored_at")["customers"].sum().is_monotonic_increasing  # customers only join


def test_movement_panels_from_the_demo_history(demo_history):
    history = read_history(demo_history)
    times = scorings(history)
    state = ViewState(before=times[0].isoformat(), after=times[-1].isoformat())
    out = movement.movement_panels(history, state)
    assert out["pick"]["before"] == times[0] and out["pick"]["after"] == times[-1]
    sankey = out["sankey"].data[0]
    assert sum(sankey.link.value) == len(segment_state(history, times[-1]))
    assert len(out["sizes"]["data"]) == history["segment"].nunique()
    assert len(out["sizes"]["layout"]["shapes"]) == 2  # the two scorings compared, marked
    # the default flow is the largest move between two segments, and the list is exactly it
    table = migration_table(history, times[0], times[-1])
    moved = table[table["from_segment"].notna() & (table["from_segment"] != table["to_segment"])]
    top = moved.sort_values("customers", ascending=False).iloc[0]
    assert (out["pick"]["move_from"], out["pick"]["move_to"]) == (top["from_segment"], top["to_segment"])
    rows = out["movers"]
    assert len(rows) == top["customers"] and f"{len(rows):,} customers from {int(top['from_segment'])}:" in out["note"]
    old, new = segment_state(history, times[0])["segment"], segment_state(history, times[-1])["segment"]
    assert (old[rows["customer_id"]] == top["from_segment"]).all() and (new[rows["customer_id"]] == top["to_segment"]).all()
    # a date that is not a scoring falls back to the last two scorings
    fallback = movement.movement_panels(history, ViewState(before="2001-01-01T00:00:00", after="nonsense"))
    assert fallback["pick"]["after"] == times[-1] and fallback["pick"]["before"] == times[-2]


def test_movers_export_is_the_list(demo_history):
    from dashboard.store import export_bytes

    history = read_history(demo_history)
    times = scorings(history)
    out = movement.movement_panels(history, ViewState(before=times[0].isoformat(), move_from=None, move_to=None))
    csv = pd.read_csv(io.BytesIO(export_bytes(out["movers"], ".csv")), dtype={"customer_id": str})
    assert csv["customer_id"].tolist() == out["movers"]["customer_id"].tolist()
    xlsx = pd.read_excel(io.BytesIO(export_bytes(out["movers"], ".xlsx")), dtype={"customer_id": str})
    assert len(xlsx) == len(csv)


def test_no_history_says_how_to_get_one(store):
    assert store.history(DEMO_ID) is None
    out = movement.movement_panels(None, ViewState())
    assert out["movers"] is None and "segmentation score" in out["note"]
    assert movement.movers_table(None) is None


def scored_twice(url: str, model_dir, frame: pd.DataFrame) -> None:
    """`score` run twice on a database, as a weekly job would: first on the older loans, then on all."""
    cut = frame["txn_date"].quantile(0.8)
    first = frame[frame["txn_date"] <= cut].copy()
    first.loc[first["repayment_date"] > cut, "repayment_date"] = pd.NaT
    for part in (first, frame):
        Database(url).replace_tables({"loans": part.astype({"txn_date": str, "repayment_date": str, "due_date": str})
                                     .replace({"NaT": None})})
        score_job(DatabaseSource(url, table="loans"), model_dir)


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb", "postgresql"])
def test_movement_reads_the_history_score_writes(request, demo_run, demo_csv, tmp_path, dialect):
    if dialect == "postgresql":
        postgres, db = request.getfixturevalue("postgres"), request.getfixturevalue("pg_db")
        url = postgres.url(db)
    else:
        url = f"{dialect}:///{tmp_path / ('h.' + dialect)}"
    frame = pd.read_csv(demo_csv, dtype={"customer_id": str}, parse_dates=["txn_date", "repayment_date", "due_date"])
    scored_twice(url, demo_run / "model", frame)
    store = DataStore(tmp_path / "store")
    store.add(demo_run, label="run", dataset_id="run", history=url)
    history = store.history("run")
    assert len(scorings(history)) == 2
    label = store.history_label("run")
    assert str(tmp_path) not in label and "@" not in label
    assert {"sqlite": "h.sqlite (SQLite)", "duckdb": "h.duckdb (DuckDB)"}.get(dialect, label) == label
    assert dialect != "postgresql" or label == f"database {db} on 127.0.0.1 (PostgreSQL)"
    out = movement.movement_panels(history, ViewState())
    assert sum(out["sankey"].data[0].link.value) == frame["customer_id"].nunique()
    expected = pd.read_csv(demo_run / "customer_segments.csv", dtype={"customer_id": str}).set_index("customer_id")
    now = segment_state(history)["segment"]
    assert (now[expected.index] == expected["segment"]).all()  # the last scoring is the run's segments


def test_a_run_folders_own_database_is_its_history(demo_run, demo_csv, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    store = DataStore(tmp_path / "store")
    store.add(run, label="run", dataset_id="run")
    assert store.history_source("run") == f"sqlite:///{run / 'segmentation.db'}"
    assert store.history_label("run") == "segmentation.db (SQLite)"  # the page shows no server path
    assert store.history("run").empty  # a plain run keeps no history yet
    write_demo_history(demo_csv, run / "model", store.history_source("run"), scorings=3)  # what make run does
    assert len(scorings(store.history("run"))) >= 2
    assert store.get("run", "auto").frame["customer_id"].nunique() == 1_500  # its other tables are intact


# -- upload with mapping ----------------------------------------------------------------------


def test_the_nigerian_loans_upload_maps_and_segments_as_the_cli(store, tmp_path, cli):
    path = shared_file("loans_trainprevloans.csv")
    info = upload_view.read_upload(contents(path.read_bytes()), path.name, store, 50_000_000)
    # detection alone finds the id and the amount, not the date: a table, until the user maps it
    assert info["feature_set"] == "table"
    assert info["roles"]["customer_id"] == "customerid" and info["roles"]["amount"] == "loanamount"
    assert info["roles"]["txn_date"] is None
    # the detected roles alone (no date) leave it a table, as the picker first shows them
    assert upload_view.remap(store, info, info["roles"])["feature_set"] == "table"
    roles = {**info["roles"], "txn_date": "approveddate", "repayment_date": "closeddate"}
    mapped = upload_view.remap(store, info, roles)
    assert mapped["feature_set"] == "transactions" and "closeddate" in upload_view.upload_facts(mapped)
    assert upload_view.upload_choices(mapped)["id_options"] == []
    dataset = upload_view.fit_upload(store, mapped, None, None, session="lender", roles=roles)
    ws = store.get(dataset, "auto", owner="lender")
    assert len(ws.frame) == 4_359
    given = ",".join(f"{r}={c}" for r, c in roles.items() if c)
    code, _, err = cli("run", path, "--out", tmp_path / "cli", "--map", given)
    assert code == 0, err
    expected = pd.read_csv(tmp_path / "cli" / "customer_segments.csv", dtype={"customer_id": str})
    merged = ws.frame.merge(expected, on="customer_id", suffixes=("", "_cli"))
    assert len(merged) == len(expected) == 4_359
    assert (merged["segment"] == merged["segment_cli"]).all()
    assert (merged["segment_name"] == merged["segment_name_cli"]).all()


def test_a_column_for_two_roles_is_refused(store):
    path = shared_file("loans_trainprevloans.csv")
    info = upload_view.read_upload(contents(path.read_bytes()), path.name, store, 50_000_000)
    with pytest.raises(InputError, match="'approveddate' is picked for two roles"):
        upload_view.remap(store, info, {**info["roles"], "txn_date": "approveddate", "due_date": "approveddate"})


def test_a_parquet_upload_reads_as_its_csv(store, tmp_path):
    frame = demo_transactions(300, seed=9)
    csv = write_demo(tmp_path / "tx.csv", 300, seed=9)
    pq = tmp_path / "tx.parquet"
    frame.to_parquet(pq, index=False)
    from_csv = upload_view.read_upload(contents(csv.read_bytes()), "tx.csv", store, 10_000_000)
    from_pq = upload_view.read_upload(contents(pq.read_bytes()), "tx.parquet", store, 10_000_000)
    assert from_pq["feature_set"] == from_csv["feature_set"] == "transactions"
    assert from_pq["rows"] == from_csv["rows"] and from_pq["roles"] == from_csv["roles"]
    a = store.get(upload_view.fit_upload(store, from_csv, None, None, "pq"), owner="pq")
    b = store.get(upload_view.fit_upload(store, from_pq, None, None, "pq"), owner="pq")
    assert (a.frame["segment"].to_numpy() == b.frame["segment"].to_numpy()).all()


def test_distance_bars_mark_the_customers_segment():
    fig = figures.distance_bars({0: 2.0, 1: 0.5, 2: 3.0}, 1, {0: "A", 1: "B", 2: "C"})
    bar = fig["data"][0]
    assert bar["y"] == ["0: A", "1: B", "2: C"] and bar["marker"]["line"]["color"][1] == "#222"
    assert "this customer's segment" in bar["text"][1]


def test_the_link_keeps_only_what_the_user_picked(demo_history):
    history = read_history(demo_history)
    times = [t.isoformat() for t in scorings(history)]
    default = movement.chosen(history, ViewState())
    last_two = movement.url_choice(history, times[-2], times[-1], default["move_from"], default["move_to"])
    assert last_two == dict(before="", after="", move_from=None, move_to=None)
    # another first scoring: its own largest flow is the default, kept out as a pair
    flow = movement.chosen(history, ViewState(before=times[0]))
    kept = movement.url_choice(history, times[0], times[-1], flow["move_from"], flow["move_to"])
    assert kept == dict(before=times[0], after="", move_from=None, move_to=None)
    picked = movement.url_choice(history, times[0], times[-1], flow["move_from"], 3)
    assert (picked["move_from"], picked["move_to"]) == (flow["move_from"], 3)
    back = movement.movement_panels(history, ViewState(before=times[0], move_from=flow["move_from"], move_to=3))
    assert back["pick"]["move_from"] == flow["move_from"] and back["pick"]["move_to"] == 3


# -- how to read an upload ----------------------------------------------------------------------


def european_export(seed: int = 5) -> bytes:
    """A purchase log as Excel on a European Windows machine writes it: semicolons, Windows-1252
    (a euro sign), amounts with a thousands dot and a decimal comma, dates day first with every
    day 12 or less (no reading of them is ruled out: only --date-format says which)."""
    rng = np.random.default_rng(seed)
    lines = ["customer_id;txn_date;amount"]
    for c in range(80):
        for _ in range(rng.integers(1, 9)):
            cents = f",{rng.integers(0, 100):02d}" if rng.random() < 0.5 else ""
            lines.append(f"K{c:03d};{rng.integers(1, 13):02d}/{rng.integers(1, 13):02d}/2024;"
                         f"€ {rng.integers(1, 99)}.{rng.integers(0, 1000):03d}{cents}")
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


EUROPEAN = {"encoding": "cp1252", "sheet": "", "date_format": " %d/%m/%Y ", "decimal": ",", "thousands": None}


def test_reading_options_read_an_upload_as_the_cli_does(store, tmp_path, cli):
    raw = european_export()
    info = upload_view.read_upload(contents(raw), "export.csv", store, 10_000_000)
    assert info["feature_set"] == "purchases"
    with pytest.raises(InputError, match=r"txn_date is not a date.*--date-format %d/%m/%Y"):
        upload_view.fit_upload(store, info, None, None, "eu")  # the dates have two readings
    read = store.inspect_saved(info, None, EUROPEAN)
    assert read["token"] == info["token"] and read["rows"] == info["rows"]
    assert {k: read["options"][k] for k in EUROPEAN} == {**EUROPEAN, "sheet": None, "date_format": "%d/%m/%Y"}
    ws = store.get(upload_view.fit_upload(store, read, None, None, "eu", reading=EUROPEAN), owner="eu")

    (tmp_path / "export.csv").write_bytes(raw)
    code, _, err = cli("features", tmp_path / "export.csv", "--out", tmp_path / "f.csv", "--encoding", "cp1252",
                       "--decimal", ",", "--date-format", "%d/%m/%Y")
    assert code == 0, err
    expected = pd.read_csv(tmp_path / "f.csv", dtype={"customer_id": str}).set_index("customer_id")
    got = ws.frame.set_index("customer_id").loc[expected.index]
    assert len(expected) == len(ws.frame) == 80
    numeric = expected.select_dtypes("number").columns
    assert {"monetary", "frequency"} <= set(numeric) <= set(got.columns)
    np.testing.assert_allclose(got[numeric].to_numpy(float), expected[numeric].to_numpy(float), rtol=1e-9)
    # '€ 80.468' is 80,468 euros and '€ 3.120,50' 3,120.5: every average purchase is 1,000 to 99,999
    assert (expected["monetary"] / expected["frequency"]).between(1_000, 100_000).all()


def test_read_again_keeps_the_users_roles_where_the_columns_remain(store):
    info = store.inspect_saved(upload_view.read_upload(contents(european_export()), "e.csv", store, 10_000_000),
                               None, EUROPEAN)
    picked = ["amount", "no such column", "customer_id", None, None]
    assert upload_view.kept_roles(info, picked) == ["amount", "txn_date", "customer_id", None, None]


@pytest.mark.parametrize(("reading", "said"), [
    ({"date_format": "%d.%q.%Y"}, r"--date-format '%d.%q.%Y': %q is not supported"),
    ({"date_format": "%d/%m"}, r"needs a day \(%d\), a month \(%m or %b\) and a year"),
    ({"decimal": ",", "thousands": ","}, r"--thousands and --decimal cannot both be ','"),
    ({"thousands": "."}, r"--thousands and --decimal cannot both be '.'"),
    ({"encoding": "klingon"}, r"--encoding klingon: unknown encoding"),
])
def test_a_bad_reading_option_is_one_line_and_the_upload_stays(store, reading, said):
    info = upload_view.read_upload(contents(european_export()), "e.csv", store, 10_000_000)
    with pytest.raises(InputError, match=said) as error:
        store.inspect_saved(info, None, reading)
    assert "\n" not in str(error.value) and "Traceback" not in str(error.value)
    assert store.inspect_saved(info, None, EUROPEAN)["rows"] == info["rows"]  # corrected, it reads


def test_a_sheet_is_picked_by_name_and_a_missing_one_named(store, tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as book:
        pd.DataFrame({"note": ["exported by finance"]}).to_excel(book, sheet_name="Notes", index=False)
        demo_transactions(200, seed=4).to_excel(book, sheet_name="Loans", index=False)
        small = demo_transactions(100, seed=5).head(150)
        small.to_excel(book, sheet_name="Small", index=False)
    info = upload_view.read_upload(contents(path.read_bytes()), "book.xlsx", store, 10_000_000)
    assert info["feature_set"] == "transactions" and info["rows"] > len(small)  # the largest sheet by default
    read = store.inspect_saved(info, None, {"sheet": "Small"})
    assert read["feature_set"] == "transactions" and read["rows"] == len(small)
    with pytest.raises(InputError, match="Nope") as error:
        store.inspect_saved(info, None, {"sheet": "Nope"})
    assert "\n" not in str(error.value)
