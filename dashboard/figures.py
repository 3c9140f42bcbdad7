"""Figures as pure functions: data in, ``go.Figure`` out. No Dash, no data access here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

PALETTE = qualitative.Plotly + qualitative.D3
#: Past this many customers the scatter plots show a random sample, saying so.
MAX_POINTS = 50_000
_LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=50, b=45), legend=dict(orientation="h", y=-0.2))


def segment_color(segment: int) -> str:
    """The colour of a segment, the same in every panel."""
    return PALETTE[int(segment) % len(PALETTE)]


def message_figure(text: str) -> go.Figure:
    """An empty figure that says why there is nothing to show."""
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=14))
    fig.update_layout(template="plotly_white", xaxis=dict(visible=False), yaxis=dict(visible=False),
                      margin=dict(l=10, r=10, t=10, b=10))
    return fig


def _sample(frame: pd.DataFrame, max_points: int, seed: int = 0) -> tuple[pd.DataFrame, str]:
    if len(frame) <= max_points:
        return frame, f"{len(frame):,} customers"
    part = frame.sample(max_points, random_state=seed)
    return part, f"a random {max_points:,} of {len(frame):,} customers"


def scatter_amount_frequency(frame: pd.DataFrame, names: dict[int, str], log_axes: bool = True,
                             max_points: int = MAX_POINTS) -> go.Figure:
    """Average transaction amount against transaction count, one WebGL trace per segment."""
    if len(frame) == 0:
        return message_figure("No customers match the filters")
    shown, caption = _sample(frame, max_points)
    fig = go.Figure()
    for seg, part in shown.groupby("segment", sort=True):
        fig.add_trace(
            go.Scattergl(
                x=part["avg_txn_amount"], y=part["txn_count"], mode="markers", name=f"{seg}: {names.get(seg, seg)}",
                marker=dict(color=segment_color(seg), size=5, opacity=0.6),
                customdata=part["customer_id"],
                hovertemplate="%{customdata}<br>avg amount %{x:,.0f}<br>%{y} transactions<extra>" + str(names.get(seg, seg)) + "</extra>",
            )
        )
    axis = "log" if log_axes else "linear"
    fig.update_layout(
        **_LAYOUT, title=dict(text=f"Amount vs frequency: {caption}", font=dict(size=14)),
        dragmode="select", uirevision="scatter",
        xaxis=dict(title="average transaction amount", type=axis),
        yaxis=dict(title="transactions", type=axis),
    )
    return fig


def _box_stats(values: np.ndarray) -> dict:
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    iqr = q3 - q1
    inside = values[(values >= q1 - 1.5 * iqr) & (values <= q3 + 1.5 * iqr)]
    return dict(q1=[q1], median=[med], q3=[q3], lowerfence=[inside.min()], upperfence=[inside.max()],
                mean=[values.mean()])


def box_repayment(frame: pd.DataFrame, names: dict[int, str], column: str = "avg_repayment_days") -> go.Figure:
    """Box plot of repayment days per segment, from precomputed quartiles (no raw points sent)."""
    if column not in frame.columns or frame[column].notna().sum() == 0:
        return message_figure(f"No repayment data here: this panel needs {column}")
    fig = go.Figure()
    for seg, part in frame.groupby("segment", sort=True):
        values = part[column].dropna().to_numpy(dtype=float)
        if len(values) == 0:
            continue
        fig.add_trace(go.Box(name=f"{seg}: {names.get(seg, seg)}", x=[f"{seg}"], marker_color=segment_color(seg),
                             boxmean=True, **_box_stats(values)))
    fig.update_layout(**_LAYOUT, title=dict(text="Repayment days by segment", font=dict(size=14)),
                      showlegend=False, xaxis=dict(title="segment"), yaxis=dict(title="average repayment days"))
    return fig


def ternary_rfm(rfm: pd.DataFrame | None, segments: pd.Series, names: dict[int, str]) -> go.Figure:
    """R, F and M scores on a ternary plot; one marker per score combination and segment,
    sized by its number of customers (so a million customers cost a few hundred markers)."""
    if rfm is None:
        return message_figure("No recency / frequency / monetary columns: no RFM scores")
    if len(rfm) == 0:
        return message_figure("No customers match the filters")
    counts = rfm.assign(segment=segments.to_numpy()).value_counts().rename("n").reset_index()
    peak = counts["n"].max()
    fig = go.Figure()
    for seg, part in counts.groupby("segment", sort=True):
        fig.add_trace(
            go.Scatterternary(
                a=part["r_score"], b=part["f_score"], c=part["m_score"], mode="markers",
                name=f"{seg}: {names.get(seg, seg)}",
                marker=dict(color=segment_color(seg), size=6 + 24 * np.sqrt(part["n"] / peak), opacity=0.65,
                            line=dict(width=0.5, color="white")),
                customdata=part["n"],
                hovertemplate="R %{a} F %{b} M %{c}<br>%{customdata:,} customers<extra></extra>",
            )
        )
    fig.update_layout(**_LAYOUT, title=dict(text="RFM scores (1-5)", font=dict(size=14)),
                      ternary=dict(aaxis=dict(title="R"), baxis=dict(title="F"), caxis=dict(title="M")))
    return fig


CRITERIA_PANELS = [
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
        return message_figure(f"k={chosen} was fixed: no range of k was tried")
    cols = 2
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


def pca_scatter(coords: np.ndarray, segments: pd.Series, names: dict[int, str], max_points: int = MAX_POINTS) -> go.Figure:
    """Customers on the first two principal components of the model's space."""
    frame = pd.DataFrame({"pc1": coords[:, 0], "pc2": coords[:, 1] if coords.shape[1] > 1 else 0.0,
                          "segment": segments.to_numpy()})
    if len(frame) == 0:
        return message_figure("No customers match the filters")
    shown, caption = _sample(frame, max_points)
    fig = go.Figure()
    for seg, part in shown.groupby("segment", sort=True):
        fig.add_trace(go.Scattergl(x=part["pc1"], y=part["pc2"], mode="markers", name=f"{seg}: {names.get(seg, seg)}",
                                   marker=dict(color=segment_color(seg), size=4, opacity=0.55)))
    fig.update_layout(**_LAYOUT, title=dict(text=f"PCA projection: {caption}", font=dict(size=14)),
                      xaxis=dict(title="first component"), yaxis=dict(title="second component"))
    return fig
