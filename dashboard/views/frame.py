"""The page frame: header, fit progress, alert, the tabs and the stores the views share.

``prepare`` (a background callback) fits or loads the dataset's model for the asked k and
publishes ``READY = {dataset, k}``; every view redraws from READY and the URL, so a copied
link opens the same view.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from typing import TYPE_CHECKING

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from segmentation.errors import InputError

from .. import ids
from ..filters import parse_query, state_for
from ..fits import FitCancelled, Heartbeat
from ..store import DEMO_ID, DataStore, KOutOfRange, Workspace

if TYPE_CHECKING:
    from . import Settings

log = logging.getLogger("dashboard")


def workspace(store: DataStore, ready: dict | None, session: str | None) -> Workspace:
    """The model READY names, for this browser session; no update until there is one."""
    if not ready:
        raise PreventUpdate
    return store.get(ready["dataset"], ready["k"], owner=session)


@contextmanager
def page_watch(settings: Settings):
    """A background job's ``cancelled()`` check: true once its page stopped polling (the tab went
    away); None without a job manager (callbacks run inline)."""
    heartbeat = Heartbeat(settings.manager.heartbeats) if settings.manager else None
    try:
        yield heartbeat.lost if heartbeat else None
    finally:
        if heartbeat:
            heartbeat.end()


def progress_steps(set_progress):
    """A fit's progress callback (step 0: waiting, 1-4: fitting) driving a progress bar and the
    line under it ("waiting for 1 other fit"); both hidden when done."""
    def step(i, said):
        set_progress((round(25 * i), {"visibility": "visible" if i < 4 else "hidden"}, said if i < 4 else ""))
    return step


def header_facts(ws: Workspace) -> list:
    meta = ws.bundle.metadata
    return [
        html.Span(ws.label, className="badge bg-primary me-2"),
        html.Span(f"{len(ws.frame):,} customers", className="me-3"),
        html.Span(f"{meta['feature_set']} data", className="me-3"),
        html.Span(f"k = {meta['k']}", className="me-2 fw-semibold"),
        html.Span(meta["k_reason"], className="text-muted small"),
    ]


def layout(tabs: list[tuple[str, str, object]]) -> dbc.Container:
    """The whole page around ``tabs`` (tab id, label, content). Values are set by callbacks."""
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
            dbc.Progress(id=ids.FIT_PROGRESS, value=0, striped=True, animated=True, className="mb-1",
                         style={"visibility": "hidden"}),
            html.Div(id=ids.FIT_STATUS, className="small text-muted mb-2"),
            dbc.Alert(id=ids.ALERT, is_open=False, color="danger", dismissable=True),
            dbc.Tabs(
                [dbc.Tab(content, label=label, tab_id=tab_id) for tab_id, label, content in tabs],
                id=ids.TABS,
                active_tab="overview",
                className="mb-3",
            ),
        ],
        fluid=True,
        className="pb-4",
    )


def register(app, store: DataStore, settings: Settings) -> None:
    @app.callback(Output(ids.SESSION, "data"), Input(ids.SESSION, "data"))
    def ensure_session(session):
        # One random id per browser tab: whose uploads are whose.
        if session:
            raise PreventUpdate
        return uuid.uuid4().hex

    @app.callback(
        output=dict(
            ready=Output(ids.READY, "data"),
            alert=Output(ids.ALERT, "children", allow_duplicate=True),
            alert_open=Output(ids.ALERT, "is_open", allow_duplicate=True),
            alert_color=Output(ids.ALERT, "color", allow_duplicate=True),
        ),
        inputs=dict(dataset=Input(ids.DATASET, "data"), k_value=Input(ids.K_CHOOSER, "value"),
                    session=Input(ids.SESSION, "data")),
        state=dict(search=State(ids.URL, "search"), ready=State(ids.READY, "data")),
        background=True,
        manager=settings.manager,
        interval=300,
        progress=[Output(ids.FIT_PROGRESS, "value"), Output(ids.FIT_PROGRESS, "style"),
                  Output(ids.FIT_STATUS, "children")],
        running=[(Output(ids.K_CHOOSER, "disabled"), True, False)],
        prevent_initial_call="initial_duplicate",
    )
    def prepare(set_progress, dataset, k_value, session, search, ready):
        if not session:
            raise PreventUpdate
        dataset = dataset or DEMO_ID
        dataset_changed = ready is not None and ready.get("dataset") != dataset
        k = "auto" if dataset_changed else (k_value or parse_query(search).k)
        wanted = {"dataset": dataset, "k": str(k)}
        if wanted == ready:
            raise PreventUpdate
        unchanged = dict(alert=no_update, alert_open=no_update, alert_color=no_update)
        try:
            with page_watch(settings) as cancelled:
                store.get(dataset, k, owner=session, progress=progress_steps(set_progress), cancelled=cancelled)
        except FitCancelled:  # the tab went away: nobody to answer
            log.info("fit of %s k=%s cancelled: its page stopped polling", dataset, k)
            raise PreventUpdate from None
        except KeyError:
            return dict(ready={"dataset": DEMO_ID, "k": "auto"}, alert_open=True, alert_color="warning",
                        alert="That dataset is not available in this browser session; showing the demo.")
        except KOutOfRange as exc:
            shown = no_update if ready else {"dataset": dataset, "k": "auto"}  # a link: show the automatic k
            return dict(ready=shown, alert=f"{exc}.", alert_open=True, alert_color="warning")
        except InputError as exc:
            return dict(ready=no_update, alert=f"Could not fit k={k}: {exc}", alert_open=True, alert_color="danger")
        except Exception as exc:  # noqa: BLE001 - whatever broke, the page says so and offers a retry
            log.exception("preparing %s k=%s failed", dataset, k)
            return dict(ready=no_update, alert_open=True, alert_color="danger",
                        alert=[f"Preparing the model failed ({type(exc).__name__}). ",
                               html.A("Retry", href=search or "?", className="alert-link")])
        return dict(unchanged, ready=wanted)

    @app.callback(
        output=dict(facts=Output(ids.HEADER_FACTS, "children"), tab=Output(ids.TABS, "active_tab")),
        inputs=dict(ready=Input(ids.READY, "data")),
        state=dict(search=State(ids.URL, "search"), session=State(ids.SESSION, "data")),
    )
    def show_header(ready, search, session):
        ws = workspace(store, ready, session)
        return dict(facts=header_facts(ws), tab=state_for(ready, search).tab)
