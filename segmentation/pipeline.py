"""The whole job, from one input to named segments and files: what `segmentation run` does.

The CLI and the dashboard call these functions; they hold no segmentation logic of their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from . import feature_sets
from .bundle import Bundle
from .database import DatabaseSource
from .exports import copy_rows_to_sqlite, write_sqlite, write_table
from .feature_sets import TRANSACTION_MODEL_FEATURES, Dataset, LoadOptions
from .model import Segmenter
from .naming import Rules
from .plots import plot_k_selection
from .sources import connect_duckdb, open_relation

__all__ = ["TRANSACTION_MODEL_FEATURES", "Dataset", "detect_feature_set", "fit_bundle", "load_dataset", "run"]


def detect_feature_set(columns: list[str], mapping: dict | None = None) -> str:
    """The name of the feature set the columns look like (see :mod:`segmentation.feature_sets`)."""
    return feature_sets.detect(columns, mapping)[0].name


def load_dataset(
    source,
    *,
    feature_set: str = "auto",
    mapping: dict | None = None,
    features: list[str] | None = None,
    late_after_days: int = 30,
    as_of=None,
    max_rejected_share: float = 0.05,
    keep_duplicate_rows: bool = False,
    cap_outliers: float | None = None,
    engine: str = "duckdb",
    rfm_rules: str | Path | None = None,
    caps: dict | None = None,
    since=None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Dataset:
    """Read ``source`` into customers with features, cleaned and reported.

    Parameters
    ----------
    source : str, Path, DataFrame or DatabaseSource
        CSV (any delimiter, with or without a BOM), Parquet or XLSX file, a frame, or a
        table or query in a database (where the feature SQL then runs).
    feature_set : str
        "auto" (detected from the columns), or one of :data:`feature_sets.FEATURE_SETS`.
    mapping : dict, optional
        Role to column (``{"customer_id": "customerid", "txn_date": "approveddate"}``).
    features : list of str, optional
        The features to cluster on (a categorical column stands for its one-hot columns).
    late_after_days, as_of, engine
        For transactions and purchase logs; see :func:`transaction_features`.
    max_rejected_share : float
        Stop with :class:`InputError` when more than this share of rows is set aside.
    keep_duplicate_rows : bool
        Use rows that repeat an earlier row exactly instead of setting them aside.
    cap_outliers : float, optional
        Cap each model feature at this percentile and the opposite one (99: at the 1st and
        99th percentiles).
    rfm_rules : path, optional
        Score-to-segment table for ``rfm_segment`` (default ``rules/rfm_segments.yaml``).
    caps : dict, optional
        Feature -> [low, high] to cap to (a saved model's, see :meth:`Bundle.load_options`)
        instead of ``cap_outliers``' percentiles of this data.
    since : date, optional
        For a :class:`DatabaseSource` of transactions or purchases: only the customers with a
        row on or after this day (with all their rows).

    Returns
    -------
    Dataset
        ``notices`` starts with the feature set chosen and why, then every cleaning rule.
    """
    con = con or connect_duckdb()
    if isinstance(source, pd.DataFrame):
        columns = [str(c) for c in source.columns]
    elif isinstance(source, DatabaseSource):
        columns = source.columns()
    else:
        columns = open_relation(con, source, "source")
    if feature_set == "auto":
        chosen, reason = feature_sets.detect(columns, mapping)
        reason = f"detected: {reason}"
    else:
        chosen, reason = feature_sets.get(feature_set), "set with --feature-set"
    options = LoadOptions(
        mapping=mapping,
        features=features,
        late_after_days=late_after_days,
        as_of=as_of,
        max_rejected_share=max_rejected_share,
        keep_duplicate_rows=keep_duplicate_rows,
        cap_outliers=cap_outliers,
        engine=engine,
        rfm_rules=str(rfm_rules) if rfm_rules else None,
        caps=caps,
        since=since,
    )
    dataset = chosen.load(source, con, columns, options)
    dataset.reason = reason
    dataset.options = {"keep_duplicate_rows": keep_duplicate_rows, "cap_outliers": cap_outliers}
    dataset.notices.insert(0, f"feature set: {chosen.name} ({chosen.headline(dataset)}); {reason}")
    return dataset


def fit_bundle(
    dataset: Dataset,
    *,
    k="auto",
    k_range=(2, 10),
    rules_path: str | Path | None = None,
    min_segment_share: float = 0.01,
    max_segments: int | None = None,
    algorithm: str = "auto",
    n_stability: int = 5,
    random_state: int = 0,
    progress: bool | None = False,
) -> Bundle:
    """Fit a :class:`Segmenter` on ``dataset`` and wrap it with its segment book.

    ``rules_path`` defaults to the rule table of the dataset's feature set; the other
    parameters are the :class:`Segmenter`'s.
    """
    rules = Rules.load(rules_path, dataset.feature_set)
    model = Segmenter(
        n_clusters=k,
        k_range=tuple(k_range),
        algorithm=algorithm,
        log_features=dataset.log_features,
        min_segment_share=min_segment_share,
        max_segments=max_segments,
        n_stability=n_stability,
        random_state=random_state,
    ).fit(dataset.customers[dataset.model_features], progress=progress)
    keys = ("as_of", "late_after_days", "columns", "id_column", "rfm_rules", "caps")
    settings = {k_: v for k_, v in dataset.report.items() if k_ in keys}
    settings.update(dataset.options, feature_set_reason=dataset.reason)
    return Bundle.from_model(
        model,
        dataset.customers,
        feature_set=dataset.feature_set,
        rules=rules,
        settings=settings,
        rfm_rules=dataset.report.get("rfm_rules"),
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
    as_of, max_rejected_share, keep_duplicate_rows, cap_outliers, engine, rfm_rules) and
    :func:`fit_bundle` (k, k_range, rules_path, min_segment_share, max_segments, algorithm,
    n_stability, random_state).
    """
    from tqdm.auto import tqdm

    load_keys = set(LoadOptions.__dataclass_fields__) | {"feature_set"}
    load_opts = {k: v for k, v in options.items() if k in load_keys}
    fit_opts = {k: v for k, v in options.items() if k not in load_keys}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    con = connect_duckdb()
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
        "pca": write_table(projection_table(bundle, segments), out / "pca.csv"),
        "model": bundle.save(out / "model"),
    }
    (out / "segment_rfm_crosstab.csv").unlink(missing_ok=True)
    if bundle.rfm_crosstab is not None:
        files["rfm_crosstab"] = out / "segment_rfm_crosstab.csv"
        bundle.rfm_crosstab.to_csv(files["rfm_crosstab"])
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
    if dataset.feature_set in ("transactions", "purchases") and transactions_table and in_duckdb:
        _write_transactions(con, db)
    tables = {
        "customer_features": dataset.customers,
        "customer_segments": segments,
        "segment_profiles": bundle.segments,
    }
    if bundle.rfm_crosstab is not None:
        tables["segment_rfm_crosstab"] = bundle.rfm_crosstab.reset_index()
    write_sqlite(db, tables)
    files["database"] = db
    steps.update()
    steps.close()
    return RunResult(out, bundle, segments, dataset, files)


def projection_table(bundle: Bundle, scored: pd.DataFrame) -> pd.DataFrame:
    """customer_id, pc1, pc2, segment, segment_name: the customers on the model's first two
    principal components, for a scatter plot (pca.csv)."""
    P = bundle.project(scored)
    return pd.DataFrame(
        {
            "customer_id": scored["customer_id"],
            "pc1": P[:, 0],
            "pc2": P[:, 1] if P.shape[1] > 1 else 0.0,  # one feature: one component
            "segment": scored["segment"],
            "segment_name": scored["segment_name"],
        }
    )


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
