"""The your-data view: upload a file, see what was detected, pick the id column and features of
a customer table, and fit it (a background callback with progress)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from segmentation.errors import InputError

from .. import ids
from ..components import card, message
from ..store import DEMO_ID, DataStore, inspect_upload
from .frame import progress_steps

if TYPE_CHECKING:
    from . import Settings

TAB_ID, LABEL = "data", "Your data"
#: What the upload view says of a detected shape (others: the feature set's title).
UPLOAD_SHAPES = {
    "transactions": "transactions (features are computed from the rows)",
    "purchases": "purchase log (recency, frequency, monetary value and RFM scores are computed from the rows)",
    "table": "customer table (pick the id column and the features)",
}


def layout(settings: Settings) -> html.Div:
    max_mb = settings.max_upload_mb
    return html.Div(
        [
            card(
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


# -- plain functions (tested without a browser) ------------------------------------------------


def read_upload(contents: str, filename: str, store: DataStore, max_bytes: int) -> dict:
    """Save an upload server-side and detect its shape; the browser keeps only a token."""
    try:
        _, encoded = contents.split(",", 1)
        raw = base64.b64decode(encoded)
    except (ValueError, AttributeError):
        raise InputError(f"{filename}: could not read the upload") from None
    return inspect_upload(store.save_upload(filename, raw, max_bytes), filename)


def upload_facts(info: dict) -> str:
    """What the upload view says of a file: its size and the shape detected."""
    described = UPLOAD_SHAPES.get(info["feature_set"], f"{info['shape_title']} (its known columns are used)")
    return f"{info['filename']}: {info['rows']:,} rows, {len(info['columns'])} columns; detected shape: {described}"


def fit_upload(store: DataStore, upload: dict, id_column: str | None, features: list[str] | None,
               session: str, progress=None) -> str:
    """Register the uploaded file for this session and fit it; returns the dataset id."""
    dataset_id = store.add_upload(upload, id_column, features, owner=session)
    store.get(dataset_id, "auto", owner=session, progress=progress)
    return dataset_id


def upload_choices(info: dict) -> dict:
    """The id-column and feature pickers for an upload: offered only for a customer table."""
    if info["feature_set"] != "table":
        return dict(id_options=[], id_column=None, feature_options=[], features=[])
    first = info["columns"][0]
    return dict(
        id_options=[{"label": c, "value": c} for c in info["columns"]],
        id_column=first,
        feature_options=[{"label": c, "value": c} for c in info["numeric"]],
        features=[c for c in info["numeric"] if c != first],
    )


# -- callbacks ---------------------------------------------------------------------------------


def register(app, store: DataStore, settings: Settings) -> None:
    @app.callback(
        output=dict(
            upload=Output(ids.UPLOAD_FILE, "data"),
            preview=Output(ids.UPLOAD_PREVIEW, "children"),
            id_options=Output(ids.UPLOAD_ID_COLUMN, "options"),
            id_column=Output(ids.UPLOAD_ID_COLUMN, "value"),
            feature_options=Output(ids.UPLOAD_FEATURES, "options"),
            features=Output(ids.UPLOAD_FEATURES, "value"),
            fit_disabled=Output(ids.UPLOAD_FIT, "disabled"),
            status=Output(ids.UPLOAD_STATUS, "children"),
        ),
        inputs=dict(contents=Input(ids.UPLOAD, "contents")),
        state=dict(filename=State(ids.UPLOAD, "filename")),
        prevent_initial_call=True,
    )
    def on_upload(contents, filename):
        try:
            info = read_upload(contents, filename or "upload", store, settings.max_upload_mb * 1_000_000)
        except InputError as exc:
            return dict(upload=no_update, preview=no_update, id_options=no_update, id_column=no_update,
                        feature_options=no_update, features=no_update, fit_disabled=no_update,
                        status=message(str(exc)))
        preview = dbc.Table.from_dataframe(pd.DataFrame(info["preview"]), size="sm", striped=True,
                                           responsive=True, className="small")
        facts = html.Div(upload_facts(info), className="small fw-semibold mb-2")
        return dict(upload=info, preview=[facts, preview], fit_disabled=False, status="", **upload_choices(info))

    @app.callback(
        output=dict(
            dataset=Output(ids.DATASET, "data"),
            status=Output(ids.UPLOAD_STATUS, "children", allow_duplicate=True),
            tab=Output(ids.TABS, "active_tab", allow_duplicate=True),
        ),
        inputs=dict(_=Input(ids.UPLOAD_FIT, "n_clicks")),
        state=dict(upload=State(ids.UPLOAD_FILE, "data"), id_column=State(ids.UPLOAD_ID_COLUMN, "value"),
                   features=State(ids.UPLOAD_FEATURES, "value"), session=State(ids.SESSION, "data")),
        background=True,
        manager=settings.manager,
        interval=400,
        progress=[Output(ids.UPLOAD_PROGRESS, "value"), Output(ids.UPLOAD_PROGRESS, "style")],
        running=[(Output(ids.UPLOAD_FIT, "disabled"), True, False)],
        prevent_initial_call=True,
    )
    def fit_uploaded(set_progress, _, upload, id_column, features, session):
        if not upload:
            raise PreventUpdate
        try:
            dataset_id = fit_upload(store, upload, id_column, features, session,
                                    progress=progress_steps(set_progress, text=False))
        except InputError as exc:
            return dict(dataset=no_update, status=message(str(exc)), tab=no_update)
        done = message(f"Fitted {upload['filename']}: see the Overview.", color="success")
        return dict(dataset=dataset_id, status=done, tab="overview")

    @app.callback(Output(ids.DATASET, "data", allow_duplicate=True), Input(ids.USE_DEMO, "n_clicks"),
                  prevent_initial_call=True)
    def use_demo(_):
        return DEMO_ID
