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

import duckdb
import pandas as pd

from ..errors import InputError
from ..options import LoadOptions
from ..shapes.cleaning import SET_ASIDE, CleaningReport, CleaningRule
from . import parsing
from .columns import ColumnMap, quote_identifier, resolve_columns
from .parsing import MAX_AMOUNT

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
    "loans_per_year",
)
#: loans_per_year counts a customer of shorter tenure (days) as this long: a first loan
#: yesterday is one loan a month, not 365 a year.
TENURE_FLOOR_DAYS = 30
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
    "amount_not_finite": ("amount", "is not a finite number (NaN or infinity)"),
    "amount_too_large": ("amount", f"is too large to add up (at least {MAX_AMOUNT:.0e})"),
    "amount_negative": ("amount", "is negative"),
    "repayment_date_invalid": ("repayment_date", "is not a date"),
    "repayment_before_txn": ("repayment_date", "is before the transaction date"),
    "due_date_invalid": ("due_date", "is not a date"),
}


#: DuckDB's table of the lines its typed CSV read could not convert (``store_rejects``).
TYPED_READ_ERRORS = "typed_read_errors"


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
    #: How the text was read when it was guessed (day-first dates, a decimal comma).
    notices: list[str] = field(default_factory=list)

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
            # fetchall: DuckDB refuses the next statement while a result is left half read
            rows = self.con.execute(sql).fetchall()
            return rows[0] if rows else None
        with self.con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()


def aggregate(engine: SqlEngine, found: list[str], kind: str, options: LoadOptions,
              typed_source: str | None = None) -> tuple[pd.DataFrame, FeatureReport]:
    """Run the feature SQL of ``kind`` ("transactions" or "purchases") on the view ``source``
    (columns ``found``) where ``engine`` is.

    ``typed_source`` (DuckDB): a view of the same rows read with types (see
    ``staging_duckdb_typed.sql``), tried first; its result is kept only when it set no row
    aside and cleaned no id, otherwise the rows are staged again from ``source``'s text.

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
    if typed_source is not None:
        try:
            engine.execute(load_sql("staging_duckdb_typed").format(source=typed_source, row_hash=row_hash, **roles))
            clean = _checked_result(engine, columns, kind, options, late_after_days, copies, typed=True)
        except (duckdb.Error, InputError):
            clean = None  # (no row the typed reader could take: the text staging names why)
        if clean is not None:
            return clean
        engine.execute("DROP VIEW IF EXISTS checked")
    staging = "staging_postgres" if engine.dialect == "postgresql" else f"staging_{engine.dialect}"
    style, notices = _text_style(engine, columns, options)
    engine.execute(load_sql(staging).format(source="source", copy_no=copy_no, row_hash=row_hash,
                                            **_staging_functions(engine, style), **roles))
    return _checked_result(engine, columns, kind, options, late_after_days, copies, notices)


def _checked_result(engine, columns, kind, options, late_after_days, copies, notices=None, typed=False):
    """After staging: duplicates, checks, rejections and the features (see :func:`aggregate`).
    ``typed``: None as soon as a row would be set aside, an id cleaned or a value failed the
    typed read (:data:`TYPED_READ_ERRORS`): the text staging must name them."""
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
    cleaned, example = engine.scalars("SELECT COUNT(*), MIN(customer_id) FROM staged WHERE id_cleaned = 1")
    if typed and (rejections or cleaned or engine.scalars(f"SELECT COUNT(*) FROM {TYPED_READ_ERRORS}")[0]):
        return None
    if cleaned:
        rejections.append(CleaningRule(
            reason="customer_id_control_chars", column=columns.customer_id, n_rows=int(cleaned), example=str(example),
            message=f"{int(cleaned):,} of {rows_in:,} rows: customer_id had control characters (a NUL byte, a tab), "
            f"removed, e.g. {example!r}", action="cleaned"))
    CleaningReport(kind, rows_in, rejections).check_share(options.max_rejected_share)
    if options.as_of is None:
        last_txn, last_repay = engine.scalars(
            "SELECT MAX(txn_day), MAX(repay_day) FROM checked WHERE reject_reason IS NULL"
        )
        as_of_day = max(int(last_txn), int(last_repay) if last_repay is not None else int(last_txn))
    else:
        as_of_day = _day_number(options.as_of, "--as-of")
    sql = load_sql(f"{kind[:-1]}_features").format(
        as_of_day=as_of_day, late_after_days=late_after_days, tenure_floor_days=TENURE_FLOOR_DAYS)
    features = typed_features(engine.features(sql), _KINDS[kind])
    if engine.dialect not in ("duckdb", "sqlite"):
        # The server's collation may sort ids differently; fit and output in one order everywhere.
        features = features.sort_values("customer_id", kind="stable", ignore_index=True)
    report = FeatureReport(
        engine=engine.dialect,
        columns=columns.as_dict(),
        rows_in=rows_in,
        rows_used=rows_in - sum(r.n_rows for r in rejections if r.action == SET_ASIDE),
        customers=len(features),
        as_of=(EPOCH + dt.timedelta(days=as_of_day)).isoformat(),
        late_after_days=late_after_days,
        rejections=rejections,
        notices=list(notices or []),
    )
    return features, report


def _text_style(engine: SqlEngine, columns: ColumnMap, options: LoadOptions) -> tuple[dict, list[str]]:
    """How dates and amounts are written: the options, else guessed from the first values of
    text columns (day-first dates, a decimal comma), with a notice for each guess."""
    parsing.check_style(options.date_format, options.decimal, options.thousands)  # before any SQL runs
    style = {"date_format": options.date_format, "decimal": options.decimal, "thousands": options.thousands}
    notices = []
    if engine.dialect == "spark":
        # Spark's staging reads ISO dates and point-decimal amounts (currency symbols and
        # comma-grouped thousands stripped); other styles are converted before Spark reads them.
        if any(style.values()):
            raise InputError("--date-format, --decimal and --thousands are not available with --spark: "
                             "write dates as YYYY-MM-DD and amounts with a decimal point in the files Spark reads")
        return style, notices
    guesses = [("date_format", columns.txn_date, parsing.guess_date_format, columns.txn_date)]
    if options.thousands is None:
        guesses.append(("decimal", columns.amount, parsing.guess_decimal, columns.amount))
    for key, column, guess, name in guesses:
        if style[key] is not None:
            continue
        values = [row[0] for row in engine.frame(
            f"SELECT CAST({quote_identifier(column)} AS TEXT) AS v FROM source "
            f"WHERE {quote_identifier(column)} IS NOT NULL LIMIT 5000").itertuples(index=False)]
        style[key], notice = guess(values)
        if notice:
            notices.append(f"{name}: {notice}")
    return style, notices


def _staging_functions(engine: SqlEngine, style: dict) -> dict:
    """The dialect's parsing functions for ``style`` (see :mod:`segmentation.io.parsing`)."""
    if engine.dialect == "duckdb":
        return {"functions": parsing.duckdb_functions(**style)}
    if engine.dialect == "postgresql":
        return {"functions": parsing.postgres_functions(**style)}
    if engine.dialect == "spark":
        return {"strip": parsing.STRIP.replace("[:space:]", "\\\\s"), "grouped": parsing._grouping(".")[1]}
    parsing.register_sqlite(engine.con, **style)
    days = {"txn_day": "CAST(julianday(date(TRIM(txn_date_raw))) - 2440587.5 AS INTEGER)",
            "repay_day": "CAST(julianday(date(repayment_date_raw)) - 2440587.5 AS INTEGER)",
            "due_day": "CAST(julianday(date(due_date_raw)) - 2440587.5 AS INTEGER)"}
    if style["date_format"]:  # ISO dates still read: they have one reading
        raw = {"txn_day": "txn_date_raw", "repay_day": "repayment_date_raw", "due_day": "due_date_raw"}
        days = {name: f"COALESCE(seg_day({raw[name]}), {iso})" for name, iso in days.items()}
    return {**days, "plain": "0" if style["decimal"] == "," or style["thousands"] else "1"}


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
    if len(example) > 40:  # a 5,000-digit number: its start is enough to find it
        example = f"{example[:30]}... ({len(example):,} characters)"
    hint = ""
    if row.reject_reason.endswith("date_invalid"):
        hint = parsing.ambiguous_date_hint(example)
    elif row.reject_reason == "amount_invalid":
        hint = parsing.number_hint(example)
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
        message=f"{int(row.n_rows):,} of {rows_in:,} rows: {named} {what}, e.g. {example!r}{hint}",
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
