"""Data access for the dashboard: the only module that loads, fits and filters data.

Data stays on the server. Each dataset (the demo, or one browser session's upload) lives in a
folder of the store; a fitted model per k is saved there as a segmentation bundle with the
assigned customers, and kept in memory in a small cache. Callbacks pass only the dataset id,
the k and the filter values. Fitting runs through the library (``load_dataset`` and
``fit_bundle``); nothing here knows how to segment.
"""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.path import Path as Polygon

from segmentation import Bundle, fit_bundle, load_dataset
from segmentation.errors import InputError
from segmentation.feature_sets import Panel, panel_columns
from segmentation.pipeline import Dataset
from segmentation.rfm import rfm_scores

from . import ids

DEMO_ID = "demo"
#: Sliders shown first for these features when the data has them.
SLIDER_FEATURES = ("txn_count", "avg_txn_amount", "avg_repayment_days", "recency_days")


@dataclass
class Workspace:
    """A fitted dataset as the views see it."""

    id: str
    label: str
    k: str  # "auto" or a number, as asked
    bundle: Bundle
    frame: pd.DataFrame  # customer_id, features, segment, segment_name, recommended_action
    feature_set: str
    rfm: pd.DataFrame | None = None  # R, F and M scores (1-5) aligned with frame, when they apply
    _pca: np.ndarray | None = field(default=None, repr=False)
    _arrays: dict = field(default_factory=dict, repr=False)

    def array(self, name: str) -> np.ndarray:
        """A column as a numpy array, made once: filters then index arrays, never copy frames."""
        if name not in self._arrays:
            column = self.frame[name]
            if pd.api.types.is_integer_dtype(column):
                self._arrays[name] = column.to_numpy(dtype="int64")
            elif pd.api.types.is_numeric_dtype(column):
                self._arrays[name] = column.to_numpy(dtype=float)
            else:
                self._arrays[name] = column.to_numpy()
        return self._arrays[name]

    def shuffled(self) -> np.ndarray:
        """One fixed random order of the rows: a sample is its first rows that pass the filters,
        so the same customers stay on the scatter as filters change."""
        if "__shuffle" not in self._arrays:
            self._arrays["__shuffle"] = np.random.default_rng(0).permutation(len(self.frame))
        return self._arrays["__shuffle"]

    def segment_rows(self) -> dict[int, np.ndarray]:
        """Row positions of each segment (per-segment statistics gather only their rows)."""
        if "__segment_rows" not in self._arrays:
            segments = self.array("segment").astype(int)
            self._arrays["__segment_rows"] = {int(s): np.flatnonzero(segments == s) for s in np.unique(segments)}
        return self._arrays["__segment_rows"]

    def sorted_order(self, column: str, descending: bool) -> np.ndarray:
        """Row order sorted on ``column`` (missing values last), made once per column and way."""
        key = f"__sort_{column}_{descending}"
        if key not in self._arrays:
            values = self.frame[column]
            self._arrays[key] = values.sort_values(ascending=not descending, kind="stable", na_position="last").index.to_numpy()
        return self._arrays[key]

    @property
    def segments(self) -> pd.DataFrame:
        return self.bundle.segments

    @property
    def features(self) -> list[str]:
        """Numeric feature columns of the frame (model and profile features)."""
        return list(self.bundle.metadata.get("profile_features") or self.bundle.features)

    def slider_features(self) -> list[str]:
        """Up to four features to filter on: the usual loan ones, then the shape's panel columns,
        then the model's features."""
        roles = [self.roles[r].column for r in ("count", "amount", "mean", "box", "total") if r in self.roles]
        candidates = [*SLIDER_FEATURES, *roles, *self.bundle.features]
        return [f for f in dict.fromkeys(candidates) if self.has(f)][:4]

    def has(self, column: str) -> bool:
        return column in self.frame.columns and bool(self.frame[column].notna().any())

    @property
    def roles(self) -> dict[str, Panel]:
        """The columns of this data shape that fill the panels (amount, count, box, x, y, ...),
        as the library's feature set declares them; only columns with values."""
        if "__roles" not in self._arrays:
            declared = panel_columns(self.feature_set, self.frame.columns, self.bundle.features)
            self._arrays["__roles"] = {role: p for role, p in declared.items() if self.has(p.column)}
        return self._arrays["__roles"]

    def pca(self) -> np.ndarray:
        """2-D projection of the customers in the model's scaled space (computed once)."""
        if self._pca is None:
            self._pca = self.bundle.project(self.frame)
        return self._pca


@dataclass(frozen=True)
class Filters:
    """What the user filtered on. Empty means no filter."""

    segments: tuple[int, ...] | None = None
    ranges: tuple[tuple[str, float, float], ...] = ()
    search: str = ""
    selection: dict | None = None  # scatter box/lasso: {"x": [...], "y": [...], "lasso": bool}


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
            panel = panel or Panel(roles["total"].column, "Avg amount per transaction", roles["total"].unit)
        elif panel is not None:
            values = ws.array(panel.column)
            fn = (lambda m, v=values: np.nansum(v[m])) if role == "total" else mean(panel.column)
        if fn is None:
            out.append(Kpi(kpi_id, default_label, "n/a", "not in this data", applies=False))
            continue
        value, whole = fn(mask), fn(everyone)
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
    if "__rfm_code" not in ws._arrays:
        r, f, m = (ws.rfm[c].to_numpy() - 1 for c in ("r_score", "f_score", "m_score"))
        # segment + 1: HDBSCAN's noise group is -1
        ws._arrays["__rfm_code"] = ((r * 5 + f) * 5 + m) * 1000 + ws.array("segment").astype(int) + 1
    counts = np.bincount(ws._arrays["__rfm_code"][mask])
    code = np.flatnonzero(counts)
    cell, seg = code // 1000, code % 1000 - 1
    return pd.DataFrame({"r_score": cell // 25 + 1, "f_score": cell // 5 % 5 + 1, "m_score": cell % 5 + 1,
                         "segment": seg, "n": counts[code]})


def _money(value: float) -> str:
    """1,234 / 12.3k / 4.64M / 231.3M: amounts under 10,000 in full, larger ones short."""
    # (a start just under the unit, so 999,999 is 1.00M, not 1,000.0k)
    for unit, size, start in (("B", 1e9, 999.95e6), ("M", 1e6, 999.95e3), ("k", 1e3, 1e4)):
        if abs(value) >= start:
            scaled = value / size
            return f"{scaled:,.2f}{unit}" if abs(scaled) < 10 else f"{scaled:,.1f}{unit}"
    return f"{value:,.0f}"


#: How a KPI's value is written, by the unit of its column (see segmentation.feature_sets.Panel).
FORMATS = {
    "money": _money,
    "count": lambda v: f"{v:,.1f}",
    "days": lambda v: f"{v:,.1f} days",
    "share": lambda v: f"{v:.1%}",
    "number": lambda v: f"{v:,.4g}" if abs(v) < 1e4 else _money(v),
}


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


class DataStore:
    """Datasets on disk, fitted models per k, and an in-memory cache of workspaces.

    Parameters
    ----------
    root : path
        Folder for datasets (uploads and fitted bundles). Several server processes may share it.
    max_in_memory : int
        Workspaces kept in memory (least recently used are dropped, and reloaded from disk).
    """

    def __init__(self, root: str | Path, max_in_memory: int = 6):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_in_memory = max_in_memory
        self._cache: OrderedDict[tuple[str, str], Workspace] = OrderedDict()
        self._lock = threading.Lock()

    # -- registering ----------------------------------------------------------------------

    def add(self, source: str | Path, *, label: str, owner: str | None = None, options: dict | None = None,
            dataset_id: str | None = None) -> str:
        """Register a data file (transactions, customer table) or a `segmentation run` folder."""
        dataset_id = dataset_id or uuid.uuid4().hex
        folder = self.root / dataset_id
        folder.mkdir(parents=True, exist_ok=True)
        source = Path(source)
        stat = source.stat()
        meta = {"label": label, "owner": owner, "source": str(source.resolve()), "options": options or {},
                "signature": [stat.st_size, stat.st_mtime_ns]}
        path = folder / "meta.json"
        if path.exists() and json.loads(path.read_text()) != meta:
            # Same id, other data (e.g. the app restarted with --data): drop the old fits.
            shutil.rmtree(folder)
            folder.mkdir(parents=True)
        path.write_text(json.dumps(meta))
        return dataset_id

    def meta(self, dataset_id: str, owner: str | None = None) -> dict:
        """The dataset's registration; KeyError when unknown or owned by another session."""
        path = self.root / _safe(dataset_id) / "meta.json"
        if not path.exists():
            raise KeyError(dataset_id)
        meta = json.loads(path.read_text())
        if meta["owner"] is not None and meta["owner"] != owner:
            raise KeyError(dataset_id)  # another session's upload: as if it did not exist
        return meta

    # -- fitting and loading --------------------------------------------------------------

    def get(self, dataset_id: str, k="auto", owner: str | None = None, progress=None) -> Workspace:
        """The workspace of ``dataset_id`` fitted with ``k``: from memory, disk, or a new fit."""
        meta = self.meta(dataset_id, owner)
        key = (dataset_id, str(k))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        fitted = self.root / _safe(dataset_id) / f"k-{k}"
        if (fitted / "customers.parquet").exists():
            ws = self._load(dataset_id, meta, k, fitted)
        else:
            ws = self._fit(dataset_id, meta, k, fitted, progress)
        with self._lock:
            self._cache[key] = ws
            while len(self._cache) > self.max_in_memory:
                self._cache.popitem(last=False)
        return ws

    def _dataset(self, meta: dict) -> tuple[Dataset, Bundle | None]:
        source = Path(meta["source"])
        if source.is_dir():  # a `segmentation run` output folder
            bundle = Bundle.load(source / "model")
            customers = pd.read_csv(source / "customer_features.csv", dtype={"customer_id": str})
            return Dataset(customers, bundle.metadata["feature_set"], bundle.features), bundle
        opts = dict(meta["options"])
        return load_dataset(source, **opts), None

    def _fit(self, dataset_id, meta, k, folder: Path, progress) -> Workspace:
        step = progress or (lambda *_: None)
        step(1, "reading and computing features")
        dataset, saved = self._dataset(meta)
        step(2, "fitting the model")
        if saved is not None and str(k) in ("auto", str(saved.metadata["k"])):
            bundle = saved  # the run's own model: the dashboard shows exactly its segments
        else:
            bundle = fit_bundle(dataset, k=k)
        step(3, "assigning segments")
        frame = bundle.assign(dataset.customers)
        tmp = folder.with_name(folder.name + f".tmp-{uuid.uuid4().hex[:8]}")
        bundle.save(tmp / "model")
        frame.to_parquet(tmp / "customers.parquet", index=False)
        (tmp / "feature_set").write_text(dataset.feature_set)
        if folder.exists():
            shutil.rmtree(tmp)  # another process fitted it meanwhile; same data, same result
        else:
            tmp.rename(folder)  # atomic: readers never see half a fit
        step(4, "done")
        return self._load(dataset_id, meta, k, folder)

    def _load(self, dataset_id, meta, k, folder: Path) -> Workspace:
        bundle = Bundle.load(folder / "model")
        frame = pd.read_parquet(folder / "customers.parquet")
        frame["customer_id"] = frame["customer_id"].astype(str)
        feature_set = (folder / "feature_set").read_text().strip()
        ws = Workspace(dataset_id, meta["label"], str(k), bundle, frame, feature_set)
        ws.rfm = rfm_scores(frame, feature_set)
        return ws


def _safe(dataset_id: str) -> str:
    if not dataset_id or not all(c.isalnum() or c in "-_" for c in dataset_id):
        raise KeyError(dataset_id)
    return dataset_id


def check_upload(name: str, content: bytes, max_bytes: int) -> None:
    """Refuse an upload before it is parsed: empty, too large or not a table file."""
    if not content:
        raise InputError(f"{name} is empty")
    if len(content) > max_bytes:
        raise InputError(f"{name} is {len(content) / 1e6:,.1f} MB; the limit is {max_bytes / 1e6:,.0f} MB")
    if not name.lower().endswith((".csv", ".xlsx", ".parquet", ".txt")):
        raise InputError(f"{name}: upload a CSV or XLSX file")
