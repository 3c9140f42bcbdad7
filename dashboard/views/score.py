"""The score view: one customer, typed in or looked up by id: their segment, its profile and
action, the distance to each segment's centre, and what would move them (the library's
:meth:`Bundle.explain`, so the segment is the one ``assign`` gives, always).

The customer id is kept in the URL (``cust=``), so a copied link opens the same customer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import dash_bootstrap_components as dbc
import pandas as pd
from dash import ALL, Input, Output, State, html, no_update
from dash.exceptions import PreventUpdate

from segmentation.book.explain import feature_scales
from segmentation.errors import InputError

from .. import aggregates, figures, ids
from ..components import card, graph, swatch
from ..filters import build_query, parse_query
from ..store import DataStore, Workspace
from .frame import workspace

if TYPE_CHECKING:
    from . import Settings

TAB_ID, LABEL = "score", "Score a customer"
EMPTY = "Type a customer's values, or a customer id of the data, to see their segment."


def field_id(feature: str) -> dict:
    return {"type": ids.SCORE_INPUT, "feature": feature}


def layout(settings: Settings) -> dbc.Row:
    return dbc.Row(
        [
            dbc.Col(
                card("Customer", [
                    html.Div("Customer id", className="small fw-semibold"),
                    dbc.Input(id=ids.SCORE_CUSTOMER_ID, type="text", debounce=True, placeholder="e.g. C0000001",
                              className="mb-1"),
                    html.Div(id=ids.SCORE_LOOKUP_NOTE, className="small text-muted mb-3"),
                    html.Div("or the customer's numbers", className="small fw-semibold mb-1"),
                    html.Div(id=ids.SCORE_FORM),
                ]),
                lg=4,
            ),
            dbc.Col(
                [
                    card("Segment", html.Div(EMPTY, id=ids.SCORE_RESULT)),
                    card("What would move this customer", html.Div(id=ids.SCORE_EXPLAIN)),
                    card("Distance to each segment", graph(ids.SCORE_DISTANCES, 300)),
                ],
                lg=8,
            ),
        ]
    )


# -- plain functions (tested without a browser) ------------------------------------------------


def unit_word(ws: Workspace, feature: str) -> str:
    """The unit shown in a feature's label: days, share, count, amount or nothing."""
    scale = feature_scales(ws.bundle)[feature]
    money = {p.column for p in ws.roles.values() if p.unit == "money"}
    if feature.lower().endswith("_days"):
        return "days"
    if scale.share:
        return "share, 0 to 1"
    if feature in money:
        return "amount"
    return "count" if scale.whole else ""


def form_fields(ws: Workspace) -> list[dict]:
    """One input per model feature: its label with the unit, and the training range and median
    as the hint (the median is what a field left empty is scored with)."""
    out = []
    for name, scale in feature_scales(ws.bundle).items():
        unit = unit_word(ws, name)
        out.append({
            "feature": name,
            "label": f"{name} ({unit})" if unit else name,
            "hint": f"training {scale.write(scale.low)} to {scale.write(scale.high)}; median {scale.write(scale.median)}",
            "median": scale.median,
            "step": 1 if scale.whole else "any",
        })
    return out


def form(ws: Workspace, values: dict | None) -> list:
    values = values or {}
    return [
        html.Div(
            [
                html.Label(f["label"], htmlFor=f"score-{f['feature']}", className="small fw-semibold mb-0"),
                dbc.Input(id=field_id(f["feature"]), type="number", step=f["step"], value=values.get(f["feature"]),
                          placeholder=f"median {f['median']:,.4g}", debounce=True, size="sm"),
                html.Div(f["hint"], className="form-text mt-0"),
            ],
            className="mb-2",
        )
        for f in form_fields(ws)
    ]


def shown_values(ws: Workspace, found: dict) -> list:
    """A looked-up customer's feature values as the form shows them: 6 significant digits
    (1754.67, not 1754.6666666666667), unless rounding would give another segment than the
    customer's own (then exact: the page's segment is always ``assign``'s)."""
    exact = {f: found[f] for f in ws.bundle.features}
    rounded = {f: v if v is None else float(f"{v:.6g}") for f, v in exact.items()}
    both = ws.bundle.predict(pd.DataFrame([exact, rounded], dtype=float))
    return list((rounded if both[0] == both[1] else exact).values())


def score_panels(ws: Workspace, values: dict) -> dict:
    """The segment, what would move the customer and the distances, for ``values`` (feature ->
    number or None). ``segment`` is the one :meth:`Bundle.assign` gives for the same values."""
    if all(v is None or v == "" for v in values.values()):
        return dict(segment=None, result=EMPTY, explain="", distances=figures.message_figure("No customer yet"))
    try:
        out = ws.bundle.explain(values)
    except InputError as exc:
        return dict(segment=None, result=dbc.Alert(str(exc), color="danger", className="mb-0"), explain="",
                    distances=figures.message_figure("No customer yet"))
    result = [
        html.Div([swatch(out.segment), html.Span(f"{out.segment}: {out.segment_name}", className="h5")]),
        html.Div(out.summary, className="small mb-2"),
        html.Div([html.Span("Recommended action: ", className="fw-semibold"), out.recommended_action]),
    ]
    if out.imputed:
        result.append(html.Div(f"Not given: {', '.join(out.imputed)} (scored with the training median).",
                               className="small text-muted mt-2"))
    if out.moves:
        explain = [
            html.Div(["Nearest other segment: ", swatch(out.nearest_other),
                      html.Span(f"{out.nearest_other}: {out.nearest_other_name}", className="fw-semibold")]),
            html.Div("The smallest change that would move this customer there:", className="small mt-2"),
            html.Ul([html.Li(("or " if i else "") + m.text) for i, m in enumerate(out.moves)], className="mb-1"),
            html.Div("Checked with the model: these values give that segment.", className="small text-muted"),
        ]
    else:
        explain = html.Div(out.note, className="text-muted")
    distances = (figures.distance_bars(out.distances, out.segment, aggregates.segment_names(ws))
                 if out.distances else figures.message_figure(out.note))
    return dict(segment=out.segment, result=result, explain=explain, distances=distances)


# -- callbacks ---------------------------------------------------------------------------------


def register(app, store: DataStore, settings: Settings) -> None:
    @app.callback(
        output=dict(form=Output(ids.SCORE_FORM, "children"), customer=Output(ids.SCORE_CUSTOMER_ID, "value")),
        inputs=dict(ready=Input(ids.READY, "data")),
        state=dict(search=State(ids.URL, "search"), session=State(ids.SESSION, "data")),
    )
    def show_form(ready, search, session):
        ws = workspace(store, ready, session)
        customer = parse_query(search).customer
        found = ws.customer(customer) if customer else None
        return dict(form=form(ws, found), customer=customer)

    @app.callback(
        output=dict(values=Output(field_id(ALL), "value"), note=Output(ids.SCORE_LOOKUP_NOTE, "children"),
                    query=Output(ids.URL, "search", allow_duplicate=True)),
        inputs=dict(customer=Input(ids.SCORE_CUSTOMER_ID, "value")),
        state=dict(fields=State(field_id(ALL), "id"), ready=State(ids.READY, "data"),
                   session=State(ids.SESSION, "data"), search=State(ids.URL, "search")),
        prevent_initial_call=True,
    )
    def look_up(customer, fields, ready, session, search):
        ws = workspace(store, ready, session)
        customer = (customer or "").strip()
        query = build_query(replace(parse_query(search), customer=customer))
        query = no_update if query == (search or "") else query
        if not customer:
            return dict(values=[no_update] * len(fields), note="", query=query)
        found = ws.customer(customer)
        if found is None:
            return dict(values=[no_update] * len(fields), note=f"No customer {customer!r} in {ws.label}.", query=no_update)
        note = f"{found['customer_id']}: their values in {ws.label} (change any to see what would change)"
        shown = dict(zip(ws.bundle.features, shown_values(ws, found), strict=True))
        return dict(values=[shown[f["feature"]] for f in fields], note=note, query=query)

    @app.callback(
        output=dict(result=Output(ids.SCORE_RESULT, "children"), explain=Output(ids.SCORE_EXPLAIN, "children"),
                    distances=Output(ids.SCORE_DISTANCES, "figure")),
        inputs=dict(values=Input(field_id(ALL), "value")),
        state=dict(fields=State(field_id(ALL), "id"), ready=State(ids.READY, "data"),
                   session=State(ids.SESSION, "data")),
    )
    def show_score(values, fields, ready, session):
        if not fields:
            raise PreventUpdate
        ws = workspace(store, ready, session)
        out = score_panels(ws, {f["feature"]: v for f, v in zip(fields, values, strict=True)})
        return dict(result=out["result"], explain=out["explain"], distances=out["distances"])

