"""Callbacks: thin wrappers around plain functions (tested without a browser).

Flow: the filter widgets write the URL query (``sync_url``); the panels read the URL
(``update_panels``), so a copied link always shows what the page shows. ``prepare`` (a
background callback) fits or loads the dataset's model for the asked k and publishes
``READY = {dataset, k}``; ``render_controls`` then builds the widgets for that model.
"""

from __future__ import annotations

import base64
import io
import tempfile
import uuid
from pathlib import Path

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from segmentation import feature_sets
from segmentation.errors import InputError
from segmentation.exports import neutralise_formulas
from segmentation.pipeline import detect_feature_set

from . import data, figures, ids
from .layout import SLIDER_SLOTS
from .state import ViewState, build_query, parse_query

KPI_IDS = [ids.KPI_CUSTOMERS, ids.KPI_TOTAL_AMOUNT, ids.KPI_AVG_AMOUNT, ids.KPI_REPAYMENT_DAYS, ids.KPI_LATE_SHARE]
#: What the upload view says of a detected shape (others: the feature set's title).
UPLOAD_SHAPES = {
    "transactions": "transactions (features are computed from the rows)",
    "purchases": "purchase log (recency, frequency, monetary value and RFM scores are computed from the rows)",
    "table": "customer table (pick the id column and the features)",
}


# -- plain functions ---------------------------------------------------------------------------


def workspace(store: data.DataStore, ready: dict | None, session: str | None) -> data.Workspace:
    if not ready:
        raise PreventUpdate
    return store.get(ready["dataset"], ready["k"], owner=session)


def segment_names(ws: data.Workspace) -> dict[int, str]:
    return dict(zip(ws.segments["segment"].astype(int), ws.segments["segment_name"], strict=True))


def slider_specs(ws: data.Workspace, state: ViewState) -> list[dict]:
    """Min, max, step and value of each slider slot for this dataset (unused slots hidden)."""
    specs = []
    for name in ws.slider_features()[:SLIDER_SLOTS]:
        values = ws.frame[name].dropna().to_numpy(dtype=float)
        lo, hi = float(np.floor(values.min())), float(np.ceil(values.max()))
        step = 1.0 if hi - lo > 20 else round((hi - lo) / 100, 6) or 1.0
        value = list(state.ranges.get(name, (lo, hi)))
        specs.append({"feature": name, "min": lo, "max": hi, "step": step, "value": value})
    return specs


def action_panel(ws: data.Workspace) -> list:
    """Per segment: colour, name, size, summary, plan and notification strategy."""
    items = []
    for s in ws.segments.itertuples():
        items.append(
            html.Div(
                [
                    html.Div(
                        [
                            html.Span(className="swatch", style={"background": figures.segment_color(s.segment)}),
                            html.Span(f"{s.segment}: {s.segment_name}", className="fw-semibold"),
                            html.Span(f"{int(s.size):,} customers ({s.share:.1%})", className="text-muted small ms-2"),
                        ]
                    ),
                    html.Div(s.summary, className="small"),
                    html.Div([html.Span("Plan: ", className="fw-semibold"), s.plan], className="small"),
                    html.Div(
                        [html.Span("Notify: ", className="fw-semibold"), f"{s.channel}, {s.timing}: {s.message}"],
                        className="small",
                    ),
                ],
                className="action-item",
            )
        )
    return items


def header_facts(ws: data.Workspace) -> list:
    meta = ws.bundle.metadata
    return [
        html.Span(ws.label, className="badge bg-primary me-2"),
        html.Span(f"{len(ws.frame):,} customers", className="me-3"),
        html.Span(f"{meta['feature_set']} data", className="me-3"),
        html.Span(f"k = {meta['k']}", className="me-2 fw-semibold"),
        html.Span(meta["k_reason"], className="text-muted small"),
    ]


def describe_table(ws: data.Workspace) -> dbc.Table:
    anova = ws.bundle.anova.copy()
    means = [c for c in anova.columns if c.startswith("mean_")]
    names = segment_names(ws)
    header = ["feature", "F", "p"] + [names.get(int(c[5:]), c) for c in means]
    rows = []
    for r in anova.itertuples(index=False):
        row = r._asdict()
        p = row["p_value"]
        cells = [row["feature"], f"{row['f_statistic']:,.1f}", "< 1e-16" if p < 1e-16 else f"{p:.2g}"]
        cells += [f"{row[c]:,.2f}" for c in means]
        rows.append(html.Tr([html.Td(c) for c in cells]))
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in header])), html.Tbody(rows)],
                     size="sm", striped=True, responsive=True, className="small")


def model_facts(ws: data.Workspace) -> list:
    meta = ws.bundle.metadata
    prefs = meta.get("k_preferences") or {}
    return [
        html.Div(meta["k_reason"]),
        html.Ul([html.Li(f"{name.replace('_', '-')}: k={k}") for name, k in prefs.items() if k is not None]),
        html.Div(f"features: {', '.join(meta['features'])}", className="text-muted"),
        html.Div(f"log-transformed: {', '.join(meta['log_features']) or 'none'}", className="text-muted"),
    ]


def normalise_selection(selected: dict | None) -> dict | None:
    """The scatter's box or lasso (plotly reports both in data units, log axes too), or None."""
    if not selected:
        return None
    if selected.get("lassoPoints"):
        xs, ys = selected["lassoPoints"]["x"], selected["lassoPoints"]["y"]
        return {"x": xs, "y": ys, "lasso": True}
    if selected.get("range"):
        return {"x": selected["range"]["x"], "y": selected["range"]["y"], "lasso": False}
    return None


def panels(ws: data.Workspace, search: str | None, selection: dict | None) -> dict:
    """Everything on the overview that depends on the filters, computed from one mask."""
    state = parse_query(search)
    base = data.filter_mask(ws, state.filters())
    mask = base if selection is None else data.filter_mask(ws, state.filters(selection))
    names = segment_names(ws)
    roles = ws.roles
    if "x" in roles:
        shown, total = data.scatter_sample(ws, base, figures.MAX_POINTS)
        scatter = figures.scatter_amount_frequency(
            shown, total, names, state.log_axes, roles["x"].label.lower(), roles["y"].label.lower()
        )
    else:
        scatter = figures.message_figure("This data has fewer than two numeric features to plot")
    box = roles.get("box")
    n = int(mask.sum())
    return {
        "kpis": data.kpis(ws, mask),
        "scatter": scatter,
        "box": figures.box_by_segment(data.box_table(ws, mask, box.column) if box else None, names,
                                      box.label if box else "Repayment days"),
        "ternary": figures.ternary_rfm(data.rfm_counts(ws, mask), names),
        "count": f"{n:,} of {len(ws.frame):,} customers shown",
        "selection_note": "" if selection is None else f"Scatter selection: {n:,} customers (applies to every other panel)",
    }


def pca_figure(ws: data.Workspace, names: dict[int, str]) -> dict:
    rows = np.sort(ws.shuffled()[: figures.MAX_POINTS])
    return figures.pca_scatter(ws.pca()[rows], ws.array("segment")[rows], len(ws.frame), names)


def table_columns(ws: data.Workspace) -> list[dict]:
    first = [{"field": "customer_id", "headerName": "customer_id", "pinned": "left"},
             {"field": "segment", "headerName": "segment", "maxWidth": 110},
             {"field": "segment_name", "headerName": "segment_name", "minWidth": 220}]
    numeric = [{"field": f, "headerName": f, "type": "numericColumn",
                "valueFormatter": {"function": "params.value == null ? '' : d3.format(',.2~f')(params.value)"}}
               for f in ws.features if f in ws.frame.columns]
    return first + numeric + [{"field": "recommended_action", "headerName": "recommended_action", "minWidth": 400}]


def export_file(ws: data.Workspace, search: str | None, selection: dict | None, kind: str) -> dict:
    """The filtered segment list as a download (CSV, XLSX or Tableau .hyper)."""
    state = parse_query(search)
    frame = data.export_frame(ws, data.filter_mask(ws, state.filters(selection)))
    stem = f"segments_{ws.label.replace(' ', '_')}"
    if kind == "csv":
        return dcc.send_data_frame(neutralise_formulas(frame).to_csv, f"{stem}.csv", index=False)
    if kind == "xlsx":
        buffer = io.BytesIO()
        neutralise_formulas(frame).to_excel(buffer, index=False, sheet_name="customer_segments")
        return dcc.send_bytes(buffer.getvalue(), f"{stem}.xlsx")
    import pantab

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{stem}.hyper"
        pantab.frame_to_hyper(frame, path, table="customer_segments")
        return dcc.send_bytes(path.read_bytes(), path.name)


def read_upload(contents: str, filename: str, store: data.DataStore, max_bytes: int) -> dict:
    """Save an upload server-side and detect its shape; the browser keeps only a token."""
    try:
        _, encoded = contents.split(",", 1)
        raw = base64.b64decode(encoded)
    except (ValueError, AttributeError):
        raise InputError(f"{filename}: could not read the upload") from None
    data.check_upload(filename, raw, max_bytes)
    folder = store.root / "uploads"
    folder.mkdir(exist_ok=True)
    token = uuid.uuid4().hex
    path = folder / f"{token}{Path(filename).suffix.lower()}"
    path.write_bytes(raw)
    import duckdb

    from segmentation.sources import open_relation

    con = duckdb.connect()
    columns = open_relation(con, path, "upload")
    preview = con.execute("SELECT * FROM upload LIMIT 5").df()
    n_rows = con.execute("SELECT COUNT(*) FROM upload").fetchone()[0]
    if n_rows == 0:
        raise InputError(f"{filename} has no rows (only a header?)")
    shape = detect_feature_set(columns)
    numeric = [c for c in columns if pd.to_numeric(preview[c], errors="coerce").notna().all() and preview[c].notna().all()]
    return {"token": path.name, "filename": filename, "rows": int(n_rows), "columns": columns,
            "feature_set": shape, "numeric": numeric, "preview": preview.astype(str).to_dict("records")}


def upload_facts(info: dict) -> str:
    """What the upload view says of a file: its size and the shape detected."""
    shape = info["feature_set"]
    described = UPLOAD_SHAPES.get(shape, f"{feature_sets.get(shape).title} (its known columns are used)")
    return f"{info['filename']}: {info['rows']:,} rows, {len(info['columns'])} columns; detected shape: {described}"


def fit_upload(store: data.DataStore, upload: dict, id_column: str | None, features: list[str] | None,
               session: str, progress=None) -> str:
    """Register the uploaded file for this session and fit it; returns the dataset id."""
    path = store.root / "uploads" / Path(upload["token"]).name
    options: dict = {}
    if upload["feature_set"] == "table":
        options["feature_set"] = "table"
        if id_column:
            options["mapping"] = {"customer_id": id_column}
        if features:
            options["features"] = [f for f in features if f != id_column]
    dataset_id = store.add(path, label=upload["filename"], owner=session, options=options)
    store.get(dataset_id, "auto", owner=session, progress=progress)
    return dataset_id


def alert(message: str, color: str = "danger") -> tuple:
    return message, True, color


# -- registration ------------------------------------------------------------------------------


def register(app, store: data.DataStore, *, max_upload_bytes: int, manager) -> None:
    """Attach every callback to ``app``."""

    @app.callback(Output(ids.SESSION, "data"), Input(ids.SESSION, "data"))
    def ensure_session(session):
        # One random id per browser tab: whose uploads are whose.
        if session:
            raise PreventUpdate
        return uuid.uuid4().hex

    @app.callback(
        Output(ids.READY, "data"),
        Output(ids.ALERT, "children", allow_duplicate=True),
        Output(ids.ALERT, "is_open", allow_duplicate=True),
        Output(ids.ALERT, "color", allow_duplicate=True),
        Input(ids.DATASET, "data"),
        Input(ids.K_CHOOSER, "value"),
        Input(ids.SESSION, "data"),
        State(ids.URL, "search"),
        State(ids.READY, "data"),
        background=True,
        manager=manager,
        interval=300,
        progress=[Output(ids.FIT_PROGRESS, "value"), Output(ids.FIT_PROGRESS, "style")],
        running=[(Output(ids.K_CHOOSER, "disabled"), True, False)],
        prevent_initial_call="initial_duplicate",
    )
    def prepare(set_progress, dataset, k_value, session, search, ready):
        if not session:
            raise PreventUpdate
        dataset = dataset or data.DEMO_ID
        dataset_changed = ready is not None and ready.get("dataset") != dataset
        k = "auto" if dataset_changed else (k_value or parse_query(search).k)
        wanted = {"dataset": dataset, "k": str(k)}
        if wanted == ready:
            raise PreventUpdate

        def step(i, _label):
            set_progress((25 * i, {"visibility": "visible" if i < 4 else "hidden"}))

        try:
            store.get(dataset, k, owner=session, progress=step)
        except KeyError:
            wanted = {"dataset": data.DEMO_ID, "k": "auto"}
            return wanted, "That dataset is not available in this browser session; showing the demo.", True, "warning"
        except InputError as exc:
            return no_update, f"Could not fit k={k}: {exc}", True, "danger"
        return wanted, no_update, no_update, no_update

    @app.callback(
        Output(ids.HEADER_FACTS, "children"),
        Output(ids.SEGMENT_FILTER, "options"),
        Output(ids.SEGMENT_FILTER, "value"),
        *[Output(f"{ids.RANGE_SLIDER}-wrap-{i}", "style") for i in range(SLIDER_SLOTS)],
        *[Output(f"{ids.RANGE_LABEL}-{i}", "children") for i in range(SLIDER_SLOTS)],
        *[Output(f"{ids.RANGE_SLIDER}-{i}", prop) for i in range(SLIDER_SLOTS) for prop in ("min", "max", "step", "value")],
        Output(ids.CUSTOMER_SEARCH, "value"),
        Output(ids.LOG_AXES, "value"),
        Output(ids.K_CHOOSER, "value"),
        Output(ids.TABS, "active_tab"),
        Output(ids.ACTION_PANEL, "children"),
        Output(ids.MODEL_FACTS, "children"),
        Output(ids.K_CRITERIA, "figure"),
        Output(ids.PCA_PLOT, "figure"),
        Output(ids.DESCRIBE_TABLE, "children"),
        Output(ids.TABLE, "columnDefs"),
        Input(ids.READY, "data"),
        State(ids.URL, "search"),
        State(ids.SESSION, "data"),
    )
    def render_controls(ready, search, session):
        ws = workspace(store, ready, session)
        state = parse_query(search)
        if ready["k"] != state.k:  # another k: the URL's segments and ranges belonged to the old model
            state = ViewState(k=ready["k"], search=state.search, log_axes=state.log_axes, tab=state.tab)
        names = segment_names(ws)
        options = [{"label": html.Span([html.Span(className="swatch", style={"background": figures.segment_color(s)}),
                                        f"{s}: {n}"]), "value": s} for s, n in names.items()]
        segments = list(names) if state.segments is None else [s for s in state.segments if s in names]
        specs = slider_specs(ws, state)
        styles = [{"display": "block"} if i < len(specs) else {"display": "none"} for i in range(SLIDER_SLOTS)]
        labels = [specs[i]["feature"].replace("_", " ") if i < len(specs) else "" for i in range(SLIDER_SLOTS)]
        slider_props = []
        for i in range(SLIDER_SLOTS):
            spec = specs[i] if i < len(specs) else {"min": 0, "max": 1, "step": 1, "value": [0, 1]}
            slider_props += [spec["min"], spec["max"], spec["step"], spec["value"]]
        meta = ws.bundle.metadata
        return (
            header_facts(ws), options, segments, *styles, *labels, *slider_props,
            state.search, ["log"] if state.log_axes else [], ready["k"], state.tab, action_panel(ws),
            model_facts(ws), figures.k_criteria(pd.DataFrame(meta["k_selection"]), meta["k"], meta.get("k_preferences")),
            pca_figure(ws, names), describe_table(ws), table_columns(ws),
        )

    @app.callback(
        Output(ids.URL, "search"),
        Input(ids.SEGMENT_FILTER, "value"),
        *[Input(f"{ids.RANGE_SLIDER}-{i}", "value") for i in range(SLIDER_SLOTS)],
        Input(ids.CUSTOMER_SEARCH, "value"),
        Input(ids.LOG_AXES, "value"),
        Input(ids.TABS, "active_tab"),
        State(ids.READY, "data"),
        State(ids.SESSION, "data"),
        State(ids.URL, "search"),
        prevent_initial_call=True,
    )
    def sync_url(segments, *rest):
        *slider_values, search_text, log_value, tab, ready, session, search = rest
        ws = workspace(store, ready, session)
        names = segment_names(ws)
        ranges = {}
        for spec, value in zip(slider_specs(ws, ViewState()), slider_values, strict=False):
            if value and (value[0] > spec["min"] or value[1] < spec["max"]):
                ranges[spec["feature"]] = (value[0], value[1])
        state = ViewState(
            k=ready["k"],
            segments=None if set(segments or []) == set(names) else sorted(segments or []),
            search=(search_text or "").strip(),
            log_axes="log" in (log_value or []),
            ranges=ranges,
            tab=tab or "overview",
        )
        query = build_query(state)
        if query == (search or ""):
            raise PreventUpdate
        return query

    @app.callback(
        Output(ids.SEGMENT_FILTER, "value", allow_duplicate=True),
        *[Output(f"{ids.RANGE_SLIDER}-{i}", "value", allow_duplicate=True) for i in range(SLIDER_SLOTS)],
        Output(ids.CUSTOMER_SEARCH, "value", allow_duplicate=True),
        Output(ids.SELECTION, "data", allow_duplicate=True),
        Input(ids.RESET_FILTERS, "n_clicks"),
        State(ids.READY, "data"),
        State(ids.SESSION, "data"),
        prevent_initial_call=True,
    )
    def reset_filters(_, ready, session):
        ws = workspace(store, ready, session)
        specs = slider_specs(ws, ViewState())
        values = [specs[i]["value"] if i < len(specs) else [0, 1] for i in range(SLIDER_SLOTS)]
        return list(segment_names(ws)), *values, "", None

    @app.callback(
        Output(ids.SELECTION, "data"),
        Input(ids.SCATTER, "selectedData"),
        Input(ids.CLEAR_SELECTION, "n_clicks"),
        prevent_initial_call=True,
    )
    def store_selection(selected, _):
        if ctx.triggered_id == ids.CLEAR_SELECTION:
            return None
        return normalise_selection(selected)

    @app.callback(
        *[Output(k, "children") for k in KPI_IDS],
        *[Output(f"{k}-delta", "children") for k in KPI_IDS],
        *[Output(f"{k}-label", "children") for k in KPI_IDS],
        Output(ids.SCATTER, "figure"),
        Output(ids.BOX_REPAYMENT, "figure"),
        Output(ids.TERNARY, "figure"),
        Output(ids.FILTER_COUNT, "children"),
        Output(ids.SELECTION_NOTE, "children"),
        Output(ids.TABLE_VERSION, "data"),
        Output(ids.TABLE_NOTE, "children"),
        Input(ids.URL, "search"),
        Input(ids.SELECTION, "data"),
        Input(ids.READY, "data"),
        State(ids.SESSION, "data"),
        State(ids.TABLE_VERSION, "data"),
    )
    def update_panels(search, selection, ready, session, version):
        ws = workspace(store, ready, session)
        out = panels(ws, search, selection)
        cards = out["kpis"]
        # A new selection must not redraw the scatter it was drawn on (it would vanish).
        scatter = no_update if ctx.triggered_id == ids.SELECTION and selection is not None else out["scatter"]
        return (
            *[c.value for c in cards], *[c.delta for c in cards], *[c.label for c in cards],
            scatter, out["box"], out["ternary"],
            out["count"], out["selection_note"], (version or 0) + 1,
            f"{out['count']}; sort by clicking a column header. Rows load as you scroll.",
        )

    @app.callback(
        Output(ids.TABLE, "getRowsResponse"),
        Input(ids.TABLE, "getRowsRequest"),
        State(ids.URL, "search"),
        State(ids.SELECTION, "data"),
        State(ids.READY, "data"),
        State(ids.SESSION, "data"),
    )
    def table_rows(request, search, selection, ready, session):
        if not request:
            raise PreventUpdate
        ws = workspace(store, ready, session)
        mask = data.filter_mask(ws, parse_query(search).filters(selection))
        rows, total = data.table_rows(ws, mask, request["startRow"], request["endRow"], request.get("sortModel"))
        return {"rowData": rows, "rowCount": total}

    # The grid caches rows; when the filters change, empty its cache so it asks again.
    app.clientside_callback(
        "async function(version) {"
        f"  const api = await dash_ag_grid.getApiAsync('{ids.TABLE}');"
        "  if (api) { api.purgeInfiniteCache(); }"
        "}",
        Input(ids.TABLE_VERSION, "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ids.DOWNLOAD, "data"),
        Input(ids.EXPORT_CSV, "n_clicks"),
        Input(ids.EXPORT_XLSX, "n_clicks"),
        Input(ids.EXPORT_HYPER, "n_clicks"),
        State(ids.URL, "search"),
        State(ids.SELECTION, "data"),
        State(ids.READY, "data"),
        State(ids.SESSION, "data"),
        prevent_initial_call=True,
    )
    def export(_csv, _xlsx, _hyper, search, selection, ready, session):
        kind = {ids.EXPORT_CSV: "csv", ids.EXPORT_XLSX: "xlsx", ids.EXPORT_HYPER: "hyper"}[ctx.triggered_id]
        return export_file(workspace(store, ready, session), search, selection, kind)

    @app.callback(
        Output(ids.UPLOAD_FILE, "data"),
        Output(ids.UPLOAD_PREVIEW, "children"),
        Output(ids.UPLOAD_ID_COLUMN, "options"),
        Output(ids.UPLOAD_ID_COLUMN, "value"),
        Output(ids.UPLOAD_FEATURES, "options"),
        Output(ids.UPLOAD_FEATURES, "value"),
        Output(ids.UPLOAD_FIT, "disabled"),
        Output(ids.UPLOAD_STATUS, "children"),
        Input(ids.UPLOAD, "contents"),
        State(ids.UPLOAD, "filename"),
        prevent_initial_call=True,
    )
    def on_upload(contents, filename):
        try:
            info = read_upload(contents, filename or "upload", store, max_upload_bytes)
        except InputError as exc:
            message = dbc.Alert(str(exc), color="danger", className="mb-0")
            return no_update, no_update, no_update, no_update, no_update, no_update, no_update, message
        preview = dbc.Table.from_dataframe(pd.DataFrame(info["preview"]), size="sm", striped=True,
                                           responsive=True, className="small")
        shape = info["feature_set"]
        facts = html.Div(upload_facts(info), className="small fw-semibold mb-2")
        columns = [{"label": c, "value": c} for c in info["columns"]]
        numeric = [c for c in info["numeric"] if c != info["columns"][0]]
        is_table = shape == "table"
        return (
            info, [facts, preview], columns if is_table else [], info["columns"][0] if is_table else None,
            [{"label": c, "value": c} for c in info["numeric"]] if is_table else [], numeric if is_table else [],
            False, "",
        )

    @app.callback(
        Output(ids.DATASET, "data"),
        Output(ids.UPLOAD_STATUS, "children", allow_duplicate=True),
        Output(ids.TABS, "active_tab", allow_duplicate=True),
        Input(ids.UPLOAD_FIT, "n_clicks"),
        State(ids.UPLOAD_FILE, "data"),
        State(ids.UPLOAD_ID_COLUMN, "value"),
        State(ids.UPLOAD_FEATURES, "value"),
        State(ids.SESSION, "data"),
        background=True,
        manager=manager,
        interval=400,
        progress=[Output(ids.UPLOAD_PROGRESS, "value"), Output(ids.UPLOAD_PROGRESS, "style")],
        running=[(Output(ids.UPLOAD_FIT, "disabled"), True, False)],
        prevent_initial_call=True,
    )
    def fit_uploaded(set_progress, _, upload, id_column, features, session):
        if not upload:
            raise PreventUpdate

        def step(i, _label):
            set_progress((25 * i, {"visibility": "visible" if i < 4 else "hidden"}))

        try:
            dataset_id = fit_upload(store, upload, id_column, features, session, progress=step)
        except InputError as exc:
            return no_update, dbc.Alert(str(exc), color="danger", className="mb-0"), no_update
        done = dbc.Alert(f"Fitted {upload['filename']}: see the Overview.", color="success", className="mb-0")
        return dataset_id, done, "overview"

    @app.callback(Output(ids.DATASET, "data", allow_duplicate=True), Input(ids.USE_DEMO, "n_clicks"),
                  prevent_initial_call=True)
    def use_demo(_):
        return data.DEMO_ID
