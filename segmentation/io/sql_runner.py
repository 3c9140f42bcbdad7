"""The feature SQL runner: per-customer features of a log, computed in SQL where the data is.

The SQL lives in ``segmentation/io/sql/``: a staging file per dialect (how a text becomes a day
number, how exact duplicate rows are found), then portable checks, rejections and aggregation.
:class:`SqlEngine` runs it on DuckDB (embedded, the default), SQLite or PostgreSQL, and
:class:`segmentation.io.spark.SparkEngine` on Spark SQL; the sources
(:mod:`segmentation.io.sources`) decide which.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..options import LoadOptions
from ..shapes.cleaning import CleaningReport, CleaningRule
from .columns import ColumnMap, quote_identifier, resolve_columns

SQL_DIR = Path(__file__).parent / "sql"
EPOCH = dt.date(1970, 1, 1)

#: Columns of ``customer_features`` besides ``customer_id``, in this order.
TRANSACTION_FEATURES = (
    "txn_count",
    "avg_txn_amount",
    "total_amount",
    "max_amount",
    "avg_repayment_days",
    "late_share",
    "open_loans",
    "recency_days",
    "tenure_days",
)
#: Columns of a purchase log's ``customer_features`` besides ``customer_id``, in this order.
PURCHASE_FEATURES = (
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "r_score",
    "f_score",
    "m_score",
)
_INTEGER_FEATURES = (
    "txn_count",
    "open_loans",
    "recency_days",
    "tenure_days",
    "frequency",
    "r_score",
    "f_score",
    "m_score",
)
# Per kind of log: its output columns (the SQL is sql/<kind without the s>_features.sql).
_KINDS = {"transactions": TRANSACTION_FEATURES, "purchases": PURCHASE_FEATURES}

# reason code (from checks.sql) -> (role of the column at fault, what is wrong)
REJECT_REASONS = {
    "duplicate_row": (None, "are exact copies of an earlier row"),
    "customer_id_missing": ("customer_id", "is empty"),
    "txn_date_invalid": ("txn_date", "is not a date"),
    "amount_invalid": ("amount", "is not a number"),
    "amount_negative": ("amount", "is negative"),
    "repayment_date_invalid": ("repayment_date", "is not a date"),
    "repayment_before_txn": ("repayment_date", "is before the transaction date"),
    "due_date_invalid": ("due_date", "is not a date"),
}


def load_sql(name: str) -> str:
    """Text of ``segmentation/io/sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


@dataclass
class FeatureReport:
    """What happened to the input rows on their way to features."""

    engine: str
    columns: dict[str, str | None]
    rows_in: int
    rows_used: int
    customers: int
    as_of: str
    late_after_days: int | None
    rejections: list[CleaningRule] = field(default_factory=list)

    def cleaning_report(self, feature_set: str) -> CleaningReport:
        """The same counts in the report format every feature set shares."""
        details = {"engine": self.engine, "columns": self.columns, "as_of": self.as_of}
        if self.late_after_days is not None:
            details["late_after_days"] = self.late_after_days
        return CleaningReport(feature_set, self.rows_in, list(self.rejections), self.customers, details)


class SqlEngine:
    """The three calls the feature steps need, over DuckDB, SQLite or a DB-API connection
    (PostgreSQL through psycopg), so the same SQL runs wherever the data is."""

    def __init__(self, con, dialect: str | None = None):
        self.con = con
        self.dialect = dialect or ("sqlite" if isinstance(con, sqlite3.Connection) else "duckdb")

    def execute(self, sql: str) -> None:
        if self.dialect == "sqlite":
            self.con.executescript(sql)
        elif self.dialect == "duckdb":
            self.con.execute(sql)
        else:
            with self.con.cursor() as cur:
                cur.execute(sql)

    def frame(self, sql: str) -> pd.DataFrame:
        if self.dialect == "sqlite":
            return pd.read_sql_query(sql, self.con)
        if self.dialect == "duckdb":
            return self.con.execute(sql).df()
        with self.con.cursor() as cur:
            cur.execute(sql)
            return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])

    def features(self, sql: str) -> pd.DataFrame:
        """The customers of the feature SELECT ``sql`` that come to Python (here: all of them)."""
        return self.frame(sql)

    def scalars(self, sql: str) -> tuple:
        if self.dialect in ("sqlite", "duckdb"):
            return self.con.execute(sql).fetchone()
        with self.con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()


def aggregate(engine: SqlEngine, found: list[str], kind: str, options: LoadOptions) -> tuple[pd.DataFrame, FeatureReport]:
    """Run the feature SQL of ``kind`` ("transactions" or "purchases") on the view ``source``
    (columns ``found``) where ``engine`` is.

    Rows are staged, checked (rejected rows are counted per reason with an example, exact
    duplicate rows set aside unless ``options.keep_duplicate_rows``) and aggregated to one row
    per customer. ``options.since`` keeps only the customers with a transaction or repayment
    on or after it, with all of their rows: the customers whose features may have changed.
    """
    columns = resolve_columns(found, options.mapping)
    late_after_days = None
    if kind == "purchases":
        columns = ColumnMap(columns.customer_id, columns.txn_date, columns.amount)
    else:
        late_after_days = int(options.late_after_days)
        if late_after_days < 0:
            raise InputError(f"--late-after-days must be 0 or more, got {late_after_days}")
    copies = None if options.keep_duplicate_rows else found
    roles = {role: quote_identifier(col) if col else "NULL" for role, col in columns.as_dict().items()}
    every_column = ", ".join(map(quote_identifier, copies or ()))
    if engine.dialect == "duckdb":
        copy_no, row_hash = "1", f"hash({every_column})" if copies else "0"
    else:
        # Spark numbers rows only in an ordered window: ordered by the same columns, all equal.
        order = f" ORDER BY {every_column}" if engine.dialect == "spark" else ""
        copy_no, row_hash = (f"ROW_NUMBER() OVER (PARTITION BY {every_column}{order})" if copies else "1"), None
    staging = "staging_postgres" if engine.dialect == "postgresql" else f"staging_{engine.dialect}"
    engine.execute(load_sql(staging).format(source="source", copy_no=copy_no, row_hash=row_hash, **roles))
    if engine.dialect == "duckdb" and copies:
        engine.execute(load_sql("duplicates_duckdb"))
    if options.since is not None:
        engine.execute(load_sql("changed_customers").format(since_day=_day_number(options.since, "--since")))
    engine.execute(load_sql("checks"))
    rows_in = int(engine.scalars("SELECT COUNT(*) FROM staged")[0])
    if rows_in == 0 and options.since is not None:
        return _nothing_since(columns, late_after_days, options.as_of, engine.dialect, kind)
    if rows_in == 0:
        raise InputError("the input has no rows (only a header?)")
    rejections = [
        _rejection(row, rows_in, columns) for row in engine.frame(load_sql("rejections")).itertuples()
    ]
    CleaningReport(kind, rows_in, rejections).check_share(options.max_rejected_share)
    if options.as_of is None:
        last_txn, last_repay = engine.scalars(
            "SELECT MAX(txn_day), MAX(repay_day) FROM checked WHERE reject_reason IS NULL"
        )
        as_of_day = max(int(last_txn), int(last_repay) if last_repay is not None else int(last_txn))
    else:
        as_of_day = _day_number(options.as_of, "--as-of")
    sql = load_sql(f"{kind[:-1]}_features").format(as_of_day=as_of_day, late_after_days=late_after_days)
    features = typed_features(engine.features(sql), _KINDS[kind])
    if engine.dialect not in ("duckdb", "sqlite"):
        # The server's collation may sort ids differently; fit and output in one order everywhere.
        features = features.sort_values("customer_id", kind="stable", ignore_index=True)
    report = FeatureReport(
        engine=engine.dialect,
        columns=columns.as_dict(),
        rows_in=rows_in,
        rows_used=rows_in - sum(r.n_rows for r in rejections),
        customers=len(features),
        as_of=(EPOCH + dt.timedelta(days=as_of_day)).isoformat(),
        late_after_days=late_after_days,
        rejections=rejections,
    )
    return features, report


def _nothing_since(columns: ColumnMap, late_after_days, as_of, dialect: str, kind: str):
    """No customer had new rows: no features, and a report that says so."""
    empty = pd.DataFrame({"customer_id": pd.Series(dtype=str)})
    for name in _KINDS[kind]:
        empty[name] = pd.Series(dtype="int64" if name in _INTEGER_FEATURES else "float64")
    as_of_text = "" if as_of is None else (EPOCH + dt.timedelta(days=_day_number(as_of, "--as-of"))).isoformat()
    report = FeatureReport(dialect, columns.as_dict(), 0, 0, 0, as_of_text, late_after_days)
    return empty, report


def _day_number(value, option: str) -> int:
    try:
        return (pd.Timestamp(value).date() - EPOCH).days
    except (ValueError, TypeError):
        raise InputError(f"{option}: {value!r} is not a date (use YYYY-MM-DD)") from None


def _rejection(row, rows_in: int, columns: ColumnMap) -> CleaningRule:
    role, what = REJECT_REASONS[row.reject_reason]
    example = "" if row.example is None else str(row.example)
    if role is None:
        return CleaningRule(
            reason=row.reject_reason,
            column=None,
            n_rows=int(row.n_rows),
            example=example,
            message=f"{int(row.n_rows):,} of {rows_in:,} rows {what}, e.g. {example!r} "
            "(keep them with --keep-duplicate-rows)",
        )
    column = getattr(columns, role) or role
    named = role if column == role else f"{role} (column {column!r})"
    return CleaningRule(
        reason=row.reject_reason,
        column=column,
        n_rows=int(row.n_rows),
        example=example,
        message=f"{int(row.n_rows):,} of {rows_in:,} rows: {named} {what}, e.g. {example!r}",
    )


def typed_features(frame: pd.DataFrame, columns=TRANSACTION_FEATURES) -> pd.DataFrame:
    """Same dtypes whichever engine ran the SQL."""
    frame = frame.copy()
    frame["customer_id"] = frame["customer_id"].astype(str)
    for name in columns:
        kind = "int64" if name in _INTEGER_FEATURES else "float64"
        frame[name] = pd.to_numeric(frame[name]).astype(kind)
    return frame.reset_index(drop=True)[["customer_id", *columns]]


def checked_rows_sql(dialect: str) -> tuple[str, str]:
    """Two SELECTs over the checked rows of the last :func:`aggregate` on an engine of
    ``dialect``: the clean rows (dates as ISO text) and the rejected rows with their reason."""
    day = "CAST(DATE '1970-01-01' + {} AS VARCHAR)" if dialect == "duckdb" else "date({} * 86400, 'unixepoch')"
    clean = (
        f"SELECT customer_id, {day.format('txn_day')} AS txn_date, amount, "
        f"{day.format('repay_day')} AS repayment_date, {day.format('due_day')} AS due_date "
        "FROM checked WHERE reject_reason IS NULL"
    )
    rejected = (
        "SELECT customer_id, txn_date_raw, amount_raw, repayment_date_raw, due_date_raw, reject_reason "
        "FROM checked WHERE reject_reason IS NOT NULL"
    )
    return clean, rejected
