"""Small layout pieces the views share: cards, graphs, KPI cards, segment swatches, messages."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from . import figures


def card(title: str, body, **kwargs) -> dbc.Card:
    return dbc.Card([dbc.CardHeader(title, className="fw-semibold"), dbc.CardBody(body)], className="mb-3 shadow-sm", **kwargs)


def graph(graph_id: str, height: int = 380) -> dcc.Graph:
    return dcc.Graph(id=graph_id, style={"height": f"{height}px"}, config={"displaylogo": False},
                     figure={"layout": {"template": "plotly_white"}})


def kpi_card(kpi_id: str, label: str, value: str = "-", delta: str = "") -> dbc.Col:
    """One KPI card: its label, value and change (ids ``kpi_id``, ``-label`` and ``-delta``)."""
    return dbc.Col(
        dbc.Card(
            dbc.CardBody(
                [
                    html.Div(label, id=f"{kpi_id}-label", className="kpi-label"),
                    html.Div(value, id=kpi_id, className="kpi-value"),
                    html.Div(delta, id=f"{kpi_id}-delta", className="kpi-delta"),
                ]
            ),
            className="kpi-card shadow-sm",
        ),
        xs=6, md=4, xl=True, className="mb-3",
    )


def swatch(segment: int) -> html.Span:
    """The segment's colour, as on every figure."""
    return html.Span(className="swatch", style={"background": figures.segment_color(segment)})


def message(text: str, color: str = "danger") -> dbc.Alert:
    return dbc.Alert(text, color=color, className="mb-0")
