"""Per-customer features from transactions, computed in SQL where the data is.

The SQL lives in ``segmentation/sql/``: a staging file per dialect (the only place DuckDB and
SQLite differ: how a text becomes a day number), then portable checks and aggregation. DuckDB
is the embedded default and scans CSV or Parquet directly; SQLite runs the same checks and
feature SQL for analysts who keep their data there.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from .cleaning import CleaningReport, CleaningRule
from .errors import InputError
from .sources import ColumnMap, connect_duckdb, open_relation, quote_identifier, resolve_columns

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
    """Text of ``segmentation/sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


#: Rows set aside for one reason (the cleaning report's rule, with action "set aside").
Rejection = CleaningRule


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
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def rows_rejected(self) -> int:
        return self.rows_in - self.rows_used

    def to_dict(self) -> dict:
        out = asdict(self)
        out["rows_rejected"] = self.rows_rejected
        return out

    def cleaning_report(self, feature_set: str) -> CleaningReport:
        """The same counts in the report format every feature set shares."""
        details = {"engine": self.engine, "columns": self.columns, "as_of": self.as_of}
        if self.late_after_days is not None:
            details["late_after_days"] = self.late_after_days
        return CleaningReport(feature_set, self.rows_in, list(self.rejections), self.customers, details)


class _Engine:
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

    def scalars(self, sql: str) -> tuple:
        if self.dialect in ("sqlite", "duckdb"):
            return self.con.execute(sql).fetchone()
        with self.con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()


def transaction_features(
    source,
    *,
    mapping: dict[str, str] | None = None,
    engine: str = "duckdb",
    late_after_days: int = 30,
    as_of: str | dt.date | None = None,
    max_rejected_share: float = 0.05,
    keep_duplicate_rows: bool = False,
    con=None,
) -> tuple[pd.DataFrame, FeatureReport]:
    """Aggregate transactions into one row per customer.

    Parameters
    ----------
    source : str, Path or DataFrame
        A CSV, Parquet or XLSX file of transactions, or a frame with those columns.
    mapping : dict, optional
        Role to column, for columns named differently (``{"customer_id": "customerid"}``).
    engine : {"duckdb", "sqlite"}
        Where the SQL runs. SQLite gets the rows loaded into an in-memory database first.
    late_after_days : int
        Due day of a loan without a due date: this many days after the transaction.
    as_of : date or ISO string, optional
        Reference day for recency, tenure and overdue loans; default the last transaction or
        repayment day in the data.
    max_rejected_share : float
        Stop with :class:`InputError` when more than this share of rows is unusable.
    keep_duplicate_rows : bool
        Use rows that repeat an earlier row exactly (every column equal) instead of setting
        them aside as double entries.
    con : duckdb connection, optional
        Use this connection (its temp tables ``staged`` and ``checked`` stay for the caller).

    Returns
    -------
    features : DataFrame
        ``customer_id`` and :data:`TRANSACTION_FEATURES`, sorted by customer_id.
    report : FeatureReport
        Rows in, used and rejected per reason, with examples.
    """
    return _log_features(
        "transactions", source, mapping, engine, late_after_days, as_of, max_rejected_share,
        keep_duplicate_rows, con,
    )


def purchase_features(
    source,
    *,
    mapping: dict[str, str] | None = None,
    engine: str = "duckdb",
    as_of: str | dt.date | None = None,
    max_rejected_share: float = 0.05,
    keep_duplicate_rows: bool = False,
    con=None,
) -> tuple[pd.DataFrame, FeatureReport]:
    """Aggregate a purchase log (customer, date, amount) into one row per customer.

    Recency, frequency, monetary value, average order value and tenure, and the RFM
    quintile scores (see ``sql/purchase_features.sql``). Parameters as in
    :func:`transaction_features`; repayment and due-date columns, if any, are ignored.

    Returns
    -------
    features : DataFrame
        ``customer_id`` and :data:`PURCHASE_FEATURES`, sorted by customer_id.
    report : FeatureReport
    """
    return _log_features(
        "purchases", source, mapping, engine, None, as_of, max_rejected_share, keep_duplicate_rows, con
    )


def _log_features(kind, source, mapping, engine, late_after_days, as_of, max_rejected_share, keep_duplicates, con):
    if engine not in ("duckdb", "sqlite"):
        raise InputError(f"unknown engine {engine!r}; use duckdb or sqlite")
    duck = con if con is not None else connect_duckdb()
    if isinstance(source, pd.DataFrame):
        duck.register("source_frame", source.astype("string"))
        duck.execute("CREATE OR REPLACE TEMP VIEW source AS SELECT * FROM source_frame")
        found = [str(c) for c in source.columns]
    else:
        found = open_relation(duck, source, "source")
    if engine == "sqlite":
        target = _Engine(sqlite3.connect(":memory:"))
        _copy_to_sqlite(duck, target.con, found)
    else:
        target = _Engine(duck)
    return relation_features(
        target,
        found,
        kind=kind,
        mapping=mapping,
        late_after_days=late_after_days,
        as_of=as_of,
        max_rejected_share=max_rejected_share,
        keep_duplicate_rows=keep_duplicates,
    )


def sqlite_features(con: sqlite3.Connection, table: str, **kwargs) -> tuple[pd.DataFrame, FeatureReport]:
    """Run the feature SQL on a table of an open SQLite database (see transaction_features)."""
    found = [row[1] for row in con.execute(f"PRAGMA table_info({quote_identifier(table)})")]
    if not found:
        raise InputError(f"no table {table!r} in the SQLite database")
    con.execute(f"CREATE TEMP VIEW source AS SELECT * FROM {quote_identifier(table)}")
    return relation_features(_Engine(con), found, **kwargs)


def relation_features(
    engine: _Engine,
    found: list[str],
    *,
    kind: str = "transactions",
    mapping: dict[str, str] | None = None,
    late_after_days: int = 30,
    as_of=None,
    max_rejected_share: float = 0.05,
    keep_duplicate_rows: bool = False,
    since=None,
) -> tuple[pd.DataFrame, FeatureReport]:
    """Run the feature SQL of ``kind`` ("transactions" or "purchases") on the view ``source``
    (columns ``found``) where ``engine`` is.

    ``since`` (a date) keeps only the customers with a transaction or a repayment on or after
    it, with all of their rows: the customers whose features may have changed.
    """
    columns = resolve_columns(found, mapping)
    if kind == "purchases":
        columns, late_after_days = ColumnMap(columns.customer_id, columns.txn_date, columns.amount), None
    elif int(late_after_days) < 0:
        raise InputError(f"--late-after-days must be 0 or more, got {late_after_days}")
    return _features(
        engine,
        columns,
        None if late_after_days is None else int(late_after_days),
        as_of,
        max_rejected_share,
        kind,
        None if keep_duplicate_rows else found,
        since,
    )


def _copy_to_sqlite(duck, sqlite_con: sqlite3.Connection, columns: list[str]) -> None:
    cols = ", ".join(f"{quote_identifier(c)} TEXT" for c in columns)
    sqlite_con.execute(f"CREATE TABLE source ({cols})")
    marks = ", ".join("?" * len(columns))
    cursor = duck.execute("SELECT * FROM source")
    while batch := cursor.fetchmany(50_000):
        sqlite_con.executemany(f"INSERT INTO source VALUES ({marks})", batch)


def _features(
    engine: _Engine, columns: ColumnMap, late_after_days, as_of, max_rejected_share, kind, copies, since=None
):
    """Stage, check and aggregate; ``copies``: the source columns an exact duplicate repeats
    (None: keep duplicate rows); ``since``: only the customers with rows on or after it."""
    roles = {role: quote_identifier(col) if col else "NULL" for role, col in columns.as_dict().items()}
    every_column = ", ".join(map(quote_identifier, copies or ()))
    if engine.dialect == "duckdb":
        copy_no, row_hash = "1", f"hash({every_column})" if copies else "0"
    else:
        copy_no, row_hash = (f"ROW_NUMBER() OVER (PARTITION BY {every_column})" if copies else "1"), None
    staging = "staging_postgres" if engine.dialect == "postgresql" else f"staging_{engine.dialect}"
    engine.execute(load_sql(staging).format(source="source", copy_no=copy_no, row_hash=row_hash, **roles))
    if engine.dialect == "duckdb" and copies:
        engine.execute(load_sql("duplicates_duckdb"))
    if since is not None:
        engine.execute(load_sql("changed_customers").format(since_day=_day_number(since, "--since")))
    engine.execute(load_sql("checks"))
    rows_in = int(engine.scalars("SELECT COUNT(*) FROM staged")[0])
    if rows_in == 0 and since is not None:
        return _nothing_since(columns, late_after_days, as_of, engine.dialect, kind)
    if rows_in == 0:
        raise InputError("the input has no rows (only a header?)")
    rejections = [
        _rejection(row, rows_in, columns) for row in engine.frame(load_sql("rejections")).itertuples()
    ]
    rows_used = rows_in - sum(r.n_rows for r in rejections)
    if rows_used == 0:
        # The first copy of a row is never a duplicate: another reason made every row unusable.
        cause = next(r for r in rejections if r.reason != "duplicate_row")
        others = "".join(f"; {r.message}" for r in rejections if r is not cause)
        raise InputError(f"no usable rows: {cause.message}{others}")
    if rows_in - rows_used > max_rejected_share * rows_in:
        raise InputError(
            f"{max(rejections, key=lambda r: r.n_rows).message}; {(rows_in - rows_used) / rows_in:.0%} of rows are unusable, "
            f"more than the {max_rejected_share:.0%} allowed (--max-rejected)"
        )
    if as_of is None:
        last_txn, last_repay = engine.scalars(
            "SELECT MAX(txn_day), MAX(repay_day) FROM checked WHERE reject_reason IS NULL"
        )
        as_of_day = max(int(last_txn), int(last_repay) if last_repay is not None else int(last_txn))
    else:
        as_of_day = _day_number(as_of, "--as-of")
    sql = load_sql(f"{kind[:-1]}_features").format(as_of_day=as_of_day, late_after_days=late_after_days)
    features = _typed(engine.frame(sql), _KINDS[kind])
    if engine.dialect not in ("duckdb", "sqlite"):
        # The server's collation may sort ids differently; fit and output in one order everywhere.
        features = features.sort_values("customer_id", kind="stable", ignore_index=True)
    report = FeatureReport(
        engine=engine.dialect,
        columns=columns.as_dict(),
        rows_in=rows_in,
        rows_used=rows_used,
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


def _rejection(row, rows_in: int, columns: ColumnMap) -> Rejection:
    role, what = REJECT_REASONS[row.reject_reason]
    example = "" if row.example is None else str(row.example)
    if role is None:
        return Rejection(
            reason=row.reject_reason,
            column=None,
            n_rows=int(row.n_rows),
            example=example,
            message=f"{int(row.n_rows):,} of {rows_in:,} rows {what}, e.g. {example!r} "
            "(keep them with --keep-duplicate-rows)",
        )
    column = getattr(columns, role) or role
    named = role if column == role else f"{role} (column {column!r})"
    return Rejection(
        reason=row.reject_reason,
        column=column,
        n_rows=int(row.n_rows),
        example=example,
        message=f"{int(row.n_rows):,} of {rows_in:,} rows: {named} {what}, e.g. {example!r}",
    )


def _typed(frame: pd.DataFrame, columns=TRANSACTION_FEATURES) -> pd.DataFrame:
    """Same dtypes whichever engine ran the SQL."""
    frame = frame.copy()
    frame["customer_id"] = frame["customer_id"].astype(str)
    for name in columns:
        kind = "int64" if name in _INTEGER_FEATURES else "float64"
        frame[name] = pd.to_numeric(frame[name]).astype(kind)
    return frame.reset_index(drop=True)[["customer_id", *columns]]


def reference_features(
    transactions: pd.DataFrame, *, late_after_days: int = 30, as_of: str | None = None
) -> pd.DataFrame:
    """The same features computed with pandas, as a reference for the SQL (tests, benchmarks).

    ``transactions`` holds clean rows: customer_id, txn_date, amount, repayment_date and
    optionally due_date (dates parseable by pandas, empty for open loans).
    """
    t = pd.DataFrame({"customer_id": transactions["customer_id"].astype(str)})
    t["amount"] = transactions["amount"].astype(float)

    def day(col):
        return (pd.to_datetime(col, format="ISO8601").dt.normalize() - pd.Timestamp(EPOCH)).dt.days

    t["txn_day"] = day(transactions["txn_date"])
    t["repay_day"] = day(transactions["repayment_date"])
    due = day(transactions["due_date"]) if "due_date" in transactions else None
    t["due"] = t["txn_day"] + late_after_days if due is None else due.fillna(t["txn_day"] + late_after_days)
    if as_of is None:
        as_of_day = int(max(t["txn_day"].max(), t["repay_day"].max(skipna=True)))
    else:
        as_of_day = (pd.Timestamp(as_of).date() - EPOCH).days
    repaid = t["repay_day"].notna()
    t["repay_days"] = (t["repay_day"] - t["txn_day"]).where(repaid)
    t["late"] = (repaid & (t["repay_day"] > t["due"])) | (~repaid & (as_of_day > t["due"]))
    t["known"] = repaid | (as_of_day > t["due"])
    t["open"] = ~repaid
    g = t.groupby("customer_id", sort=True)
    out = pd.DataFrame(
        {
            "txn_count": g.size(),
            "avg_txn_amount": g["amount"].mean(),
            "total_amount": g["amount"].sum(),
            "max_amount": g["amount"].max(),
            "avg_repayment_days": g["repay_days"].mean(),
            "late_share": g["late"].sum() / g["known"].sum().replace(0, float("nan")),
            "open_loans": g["open"].sum(),
            "recency_days": as_of_day - g["txn_day"].max(),
            "tenure_days": as_of_day - g["txn_day"].min(),
        }
    ).reset_index()
    return _typed(out)
