"""The movement view: how segments change over scorings, from the segment history that
`segmentation score` (and `run --db`, `publish`, `demo-history`) records in a database:
segment sizes at each scoring, the Sankey of two scorings, and the customers who moved from
one segment to another, exportable.

The two scorings and the flow picked are kept in the URL (``mb``, ``ma``, ``mf``, ``mt``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from segmentation.errors import InputError
from segmentation.outputs.migration import migration_sankey, migration_table, movers, scorings, segment_sizes

from .. import figures, ids
from ..components import card, graph
from ..filters import ViewState, build_query, parse_query
from ..store import DataStore, export_bytes

if TYPE_CHECKING:
    from . import Settings

TAB_ID, LABEL = "movement", "Movement"
EXPORTS = {ids.MOVEMENT_EXPORT_CSV: ".csv", ids.MOVEMENT_EXPORT_XLSX: ".xlsx"}
#: Rows of the movers list shown in the page (the export has them all).
SHOWN_MOVERS = 200
NO_HISTORY = (
    "No segment history for this data yet. `segmentation score --db URL ...` records one each time it scores "
    "(so do `run --db` and `demo-history`); open a run folder whose segmentation.db has one, or start the "
    "dashboard with --history URL."
)


def layout(settings: Settings) -> html.Div:
    def picker(label, picker_id):
        return dbc.Col([html.Div(label, className="small fw-semibold"),
                        dcc.Dropdown(id=picker_id, options=[], clearable=True)], md=3)

    return html.Div(
        [
            html.Div(id=ids.MOVEMENT_SOURCE, className="small text-muted mb-2"),
            card("Segment sizes over scorings", graph(ids.MOVEMENT_SIZES, 340)),
            card("Movement between two scorings", [
                dbc.Row([picker("From the scoring of", ids.MOVEMENT_BEFORE), picker("to the scoring of", ids.MOVEMENT_AFTER),
                         picker("Customers who were in", ids.MOVEMENT_FROM), picker("and are now in", ids.MOVEMENT_TO)],
                        className="mb-2"),
                graph(ids.MOVEMENT_SANKEY, 460),
            ]),
            card("Customers who moved", [
                html.Div(id=ids.MOVEMENT_NOTE, className="small mb-2"),
                dbc.ButtonGroup([
                    dbc.Button("CSV", id=ids.MOVEMENT_EXPORT_CSV, color="primary", size="sm"),
                    dbc.Button("XLSX", id=ids.MOVEMENT_EXPORT_XLSX, color="primary", size="sm", outline=True),
                ], className="mb-2"),
                html.Div(id=ids.MOVEMENT_MOVERS),
            ]),
        ]
    )


# -- plain functions (tested without a browser) ------------------------------------------------


def chosen(history: pd.DataFrame, state: ViewState) -> dict:
    """The scorings and flow to show: the URL's when they are in the history, else the last two
    scorings and their largest flow between two segments."""
    times = scorings(history)
    known = {t.isoformat(): t for t in times}
    after = known.get(state.after, times[-1])
    earlier = [t for t in times if t < after]
    before = known.get(state.before) if state.before in known and known[state.before] < after else (
        earlier[-1] if earlier else None)
    move_from, move_to = state.move_from, state.move_to
    if move_from is None and move_to is None and before is not None:
        table = migration_table(history, before, after)
        moved = table[table["from_segment"].notna() & (table["from_segment"] != table["to_segment"])]
        if len(moved):
            top = moved.sort_values("customers", ascending=False, kind="stable").iloc[0]
            move_from, move_to = int(top["from_segment"]), int(top["to_segment"])
    return dict(times=times, before=before, after=after, move_from=move_from, move_to=move_to)


def movers_list(history: pd.DataFrame, pick: dict) -> pd.DataFrame:
    """The customers of the picked flow; with a side left open ("any"), only those who changed."""
    rows = movers(history, pick["before"], pick["after"], pick["move_from"], pick["move_to"])
    if pick["move_from"] is None or pick["move_to"] is None:
        rows = rows[rows["from_segment"].isna() | (rows["from_segment"] != rows["to_segment"])]
    return rows.reset_index(drop=True)


def segment_options(history: pd.DataFrame) -> list[dict]:
    names = history.drop_duplicates("segment", keep="last").sort_values("segment")
    return [{"label": f"{int(s)}: {n}", "value": int(s)} for s, n in zip(names["segment"], names["segment_name"], strict=True)]


def movement_panels(history: pd.DataFrame | None, state: ViewState) -> dict:
    """Everything the movement view shows for the URL's state."""
    if history is None or history.empty:
        empty = figures.message_figure("No segment history")
        return dict(sizes=empty, sankey=empty, note=NO_HISTORY, movers=None, pick=None)
    pick = chosen(history, state)
    marked = [t.isoformat() for t in (pick["before"], pick["after"]) if t is not None]
    table = migration_table(history, pick["before"], pick["after"])
    rows = movers_list(history, pick)
    since = "the first scoring" if pick["before"] is None else f"{pick['before']:%Y-%m-%d %H:%M}"
    side = {None: "any segment"}
    names = {o["value"]: o["label"] for o in segment_options(history)}
    note = (f"{len(rows):,} customer{'s' if len(rows) != 1 else ''} from {side.get(pick['move_from']) or names.get(pick['move_from'])} "
            f"to {side.get(pick['move_to']) or names.get(pick['move_to'])} between {since} and "
            f"{pick['after']:%Y-%m-%d %H:%M}" + (f"; the first {SHOWN_MOVERS} shown, the export has all" if len(rows) > SHOWN_MOVERS else ""))
    return dict(sizes=figures.segment_sizes(segment_sizes(history), marked), sankey=migration_sankey(table),
                note=note, movers=rows, pick=pick)


def movers_table(rows: pd.DataFrame | None):
    if rows is None:
        return None
    if rows.empty:
        return html.Div("Nobody made this move.", className="text-muted small")
    shown = rows.head(SHOWN_MOVERS).astype(object).where(rows.head(SHOWN_MOVERS).notna(), "")
    table = dbc.Table.from_dataframe(shown, size="sm", striped=True, className="small movers-table mb-0")
    return html.Div(table, style={"maxHeight": "420px", "overflowY": "auto"})


def url_choice(history: pd.DataFrame, before: str, after: str, move_from, move_to) -> dict:
    """The pickers' values as the URL keeps them: a default left out (the last two scorings;
    the largest flow between the scorings picked, both sides together), so a link holds only
    what the user chose."""
    default = chosen(history, ViewState())
    out = dict(before=before, after=after, move_from=move_from, move_to=move_to)
    for key in ("before", "after"):
        if default[key] is not None and out[key] == default[key].isoformat():
            out[key] = ""
    flow = chosen(history, ViewState(before=before, after=after))
    if (move_from, move_to) == (flow["move_from"], flow["move_to"]):
        out.update(move_from=None, move_to=None)
    return out


def history_or_none(store: DataStore, ready: dict | None, session: str | None):
    """The dataset's history and where it is from; a database that fails gives its message."""
    if not ready:
        raise PreventUpdate
    try:
        source = store.history_label(ready["dataset"], session)
        return (store.history(ready["dataset"], session), source, None)
    except KeyError:
        raise PreventUpdate from None
    except InputError as exc:
        return None, None, str(exc)


# -- callbacks ---------------------------------------------------------------------------------


def register(app, store: DataStore, settings: Settings) -> None:
    @app.callback(
        output=dict(
            source=Output(ids.MOVEMENT_SOURCE, "children"),
            time_options=Output(ids.MOVEMENT_BEFORE, "options"),
            after_options=Output(ids.MOVEMENT_AFTER, "options"),
            from_options=Output(ids.MOVEMENT_FROM, "options"),
            to_options=Output(ids.MOVEMENT_TO, "options"),
            before=Output(ids.MOVEMENT_BEFORE, "value"),
            after=Output(ids.MOVEMENT_AFTER, "value"),
            move_from=Output(ids.MOVEMENT_FROM, "value"),
            move_to=Output(ids.MOVEMENT_TO, "value"),
        ),
        inputs=dict(ready=Input(ids.READY, "data")),
        state=dict(search=State(ids.URL, "search"), session=State(ids.SESSION, "data")),
    )
    def show_controls(ready, search, session):
        history, source, error = history_or_none(store, ready, session)
        if history is None or history.empty:
            text = error or (NO_HISTORY if source is None else f"{source}: no segment history yet. {NO_HISTORY}")
            return dict(source=text, time_options=[], after_options=[], from_options=[], to_options=[],
                        before=None, after=None, move_from=None, move_to=None)
        pick = chosen(history, parse_query(search))
        times = [{"label": f"{t:%Y-%m-%d %H:%M}", "value": t.isoformat()} for t in pick["times"]]
        options = segment_options(history)
        return dict(
            source=f"History from {source}: {len(pick['times'])} scorings of model {history['model_version'].iloc[-1]}.",
            time_options=times, after_options=times, from_options=options, to_options=options,
            before=pick["before"].isoformat() if pick["before"] is not None else None,
            after=pick["after"].isoformat(), move_from=pick["move_from"], move_to=pick["move_to"],
        )

    @app.callback(
        output=dict(query=Output(ids.URL, "search", allow_duplicate=True)),
        inputs=dict(before=Input(ids.MOVEMENT_BEFORE, "value"), after=Input(ids.MOVEMENT_AFTER, "value"),
                    move_from=Input(ids.MOVEMENT_FROM, "value"), move_to=Input(ids.MOVEMENT_TO, "value")),
        state=dict(search=State(ids.URL, "search"), ready=State(ids.READY, "data"), session=State(ids.SESSION, "data")),
        prevent_initial_call=True,
    )
    def sync_movement_url(before, after, move_from, move_to, search, ready, session):
        history, _, _ = history_or_none(store, ready, session)
        if history is None or history.empty:
            raise PreventUpdate
        state = replace(parse_query(search), **url_choice(history, before or "", after or "", move_from, move_to))
        query = build_query(state)
        if query == (search or ""):
            raise PreventUpdate
        return dict(query=query)

    @app.callback(
        output=dict(sizes=Output(ids.MOVEMENT_SIZES, "figure"), sankey=Output(ids.MOVEMENT_SANKEY, "figure"),
                    note=Output(ids.MOVEMENT_NOTE, "children"), movers=Output(ids.MOVEMENT_MOVERS, "children")),
        inputs=dict(search=Input(ids.URL, "search"), ready=Input(ids.READY, "data")),
        state=dict(session=State(ids.SESSION, "data")),
    )
    def show_movement(search, ready, session):
        state = parse_query(search)
        if state.tab != TAB_ID and ctx.triggered_id == ids.URL:
            raise PreventUpdate  # another view's filters changed: nothing here to redraw
        history, _, error = history_or_none(store, ready, session)
        out = movement_panels(history, state)
        return dict(sizes=out["sizes"], sankey=out["sankey"], note=error or out["note"], movers=movers_table(out["movers"]))

    @app.callback(
        output=dict(download=Output(ids.DOWNLOAD, "data", allow_duplicate=True)),
        inputs=dict(clicks=[Input(button, "n_clicks") for button in EXPORTS]),
        state=dict(search=State(ids.URL, "search"), ready=State(ids.READY, "data"), session=State(ids.SESSION, "data")),
        prevent_initial_call=True,
    )
    def export_movers(clicks, search, ready, session):
        history, _, _ = history_or_none(store, ready, session)
        out = movement_panels(history, parse_query(search))
        if out["movers"] is None:
            return dict(download=no_update)
        suffix = EXPORTS[ctx.triggered_id]
        return dict(download=dcc.send_bytes(export_bytes(out["movers"], suffix), f"movers{suffix}"))
