"""The view's state in the URL query string, so a copied link opens the same view.

``?k=4&seg=0,2&q=C00&log=0&r.txn_count=3~20&tab=model``: k, the ticked segments (absent: all),
the customer id search, the log-axes toggle (absent: on), one range per narrowed feature, the
tab. Parsing is forgiving: a value that does not parse is ignored, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from .data import Filters


@dataclass
class ViewState:
    k: str = "auto"
    segments: list[int] | None = None
    search: str = ""
    log_axes: bool = True
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    tab: str = "overview"

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
            elif key == "tab" and value in ("overview", "model", "data"):
                state.tab = value
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
    return "?" + urlencode(params, safe=",~") if params else ""
