"""The model view: choose k, why this k (the criteria), the customers in the model's space and
a one-way ANOVA per feature."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import Input, Output, State, dcc, html

from .. import aggregates, figures, ids
from ..components import card, graph
from ..store import DataStore, Workspace
from .frame import workspace

if TYPE_CHECKING:
    from . import Settings

TAB_ID, LABEL = "model", "Model"
K_OPTIONS = [{"label": "auto (chosen from the data)", "value": "auto"}] + [
    {"label": f"k = {k}", "value": str(k)} for k in range(2, 11)
]


def layout(settings: Settings) -> html.Div:
    return html.Div(
        [
            dbc.Row(
                [
                    dbc.Col(card("Number of segments", [
                        dcc.Dropdown(id=ids.K_CHOOSER, options=K_OPTIONS, value=None, clearable=False,
                                     placeholder="auto"),
                        html.Div(id=ids.MODEL_FACTS, className="small mt-2"),
                    ]), lg=3),
                    dbc.Col(card("Choosing k", graph(ids.K_CRITERIA, 560)), lg=9),
                ]
            ),
            dbc.Row(
                [
                    dbc.Col(card("Customers in the model's space", graph(ids.PCA_PLOT, 420)), lg=5),
                    dbc.Col(card("Describe segments (one-way ANOVA per feature)", html.Div(id=ids.DESCRIBE_TABLE)), lg=7),
                ]
            ),
        ]
    )


def describe_table(ws: Workspace) -> dbc.Table:
    anova = ws.bundle.anova
    means = [c for c in anova.columns if c.startswith("mean_")]
    names = aggregates.segment_names(ws)
    header = ["feature", "F", "p"] + [names.get(int(c[5:]), c) for c in means]
    rows = []
    for row in anova.to_dict("records"):
        p = row["p_value"]
        cells = [row["feature"], f"{row['f_statistic']:,.1f}", "< 1e-16" if p < 1e-16 else f"{p:.2g}"]
        cells += [f"{row[c]:,.2f}" for c in means]
        rows.append(html.Tr([html.Td(c) for c in cells]))
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in header])), html.Tbody(rows)],
                     size="sm", striped=True, responsive=True, className="small")


def model_facts(ws: Workspace) -> list:
    meta = ws.bundle.metadata
    prefs = meta.get("k_preferences") or {}
    return [
        html.Div(meta["k_reason"]),
        html.Ul([html.Li(f"{name.replace('_', '-')}: k={k}") for name, k in prefs.items() if k is not None]),
        html.Div(f"features: {', '.join(meta['features'])}", className="text-muted"),
        html.Div(f"log-transformed: {', '.join(meta['log_features']) or 'none'}", className="text-muted"),
    ]


def k_figure(ws: Workspace) -> dict:
    meta = ws.bundle.metadata
    return figures.k_criteria(pd.DataFrame(meta["k_selection"]), meta["k"], meta.get("k_preferences"))


def pca_figure(ws: Workspace) -> dict:
    rows = np.sort(ws.shuffled()[: figures.MAX_POINTS])
    return figures.pca_scatter(ws.pca()[rows], ws.array("segment")[rows], len(ws.frame), aggregates.segment_names(ws))


def register(app, store: DataStore, settings: Settings) -> None:
    @app.callback(
        output=dict(
            k=Output(ids.K_CHOOSER, "value"),
            facts=Output(ids.MODEL_FACTS, "children"),
            criteria=Output(ids.K_CRITERIA, "figure"),
            pca=Output(ids.PCA_PLOT, "figure"),
            describe=Output(ids.DESCRIBE_TABLE, "children"),
        ),
        inputs=dict(ready=Input(ids.READY, "data")),
        state=dict(session=State(ids.SESSION, "data")),
    )
    def show_model(ready, session):
        ws = workspace(store, ready, session)
        return dict(k=ready["k"], facts=model_facts(ws), criteria=k_figure(ws), pca=pca_figure(ws),
                    describe=describe_table(ws))
