"""What the user filtered on: the view state in the URL and the one filter function.

The URL query holds the view, so a copied link opens the same view:
``?k=4&seg=0,2&q=C00&log=0&r.txn_count=3~20&tab=model``: k, the ticked segments (absent: all),
the customer id search, the log-axes toggle (absent: on), one range per narrowed feature, the
tab; ``cust=C0001`` the customer of the score view; ``mb``, ``ma`` (the two scorings compared,
``YYYY-MM-DDTHH:MM:SS``), ``mf``, ``mt`` (the segments moved from and to) of the movement view. Parsing is forgiving: a value that does not parse is ignored, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

import numpy as np
from matplotlib.path import Path as Polygon

if TYPE_CHECKING:
    from .store import Workspace

TABS = ("overview", "model", "score", "movement", "data")


@dataclass(frozen=True)
class Filters:
    """What the user filtered on. Empty means no filter."""

    segments: tuple[int, ...] | None = None
    ranges: tuple[tuple[str, float, float], ...] = ()
    search: str = ""
    selection: dict | None = None  # scatter box/lasso: {"x": [...], "y": [...], "lasso": bool}


@dataclass
class ViewState:
    k: str = "auto"
    segments: list[int] | None = None
    search: str = ""
    log_axes: bool = True
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    tab: str = "overview"
    customer: str = ""  # the score view's customer id
    before: str = ""  # the movement view's two scorings and the flow picked
    after: str = ""
    move_from: int | None = None
    move_to: int | None = None

    def filters(self, selection: dict | None = None) -> Filters:
        return Filters(
            segments=None if self.segments is None else tuple(self.segments),
            ranges=tuple((name, lo, hi) for name, (lo, hi) in sorted(self.ranges.items())),
            search=self.search,
            selection=selection,
        )


def parse_query(search: str | None) -> ViewState:
    state = ViewState()
    for key, value in parse_qsl((search or "").lstrip("?"), keep_blank_values=True):
        try:
            if key == "k":
                state.k = "auto" if value == "auto" else str(int(value))
            elif key == "seg":
                state.segments = [int(v) for v in value.split(",") if v != ""]
            elif key == "q":
                state.search = value[:100]
            elif key == "log":
                state.log_axes = value != "0"
            elif key.startswith("r."):
                lo, hi = (float(v) for v in value.split("~"))
                state.ranges[key[2:]] = (min(lo, hi), max(lo, hi))
            elif key == "tab" and value in TABS:
                state.tab = value
            elif key == "cust":
                state.customer = value[:100]
            elif key in ("mb", "ma"):
                setattr(state, "before" if key == "mb" else "after", value[:40])
            elif key in ("mf", "mt"):
                setattr(state, "move_from" if key == "mf" else "move_to", int(value))
        except ValueError:
            continue
    return state


def build_query(state: ViewState) -> str:
    params: list[tuple[str, str]] = []
    if state.k != "auto":
        params.append(("k", state.k))
    if state.segments is not None:
        params.append(("seg", ",".join(str(s) for s in sorted(state.segments))))
    if state.search:
        params.append(("q", state.search))
    if not state.log_axes:
        params.append(("log", "0"))
    for name, (lo, hi) in sorted(state.ranges.items()):
        params.append((f"r.{name}", f"{lo:.10g}~{hi:.10g}"))
    if state.tab != "overview":
        params.append(("tab", state.tab))
    if state.customer:
        params.append(("cust", state.customer))
    for key, value in (("mb", state.before), ("ma", state.after), ("mf", state.move_from), ("mt", state.move_to)):
        if value not in ("", None):
            params.append((key, str(value)))
    return "?" + urlencode(params, safe=",~:") if params else ""


def state_for(ready: dict, search: str | None) -> ViewState:
    """The URL's view state for the model in ``ready``: when its k is another one, the URL's
    segments and ranges belonged to the old model and are dropped."""
    state = parse_query(search)
    if ready["k"] != state.k:
        state = replace(state, k=ready["k"], segments=None, ranges={})
    return state


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


def filter_mask(ws: Workspace, filters: Filters) -> np.ndarray:
    """Boolean mask of the customers the filters keep (the one filter function of the app)."""
    keep = np.ones(len(ws.frame), dtype=bool)
    if filters.segments is not None:
        keep &= np.isin(ws.array("segment"), filters.segments)
    for name, lo, hi in filters.ranges:
        if name in ws.frame.columns:
            values = ws.array(name)
            if lo > np.nanmin(values) or hi < np.nanmax(values):  # at its ends a slider keeps missing values
                keep &= (values >= lo) & (values <= hi)
    if filters.search:
        keep &= ws.frame["customer_id"].str.contains(filters.search.strip(), case=False, regex=False).to_numpy()
    if filters.selection:
        keep &= _in_selection(ws, filters.selection)
    return keep


def url_mask(ws: Workspace, search: str | None, selection: dict | None = None) -> np.ndarray:
    """The mask of the filters in the URL query (and the scatter selection, when given)."""
    return filter_mask(ws, parse_query(search).filters(selection))


def _in_selection(ws: Workspace, sel: dict) -> np.ndarray:
    """Customers inside the scatter's box or lasso, over all customers (not only plotted ones)."""
    if "x" not in ws.roles:
        return np.ones(len(ws.frame), dtype=bool)
    x, y = ws.array(ws.roles["x"].column), ws.array(ws.roles["y"].column)
    xs, ys = np.asarray(sel["x"], dtype=float), np.asarray(sel["y"], dtype=float)
    if sel.get("lasso"):
        inside = Polygon(np.column_stack([xs, ys])).contains_points(np.column_stack([x, y]))
        return inside & np.isfinite(x) & np.isfinite(y)
    return (x >= xs.min()) & (x <= xs.max()) & (y >= ys.min()) & (y <= ys.max())
