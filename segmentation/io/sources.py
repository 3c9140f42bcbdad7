"""Inputs behind one interface: a file, a data frame or a database table or query.

A :class:`Source` is opened once per use (``with source: ...``; nested uses share the one
opening) and answers :meth:`~Source.columns`, :meth:`~Source.aggregate` (the feature SQL of a
log, run where the data is) and :meth:`~Source.frame` (every row, for customer tables).
:func:`open_source` turns what a user passes into a source; it is the only place that asks
what kind of input it was given.

Files are read where they are (DuckDB scans CSV and Parquet directly), never loaded into pandas
first; only XLSX, which DuckDB cannot read without an extension, goes through pandas, once.
A CSV in another encoding than UTF-8 or with mixed line endings is first copied as clean UTF-8
(:mod:`segmentation.io.files`). Every source refuses two columns of one name.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import duckdb
import pandas as pd

from ..errors import InputError
from ..options import LoadOptions
from .columns import quote_identifier, resolve_columns
from .files import (
    check_names,
    header_delimiter,
    prepare_csv,
    ragged_row,
    read_error,
    read_workbook,
    text_lines,
)
from .sql_runner import TYPED_READ_ERRORS, SqlEngine, aggregate, checked_rows_sql

#: Environment variable capping DuckDB's memory (e.g. "1GB"): big inputs then spill to disk.
MEMORY_LIMIT_ENV = "SEGMENTATION_DUCKDB_MEMORY_LIMIT"
ENGINES = ("duckdb", "sqlite")
#: Title lines above a CSV's header that are skipped (with a notice).
MAX_TITLE_LINES = 5
CHECKED_COLUMNS = ["customer_id", "txn_date", "amount", "repayment_date", "due_date"]


def connect_duckdb(database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection, with the memory cap of :data:`MEMORY_LIMIT_ENV` when it is set."""
    con = duckdb.connect(database)
    con.execute("SET enable_progress_bar = false")  # the CLI prints its own lines only
    # A timestamp with a time zone falls on its UTC day, as in Spark and PostgreSQL here: not on
    # the day of whichever machine runs the job (a laptop and a server would disagree).
    con.execute("SET TimeZone = 'UTC'")
    limit = os.environ.get(MEMORY_LIMIT_ENV)
    if limit:
        try:
            con.execute("SET memory_limit = ?", [limit])
        except duckdb.Error as exc:
            raise InputError(f"{MEMORY_LIMIT_ENV}={limit!r} is not a memory size (e.g. 1GB): {exc}") from None
    return con


class Source:
    """An input; subclasses open it in :meth:`_open` and release it in :meth:`_close`."""

    #: Whether :meth:`aggregate` can keep only customers with rows since a day (``--since``).
    filters_since = False

    def __init__(self):
        self._depth = 0
        self._columns: list[str] | None = None
        #: What reading the input took (an encoding detected, a sheet chosen), for the user.
        self.notices: list[str] = []

    def __enter__(self) -> Source:
        self._depth += 1
        if self._depth == 1:
            try:
                self._open()
            except BaseException:
                self._depth = 0
                raise
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._columns = None
            self._close()

    def columns(self) -> list[str]:
        """The input's column names, in order."""
        raise NotImplementedError

    def aggregate(self, kind: str, options: LoadOptions):
        """Per-customer features of a log of ``kind`` ("transactions" or "purchases") and the
        :class:`~segmentation.io.sql_runner.FeatureReport` of its rows."""
        raise NotImplementedError

    def frame(self) -> pd.DataFrame:
        """Every row of the input (a customer table: one row per customer)."""
        raise NotImplementedError

    def checked_rows(self):
        """After :meth:`aggregate` of a log, while the source is open: yields ``(table, columns,
        cursor)`` for the clean rows ("transactions") and the rejected rows with their reason
        ("rejected_transactions"), each cursor read to the end before the next is made.
        Nothing for a database source (its rows stay there) or a customer table."""
        return iter(())

    #: Whether :meth:`score_where_it_is` assigns every customer where the data is (Spark):
    #: the source then stays open through the fit.
    assigns_in_place = False

    def score_where_it_is(self, bundle, scored_at, folder):
        """After :meth:`aggregate` of a log, while the source is open: assign every customer
        where the data is (not only those :meth:`aggregate` returned) with ``bundle`` and write
        the result tables into ``folder``. None for a source whose customers all come to
        Python (files, frames, databases: the jobs assign and write those themselves); see
        :class:`segmentation.io.spark.SparkSource`."""
        return None

    def _open(self) -> None:
        pass

    def _close(self) -> None:
        pass


class _LocalSource(Source):
    """A source read through an in-process DuckDB connection where the view ``source`` is it."""

    def __init__(self):
        super().__init__()
        self.con: duckdb.DuckDBPyConnection | None = None
        self._engine: SqlEngine | None = None

    def _open(self) -> None:
        self.con = connect_duckdb()
        self._make_view(self.con)

    def _close(self) -> None:
        self.con.close()
        self.con = self._engine = None

    def _make_view(self, con) -> None:
        raise NotImplementedError

    def columns(self) -> list[str]:
        with self:
            if self._columns is None:
                self._columns = [row[0] for row in self.con.execute("DESCRIBE source").fetchall()]
            return self._columns

    def aggregate(self, kind: str, options: LoadOptions):
        with self, self._reading():
            return self._aggregate(kind, options)

    @contextlib.contextmanager
    def _reading(self):
        """DuckDB's error while scanning the input (a bad byte far down a CSV) as one line."""
        try:
            yield
        except duckdb.Error as exc:
            error = read_error(exc, str(self))
            if error is None:
                raise
            raise error from None

    def _aggregate(self, kind: str, options: LoadOptions):
        if options.since is not None:
            raise InputError("--since needs the transactions in a database (--db with --table or --query)")
        if options.engine not in ENGINES:
            raise InputError(f"unknown engine {options.engine!r}; use {' or '.join(ENGINES)}")
        if options.engine == "sqlite":
            self._engine = SqlEngine(_copy_to_sqlite(self.con, self.columns()), "sqlite")
            return aggregate(self._engine, self.columns(), kind, options)
        self._engine = SqlEngine(self.con, "duckdb")
        return aggregate(self._engine, self.columns(), kind, options, self._typed_view(kind, options))

    def _typed_view(self, kind: str, options: LoadOptions) -> str | None:
        """The name of a view of the input read with types (the fast path of a clean file), or
        None where there is none."""
        return None

    def frame(self) -> pd.DataFrame:
        with self, self._reading():
            return self.con.execute("SELECT * FROM source").df()

    def checked_rows(self):
        if self._engine is None:
            return
        clean, rejected = checked_rows_sql(self._engine.dialect)
        yield "transactions", CHECKED_COLUMNS, self._engine.con.execute(clean)
        yield "rejected_transactions", [*CHECKED_COLUMNS, "reject_reason"], self._engine.con.execute(rejected)


#: The files :class:`FileSource` reads, by :func:`table_suffix` (DuckDB reads JSON gzipped too).
CSV_SUFFIXES = (".csv", ".txt", ".tsv", ".csv.gz", ".txt.gz", ".tsv.gz", ".gz")
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
TABLE_SUFFIXES = (".parquet", ".xlsx", ".xlsm", *CSV_SUFFIXES, *JSON_SUFFIXES)


def table_suffix(name: str | Path) -> str:
    """A file's kind as :class:`FileSource` reads it: its suffix, lower case, or its last two
    when they name a gzipped kind (``.json.gz`` is not a gzipped CSV)."""
    path = Path(str(name).lower())
    double = "".join(path.suffixes[-2:])
    return double if path.suffix == ".gz" and double in TABLE_SUFFIXES else path.suffix


class FileSource(_LocalSource):
    """A CSV (any delimiter, gzip too), Parquet, XLSX or JSON file.

    CSV is read with every column as text, so that a bad value in one row is counted by the
    checks instead of failing the whole read.
    """

    def __init__(self, path: str | Path, options: LoadOptions | None = None):
        super().__init__()
        self.path = Path(path)
        self.encoding = options.encoding if options else None
        self.sheet = options.sheet if options else None
        self._prepared = None
        self._csv_read: str | None = None  # read_csv's arguments for this CSV, once it is open
        if not self.path.exists():
            raise InputError(f"input file not found: {self.path}")
        if self.path.is_dir():
            raise InputError(f"input is a folder, not a file: {self.path}")
        if self.path.stat().st_size == 0:
            raise InputError(f"input file is empty: {self.path}")

    def __str__(self) -> str:
        return self.path.name

    def _make_view(self, con) -> None:
        path = self.path
        suffix = table_suffix(path)
        self.notices = []
        try:
            if suffix == ".parquet":
                con.execute(f"CREATE TEMP VIEW source AS SELECT * FROM read_parquet({_path_literal(path)})")
            elif suffix in (".xlsx", ".xlsm"):
                frame, self.notices = read_workbook(path, self.sheet)
                con.register("source_frame", frame)
                con.execute("CREATE TEMP VIEW source AS SELECT * FROM source_frame")
            elif suffix in CSV_SUFFIXES or suffix == "":
                self._prepared = prepare_csv(path, self.encoding)
                self.notices = list(self._prepared.notices)
                self._view_csv(con)
            elif suffix in JSON_SUFFIXES:
                self._view_json(con)
            else:
                raise InputError(f"cannot read {path.name}: expected a CSV, Parquet, XLSX or JSON file, got '{suffix}'")
            self.columns()
        except (duckdb.Error, ValueError, OSError) as exc:
            if isinstance(exc, InputError):
                raise
            error = read_error(exc, path.name) if isinstance(exc, duckdb.Error) else None
            if error is not None:
                raise error from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"cannot read {path.name} as a table: {first}") from None

    def _view_json(self, con) -> None:
        """A JSON export: an array of records, one record per line, or one object holding the
        records' array ({"data": [...]}, as many APIs answer). Every value is read as text, as
        in a CSV, so one bad value is a counted row, not a failed read."""
        literal = _path_literal(self.path)
        try:
            con.execute(f"CREATE TEMP VIEW json_rows AS SELECT * FROM read_json_auto({literal})")
            described = con.execute("DESCRIBE json_rows").fetchall()
            if len(described) == 1 and described[0][1].startswith("STRUCT(") and described[0][1].endswith("[]"):
                key = described[0][0]
                con.execute(f"CREATE OR REPLACE TEMP VIEW json_rows AS SELECT r.* FROM "
                            f"(SELECT unnest({quote_identifier(key)}) AS r FROM read_json_auto({literal}))")
                self.notices.append(f"{self.path.name}: the records are the list under {key!r}")
                described = con.execute("DESCRIBE json_rows").fetchall()
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0].replace(str(self.path), self.path.name)
            raise InputError(f"cannot read {self.path.name} as JSON records: {first}") from None
        # a column of mixed values (numbers and text) comes as JSON: its strings without quotes
        columns = ", ".join(
            f"json_extract_string({quote_identifier(name)}, '$') AS {quote_identifier(name)}" if kind == "JSON"
            else f"CAST({quote_identifier(name)} AS VARCHAR) AS {quote_identifier(name)}"
            for name, kind, *_ in described
        )
        con.execute(f"CREATE TEMP VIEW source AS SELECT {columns} FROM json_rows")

    def _view_csv(self, con) -> None:
        literal = _path_literal(self._prepared.path)
        # The separator as the header shows it: DuckDB's sniffer, left alone, may take one odd
        # row for the dialect and skip every row above it.
        delimiter = header_delimiter(self._prepared.path)
        dialect = "" if delimiter is None else f", delim = {_path_literal(Path(delimiter))}"
        try:
            skip = self._title_lines(con, literal, dialect)
            options = f"all_varchar = true, normalize_names = false, skip = {skip}{dialect}"
            con.execute(f"CREATE TEMP VIEW source AS SELECT * FROM read_csv({literal}, header = true, {options})")
            self._csv_read = f"{literal}, header = true, normalize_names = false, skip = {skip}{dialect}"
            # DuckDB renames a repeated header name (amount, amount_1): the header as written.
            header = con.execute(f"SELECT * FROM read_csv({literal}, header = false, {options}) LIMIT 1").fetchone()
        except duckdb.Error:
            error = ragged_row(self._prepared.path, delimiter, self.path.name) if delimiter else None
            if error is None:
                raise
            raise error from None
        check_names(list(header or ()), self.path.name)

    def _typed_view(self, kind: str, options: LoadOptions) -> str | None:
        """A CSV read with types, dates as TIMESTAMP and amounts as DOUBLE (DuckDB converts each
        value once while it reads), lines that do not convert kept aside in
        :data:`TYPED_READ_ERRORS` rather than failing the read. Not for a date or number style
        of the user's (the text staging applies it)."""
        if self._csv_read is None or options.date_format or options.decimal or options.thousands:
            return None
        try:
            roles = resolve_columns(self.columns(), options.mapping).as_dict()
        except InputError:
            return None
        types = {name: "VARCHAR" for name in self.columns()}
        for role, column in roles.items():
            if column and role != "customer_id" and (kind == "transactions" or role in ("txn_date", "amount")):
                types[column] = "DOUBLE" if role == "amount" else "TIMESTAMP"
        spec = "{" + ", ".join(f"'{c.replace(chr(39), chr(39) * 2)}': '{t}'" for c, t in types.items()) + "}"
        self.con.execute(
            f"CREATE OR REPLACE TEMP VIEW typed_source AS SELECT * FROM read_csv({self._csv_read}, columns = {spec}, "
            f"store_rejects = true, rejects_table = '{TYPED_READ_ERRORS}', rejects_scan = 'typed_read_scans')"
        )
        return "typed_source"

    def _title_lines(self, con, literal: str, dialect: str) -> int:
        """Lines above the header that DuckDB's sniffer would skip: a few title lines of a
        report are skipped, with a notice; more are never skipped (it would drop the rows
        above one odd row without a word: that row's error is shown instead)."""
        skip = int(con.execute(f"SELECT SkipRows FROM sniff_csv({literal}{dialect})").fetchone()[0] or 0)
        if not 0 < skip <= MAX_TITLE_LINES:
            return 0
        with text_lines(self._prepared.path) as f:
            first = f.readline().strip()
        self.notices.append(f"{self.path.name}: the first {skip} line{'s' if skip > 1 else ''} (e.g. {first[:40]!r}) "
                            "are not part of the table, skipped")
        return skip

    def _close(self) -> None:
        super()._close()
        if self._prepared is not None:
            self._prepared.cleanup()
            self._prepared = None


def _path_literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class FrameSource(_LocalSource):
    """A pandas frame (its values read as text by the feature SQL, as a CSV's would be)."""

    def __init__(self, frame: pd.DataFrame):
        super().__init__()
        self.data = frame

    def __str__(self) -> str:
        return "the data frame"

    def _make_view(self, con) -> None:
        check_names(list(self.data.columns), "the data frame")
        con.register("source_frame", self.data.astype("string"))
        con.execute("CREATE TEMP VIEW source AS SELECT * FROM source_frame")

    def columns(self) -> list[str]:
        return [str(c) for c in self.data.columns]

    def frame(self) -> pd.DataFrame:
        frame = self.data.copy()
        frame.columns = self.columns()
        return frame


def open_source(source, options: LoadOptions | None = None) -> Source:
    """``source`` as a :class:`Source`: a path, a data frame or already a source; ``options``:
    how to read a file (its encoding, the sheet of a workbook)."""
    if isinstance(source, Source):
        return source
    if isinstance(source, pd.DataFrame):
        return FrameSource(source)
    if isinstance(source, str | os.PathLike):
        return FileSource(source, options)
    raise InputError(f"cannot read a {type(source).__name__}: give a file path, a data frame or a DatabaseSource")


def _copy_to_sqlite(duck, columns: list[str]) -> sqlite3.Connection:
    """The view ``source`` of ``duck`` copied into a table ``source`` of a new SQLite database."""
    con = sqlite3.connect(":memory:")
    con.execute(f"CREATE TABLE source ({', '.join(f'{quote_identifier(c)} TEXT' for c in columns)})")
    marks = ", ".join("?" * len(columns))
    cursor = duck.execute("SELECT * FROM source")
    while batch := cursor.fetchmany(50_000):
        con.executemany(f"INSERT INTO source VALUES ({marks})", batch)
    return con


def event_log_features(source, kind: str = "transactions", options: LoadOptions | None = None, **changes):
    """Per-customer features of a log (no cleaning beyond the row checks) and the report of its
    rows: the feature SQL alone, as :func:`segmentation.load_dataset` runs it.

    ``options`` (or keyword ``changes`` to the defaults): mapping, late_after_days, as_of,
    max_rejected_share, keep_duplicate_rows, engine.
    """
    options = (options or LoadOptions()).replace(**changes)
    with open_source(source, options) as src:
        return src.aggregate(kind, options)


def transaction_features(source, options: LoadOptions | None = None, **changes):
    """:func:`event_log_features` of a transactions log (customer, date, amount, repayment date)."""
    return event_log_features(source, "transactions", options, **changes)


def purchase_features(source, options: LoadOptions | None = None, **changes):
    """:func:`event_log_features` of a purchase log: recency, frequency, monetary value, average
    order value, tenure and the RFM quintile scores."""
    return event_log_features(source, "purchases", options, **changes)
