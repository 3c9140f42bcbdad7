"""Segments kept in a database: tables written back after a run, and continuous re-scoring.

Tables (in the output database):

- ``customer_features``, ``customer_segments``, ``segment_profiles``: replaced by
  ``segmentation run --db``; rows of re-scored customers replaced by ``segmentation score``.
- ``segment_history`` (customer_id, segment, segment_name, scored_at, model_version): a row
  whenever a customer's segment is set or changes (scored_at in UTC). Scoring the same data
  again adds nothing, so the table holds each customer's path, not one row per run.
- ``segment_migration``: customers moving between segments from the model's previous scoring
  to its latest one (:func:`segmentation.migration.migration_table`).

Every write of one command happens in one transaction: readers see all of it or none of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .bundle import Bundle
from .database import Database, DatabaseSource, _literal
from .migration import HISTORY_COLUMNS, migration_table, segment_state

HISTORY_TABLE = "segment_history"
MIGRATION_TABLE = "segment_migration"


def _now() -> pd.Timestamp:
    """UTC now, to the microsecond (what every database keeps)."""
    return pd.Timestamp.now(tz="UTC").tz_localize(None).floor("us")


def _read_history(db: Database, con, model_version: str) -> pd.DataFrame:
    if not db.has_table(con, HISTORY_TABLE):
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    cols = ", ".join(HISTORY_COLUMNS)
    return db.read(con, f"SELECT {cols} FROM {HISTORY_TABLE} WHERE model_version = {_literal(model_version)}")


def record_scoring(db: Database, con, assigned: pd.DataFrame, model_version: str, scored_at) -> pd.DataFrame:
    """Append to segment_history the customers whose segment is new or changed; replace
    segment_migration. Returns the appended rows."""
    history = _read_history(db, con, model_version)
    current = segment_state(history, model_version=model_version)["segment"]
    before = assigned["customer_id"].map(current)
    changed = assigned[before.isna() | (before != assigned["segment"])]
    rows = pd.DataFrame(
        {
            "customer_id": changed["customer_id"].astype(str),
            "segment": changed["segment"].astype("int64"),
            "segment_name": changed["segment_name"].astype(str),
            "scored_at": pd.Series(pd.Timestamp(scored_at), index=changed.index, dtype="datetime64[us]"),
            "model_version": model_version,
        }
    )
    db.append(con, HISTORY_TABLE, rows)
    migration = migration_table(pd.concat([history, rows], ignore_index=True), model_version=model_version)
    db.swap_in(con, {MIGRATION_TABLE: migration})
    return rows


def publish_run(customers: pd.DataFrame, segments: pd.DataFrame, bundle: Bundle, url: str | None) -> Database:
    """Write a run's customer_features, customer_segments and segment_profiles to the database
    at ``url`` (replacing them), and record the segments in segment_history."""
    db = Database(url)
    with db.connect(create=True) as con:
        db.swap_in(
            con,
            {
                "customer_features": customers,
                "customer_segments": segments,
                "segment_profiles": bundle.segments,
            },
        )
        record_scoring(db, con, segments, bundle.model_version, _now())
    return db


@dataclass
class ScoreResult:
    """What `score` did."""

    database: Database
    model_version: str
    customers: int
    changed: pd.DataFrame
    migration: pd.DataFrame
    report: dict = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


def score(
    source: DatabaseSource,
    model_dir,
    *,
    since=None,
    as_of=None,
    max_rejected_share: float = 0.05,
    out_url: str | None = None,
    **overrides,
) -> ScoreResult:
    """Re-aggregate the customers with new rows in ``source`` and assign them with a saved model.

    The input is read as the model's training data was (:meth:`Bundle.load_options`: its
    features, late-after days, duplicate rows, outlier caps), so the same data gets the same
    features and segments as in the run that fitted the model.

    Parameters
    ----------
    source : DatabaseSource
        The transactions (or, for a customer-table model, the customer table).
    model_dir : path
        The model bundle folder; the model is not refitted.
    since : date, optional
        Only customers with a transaction or repayment on or after this day (all their rows
        are aggregated); for models of transactions and purchase logs. Default: every customer.
    as_of, max_rejected_share
        As for :func:`segmentation.load_dataset`.
    out_url : str, optional
        Where the tables are (default: the source's database).
    **overrides
        :func:`segmentation.load_dataset` options to use instead of the model's (``mapping``,
        ``late_after_days``, ...); None values are ignored.

    Returns
    -------
    ScoreResult
    """
    from .pipeline import load_dataset

    bundle = Bundle.load(model_dir)
    options = bundle.load_options(**overrides)
    dataset = load_dataset(source, as_of=as_of, max_rejected_share=max_rejected_share, since=since, **options)
    customers, report = dataset.customers, dataset.report
    db = Database(out_url) if out_url else source.database
    version = bundle.model_version
    if customers.empty:
        return ScoreResult(
            db, version, 0, pd.DataFrame(columns=HISTORY_COLUMNS), pd.DataFrame(), report, dataset.notices
        )
    assigned = bundle.assign(customers)
    with db.connect(create=True) as con:
        db.upsert(con, "customer_features", customers)
        db.upsert(con, "customer_segments", assigned)
        changed = record_scoring(db, con, assigned, version, _now())
        migration = db.read(con, f"SELECT * FROM {MIGRATION_TABLE}")
    return ScoreResult(db, version, len(assigned), changed, migration, report, dataset.notices)
