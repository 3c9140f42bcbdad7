"""The overview: the filter sidebar, KPI cards, scatter, box and RFM plots, segment actions, the
customer table and exports.

The filter widgets write the URL query (``sync_url``); the panels read the URL
(``update_panels``), so a copied link always shows what the page shows.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import numpy as np
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from .. import aggregates, figures, ids
from ..components import card, graph, kpi_card, swatch
from ..filters import ViewState, build_query, normalise_selection, parse_query, state_for, url_mask
from ..store import DataStore, Workspace, export_bytes
from .frame import workspace

if TYPE_CHECKING:
    from . import Settings

TAB_ID, LABEL = "overview", "Overview"
#: Slots for feature range sliders; each is filled (or hidden) for the dataset shown.
SLIDER_SLOTS = 4
EXPORT_NOTE = "Exports hold exactly the customers the filters show."
EXPORTS = {ids.EXPORT_CSV: ".csv", ids.EXPORT_XLSX: ".xlsx", ids.EXPORT_HYPER: ".hyper"}
UNUSED_SLOT = {"min": 0, "max": 1, "step": 1, "value": [0, 1]}


def slot(kind: str, i: int | object) -> dict:
    """The id of slider slot ``i`` (or of every slot, with ``dash.ALL``)."""
    return {"type": kind, "slot": i}


# -- layout ------------------------------------------------------------------------------------


def controls() -> dbc.Card:
    """The filter sidebar (the dbc gallery's `controls` card)."""
    sliders = [
        html.Div(
            [
                html.Div(id=slot(ids.RANGE_LABEL, i), className="small fw-semibold"),
                dcc.RangeSlider(id=slot(ids.RANGE_SLIDER, i), min=0, max=1, value=[0, 1], allowCross=False,
                                tooltip={"placement": "bottom", "always_visible": False}, marks=None),
            ],
            id=slot(ids.RANGE_WRAP, i),
            className="mb-2",
            style={"display": "none"},
        )
        for i in range(SLIDER_SLOTS)
    ]
    return card(
        "Filters",
        [
            html.Div("Segments", className="small fw-semibold"),
            dcc.Checklist(id=ids.SEGMENT_FILTER, options=[], value=[], className="segment-checklist mb-3",
                          inputClassName="form-check-input me-2", labelClassName="d-block"),
            *sliders,
            html.Div("Customer id", className="small fw-semibold mt-2"),
            dbc.Input(id=ids.CUSTOMER_SEARCH, placeholder="search ids, e.g. C00012", debounce=True, type="search",
                      className="mb-3"),
            dbc.Checklist(id=ids.LOG_AXES, options=[{"label": "log axes on the scatter", "value": "log"}],
                          value=["log"], switch=True, className="mb-2"),
            html.Div(id=ids.SELECTION_NOTE, className="small text-muted mb-2"),
            dbc.ButtonGroup(
                [
                    dbc.Button("Clear selection", id=ids.CLEAR_SELECTION, size="sm", outline=True, color="secondary"),
                    dbc.Button("Reset filters", id=ids.RESET_FILTERS, size="sm", outline=True, color="secondary"),
                ],
                className="mb-3",
            ),
            html.Div(id=ids.FILTER_COUNT, className="fw-semibold mb-2"),
            html.Div("Export the filtered list", className="small fw-semibold"),
            dbc.ButtonGroup(
                [
                    dbc.Button("CSV", id=ids.EXPORT_CSV, color="primary", size="sm"),
                    dbc.Button("XLSX", id=ids.EXPORT_XLSX, color="primary", size="sm", outline=True),
                    dbc.Button("Tableau .hyper", id=ids.EXPORT_HYPER, color="primary", size="sm", outline=True),
                ],
                className="mb-1",
            ),
            html.Div(EXPORT_NOTE, className="small text-muted"),
        ],
        id="controls",
    )


def layout(settings: Settings) -> dbc.Row:
    kpi_row = [kpi_card(kpi_id, label) for kpi_id, label in
               [(ids.KPI_CUSTOMERS, "Customers"), *((kpi_id, label) for kpi_id, _, label in aggregates.KPI_CARDS)]]
    return dbc.Row(
        [
            dbc.Col(controls(), lg=3),
            dbc.Col(
                [
                    dbc.Row(kpi_row, id=ids.KPI_ROW),
                    dbc.Row(
                        [
                            dbc.Col(card("Amount vs frequency (box or lasso select to cross-filter)", graph(ids.SCATTER)), xl=7),
                            dbc.Col(card("Spread by segment", graph(ids.BOX_REPAYMENT)), xl=5),
                        ]
                    ),
                    dbc.Row(
                        [
                            dbc.Col(card("RFM", graph(ids.TERNARY)), xl=5),
                            dbc.Col(card("Segments and recommended actions", html.Div(id=ids.ACTION_PANEL,
                                         className="action-panel")), xl=7),
                        ]
                    ),
                    card(
                        "Customers",
                        [
                            html.Div(id=ids.TABLE_NOTE, className="small text-muted mb-2"),
                            dag.AgGrid(
                                id=ids.TABLE,
                                rowModelType="infinite",
                                columnDefs=[],
                                defaultColDef={"sortable": True, "resizable": True, "filter": False, "minWidth": 110},
                                dashGridOptions={"cacheBlockSize": 100, "maxBlocksInCache": 20, "rowBuffer": 0,
                                                 "infiniteInitialRowCount": 100},
                                style={"height": "420px"},
                                className="ag-theme-alpine",
                            ),
                        ],
                    ),
                ],
                lg=9,
            ),
        ]
    )


# -- plain functions (tested without a browser) ------------------------------------------------


def slider_specs(ws: Workspace, state: ViewState) -> list[dict]:
    """Feature, min, max, step and value of each used slider slot for this dataset."""
    specs = []
    for name in ws.slider_features()[:SLIDER_SLOTS]:
        values = ws.frame[name].dropna().to_numpy(dtype=float)
        lo, hi = float(np.floor(values.min())), float(np.ceil(values.max()))
        step = 1.0 if hi - lo > 20 else round((hi - lo) / 100, 6) or 1.0
        value = list(state.ranges.get(name, (lo, hi)))
        specs.append({"feature": name, "min": lo, "max": hi, "step": step, "value": value})
    return specs


def segment_options(ws: Workspace) -> list[dict]:
    """The segment checklist: colour swatch and name per segment."""
    return [{"label": html.Span([swatch(s), f"{s}: {n}"]), "value": s}
            for s, n in aggregates.segment_names(ws).items()]


def action_panel(ws: Workspace) -> list:
    """Per segment: colour, name, size, summary, plan and notification strategy."""
    return [
        html.Div(
            [
                html.Div(
                    [
                        swatch(s.segment),
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
        for s in ws.segments.itertuples()
    ]


def table_columns(ws: Workspace) -> list[dict]:
    first = [{"field": "customer_id", "headerName": "customer_id", "pinned": "left"},
             {"field": "segment", "headerName": "segment", "maxWidth": 110},
             {"field": "segment_name", "headerName": "segment_name", "minWidth": 220}]
    numeric = [{"field": f, "headerName": f, "type": "numericColumn",
                "valueFormatter": {"function": "params.value == null ? '' : d3.format(',.2~f')(params.value)"}}
               for f in ws.features if f in ws.frame.columns]
    return first + numeric + [{"field": "recommended_action", "headerName": "recommended_action", "minWidth": 400}]


def panels(ws: Workspace, search: str | None, selection: dict | None) -> dict:
    """Everything on the overview that depends on the filters, computed from one mask."""
    state = parse_query(search)
    base = url_mask(ws, search)
    mask = base if selection is None else url_mask(ws, search, selection)
    names = aggregates.segment_names(ws)
    roles = ws.roles
    if "x" in roles:
        shown, total = aggregates.scatter_sample(ws, base, figures.MAX_POINTS)
        scatter = figures.scatter_amount_frequency(
            shown, total, names, state.log_axes, roles["x"].label.lower(), roles["y"].label.lower()
        )
    else:
        scatter = figures.message_figure("This data has fewer than two numeric features to plot")
    box = roles.get("box")
    n = int(mask.sum())
    return {
        "kpis": aggregates.kpis(ws, mask),
        "scatter": scatter,
        "box": figures.box_by_segment(aggregates.box_table(ws, mask, box.column) if box else None, names,
                                      box.label if box else "Repayment days"),
        "ternary": figures.ternary_rfm(aggregates.rfm_counts(ws, mask), names),
        "count": f"{n:,} of {len(ws.frame):,} customers shown",
        "selection_note": "" if selection is None else f"Scatter selection: {n:,} customers (applies to every other panel)",
    }


#: Filter states whose panels each worker keeps per model: the page's first view, a reset, a
#: segment ticked back on are asked again and again by every user.
PANELS_KEPT = 32
_panels_lock = threading.Lock()


def cached_panels(ws: Workspace, search: str | None, selection: dict | None) -> dict:
    """``panels`` for this filter state, from the workspace's small cache when asked before."""
    key = (build_query(parse_query(search)), json.dumps(selection, sort_keys=True))
    kept = ws.once("__panels", dict)
    with _panels_lock:
        if key in kept:
            return kept[key]
    out = panels(ws, search, selection)
    with _panels_lock:
        kept[key] = out
        while len(kept) > PANELS_KEPT:
            del kept[next(iter(kept))]  # the oldest
    return out


def warm(ws: Workspace) -> None:
    """Compute what every first page needs (the columns as arrays, the sample order, per-segment
    rows, the default view's panels, the model view's projection) before gunicorn forks its
    workers: they then share it instead of each computing and holding its own copy."""
    cached_panels(ws, "", None)
    ws.pca()


def export_file(ws: Workspace, search: str | None, selection: dict | None, suffix: str) -> dict:
    """The filtered segment list as a download: ``suffix`` .csv, .xlsx or .hyper (Tableau)."""
    frame = aggregates.export_frame(ws, url_mask(ws, search, selection))
    return dcc.send_bytes(export_bytes(frame, suffix), f"segments_{ws.label.replace(' ', '_')}{suffix}")


# -- callbacks ---------------------------------------------------------------------------------


def register(app, store: DataStore, settings: Settings) -> None:
    # (functions, not shared dicts: Dash merges a callback's inputs into the state dict it is given)
    def model_state():
        return dict(search=State(ids.URL, "search"), session=State(ids.SESSION, "data"))

    def filter_state():
        return dict(search=State(ids.URL, "search"), selection=State(ids.SELECTION, "data"),
                    ready=State(ids.READY, "data"), session=State(ids.SESSION, "data"))

    @app.callback(
        output=dict(
            options=Output(ids.SEGMENT_FILTER, "options"),
            segments=Output(ids.SEGMENT_FILTER, "value"),
            search_text=Output(ids.CUSTOMER_SEARCH, "value"),
            log_axes=Output(ids.LOG_AXES, "value"),
        ),
        inputs=dict(ready=Input(ids.READY, "data")),
        state=model_state(),
    )
    def show_filters(ready, search, session):
        ws = workspace(store, ready, session)
        state = state_for(ready, search)
        names = aggregates.segment_names(ws)
        return dict(
            options=segment_options(ws),
            segments=list(names) if state.segments is None else [s for s in state.segments if s in names],
            search_text=state.search,
            log_axes=["log"] if state.log_axes else [],
        )

    @app.callback(
        output=dict(
            style=Output(slot(ids.RANGE_WRAP, ALL), "style"),
            label=Output(slot(ids.RANGE_LABEL, ALL), "children"),
            min=Output(slot(ids.RANGE_SLIDER, ALL), "min"),
            max=Output(slot(ids.RANGE_SLIDER, ALL), "max"),
            step=Output(slot(ids.RANGE_SLIDER, ALL), "step"),
            value=Output(slot(ids.RANGE_SLIDER, ALL), "value"),
        ),
        inputs=dict(ready=Input(ids.READY, "data")),
        state=model_state(),
    )
    def show_sliders(ready, search, session):
        # each output is a list over the slots; unused slots are hidden
        specs = slider_specs(workspace(store, ready, session), state_for(ready, search))
        slots = [specs[i] if i < len(specs) else UNUSED_SLOT for i in range(SLIDER_SLOTS)]
        return dict(
            style=[{"display": "block" if "feature" in s else "none"} for s in slots],
            label=[s.get("feature", "").replace("_", " ") for s in slots],
            **{prop: [s[prop] for s in slots] for prop in ("min", "max", "step", "value")},
        )

    @app.callback(
        output=dict(actions=Output(ids.ACTION_PANEL, "children"), columns=Output(ids.TABLE, "columnDefs")),
        inputs=dict(ready=Input(ids.READY, "data")),
        state=dict(session=State(ids.SESSION, "data")),
    )
    def show_segments(ready, session):
        ws = workspace(store, ready, session)
        return dict(actions=action_panel(ws), columns=table_columns(ws))

    @app.callback(
        output=dict(query=Output(ids.URL, "search")),
        inputs=dict(
            segments=Input(ids.SEGMENT_FILTER, "value"),
            slider_values=Input(slot(ids.RANGE_SLIDER, ALL), "value"),
            search_text=Input(ids.CUSTOMER_SEARCH, "value"),
            log_value=Input(ids.LOG_AXES, "value"),
            tab=Input(ids.TABS, "active_tab"),
        ),
        state=dict(ready=State(ids.READY, "data"), session=State(ids.SESSION, "data"),
                   search=State(ids.URL, "search")),
        prevent_initial_call=True,
    )
    def sync_url(segments, slider_values, search_text, log_value, tab, ready, session, search):
        ws = workspace(store, ready, session)
        names = aggregates.segment_names(ws)
        ranges = {}
        for spec, value in zip(slider_specs(ws, ViewState()), slider_values, strict=False):
            if value and (value[0] > spec["min"] or value[1] < spec["max"]):
                ranges[spec["feature"]] = (value[0], value[1])
        # the other views' state in the URL (customer, scorings) is kept as it is
        state = replace(
            parse_query(search),
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
        return dict(query=query)

    @app.callback(
        output=dict(
            segments=Output(ids.SEGMENT_FILTER, "value", allow_duplicate=True),
            slider_values=Output(slot(ids.RANGE_SLIDER, ALL), "value", allow_duplicate=True),
            search_text=Output(ids.CUSTOMER_SEARCH, "value", allow_duplicate=True),
            selection=Output(ids.SELECTION, "data", allow_duplicate=True),
        ),
        inputs=dict(_=Input(ids.RESET_FILTERS, "n_clicks")),
        state=dict(ready=State(ids.READY, "data"), session=State(ids.SESSION, "data")),
        prevent_initial_call=True,
    )
    def reset_filters(_, ready, session):
        ws = workspace(store, ready, session)
        specs = slider_specs(ws, ViewState())
        values = [specs[i]["value"] if i < len(specs) else UNUSED_SLOT["value"] for i in range(SLIDER_SLOTS)]
        return dict(segments=list(aggregates.segment_names(ws)), slider_values=values, search_text="", selection=None)

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
        output=dict(
            kpis=Output(ids.KPI_ROW, "children"),
            scatter=Output(ids.SCATTER, "figure"),
            box=Output(ids.BOX_REPAYMENT, "figure"),
            ternary=Output(ids.TERNARY, "figure"),
            count=Output(ids.FILTER_COUNT, "children"),
            selection_note=Output(ids.SELECTION_NOTE, "children"),
            table_version=Output(ids.TABLE_VERSION, "data"),
            table_note=Output(ids.TABLE_NOTE, "children"),
        ),
        inputs=dict(search=Input(ids.URL, "search"), selection=Input(ids.SELECTION, "data"),
                    ready=Input(ids.READY, "data")),
        state=dict(session=State(ids.SESSION, "data"), version=State(ids.TABLE_VERSION, "data")),
    )
    def update_panels(search, selection, ready, session, version):
        out = cached_panels(workspace(store, ready, session), search, selection)
        # A new selection must not redraw the scatter it was drawn on (it would vanish).
        redraw = not (ctx.triggered_id == ids.SELECTION and selection is not None)
        return dict(
            kpis=[kpi_card(c.id, c.label, c.value, c.delta) for c in out["kpis"]],
            scatter=out["scatter"] if redraw else no_update,
            box=out["box"],
            ternary=out["ternary"],
            count=out["count"],
            selection_note=out["selection_note"],
            table_version=(version or 0) + 1,
            table_note=f"{out['count']}; sort by clicking a column header. Rows load as you scroll.",
        )

    @app.callback(
        output=dict(response=Output(ids.TABLE, "getRowsResponse")),
        inputs=dict(request=Input(ids.TABLE, "getRowsRequest")),
        state=filter_state(),
    )
    def table_rows(request, search, selection, ready, session):
        if not request:
            raise PreventUpdate
        ws = workspace(store, ready, session)
        rows, total = aggregates.table_rows(ws, url_mask(ws, search, selection), request["startRow"],
                                            request["endRow"], request.get("sortModel"))
        return dict(response={"rowData": rows, "rowCount": total})

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
        output=dict(download=Output(ids.DOWNLOAD, "data")),
        inputs=dict(clicks=[Input(button, "n_clicks") for button in EXPORTS]),
        state=filter_state(),
        prevent_initial_call=True,
    )
    def export(clicks, search, selection, ready, session):
        ws = workspace(store, ready, session)
        return dict(download=export_file(ws, search, selection, EXPORTS[ctx.triggered_id]))
