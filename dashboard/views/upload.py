"""The your-data view: upload a file, say how to read it when detection is not enough (encoding,
sheet, date format, decimal and thousands separators: the file is read again), see the shape the
library detects and the column it takes for each role of a log (customer id, date, amount,
repayment date, due date), correct them (the shape is detected again with the user's columns, as
``--map`` does), pick the id column and features of a customer table, and fit it (a background
callback with progress)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import dash_bootstrap_components as dbc
import pandas as pd
from dash import ALL, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from segmentation.errors import InputError
from segmentation.io.columns import TRANSACTION_ROLES

from .. import ids
from ..components import card, message
from ..fits import FitCancelled
from ..store import DEMO_ID, READING, DataStore, upload_options
from .frame import page_watch, progress_steps

if TYPE_CHECKING:
    from . import Settings

TAB_ID, LABEL = "data", "Your data"
#: What the upload view says of a detected shape (others: the feature set's title).
UPLOAD_SHAPES = {
    "transactions": "transactions (features are computed from the rows)",
    "purchases": "purchase log (recency, frequency, monetary value and RFM scores are computed from the rows)",
    "table": "customer table (pick the id column and the features)",
}
#: The role picker's labels, in the order of the transactions schema.
ROLE_LABELS = {"customer_id": "Customer id", "txn_date": "Date", "amount": "Amount",
               "repayment_date": "Repayment date", "due_date": "Due date"}
assert tuple(ROLE_LABELS) == TRANSACTION_ROLES
#: The reading options' labels and hints (empty: detected), as the CLI's --encoding, --sheet, ...
READ_LABELS = {"encoding": ("Encoding", "detected, e.g. cp1252"), "sheet": ("Sheet (XLSX)", "the largest"),
               "date_format": ("Date format", "detected, e.g. %d/%m/%Y"), "decimal": ("Decimal", "detected"),
               "thousands": ("Thousands", "detected")}
assert tuple(READ_LABELS) == READING
SEPARATORS = {"decimal": {".": ". (1.5)", ",": ", (1,5)"},
              "thousands": {",": ", (1,200)", ".": ". (1.200)", " ": "space (1 200)", "'": "' (1'200)"}}


def role_id(role) -> dict:
    return {"type": ids.UPLOAD_ROLE, "role": role}


def read_id(option) -> dict:
    return {"type": ids.UPLOAD_READ, "option": option}


def reading_row() -> html.Div:
    """One input per reading option, empty by default (detected); a change reads the file again."""
    def field(option, label, hint):
        if option in SEPARATORS:
            picker = dcc.Dropdown(id=read_id(option), placeholder=hint,
                                  options=[{"label": text, "value": sep} for sep, text in SEPARATORS[option].items()])
        else:  # typed: read when the user leaves the field or presses Enter, not at each key
            picker = dbc.Input(id=read_id(option), placeholder=hint, size="sm", debounce=True)
        return dbc.Col([html.Div(label, className="small"), picker], md=True)

    return html.Div([html.Div("How to read it (empty: detected)", className="small fw-semibold"),
                     dbc.Row([field(option, *text) for option, text in READ_LABELS.items()])], className="mt-2")


def role_picker() -> html.Div:
    """One dropdown per role of a log (filled after an upload)."""
    return html.Div(
        [
            html.Div("Columns of a log of loans or purchases (corrected here, the shape is detected again)",
                     className="small fw-semibold"),
            dbc.Row([dbc.Col([html.Div(label, className="small"),
                              dcc.Dropdown(id=role_id(role), options=[], placeholder="none")], md=True)
                     for role, label in ROLE_LABELS.items()]),
        ],
        id=ids.UPLOAD_ROLES,
        className="mt-2",
    )


def layout(settings: Settings) -> html.Div:
    max_mb = settings.max_upload_mb
    return html.Div(
        [
            card(
                "Your data",
                [
                    html.P(
                        "Upload a transactions file (customer, date, amount[, repayment date]) or a customer table "
                        f"(an id column and numeric columns) as CSV, Parquet, XLSX or JSON, up to {max_mb} MB. "
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
                    reading_row(),
                    html.Div(id=ids.UPLOAD_PREVIEW, className="mt-3"),
                    html.Div(id=ids.UPLOAD_SHAPE, className="small fw-semibold mt-2"),
                    role_picker(),
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
                    html.Div(id=ids.UPLOAD_FIT_STATUS, className="small text-muted"),
                    html.Div(id=ids.UPLOAD_STATUS, className="mt-2"),
                ],
            )
        ]
    )


# -- plain functions (tested without a browser) ------------------------------------------------


def save_upload(contents: str, filename: str, store: DataStore, max_bytes: int) -> dict:
    """Save an upload server-side; the browser keeps only its token (and later its facts)."""
    try:
        _, encoded = contents.split(",", 1)
        raw = base64.b64decode(encoded)
    except (ValueError, AttributeError):
        raise InputError(f"{filename}: could not read the upload") from None
    return {"token": store.save_upload(filename, raw, max_bytes).name, "filename": filename}


def read_upload(contents: str, filename: str, store: DataStore, max_bytes: int,
                reading: dict[str, str | None] | None = None) -> dict:
    """Save an upload and detect its shape, read with the user's ``reading`` options."""
    return store.inspect_saved(save_upload(contents, filename, store, max_bytes), None, reading)


def kept_roles(info: dict, picked: list[str | None]) -> list[str | None]:
    """The role picks after the file is read again: the user's, where the column is still there,
    else the detected one (another sheet or encoding may give other columns)."""
    return [column if column in info["columns"] else info["roles"][role]
            for role, column in zip(ROLE_LABELS, picked, strict=True)]


def upload_facts(info: dict) -> str:
    """What the upload view says of a file: its size and the shape detected."""
    described = UPLOAD_SHAPES.get(info["feature_set"], f"{info['shape_title']} (its known columns are used)")
    why = f": {info['reason']}" if info.get("reason") else ""
    read = "".join(f". {notice}" for notice in info.get("notices", []))  # an encoding detected, a sheet chosen
    return f"{info['filename']}: {info['rows']:,} rows, {len(info['columns'])} columns; detected shape: {described}{why}{read}"


def remap(store: DataStore, upload: dict, roles: dict[str, str | None]) -> dict:
    """The upload inspected again with the user's column for each role (as ``--map``): its shape
    may change (a table whose date column is named becomes a log)."""
    picked = [c for c in roles.values() if c]
    twice = sorted({c for c in picked if picked.count(c) > 1})
    if twice:
        raise InputError(f"column {twice[0]!r} is picked for two roles; give each role its own column")
    return store.inspect_saved(upload, roles)


def fit_upload(store: DataStore, upload: dict, id_column: str | None, features: list[str] | None,
               session: str, progress=None, roles: dict[str, str | None] | None = None,
               reading: dict[str, str | None] | None = None, cancelled=None) -> str:
    """Register the uploaded file for this session (with the role columns picked and the
    ``reading`` options, by default those it was inspected with) and fit it in turn with the
    server's other fits (``DataStore.get``); returns the dataset id."""
    options = upload_options(upload, reading)
    dataset_id = store.add_upload(upload, id_column, features, owner=session, roles=roles, options=options)
    store.get(dataset_id, "auto", owner=session, progress=progress, cancelled=cancelled)
    return dataset_id


def upload_choices(info: dict) -> dict:
    """The id-column and feature pickers for an upload: offered only for a customer table (the
    id column pre-set to the detected customer id)."""
    if info["feature_set"] != "table":
        return dict(id_options=[], id_column=None, feature_options=[], features=[])
    first = (info.get("roles") or {}).get("customer_id") or info["columns"][0]
    return dict(
        id_options=[{"label": c, "value": c} for c in info["columns"]],
        id_column=first,
        feature_options=[{"label": c, "value": c} for c in info["numeric"]],
        features=[c for c in info["numeric"] if c != first],
    )


# -- callbacks ---------------------------------------------------------------------------------


def register(app, store: DataStore, settings: Settings) -> None:
    n = len(ROLE_LABELS)

    def shown(info: dict, roles: list[str | None]) -> dict:
        """The file as read: its preview and the role pickers (the roles then set its shape)."""
        preview = dbc.Table.from_dataframe(pd.DataFrame(info["preview"]), size="sm", striped=True,
                                           responsive=True, className="small")
        options = [{"label": c, "value": c} for c in info["columns"]]
        return dict(upload=info, preview=preview, role_options=[options] * n, roles=roles, fit_disabled=False,
                    status="")

    def unread(upload, exc: InputError) -> dict:
        """A file that these options cannot read: the message, no fit (the upload stays kept,
        so that other reading options read it again)."""
        return dict(upload=upload, preview=no_update, role_options=[no_update] * n, roles=[no_update] * n,
                    fit_disabled=True, status=message(str(exc)))

    read_outputs = dict(
        upload=Output(ids.UPLOAD_FILE, "data"),
        preview=Output(ids.UPLOAD_PREVIEW, "children"),
        role_options=Output(role_id(ALL), "options"),
        roles=Output(role_id(ALL), "value"),
        fit_disabled=Output(ids.UPLOAD_FIT, "disabled"),
        status=Output(ids.UPLOAD_STATUS, "children"),
    )

    @app.callback(
        output=read_outputs,
        inputs=dict(contents=Input(ids.UPLOAD, "contents")),
        state=dict(filename=State(ids.UPLOAD, "filename"), reading=State(read_id(ALL), "value")),
        prevent_initial_call=True,
    )
    def on_upload(contents, filename, reading):
        try:
            saved = save_upload(contents, filename or "upload", store, settings.max_upload_mb * 1_000_000)
        except InputError as exc:
            return dict(unread(no_update, exc), fit_disabled=no_update)
        try:
            info = store.inspect_saved(saved, None, dict(zip(READING, reading, strict=True)))
        except InputError as exc:
            return unread(saved, exc)
        return shown(info, [info["roles"][r] for r in ROLE_LABELS])

    @app.callback(
        output={name: Output(o.component_id, o.component_property, allow_duplicate=True)
                for name, o in read_outputs.items()},
        inputs=dict(reading=Input(read_id(ALL), "value")),
        state=dict(upload=State(ids.UPLOAD_FILE, "data"), roles=State(role_id(ALL), "value")),
        prevent_initial_call=True,
    )
    def on_read(reading, upload, roles):
        if not upload:
            raise PreventUpdate
        try:
            info = store.inspect_saved(upload, None, dict(zip(READING, reading, strict=True)))
        except InputError as exc:
            return unread(no_update, exc)
        return shown(info, kept_roles(info, roles))

    @app.callback(
        output=dict(
            upload=Output(ids.UPLOAD_FILE, "data", allow_duplicate=True),
            shape=Output(ids.UPLOAD_SHAPE, "children"),
            id_options=Output(ids.UPLOAD_ID_COLUMN, "options"),
            id_column=Output(ids.UPLOAD_ID_COLUMN, "value"),
            feature_options=Output(ids.UPLOAD_FEATURES, "options"),
            features=Output(ids.UPLOAD_FEATURES, "value"),
            status=Output(ids.UPLOAD_STATUS, "children", allow_duplicate=True),
        ),
        inputs=dict(roles=Input(role_id(ALL), "value")),
        state=dict(upload=State(ids.UPLOAD_FILE, "data")),
        prevent_initial_call=True,
    )
    def on_roles(roles, upload):
        if not upload:
            raise PreventUpdate
        try:
            info = remap(store, upload, dict(zip(ROLE_LABELS, roles, strict=True)))
        except InputError as exc:
            keep = dict.fromkeys(("upload", "shape", "id_options", "id_column", "feature_options", "features"), no_update)
            return dict(keep, status=message(str(exc)))
        return dict(upload=info, shape=upload_facts(info), status="", **upload_choices(info))

    @app.callback(
        output=dict(
            dataset=Output(ids.DATASET, "data"),
            status=Output(ids.UPLOAD_STATUS, "children", allow_duplicate=True),
            tab=Output(ids.TABS, "active_tab", allow_duplicate=True),
        ),
        inputs=dict(_=Input(ids.UPLOAD_FIT, "n_clicks")),
        state=dict(upload=State(ids.UPLOAD_FILE, "data"), id_column=State(ids.UPLOAD_ID_COLUMN, "value"),
                   features=State(ids.UPLOAD_FEATURES, "value"), roles=State(role_id(ALL), "value"),
                   reading=State(read_id(ALL), "value"), session=State(ids.SESSION, "data")),
        background=True,
        manager=settings.manager,
        interval=400,
        progress=[Output(ids.UPLOAD_PROGRESS, "value"), Output(ids.UPLOAD_PROGRESS, "style"),
                  Output(ids.UPLOAD_FIT_STATUS, "children")],
        running=[(Output(ids.UPLOAD_FIT, "disabled"), True, False)],
        prevent_initial_call=True,
    )
    def fit_uploaded(set_progress, _, upload, id_column, features, roles, reading, session):
        if not upload or "feature_set" not in upload:  # not read yet: the page says why
            raise PreventUpdate
        try:
            with page_watch(settings) as cancelled:
                dataset_id = fit_upload(store, upload, id_column, features, session,
                                        progress=progress_steps(set_progress),
                                        roles=dict(zip(ROLE_LABELS, roles, strict=True)),
                                        reading=dict(zip(READING, reading, strict=True)), cancelled=cancelled)
        except FitCancelled:  # the tab went away: nobody to answer
            raise PreventUpdate from None
        except InputError as exc:
            return dict(dataset=no_update, status=message(str(exc)), tab=no_update)
        done = message(f"Fitted {upload['filename']}: see the Overview.", color="success")
        return dict(dataset=dataset_id, status=done, tab="overview")

    @app.callback(Output(ids.DATASET, "data", allow_duplicate=True), Input(ids.USE_DEMO, "n_clicks"),
                  prevent_initial_call=True)
    def use_demo(_):
        return DEMO_ID
