"""Figures as pure functions: data in, a Plotly figure out. No Dash, no data access here.

The panels redrawn on every filter change return plain figure dicts with numeric arrays as
typed (base64) arrays: building ``go.Figure`` objects validates every value and costs more
than the filtering itself at 100k+ customers.
"""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative
from plotly.subplots import make_subplots

PALETTE = qualitative.Plotly + qualitative.D3
_TEMPLATE = {"layout": pio.templates["plotly_white"].layout.to_plotly_json()}
#: Past this many customers the scatter plots show a random sample, saying so.
MAX_POINTS = 20_000


def segment_color(segment: int) -> str:
    """The colour of a segment, the same in every panel."""
    return PALETTE[int(segment) % len(PALETTE)]


def typed(values) -> dict:
    """A numeric array as a Plotly typed array (compact, and no per-value JSON encoding)."""
    arr = np.ascontiguousarray(values, dtype="<f8")
    return {"dtype": "f8", "bdata": base64.b64encode(arr.tobytes()).decode("ascii")}


def message_figure(text: str) -> dict:
    """An empty figure that says why there is nothing to show."""
    return {
        "data": [],
        "layout": {
            "template": _TEMPLATE, "xaxis": {"visible": False}, "yaxis": {"visible": False},
            "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
            "annotations": [{"text": text, "showarrow": False, "x": 0.5, "y": 0.5, "xref": "paper",
                             "yref": "paper", "font": {"size": 14}}],
        },
    }


def _caption(shown: int, total: int) -> str:
    return f"{total:,} customers" if shown == total else f"a random {shown:,} of {total:,} customers"


def _layout(title: str, **extra) -> dict:
    return {"template": _TEMPLATE, "margin": {"l": 50, "r": 20, "t": 50, "b": 45},
            "legend": {"orientation": "h", "y": -0.2}, "title": {"text": title, "font": {"size": 14}}, **extra}


def scatter_amount_frequency(
    shown: pd.DataFrame,
    total: int,
    names: dict[int, str],
    log_axes: bool = True,
    x_label: str = "average transaction amount",
    y_label: str = "transactions",
) -> dict:
    """Amount (``x``) against frequency (``y``), one WebGL trace per segment.

    ``shown`` holds the customers to plot (customer_id, segment, x, y): all of them, or a
    sample of ``total``, which the title then says.
    """
    if total == 0:
        return message_figure("No customers match the filters")
    caption = _caption(len(shown), total)
    traces = []
    for seg, part in shown.groupby("segment", sort=True):
        name = str(names.get(seg, seg))
        traces.append({
            "type": "scattergl", "mode": "markers", "name": f"{seg}: {name}",
            "x": typed(part["x"]), "y": typed(part["y"]),
            "marker": {"color": segment_color(seg), "size": 5, "opacity": 0.6},
            "customdata": part["customer_id"].tolist(),
            "hovertemplate": f"%{{customdata}}<br>{x_label} %{{x:,.4~g}}<br>{y_label} %{{y:,.4~g}}<extra>{name}</extra>",
        })
    axes = [{"title": {"text": label}, "type": "log" if log_axes else "linear"} for label in (x_label, y_label)]
    if log_axes:  # whole numbers at 1-2-5 steps: Plotly's own log ticks read "2 3 5" without their decade
        for axis, column in zip(axes, ("x", "y"), strict=True):
            axis.update(log_ticks(shown[column]))
    layout = _layout(f"{x_label} vs {y_label}: {caption}", dragmode="select", uirevision="scatter",
                     xaxis=axes[0], yaxis=axes[1])
    return {"data": traces, "layout": layout}


def log_ticks(values: pd.Series) -> dict:
    """Tick values and labels for a log axis over ``values``' positive range: 1, 2 and 5 times
    each power of ten (only the powers past four decades), written out (``20,000``, ``0.5``)."""
    positive = values[values > 0]
    if positive.empty:
        return {}
    low, high = int(np.floor(np.log10(positive.min()))), int(np.ceil(np.log10(positive.max())))
    steps = (1,) if high - low > 4 else (1, 2, 5)
    ticks = [d * 10.0**e for e in range(low, high + 1) for d in steps]
    ticks = [t for t in ticks if positive.min() / 2 <= t <= positive.max() * 2]
    return {"tickvals": ticks, "ticktext": [f"{t:,.0f}" if t >= 1 else f"{t:g}" for t in ticks]}


def box_by_segment(stats: pd.DataFrame | None, names: dict[int, str], label: str = "Repayment days") -> dict:
    """Box plot of one feature (``label``) per segment from precomputed quartiles and fences
    (no raw points are sent); ``stats`` None: the data has no such feature."""
    if stats is None:
        return message_figure("No repayment data here: no feature to show per segment")
    if stats.empty:
        return message_figure(f"No customers with {label.lower()} match the filters")
    traces = [
        {"type": "box", "name": f"{s.segment}: {names.get(s.segment, s.segment)}", "x": [str(s.segment)],
         "marker": {"color": segment_color(s.segment)}, "boxmean": True,
         **{k: [getattr(s, k)] for k in ("q1", "median", "q3", "lowerfence", "upperfence", "mean")}}
        for s in stats.itertuples()
    ]
    layout = _layout(f"{label} by segment", showlegend=False, xaxis={"title": {"text": "segment"}},
                     yaxis={"title": {"text": label.lower()}})
    return {"data": traces, "layout": layout}


def ternary_rfm(counts: pd.DataFrame | None, names: dict[int, str]) -> dict:
    """R, F and M scores on a ternary plot; one marker per score combination and segment,
    sized by its number of customers (so a million customers cost a few hundred markers).

    ``counts``: r_score, f_score, m_score, segment, n.
    """
    if counts is None:
        return message_figure("No recency / frequency / monetary columns: no RFM scores")
    if counts.empty:
        return message_figure("No customers match the filters")
    peak = counts["n"].max()
    traces = []
    for seg, part in counts.groupby("segment", sort=True):
        traces.append({
            "type": "scatterternary", "mode": "markers", "name": f"{seg}: {names.get(seg, seg)}",
            "a": part["r_score"].tolist(), "b": part["f_score"].tolist(), "c": part["m_score"].tolist(),
            "marker": {"color": segment_color(seg), "size": (6 + 24 * np.sqrt(part["n"] / peak)).round(1).tolist(),
                       "opacity": 0.65, "line": {"width": 0.5, "color": "white"}},
            "customdata": part["n"].tolist(),
            "hovertemplate": "R %{a} F %{b} M %{c}<br>%{customdata:,} customers<extra></extra>",
        })
    layout = _layout("RFM scores (1-5)", ternary={"aaxis": {"title": {"text": "R"}}, "baxis": {"title": {"text": "F"}},
                                                  "caxis": {"title": {"text": "M"}}})
    return {"data": traces, "layout": layout}


CRITERIA_PANELS = [
    ("min_dip", "Shallowest dip between segments", "separation"),
    ("inertia", "Elbow (inertia)", "elbow"),
    ("silhouette", "Silhouette (higher is better)", "silhouette"),
    ("calinski_harabasz", "Calinski-Harabasz (higher is better)", "calinski_harabasz"),
    ("davies_bouldin", "Davies-Bouldin (lower is better)", "davies_bouldin"),
    ("stability", "Stability (adjusted Rand, higher is better)", "stability"),
]


def k_criteria(table: pd.DataFrame, chosen: int, preferences: dict) -> go.Figure:
    """One small chart per criterion against k, the chosen k dashed, each criterion's pick ringed."""
    panels = [p for p in CRITERIA_PANELS if p[0] in table.columns and table[p[0]].notna().any()]
    if len(table) < 2:
        return go.Figure(message_figure(f"k={chosen} was fixed: no range of k was tried"))
    cols = 3 if len(panels) > 4 else 2  # two rows fit the card
    rows = int(np.ceil(len(panels) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[p[1] for p in panels], vertical_spacing=0.18)
    for i, (column, _, pref_key) in enumerate(panels):
        r, c = i // cols + 1, i % cols + 1
        fig.add_trace(go.Scatter(x=table["k"], y=table[column], mode="lines+markers", showlegend=False,
                                 line=dict(color="#1f77b4")), row=r, col=c)
        pick = (preferences or {}).get(pref_key)
        if pick is not None and pick in set(table["k"]):
            y = table.loc[table["k"] == pick, column].iloc[0]
            fig.add_trace(go.Scatter(x=[pick], y=[y], mode="markers", showlegend=False, hoverinfo="skip",
                                     marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(color="#ff7f0e", width=2))),
                          row=r, col=c)
        fig.add_vline(x=chosen, line_dash="dash", line_color="#d62728", row=r, col=c)
    fig.update_layout(template="plotly_white", height=280 * rows, margin=dict(l=50, r=20, t=60, b=40),
                      title=dict(text=f"Criteria per k: chosen k = {chosen} (dashed); each criterion's pick ringed",
                                 font=dict(size=14)))
    return fig


def pca_scatter(coords: np.ndarray, segments: np.ndarray, total: int, names: dict[int, str]) -> dict:
    """Customers (all, or a sample of ``total``) on the first two principal components."""
    shown = pd.DataFrame({"pc1": coords[:, 0], "pc2": coords[:, 1] if coords.shape[1] > 1 else 0.0,
                          "segment": segments})
    caption = _caption(len(shown), total)
    traces = [
        {"type": "scattergl", "mode": "markers", "name": f"{seg}: {names.get(seg, seg)}",
         "x": typed(part["pc1"]), "y": typed(part["pc2"]),
         "marker": {"color": segment_color(seg), "size": 4, "opacity": 0.55}}
        for seg, part in shown.groupby("segment", sort=True)
    ]
    layout = _layout(f"PCA projection: {caption}", xaxis={"title": {"text": "first component"}},
                     yaxis={"title": {"text": "second component"}})
    return {"data": traces, "layout": layout}


def distance_bars(distances: dict[int, float], own: int, names: dict[int, str]) -> dict:
    """One customer's distance to each segment's centre (scaled units), their own segment
    marked: the shorter the bar, the nearer the segment."""
    segments = sorted(distances)
    labels = [f"{s}: {names.get(s, s)}" for s in segments]
    return {
        "data": [{
            "type": "bar", "orientation": "h", "y": labels, "x": [distances[s] for s in segments],
            "marker": {"color": [segment_color(s) for s in segments],
                       "line": {"color": ["#222" if s == own else "rgba(0,0,0,0)" for s in segments], "width": 2}},
            "text": [f"{distances[s]:.2f}" + (" (this customer's segment)" if s == own else "") for s in segments],
            "textposition": "auto",
            "hovertemplate": "%{y}: %{x:.2f}<extra></extra>",
        }],
        "layout": _layout("Distance to each segment's centre (standard deviations)",
                          xaxis={"title": {"text": "distance"}, "rangemode": "tozero"},
                          yaxis={"autorange": "reversed", "automargin": True}, showlegend=False,
                          margin={"l": 10, "r": 20, "t": 50, "b": 45}),
    }


def segment_sizes(sizes: pd.DataFrame, marked: list | None = None) -> dict:
    """Customers per segment after each scoring (one line each); ``marked``: the two scorings
    compared, drawn as dashed lines."""
    traces = []
    for (segment, name), rows in sizes.groupby(["segment", "segment_name"], sort=True):
        traces.append({
            "type": "scatter", "mode": "lines+markers", "name": f"{segment}: {name}",
            "x": [t.isoformat() for t in rows["scored_at"]], "y": rows["customers"].tolist(),
            "line": {"color": segment_color(segment)},
            "hovertemplate": f"{segment}: {name}<br>%{{x}}: %{{y:,}} customers<extra></extra>",
        })
    shapes = [{"type": "line", "xref": "x", "yref": "paper", "x0": t, "x1": t, "y0": 0, "y1": 1,
               "line": {"dash": "dash", "color": "#888", "width": 1}} for t in (marked or []) if t]
    return {"data": traces, "layout": _layout("Customers per segment at each scoring", shapes=shapes,
                                              yaxis={"title": {"text": "customers"}, "rangemode": "tozero"})}
