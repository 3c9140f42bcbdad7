"""The page: header, filter sidebar, overview panels, model view and the your-data view."""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from . import ids

#: Slots for feature range sliders; each is filled (or hidden) for the dataset shown.
SLIDER_SLOTS = 4
EXPORT_NOTE = "Exports hold exactly the customers the filters show."


def _card(title: str, body, **kwargs) -> dbc.Card:
    return dbc.Card([dbc.CardHeader(title, className="fw-semibold"), dbc.CardBody(body)], className="mb-3 shadow-sm", **kwargs)


def kpi_card(kpi_id: str, label: str) -> dbc.Col:
    return dbc.Col(
        dbc.Card(
            dbc.CardBody(
                [
                    html.Div(label, id=f"{kpi_id}-label", className="kpi-label"),
                    html.Div("-", id=kpi_id, className="kpi-value"),
                    html.Div("", id=f"{kpi_id}-delta", className="kpi-delta"),
                ]
            ),
            className="kpi-card shadow-sm",
        ),
        xs=6, md=4, xl=True, className="mb-3",
    )


def controls() -> dbc.Card:
    """The filter sidebar (the dbc gallery's `controls` card)."""
    sliders = []
    for i in range(SLIDER_SLOTS):
        sliders.append(
            html.Div(
                [
                    html.Div(id=f"{ids.RANGE_LABEL}-{i}", className="small fw-semibold"),
                    dcc.RangeSlider(id=f"{ids.RANGE_SLIDER}-{i}", min=0, max=1, value=[0, 1], allowCross=False,
                                    tooltip={"placement": "bottom", "always_visible": False}, marks=None),
                ],
                id=f"{ids.RANGE_SLIDER}-wrap-{i}",
                className="mb-2",
                style={"display": "none"},
            )
        )
    return _card(
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


def graph(graph_id: str, height: int = 380) -> dcc.Graph:
    return dcc.Graph(id=graph_id, style={"height": f"{height}px"}, config={"displaylogo": False},
                     figure={"layout": {"template": "plotly_white"}})


def overview() -> dbc.Row:
    return dbc.Row(
        [
            dbc.Col(controls(), lg=3),
            dbc.Col(
                [
                    dbc.Row(
                        [
                            kpi_card(ids.KPI_CUSTOMERS, "Customers"),
                            kpi_card(ids.KPI_TOTAL_AMOUNT, "Total amount"),
                            kpi_card(ids.KPI_AVG_AMOUNT, "Avg transaction amount"),
                            kpi_card(ids.KPI_REPAYMENT_DAYS, "Avg repayment days"),
                            kpi_card(ids.KPI_LATE_SHARE, "Late-repayment share"),
                        ],
                        id=ids.KPI_ROW,
                    ),
                    dbc.Row(
                        [
                            dbc.Col(_card("Amount vs frequency (box or lasso select to cross-filter)", graph(ids.SCATTER)), xl=7),
                            dbc.Col(_card("Spread by segment", graph(ids.BOX_REPAYMENT)), xl=5),
                        ]
                    ),
                    dbc.Row(
                        [
                            dbc.Col(_card("RFM", graph(ids.TERNARY)), xl=5),
                            dbc.Col(_card("Segments and recommended actions", html.Div(id=ids.ACTION_PANEL,
                                          className="action-panel")), xl=7),
                        ]
                    ),
                    _card(
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


def model_view() -> html.Div:
    k_options = [{"label": "auto (let the criteria vote)", "value": "auto"}] + [
        {"label": f"k = {k}", "value": str(k)} for k in range(2, 11)
    ]
    return html.Div(
        [
            dbc.Row(
                [
                    dbc.Col(_card("Number of segments", [
                        dcc.Dropdown(id=ids.K_CHOOSER, options=k_options, value=None, clearable=False,
                                     placeholder="auto"),
                        html.Div(id=ids.MODEL_FACTS, className="small mt-2"),
                    ]), lg=3),
                    dbc.Col(_card("Choosing k", graph(ids.K_CRITERIA, 560)), lg=9),
                ]
            ),
            dbc.Row(
                [
                    dbc.Col(_card("Customers in the model's space", graph(ids.PCA_PLOT, 420)), lg=5),
                    dbc.Col(_card("Describe segments (one-way ANOVA per feature)", html.Div(id=ids.DESCRIBE_TABLE)), lg=7),
                ]
            ),
        ]
    )


def upload_view(max_mb: int) -> html.Div:
    return html.Div(
        [
            _card(
                "Your data",
                [
                    html.P(
                        "Upload a transactions file (customer, date, amount[, repayment date]) or a customer table "
                        f"(an id column and numeric columns) as CSV or XLSX, up to {max_mb} MB. "
                        "Only this browser tab sees it.",
                        className="small",
                    ),
                    # The browser refuses a file over max_size without telling Dash; the
                    # data attributes let assets/upload_size.js say so in the page.
                    html.Div(
                        dcc.Upload(id=ids.UPLOAD, children=html.Div(["Drag a file here or ", html.A("choose one")]),
                                   className="upload-box", max_size=max_mb * 1_000_000, multiple=False),
                        **{"data-max-bytes": str(max_mb * 1_000_000), "data-note-id": ids.UPLOAD_SIZE_NOTE},
                    ),
                    html.Div(id=ids.UPLOAD_SIZE_NOTE, className="mt-2"),
                    html.Div(id=ids.UPLOAD_PREVIEW, className="mt-3"),
                    dbc.Row(
                        [
                            dbc.Col([html.Div("Id column", className="small fw-semibold"),
                                     dcc.Dropdown(id=ids.UPLOAD_ID_COLUMN, options=[], clearable=False)], md=4),
                            dbc.Col([html.Div("Features to segment on", className="small fw-semibold"),
                                     dcc.Dropdown(id=ids.UPLOAD_FEATURES, options=[], multi=True)], md=8),
                        ],
                        className="mt-2",
                    ),
                    dbc.Button("Fit segments", id=ids.UPLOAD_FIT, color="primary", className="mt-3", disabled=True),
                    dbc.Button("Back to the demo data", id=ids.USE_DEMO, color="link", className="mt-3 ms-2"),
                    dbc.Progress(id=ids.UPLOAD_PROGRESS, value=0, striped=True, animated=True, className="mt-3",
                                 style={"visibility": "hidden"}),
                    html.Div(id=ids.UPLOAD_STATUS, className="mt-2"),
                ],
            )
        ]
    )


def page(max_upload_mb: int) -> dbc.Container:
    """The whole page. Values come from the URL and the dataset, set by callbacks."""
    return dbc.Container(
        [
            dcc.Location(id=ids.URL, refresh=False),
            dcc.Store(id=ids.SESSION, storage_type="session"),
            dcc.Store(id=ids.DATASET, data=None),
            dcc.Store(id=ids.READY, data=None),
            dcc.Store(id=ids.SELECTION, data=None),
            dcc.Store(id=ids.TABLE_VERSION, data=0),
            dcc.Store(id=ids.UPLOAD_FILE, data=None),
            dcc.Download(id=ids.DOWNLOAD),
            html.Header(
                [
                    html.H1("Customer segments", className="h3 mb-0"),
                    html.Div(id=ids.HEADER_FACTS, className="header-facts"),
                ],
                className="app-header",
            ),
            dbc.Progress(id=ids.FIT_PROGRESS, value=0, striped=True, animated=True, className="mb-2",
                         style={"visibility": "hidden"}),
            dbc.Alert(id=ids.ALERT, is_open=False, color="danger", dismissable=True),
            dbc.Tabs(
                [
                    dbc.Tab(overview(), label="Overview", tab_id="overview"),
                    dbc.Tab(model_view(), label="Model", tab_id="model"),
                    dbc.Tab(upload_view(max_upload_mb), label="Your data", tab_id="data"),
                ],
                id=ids.TABS,
                active_tab="overview",
                className="mb-3",
            ),
        ],
        fluid=True,
        className="pb-4",
    )
