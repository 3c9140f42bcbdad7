"""The data store: the only module that calls the segmentation library to load, fit, inspect
and write data.

Data stays on the server. Each dataset (the demo, or one browser session's upload) lives in a
folder of the store; a fitted model per k is saved there as a segmentation bundle with the
assigned customers, and kept in memory in a small cache. Callbacks pass only the dataset id,
the k and the filter values. Fitting runs through the library (``load_dataset`` and
``fit_bundle``); nothing here knows how to segment.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing as mp
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from segmentation import Bundle, FitOptions, LoadOptions, fit_bundle, inspect_input, load_dataset, open_run
from segmentation.errors import InputError
from segmentation.io.columns import REQUIRED_ROLES
from segmentation.io.database import Database
from segmentation.io.sources import TABLE_SUFFIXES, table_suffix
from segmentation.outputs.files import write_table
from segmentation.outputs.migration import read_history
from segmentation.shapes import Dataset, Panel, panel_columns
from segmentation.shapes.rfm import rfm_scores

from .fits import FitCancelled, FitGate, FitLimits, FitTimeout, last_used, never, touch_used

DEMO_ID = "demo"
EXPORT_TABLE = "customer_segments"
#: Hours an upload (and what was fitted from it) is kept; ``$DASHBOARD_UPLOAD_RETENTION_HOURS``.
UPLOAD_RETENTION_HOURS = 24.0
RETENTION_ENV = "DASHBOARD_UPLOAD_RETENTION_HOURS"
SWEEP_EVERY_S = 60  # how often a process looks for expired uploads


class KOutOfRange(InputError):
    """A k outside the model's range (refused before any fit)."""


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

    def once(self, name: str, make):
        """``make()``, computed once per workspace and kept (values that no filter changes)."""
        if name not in self._arrays:
            self._arrays[name] = make()
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

    def rfm_code(self) -> np.ndarray:
        """Per customer one integer for (R, F, M score, segment), so counting cells is a bincount."""
        if "__rfm_code" not in self._arrays:
            r, f, m = (self.rfm[c].to_numpy() - 1 for c in ("r_score", "f_score", "m_score"))
            # segment + 1: HDBSCAN's noise group is -1
            self._arrays["__rfm_code"] = ((r * 5 + f) * 5 + m) * 1000 + self.array("segment").astype(int) + 1
        return self._arrays["__rfm_code"]

    @property
    def segments(self) -> pd.DataFrame:
        return self.bundle.segments

    @property
    def features(self) -> list[str]:
        """Numeric feature columns of the frame (model and profile features)."""
        return list(self.bundle.metadata.get("profile_features") or self.bundle.features)

    def slider_features(self) -> list[str]:
        """Up to four features to filter on: the shape's panel columns (as its feature set
        declares them), then the model's features."""
        roles = [self.roles[r].column for r in ("count", "amount", "mean", "box", "total") if r in self.roles]
        candidates = [*roles, *self.bundle.features]
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

    def customer(self, customer_id: str) -> dict | None:
        """The model features of one customer of the data (exact id, else the only id matching
        it case-insensitively), with its id; None when there is none."""
        ids = self.frame["customer_id"]
        rows = np.flatnonzero((ids == customer_id).to_numpy())
        if not len(rows):
            rows = np.flatnonzero((ids.str.lower() == customer_id.strip().lower()).to_numpy())
        if len(rows) != 1:
            return None
        row = self.frame.iloc[int(rows[0])]
        return {"customer_id": row["customer_id"], **{f: _plain(row[f]) for f in self.bundle.features}}

    def pca(self) -> np.ndarray:
        """2-D projection of the customers in the model's scaled space (computed once)."""
        if self._pca is None:
            self._pca = self.bundle.project(self.frame)
        return self._pca


class DataStore:
    """Datasets on disk, fitted models per k, and an in-memory cache of workspaces.

    Parameters
    ----------
    root : path
        Folder for datasets (uploads and fitted bundles). Several server processes may share it.
    max_in_memory : int
        Workspaces kept in memory (least recently used are dropped, and reloaded from disk).
    upload_retention_hours : float, optional
        Uploads, and the fits made from them, are deleted this long after the upload (default
        ``$DASHBOARD_UPLOAD_RETENTION_HOURS`` or 24).
    limits : FitLimits, optional
        Fits at once, their time limit and fitted k kept per dataset (default from the environment,
        :meth:`FitLimits.from_env`).

    Customer data is personal data: the store's folders are 0700 and uploads 0600 (only the
    server's user reads them).
    """

    #: Who is uploading (set by the app: the signed-in session), recorded to delete a session's
    #: uploads when it ends; None when there is no login.
    upload_owner = staticmethod(lambda: None)

    def __init__(self, root: str | Path, max_in_memory: int = 6, upload_retention_hours: float | None = None,
                 limits: FitLimits | None = None):
        self.root = Path(root)
        _private_folder(self.root)
        self.limits = limits or FitLimits.from_env()
        self.gate = FitGate(self.root, self.limits)
        self._touched: dict[tuple[str, str], float] = {}
        self.max_in_memory = max_in_memory
        if upload_retention_hours is None:
            upload_retention_hours = float(os.environ.get(RETENTION_ENV) or UPLOAD_RETENTION_HOURS)
        self.upload_retention_s = upload_retention_hours * 3600
        self._cache: OrderedDict[tuple[str, str], Workspace] = OrderedDict()
        self._lock = threading.Lock()
        self._swept = 0.0

    # -- registering ----------------------------------------------------------------------

    def add(self, source: str | Path, *, label: str, owner: str | None = None, options: dict | None = None,
            dataset_id: str | None = None, history: str | None = None) -> str:
        """Register a data file (transactions, customer table) or a `segmentation run` folder;
        ``history``: the URL of a database holding its segment_history (default: a run folder's
        segmentation.db when it has one)."""
        dataset_id = dataset_id or uuid.uuid4().hex
        folder = self.root / dataset_id
        folder.mkdir(parents=True, exist_ok=True)
        source = Path(source)
        stat = source.stat()
        meta = {"label": label, "owner": owner, "source": str(source.resolve()), "options": options or {},
                "signature": [stat.st_size, stat.st_mtime_ns], "history": history}
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

    # -- history ----------------------------------------------------------------------------

    def history_source(self, dataset_id: str, owner: str | None = None) -> str | None:
        """The database URL of the dataset's segment history: the one registered with it, else a
        run folder's segmentation.db; None when it has none."""
        meta = self.meta(dataset_id, owner)
        if meta.get("history"):
            return meta["history"]
        db = Path(meta["source"]) / "segmentation.db"
        return f"sqlite:///{db}" if db.is_file() else None

    def history_label(self, dataset_id: str, owner: str | None = None) -> str | None:
        """Where the history is, as the page names it (``Database.label``: no path, no password)."""
        url = self.history_source(dataset_id, owner)
        return None if url is None else Database(url).label

    def history(self, dataset_id: str, owner: str | None = None) -> pd.DataFrame | None:
        """The segment_history of the dataset (see :meth:`history_source`): None when it has no
        database, an empty frame when the database has no history yet."""
        url = self.history_source(dataset_id, owner)
        return None if url is None else read_history(url)

    # -- uploads --------------------------------------------------------------------------

    def save_upload(self, filename: str, content: bytes, max_bytes: int) -> Path:
        """Keep an upload server-side under a random name (the browser keeps only that token);
        refused before it is parsed when empty, too large or not a table file. Readable by the
        server's user only (0600 in a 0700 folder); deleted after the retention period."""
        if not content:
            raise InputError(f"{filename} is empty")
        if len(content) > max_bytes:
            raise InputError(f"{filename} is {len(content) / 1e6:,.1f} MB; the limit is {max_bytes / 1e6:,.0f} MB")
        suffix = table_suffix(filename)
        if suffix not in TABLE_SUFFIXES:
            raise InputError(f"{filename}: upload a CSV, Parquet, XLSX or JSON file")
        self.sweep()
        folder = _private_folder(self.uploads)
        path = folder / f"{uuid.uuid4().hex}{suffix}"
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            out.write(content)
        owner = self.upload_owner()
        if owner:
            _private_write(path.with_name(path.name + ".owner"), owner)
        return path

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    def sweep(self, force: bool = False) -> int:
        """Delete uploads older than the retention period, with the datasets fitted from them
        (at most once a minute per process unless ``force``); returns how many were deleted."""
        now = time.time()
        if not force and now - self._swept < SWEEP_EVERY_S:
            return 0
        self._swept = now
        expired = [p for p in self._upload_files() if now - p.stat().st_mtime > self.upload_retention_s]
        for path in expired:
            self._delete_upload(path)
        return len(expired)

    def forget(self, owner: str) -> int:
        """Delete the uploads made in the signed-in session ``owner`` (it ended), with their
        datasets; returns how many uploads."""
        mine = [p for p in self._upload_files() if _read(p.with_name(p.name + ".owner")) == owner]
        for path in mine:
            self._delete_upload(path)
        return len(mine)

    def _upload_files(self) -> list[Path]:
        if not self.uploads.exists():
            return []
        return [p for p in self.uploads.iterdir() if table_suffix(p) in TABLE_SUFFIXES and p.is_file()]

    def _delete_upload(self, path: Path) -> None:
        for meta_path in self.root.glob("*/meta.json"):
            meta = json.loads(_read(meta_path) or "{}")
            if meta.get("source") == str(path.resolve()):
                shutil.rmtree(meta_path.parent, ignore_errors=True)
                with self._lock:
                    for key in [k for k in self._cache if k[0] == meta_path.parent.name]:
                        del self._cache[key]
        for leftover in (path, path.with_name(path.name + ".owner")):
            leftover.unlink(missing_ok=True)

    def inspect_saved(self, upload: dict, roles: dict[str, str | None] | None = None,
                      reading: dict[str, str | None] | None = None) -> dict:
        """:func:`inspect_upload` of a kept upload again, with the user's column for each role of
        a log (``roles``), read as it was or with the user's ``reading`` options (see
        :func:`upload_options`)."""
        path = self.kept(upload)
        return inspect_upload(path, upload["filename"], upload_options(upload, reading), roles)

    def kept(self, upload: dict) -> Path:
        """The server's copy of an upload; a message when the retention period deleted it."""
        path = self.uploads / Path(upload["token"]).name
        if not path.exists():
            raise InputError(f"{upload['filename']} is no longer kept on the server (uploads are deleted after "
                             f"{self.upload_retention_s / 3600:g} hours): upload it again")
        return path

    def add_upload(self, upload: dict, id_column: str | None, features: list[str] | None, owner: str,
                   roles: dict[str, str | None] | None = None, options: LoadOptions | None = None) -> str:
        """Register a saved upload (``inspect_upload``'s facts) for one session, with the columns
        the user gave each role of a log (``roles``: role -> column, as ``--map``), or the id
        column and features picked for a customer table; returns the dataset id. ``options``:
        how to read it (encoding, sheet, date format, decimal and thousands separators), by
        default those the upload was inspected with."""
        path = self.kept(upload)
        options = (options or upload_options(upload)).replace(mapping=upload_mapping(roles))
        if upload["feature_set"] == "table":
            options = options.replace(
                feature_set="table",
                mapping={"customer_id": id_column} if id_column else None,
                features=[f for f in features if f != id_column] if features else None,
            )
        return self.add(path, label=upload["filename"], owner=owner, options=options.to_dict())

    # -- fitting and loading --------------------------------------------------------------

    def get(self, dataset_id: str, k="auto", owner: str | None = None, progress=None, cancelled=None,
            time_limited: bool = True) -> Workspace:
        """The workspace of ``dataset_id`` fitted with ``k``: from memory, disk, or a new fit.

        A fixed ``k`` must lie in the range the dataset's model chooses from (its
        ``FitOptions.k_range``): a link or a crafted callback cannot start a fit of any cost.
        A new fit waits its turn (``self.limits``: fits at once, one per session ``owner``),
        shares a fit of the same k already under way, reports ``progress(step, text)`` (step 0:
        waiting) and stops when ``cancelled()`` turns true (``FitCancelled``) or after the time
        limit (``FitTimeout``; not for ``time_limited=False``: the server's own dataset at start).
        """
        meta = self.meta(dataset_id, owner)
        if str(k) != "auto":
            low, high = self.get(dataset_id, "auto", owner).bundle.fit_options.k_range
            if not str(k).isdigit() or not low <= int(k) <= high:
                raise KOutOfRange(f"k={str(k)[:12]} is outside this model's range: choose k from {low} to {high}")
            k = str(int(k))
        key = (dataset_id, str(k))
        fitted = self.root / _safe(dataset_id) / f"k-{k}"
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                self._mark_used(key, fitted)
                return self._cache[key]
        if (fitted / "customers.parquet").exists():
            ws = self._load(dataset_id, meta, k, fitted)
        else:
            ws = self._fit_once(dataset_id, meta, k, fitted, progress or (lambda *_: None), cancelled or never, owner,
                                time_limited)
        with self._lock:
            self._cache[key] = ws
            while len(self._cache) > self.max_in_memory:
                self._cache.popitem(last=False)
        return ws

    def _fit_once(self, dataset_id, meta, k, folder: Path, progress, cancelled, owner, time_limited) -> Workspace:
        """A fit through the gate: one per session, then the fit's own claim (whoever holds it
        is fitting this k: wait, then load what it made), then a server slot."""
        claim = folder.with_name(folder.name + ".claim")
        with self.gate.session(owner, lambda text: progress(0, text), cancelled), \
                self.gate.hold(claim, f"waiting for the same fit (k={k}) asked by another user",
                               lambda text: progress(0, text), cancelled):
            if (folder / "customers.parquet").exists():  # made while we waited
                return self._load(dataset_id, meta, k, folder)
            with self.gate.slot(lambda text: progress(0, text), cancelled):
                ws = self._fit(dataset_id, meta, k, folder, progress, cancelled, time_limited)
        self.evict(dataset_id)
        return ws

    def _fit(self, dataset_id, meta, k, folder: Path, progress, cancelled=never, time_limited=True) -> Workspace:
        tmp = folder.with_name(folder.name + f".tmp-{uuid.uuid4().hex[:8]}")
        try:
            # a daemonic process (a multiprocessing pool's worker) may not start one: fitted in-process
            if self.limits.timeout_s and time_limited and not mp.current_process().daemon:
                _fit_limited(meta, k, tmp, progress, cancelled, self.limits.timeout_s)
            else:
                _fit_files(meta, k, tmp, progress)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if folder.exists():
            shutil.rmtree(tmp)  # another process fitted it meanwhile; same data, same result
        else:
            tmp.rename(folder)  # atomic: readers never see half a fit
        progress(4, "done")
        return self._load(dataset_id, meta, k, folder)

    def evict(self, dataset_id: str) -> list[str]:
        """Delete the least recently used fitted k of ``dataset_id`` beyond ``limits.keep`` (never
        the automatic k, never one being fitted or loaded); returns the k deleted."""
        folder = self.root / _safe(dataset_id)
        fits = sorted((p for p in folder.glob("k-*") if p.is_dir() and ".tmp-" not in p.name and p.name != "k-auto"),
                      key=last_used, reverse=True)
        room = self.limits.keep - int((folder / "k-auto").exists())
        evicted = []
        for old in fits[max(room, 0):]:
            claim = self.gate.hold(old.with_name(old.name + ".claim"), "", lambda _: None, cancelled=lambda: True)
            try:
                with claim:
                    shutil.rmtree(old, ignore_errors=True)
            except FitCancelled:
                continue  # someone is fitting it right now
            evicted.append(old.name[2:])
            with self._lock:
                self._cache.pop((dataset_id, old.name[2:]), None)
        return evicted

    def _mark_used(self, key, folder: Path) -> None:
        # at most once a minute per fit: a callback's memory hit costs no file write
        now = time.monotonic()
        if now - self._touched.get(key, -1e9) > 60:
            self._touched[key] = now
            touch_used(folder)

    def _load(self, dataset_id, meta, k, folder: Path) -> Workspace:
        bundle = Bundle.load(folder / "model")
        frame = pd.read_parquet(folder / "customers.parquet")
        frame["customer_id"] = frame["customer_id"].astype(str)
        feature_set = (folder / "feature_set").read_text().strip()
        ws = Workspace(dataset_id, meta["label"], str(k), bundle, frame, feature_set)
        ws.rfm = rfm_scores(frame)
        self._touched[(dataset_id, str(k))] = time.monotonic()
        touch_used(folder)
        return ws


def _dataset(meta: dict) -> tuple[Dataset, Bundle | None, FitOptions]:
    """The dataset to fit, the run's own model (a run folder) and the fit options to use."""
    source = Path(meta["source"])
    if source.is_dir():  # a `segmentation run` output folder, refitted with the run's settings
        run = open_run(source)
        return run.dataset, run.bundle, run.fit_options
    return load_dataset(source, LoadOptions.from_dict(meta["options"])), None, FitOptions()


def _fit_files(meta: dict, k, tmp: Path, step) -> None:
    """Fit ``meta``'s dataset at ``k`` into the folder ``tmp`` (model, customers, feature set)."""
    step(1, "reading and computing features")
    try:
        dataset, saved, fit_options = _dataset(meta)
    except InputError as exc:
        raise _named(exc, Path(meta["source"]), meta["label"]) from None
    step(2, "fitting the model")
    if saved is not None and str(k) in ("auto", str(saved.metadata["k"])):
        bundle = saved  # the run's own model: the dashboard shows exactly its segments
    else:
        bundle = fit_bundle(dataset, fit_options.replace(k=k), progress=lambda done, total, k_tried: step(
            2 + done / total, f"fitting the model: trying k={k_tried} ({done + 1} of {total})"))
    step(3, "assigning segments")
    frame = bundle.assign(dataset.customers)
    bundle.save(tmp / "model")
    frame.to_parquet(tmp / "customers.parquet", index=False)
    (tmp / "feature_set").write_text(dataset.feature_set)


def _fit_limited(meta: dict, k, tmp: Path, step, cancelled, timeout_s: float) -> None:
    """``_fit_files`` in a process of its own, killed when ``cancelled()`` or after ``timeout_s``
    (a thread running scikit-learn cannot be stopped). Spawned, not forked: the caller may have
    threads (a gunicorn worker)."""
    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_fit_child, args=(send, meta, k, str(tmp)), name=f"fit k={k}")
    child.start()
    send.close()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if cancelled():  # (checked between messages too: a busy fit keeps sending steps)
                raise FitCancelled
            if receive.poll(0.2):
                try:
                    message = receive.recv()
                except EOFError:
                    raise RuntimeError(f"the fit process ended without a result (exit code {child.exitcode})") from None
                if message[0] == "step":
                    step(message[1], message[2])
                elif message[0] == "done":
                    return
                elif message[0] == "input":
                    raise InputError(message[1])
                else:
                    raise RuntimeError(message[1])
            elif time.monotonic() > deadline:
                raise FitTimeout(f"the fit took longer than this server's limit of {timeout_s:g} s and was "
                                 "stopped; try a smaller k or a smaller file")
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()


def _fit_child(send, meta: dict, k, tmp: str) -> None:
    # Die with the process that waits for the fit (a killed job leaves no fit running).
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    try:
        _fit_files(meta, k, Path(tmp), lambda i, text: send.send(("step", i, text)))
        send.send(("done",))
    except InputError as exc:
        send.send(("input", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported to the waiting process, which raises it
        send.send(("error", f"{type(exc).__name__}: {exc}"))


def _private_folder(folder: Path) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)  # also a folder made before uploads were private
    return folder


def _private_write(path: Path, text: str) -> None:
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(text)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:  # deleted meanwhile by another process's sweep
        return None


def _named(exc: InputError, path: Path, filename: str) -> InputError:
    """The error with the user's file name where the library named the server's copy."""
    text = str(exc).replace(str(path.resolve()), filename).replace(str(path), filename).replace(path.name, filename)
    return InputError(text)


def _plain(value):
    """A frame value as JSON-native (None for missing)."""
    if pd.isna(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _safe(dataset_id: str) -> str:
    if not dataset_id or not all(c.isalnum() or c in "-_" for c in dataset_id):
        raise KeyError(dataset_id)
    return dataset_id


def upload_mapping(roles: dict[str, str | None] | None) -> dict[str, str] | None:
    """The roles given a column, as LoadOptions' mapping (``--map``), when they describe a log
    (a customer, a date and an amount); otherwise None: the file is read as the library detects
    it (a customer table, whose id column is picked apart)."""
    mapping = {role: column for role, column in (roles or {}).items() if column}
    return mapping if all(r in mapping for r in REQUIRED_ROLES) else None


#: LoadOptions fields the upload view lets the user set: how the file is read (None: detected).
READING = ("encoding", "sheet", "date_format", "decimal", "thousands")


def upload_options(upload: dict, reading: dict[str, str | None] | None = None) -> LoadOptions:
    """The options a kept upload was inspected with, or those with the user's ``reading``
    options (:data:`READING` -> value, None or blank: detected). No column mapping: the roles
    picked give it each time, so a role cleared since is not kept."""
    values = {**(upload.get("options") or {}), "mapping": {}}
    if reading is not None:
        values.update({name: _given(reading.get(name), strip=name != "thousands") for name in READING})
    return LoadOptions.from_dict(values)


def _given(value, strip: bool) -> str | None:
    """An option typed or picked in the page; None when left empty (a space is a thousands separator)."""
    text = "" if value is None else str(value)
    return (text.strip() if strip else text) or None


def inspect_upload(path: str | Path, filename: str | None = None, options: LoadOptions | None = None,
                   roles: dict | None = None) -> dict:
    """What an uploaded file holds: its rows, columns, a preview, the numeric columns, the
    column of each log role and the data shape the library detects with them (``roles``: the
    user's choices, as ``--map``), and how it was read (``notices``: an encoding detected, the
    sheet chosen); ``options`` (kept for the fit) say how to read it."""
    path = Path(path)
    options = (options or LoadOptions()).replace(mapping=upload_mapping(roles))
    try:
        facts = inspect_input(path, options)  # read as the fit will read it: no preview that the fit contradicts
    except InputError as exc:
        raise _named(exc, path, filename or path.name) from None
    return {"token": path.name, "filename": filename or path.name, "rows": facts.rows, "columns": facts.columns,
            "feature_set": facts.feature_set, "shape_title": facts.title, "reason": facts.reason,
            "roles": facts.roles, "numeric": facts.numeric, "preview": facts.preview.astype(str).to_dict("records"),
            "notices": facts.notices, "options": options.to_dict()}


def export_bytes(frame: pd.DataFrame, suffix: str) -> bytes:
    """``frame`` as the bytes of a .csv, .xlsx (cells that could run as formulas neutralised, as
    every export of the library) or Tableau .hyper file."""
    with tempfile.TemporaryDirectory() as tmp:
        return write_table(frame, Path(tmp) / f"{EXPORT_TABLE}{suffix}", table=EXPORT_TABLE).read_bytes()
