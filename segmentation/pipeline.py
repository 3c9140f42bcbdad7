"""The whole job, from one input to named segments and files: what `segmentation run` does.

The CLI and the dashboard call these functions; they hold no segmentation logic of their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from .bundle import Bundle
from .database import DatabaseSource
from .errors import InputError
from .exports import copy_rows_to_sqlite, write_sqlite, write_table
from .features import FeatureReport, transaction_features
from .model import Segmenter
from .naming import Rules
from .plots import plot_k_selection
from .sources import open_relation, resolve_columns

#: Features the model clusters transactions on by default: frequency, size, volume,
#: repayment speed and discipline, recency. The others are profiled but not clustered on
#: (max_amount and tenure mostly repeat avg amount and count; open_loans repeats lateness).
TRANSACTION_MODEL_FEATURES = [
    "txn_count",
    "avg_txn_amount",
    "total_amount",
    "avg_repayment_days",
    "late_share",
    "recency_days",
]
_ID_NAMES = ("customerid", "custid", "clientid", "id", "customer")


@dataclass
class Dataset:
    """Customers ready to segment: one row each, an id and numeric features."""

    customers: pd.DataFrame
    feature_set: str
    model_features: list[str]
    report: dict = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


def detect_feature_set(columns: list[str], mapping: dict | None = None) -> str:
    """ "transactions" when the columns carry a customer, a date and an amount, else "table"."""
    try:
        resolve_columns(columns, mapping)
        return "transactions"
    except InputError:
        if mapping and {"txn_date", "amount"} & set(mapping):
            raise
        return "table"


def load_dataset(
    source,
    *,
    feature_set: str = "auto",
    mapping: dict | None = None,
    features: list[str] | None = None,
    late_after_days: int = 30,
    as_of=None,
    max_rejected_share: float = 0.05,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Dataset:
    """Read ``source`` (file, frame or :class:`DatabaseSource`) into customers with features.

    A transactions file is aggregated with the feature SQL; a customer table is taken as it
    is (an id column and its numeric columns). For a database source the feature SQL runs
    inside the database.
    """
    con = con or duckdb.connect()
    if isinstance(source, pd.DataFrame):
        columns = [str(c) for c in source.columns]
    elif isinstance(source, DatabaseSource):
        columns = source.columns()
    else:
        columns = open_relation(con, source, "source")
    if feature_set == "auto":
        feature_set = detect_feature_set(columns, mapping)
    if feature_set == "transactions":
        options = {
            "mapping": mapping,
            "late_after_days": late_after_days,
            "as_of": as_of,
            "max_rejected_share": max_rejected_share,
        }
        if isinstance(source, DatabaseSource):
            customers, report = source.features(**options)
        else:
            customers, report = transaction_features(source, con=con, **options)
        notices = [f"feature set: transactions (columns {_roles(report)})"]
        if features:
            chosen = _check_features(features, list(customers.columns[1:]))
        else:
            # Without repayments (a purchase log, or only open loans) the repayment features
            # are empty for everyone: leave them out rather than fail.
            chosen = [f for f in TRANSACTION_MODEL_FEATURES if customers[f].notna().any()]
            notices += [
                f"{f}: no values (no repaid loans in the data), left out of the model"
                for f in TRANSACTION_MODEL_FEATURES
                if f not in chosen
            ]
        notices += [f"set aside {r.message}" for r in report.rejections]
        return Dataset(customers, "transactions", chosen, report.to_dict(), notices)
    if feature_set == "table":
        if isinstance(source, pd.DataFrame):
            frame = source
        elif isinstance(source, DatabaseSource):
            frame = source.frame()
        else:
            frame = con.execute("SELECT * FROM source").df()
        return _customer_table(frame, mapping, features)
    raise InputError(f"unknown feature set {feature_set!r}; use auto, transactions or table")


def _roles(report: FeatureReport | dict) -> str:
    cols = report["columns"] if isinstance(report, dict) else report.columns
    return ", ".join(f"{role}={col}" for role, col in cols.items() if col)


def _check_features(wanted: list[str], available: list[str]) -> list[str]:
    missing = [f for f in wanted if f not in available]
    if missing:
        raise InputError(f"no feature named {missing[0]!r}; available: {', '.join(available)}")
    return list(wanted)


def _customer_table(frame: pd.DataFrame, mapping: dict | None, features: list[str] | None) -> Dataset:
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    if frame.empty:
        raise InputError("the input has no rows (only a header?)")
    id_col = (mapping or {}).get("customer_id")
    if id_col is None:
        norm = {c.lower().replace("_", "").replace(" ", ""): c for c in frame.columns}
        id_col = next((norm[n] for n in _ID_NAMES if n in norm), frame.columns[0])
    elif id_col not in frame.columns:
        raise InputError(f"--map customer_id={id_col}: no such column; found {', '.join(frame.columns)}")
    ids = frame[id_col].astype("string").str.strip()
    if ids.isna().any():
        raise InputError(f"id column {id_col!r}: {int(ids.isna().sum()):,} rows have no id")
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputError(f"id column {id_col!r}: {len(dup):,} duplicate ids, e.g. {dup.iloc[0]!r}")
    numeric, notices = {}, []
    for name in frame.columns:
        if name == id_col:
            continue
        raw = frame[name]
        values = pd.to_numeric(raw, errors="coerce")
        given = raw.notna() & (raw.astype("string").str.strip() != "")
        bad = given & values.isna()
        if given.sum() and bad.sum() <= 0.05 * given.sum():
            numeric[name] = values.astype(float)
            if bad.any():
                notices.append(
                    f"{name}: {int(bad.sum()):,} values are not numbers "
                    f"(e.g. {raw[bad].iloc[0]!r}), treated as missing"
                )
        else:
            notices.append(f"{name}: not numeric, left out")
    if not numeric:
        raise InputError(f"no numeric column to segment on; found {', '.join(frame.columns)}")
    customers = pd.DataFrame({"customer_id": ids.astype(str), **numeric})
    chosen = _check_features(features or list(numeric), list(numeric))
    constant = [c for c in chosen if customers[c].nunique(dropna=True) <= 1]
    if constant and len(constant) == len(chosen):
        raise InputError(f"every feature is constant ({', '.join(constant)}): nothing to segment on")
    notices.insert(0, f"feature set: table (id column {id_col!r}, {len(chosen)} features)")
    report = {"rows_in": len(frame), "rows_used": len(frame), "rows_rejected": 0, "id_column": id_col}
    return Dataset(customers, "table", chosen, report, notices)


def fit_bundle(
    dataset: Dataset,
    *,
    k="auto",
    k_range=(2, 10),
    rules_path: str | Path | None = None,
    min_segment_share: float = 0.01,
    random_state: int = 0,
    progress: bool | None = False,
) -> Bundle:
    """Fit a :class:`Segmenter` on ``dataset`` and wrap it with its segment book."""
    rules = Rules.load(rules_path, dataset.feature_set)
    model = Segmenter(
        n_clusters=k,
        k_range=tuple(k_range),
        min_segment_share=min_segment_share,
        random_state=random_state,
    ).fit(dataset.customers[dataset.model_features], progress=progress)
    settings = {k_: v for k_, v in dataset.report.items() if k_ in ("as_of", "late_after_days", "columns")}
    return Bundle.from_model(
        model, dataset.customers, feature_set=dataset.feature_set, rules=rules, settings=settings
    )


@dataclass
class RunResult:
    """What `run` produced."""

    out_dir: Path
    bundle: Bundle
    segments: pd.DataFrame
    dataset: Dataset
    files: dict[str, Path]


def run(
    source, out_dir: str | Path, *, progress: bool | None = False, transactions_table: bool = True, **options
) -> RunResult:
    """Everything from one input into ``out_dir``.

    ``options`` go to :func:`load_dataset` (feature_set, mapping, features, late_after_days,
    as_of, max_rejected_share) and :func:`fit_bundle` (k, k_range, rules_path,
    min_segment_share, random_state).
    """
    from tqdm.auto import tqdm

    load_keys = {"feature_set", "mapping", "features", "late_after_days", "as_of", "max_rejected_share"}
    load_opts = {k: v for k, v in options.items() if k in load_keys}
    fit_opts = {k: v for k, v in options.items() if k not in load_keys}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    steps = tqdm(
        total=4, desc="segmentation", disable=None if progress is None else not progress, leave=False
    )
    steps.set_postfix_str("features")
    dataset = load_dataset(source, con=con, **load_opts)
    steps.update()
    steps.set_postfix_str("fitting")
    bundle = fit_bundle(dataset, progress=progress, **fit_opts)
    steps.update()
    steps.set_postfix_str("writing")
    segments = bundle.assign(dataset.customers)
    files = {
        "customer_features": write_table(dataset.customers, out / "customer_features.csv"),
        "customer_segments": write_table(segments, out / "customer_segments.csv"),
        "segment_profiles": write_table(bundle.segments, out / "segment_profiles.csv"),
        "feature_anova": write_table(bundle.anova, out / "feature_anova.csv"),
        "k_selection": write_table(pd.DataFrame(bundle.metadata["k_selection"]), out / "k_selection.csv"),
        "model": bundle.save(out / "model"),
    }
    report_path = out / "cleaning_report.json"
    report_path.write_text(json.dumps(dataset.report, indent=2, default=str))
    files["cleaning_report"] = report_path
    files.update(zip(("elbow", "silhouette"), plot_k_selection(bundle.metadata, out), strict=True))
    steps.update()
    steps.set_postfix_str("segmentation.db")
    db = out / "segmentation.db"
    db.unlink(missing_ok=True)
    # A database source's checked rows live in that database, not in this DuckDB connection.
    in_duckdb = not isinstance(source, DatabaseSource)
    if dataset.feature_set == "transactions" and transactions_table and in_duckdb:
        _write_transactions(con, db)
    write_sqlite(
        db,
        {
            "customer_features": dataset.customers,
            "customer_segments": segments,
            "segment_profiles": bundle.segments,
        },
    )
    files["database"] = db
    steps.update()
    steps.close()
    return RunResult(out, bundle, segments, dataset, files)


def _write_transactions(con: duckdb.DuckDBPyConnection, db: Path) -> None:
    """Clean transactions, and the rejected rows with their reason, into the SQLite file."""
    day = "CAST(DATE '1970-01-01' + {} AS VARCHAR)"
    clean = con.execute(
        f"SELECT customer_id, {day.format('txn_day')} AS txn_date, amount, "
        f"{day.format('repay_day')} AS repayment_date, {day.format('due_day')} AS due_date "
        "FROM checked WHERE reject_reason IS NULL"
    )
    copy_rows_to_sqlite(
        db, "transactions", clean, ["customer_id", "txn_date", "amount", "repayment_date", "due_date"]
    )
    rejected = con.execute(
        "SELECT customer_id, txn_date_raw, amount_raw, repayment_date_raw, due_date_raw, reject_reason "
        "FROM checked WHERE reject_reason IS NOT NULL"
    )
    copy_rows_to_sqlite(
        db,
        "rejected_transactions",
        rejected,
        ["customer_id", "txn_date", "amount", "repayment_date", "due_date", "reject_reason"],
    )
