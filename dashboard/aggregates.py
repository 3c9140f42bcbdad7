"""Numbers the views show, computed from a workspace and a filter mask: KPIs, the scatter's
sample, the box plot's quartiles, RFM counts, a page of the table and the export frame.

Masks index numpy arrays held by the workspace; no frame is copied per filter change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import ids
from .format import FORMATS
from .store import Workspace


def segment_names(ws: Workspace) -> dict[int, str]:
    return dict(zip(ws.segments["segment"].astype(int), ws.segments["segment_name"], strict=True))


@dataclass
class Kpi:
    """One KPI card: the value for the filtered customers and its change against everyone."""

    id: str
    label: str
    value: str
    delta: str
    applies: bool = True


#: The KPI cards after "Customers": card id, panel role, label when the data has no such role.
KPI_CARDS = (
    (ids.KPI_TOTAL_AMOUNT, "total", "Total amount"),
    (ids.KPI_AVG_AMOUNT, "amount", "Avg transaction amount"),
    (ids.KPI_REPAYMENT_DAYS, "mean", "Avg repayment days"),
    (ids.KPI_LATE_SHARE, "share", "Late-repayment share"),
)


def kpis(ws: Workspace, mask: np.ndarray) -> list[Kpi]:
    """The KPI cards for the customers kept by ``mask``, labelled for the data's shape."""
    total, n = len(ws.frame), int(mask.sum())
    out = [Kpi(ids.KPI_CUSTOMERS, "Customers", f"{n:,}", f"{n / total:.1%} of {total:,}")]
    everyone = np.ones(total, dtype=bool)
    roles = ws.roles

    def mean(column):
        values = ws.array(column)
        return lambda m: np.nanmean(values[m]) if m.any() and not np.isnan(values[m]).all() else np.nan

    def per_transaction(m):
        # money per transaction over all the customers' transactions (not a mean of means)
        count = np.nansum(ws.array(roles["count"].column)[m])
        return np.nansum(ws.array(roles["total"].column)[m]) / count if count else np.nan

    for kpi_id, role, default_label in KPI_CARDS:
        panel = roles.get(role)
        fn = None
        if role == "amount" and "total" in roles and "count" in roles:
            fn = per_transaction
            panel = panel or dataclasses.replace(roles["total"], label="Avg amount per transaction")
        elif panel is not None:
            values = ws.array(panel.column)
            fn = (lambda m, v=values: np.nansum(v[m])) if role == "total" else mean(panel.column)
        if fn is None:
            out.append(Kpi(kpi_id, default_label, "n/a", "not in this data", applies=False))
            continue
        value, whole = fn(mask), ws.once(f"__kpi_all_{kpi_id}", lambda f=fn: f(everyone))
        if n == 0 or pd.isna(value):
            out.append(Kpi(kpi_id, panel.label, "-", "no customers selected"))
            continue
        change = (value - whole) / abs(whole) if whole else 0.0
        fmt = FORMATS[panel.unit]
        out.append(Kpi(kpi_id, panel.label, fmt(value), f"{change:+.1%} vs all ({fmt(whole)})"))
    return out


def scatter_sample(ws: Workspace, mask: np.ndarray, max_points: int) -> tuple[pd.DataFrame, int]:
    """At most ``max_points`` of the filtered customers (a fixed random subset) and their count:
    customer_id, segment, x and y (the scatter's columns, ``ws.roles``)."""
    order = ws.shuffled()
    rows = order[mask[order]][:max_points]
    rows.sort()
    part = pd.DataFrame({c: ws.array(c)[rows] for c in ("customer_id", "segment")})
    part["x"], part["y"] = ws.array(ws.roles["x"].column)[rows], ws.array(ws.roles["y"].column)[rows]
    return part, int(mask.sum())


def box_table(ws: Workspace, mask: np.ndarray, column: str) -> pd.DataFrame | None:
    """Quartiles, fences (1.5 IQR) and mean of ``column`` per segment; None when it has no data."""
    if not ws.has(column):
        return None
    values = ws.array(column)
    rows = []
    for seg, members in ws.segment_rows().items():
        v = values[members[mask[members]]]
        v = v[~np.isnan(v)]
        if len(v):
            q1, med, q3 = np.percentile(v, [25, 50, 75])
            iqr = q3 - q1
            inside = v[(v >= q1 - 1.5 * iqr) & (v <= q3 + 1.5 * iqr)]
            rows.append({"segment": int(seg), "q1": q1, "median": med, "q3": q3, "lowerfence": inside.min(),
                         "upperfence": inside.max(), "mean": v.mean()})
    return pd.DataFrame(rows, columns=["segment", "q1", "median", "q3", "lowerfence", "upperfence", "mean"])


def rfm_counts(ws: Workspace, mask: np.ndarray) -> pd.DataFrame | None:
    """Customers per (R, F, M score, segment) among the filtered ones; None without RFM scores."""
    if ws.rfm is None:
        return None
    code = ws.rfm_code()
    counts = np.bincount(code[mask])
    present = np.flatnonzero(counts)
    cell, seg = present // 1000, present % 1000 - 1
    return pd.DataFrame({"r_score": cell // 25 + 1, "f_score": cell // 5 % 5 + 1, "m_score": cell % 5 + 1,
                         "segment": seg, "n": counts[present]})


def table_rows(ws: Workspace, mask: np.ndarray, start: int, end: int, sort_model: list | None) -> tuple[list[dict], int]:
    """One block of the filtered, sorted customers for the grid's infinite row model."""
    spec = next((s for s in (sort_model or []) if s.get("colId") in ws.frame.columns), None)
    order = ws.sorted_order(spec["colId"], spec.get("sort") == "desc") if spec else np.arange(len(ws.frame))
    kept = order[mask[order]]
    block = ws.frame.iloc[kept[start:end]]
    return block.replace({np.nan: None}).to_dict("records"), len(kept)


def export_frame(ws: Workspace, mask: np.ndarray) -> pd.DataFrame:
    """The filtered segment list in export column order."""
    first = ["customer_id", "segment", "segment_name", "recommended_action"]
    rest = [c for c in ws.frame.columns if c not in first]
    return ws.frame.loc[mask, first + rest].reset_index(drop=True)
