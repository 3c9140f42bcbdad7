"""Databases reached by URL: read transactions where they live, write results back.

A database is named by a SQLAlchemy URL. PostgreSQL (``postgresql://user@host/db``, driven
by psycopg) runs the feature SQL inside the server; SQLite (``sqlite:///file.db``) and DuckDB
(``duckdb:///file.duckdb``) files run the same SQL in-process. Results are written back as
tables, each replaced inside one transaction so that a reader never sees half a table.

Credentials come from the URL, or, when the URL has no password, from the environment
(``PGPASSWORD``) or a ``.pgpass``-style file (``~/.pgpass`` or ``PGPASSFILE``), which libpq reads
itself. The whole URL can also come from ``SEGMENTATION_DB_URL``, keeping it off command lines.
A URL is only ever shown with its password masked.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from ..errors import InputError
from ..options import LoadOptions
from .columns import quote_identifier
from .files import check_names
from .sources import Source, connect_duckdb
from .sql_runner import SqlEngine, aggregate

#: Environment variable holding the database URL when --db is not given.
URL_ENV = "SEGMENTATION_DB_URL"
SUPPORTED = ("postgresql", "sqlite", "duckdb")
#: Said once when a job's write waits for another job's (see :meth:`Database.connect`).
WAITING = "waiting for another scoring of this database"
#: The PostgreSQL advisory lock of this package's write transactions (any fixed bigint).
WRITE_LOCK_KEY = 0x5E6_5C0E
#: How long a SQLite connection waits for another's lock before giving up.
WAIT_SECONDS = 3600

log = logging.getLogger("segmentation")
# One lock file descriptor per DuckDB file per process: connections of one process share it.
_FILE_LOCKS: dict[str, list] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def quote_table(name: str) -> str:
    """Quote a table name, schema-qualified or not (``sales.loans`` -> ``"sales"."loans"``)."""
    return ".".join(quote_identifier(part) for part in name.split("."))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    """The useful line of a driver error (libpq puts the reason after 'FATAL:' or 'ERROR:')."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    for marker in ("FATAL:", "ERROR:"):
        if marker in text:
            text = text.rsplit(marker, 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class Database:
    """One database named by a URL (see the module docstring).

    Parameters
    ----------
    url : str, optional
        A SQLAlchemy URL; default the ``SEGMENTATION_DB_URL`` environment variable.
    """

    def __init__(self, url: str | None = None):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        text = url or os.environ.get(URL_ENV)
        if not text:
            raise InputError(f"no database given: pass --db URL or set {URL_ENV}")
        try:
            parsed = make_url(text)
        except ArgumentError:
            # Never echo what could not be parsed: it may hold a password.
            raise InputError(
                "--db is not a database URL; expected e.g. postgresql://user@host:5432/dbname, "
                "sqlite:///file.db or duckdb:///file.duckdb"
            ) from None
        backend = parsed.get_backend_name()
        if backend in ("postgres", "postgresql") and parsed.drivername != "postgresql+psycopg":
            # psycopg (3) is the driver we ship; plain postgresql:// would ask for psycopg2.
            parsed = parsed.set(drivername="postgresql+psycopg")
            backend = "postgresql"
        if backend not in SUPPORTED:
            raise InputError(
                f"{parsed.render_as_string(hide_password=True)}: {backend} is not supported; "
                "use PostgreSQL, SQLite or DuckDB"
            )
        self.url = parsed
        self.dialect = backend

    def __str__(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @property
    def label(self) -> str:
        """The database in words for a page a marketing user reads: a file database's file name,
        a server's database and host, and the kind; never a password or a folder path."""
        kind = {"postgresql": "PostgreSQL", "sqlite": "SQLite", "duckdb": "DuckDB"}[self.dialect]
        if self.dialect == "postgresql":
            return f"database {self.url.database} on {self.url.host or 'localhost'} ({kind})"
        return f"{Path(self.url.database or 'memory').name} ({kind})"

    def _scrub(self, message: str) -> str:
        # Drivers do not put passwords in messages; this is a second line of defence (a very
        # short password is left alone, it would mangle ordinary words).
        password = str(self.url.password or "")
        return message.replace(password, "***") if len(password) >= 4 else message

    def error(self, what: str, exc: BaseException) -> InputError:
        """An InputError naming this database (password masked) and the driver's reason."""
        return InputError(self._scrub(f"{what} {self}: {_first_line(exc)}"))

    # -- connections ---------------------------------------------------------------------

    @contextmanager
    def connect(self, create: bool = False, *, write: bool = False, say=None) -> Iterator:
        """A DB-API connection inside one transaction: committed at the end, rolled back on error.

        ``create`` allows a SQLite or DuckDB file that does not exist yet (for writing).
        ``write``: a transaction that writes results; such transactions of this package run one
        at a time per database (a PostgreSQL advisory lock, SQLite's ``BEGIN IMMEDIATE``), so two
        jobs started together never interleave their replace-by-key writes. A DuckDB file, which
        only one process may open at a time, is always opened under a lock file. When it has to
        wait, ``say`` (default: a log warning) is told :data:`WAITING` once.
        """
        say = say or log.warning
        with self._file_lock(say) if self.dialect == "duckdb" else contextlib.nullcontext():
            con = self._open(create, write, say)
            try:
                yield con
                con.commit()
            except Exception as exc:
                with contextlib.suppress(Exception):  # a dead connection cannot roll back; keep the cause
                    con.rollback()
                if isinstance(exc, InputError) or not _is_driver_error(exc):
                    raise
                raise self.error("database error in", exc) from None
            finally:
                con.close()

    @contextmanager
    def _file_lock(self, say):
        """Hold ``<file>.lock`` (shared by this process's connections) while a DuckDB file is open."""
        path = str(Path(self.url.database or "").resolve()) + ".lock"
        with _FILE_LOCKS_GUARD:
            held = _FILE_LOCKS.get(path)
            if held is None:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    say(WAITING)
                    fcntl.flock(fd, fcntl.LOCK_EX)  # until the other process closes the file
                held = _FILE_LOCKS[path] = [fd, 0]
            held[1] += 1
        try:
            yield
        finally:
            with _FILE_LOCKS_GUARD:
                held[1] -= 1
                if held[1] == 0:
                    del _FILE_LOCKS[path]
                    os.close(held[0])  # releases the lock

    def _open(self, create: bool, write: bool = False, say=None):
        if self.dialect == "postgresql":
            import psycopg
            from sqlalchemy import create_engine

            query = dict(self.url.query)
            query.setdefault("connect_timeout", "10")
            query.setdefault("application_name", "segmentation")
            query.setdefault("options", "-c TimeZone=UTC")  # timestamptz on its UTC day, as DuckDB and Spark
            # SQLAlchemy turns the URL into psycopg's arguments; the connection is psycopg's own.
            url = self.url.set(query=query)
            args, kwargs = create_engine(url).dialect.create_connect_args(url)
            try:
                con = psycopg.connect(*args, **kwargs)
            except psycopg.Error as exc:
                raise self.error("cannot connect to", exc) from None
            # The lock is held until this transaction ends (commit, rollback or a dropped connection).
            if write and not con.execute("SELECT pg_try_advisory_xact_lock(%s)", [WRITE_LOCK_KEY]).fetchone()[0]:
                say(WAITING)
                con.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK_KEY])
            return con
        path = self.url.database
        if not path or path == ":memory:":
            raise InputError(f"{self}: give a database file, e.g. {self.dialect}:///path/to/file")
        if not create and not Path(path).exists():
            raise InputError(f"database file not found: {path}")
        try:
            if self.dialect == "sqlite":
                # Autocommit mode with an explicit BEGIN: DDL too runs inside the transaction.
                con = sqlite3.connect(path, isolation_level=None, timeout=0)
                if not write:
                    con.execute(f"PRAGMA busy_timeout = {WAIT_SECONDS * 1000}")
                    con.execute("BEGIN")
                    return con
                try:  # IMMEDIATE: the write lock now, not at the first write
                    con.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError:
                    say(WAITING)
                    con.execute(f"PRAGMA busy_timeout = {WAIT_SECONDS * 1000}")
                    con.execute("BEGIN IMMEDIATE")
                con.execute(f"PRAGMA busy_timeout = {WAIT_SECONDS * 1000}")
                return con
            con = connect_duckdb(path)
            con.begin()
            return con
        except (sqlite3.Error, duckdb.Error) as exc:
            raise self.error("cannot open", exc) from None

    # -- reading -------------------------------------------------------------------------

    def engine(self, con) -> SqlEngine:
        """The feature-SQL adapter over a connection of this database."""
        return SqlEngine(con, self.dialect)

    def read(self, con, sql: str) -> pd.DataFrame:
        """Rows of a query as a frame."""
        return self.engine(con).frame(sql)

    def columns(self, con, relation: str) -> list[str]:
        """Column names of a relation (a table name already quoted, or a subquery)."""
        # con.execute, not a cursor: a DuckDB cursor is a second connection, outside the transaction.
        result = con.execute(f"SELECT * FROM {relation} AS relation WHERE 1 = 0")
        names = [d[0] for d in result.description]
        result.fetchall()  # DuckDB refuses the next statement while a result is left unread
        return names

    def has_table(self, con, name: str) -> bool:
        if self.dialect == "postgresql":
            sql = f"SELECT to_regclass({_literal(quote_table(name))}) IS NOT NULL"
        elif self.dialect == "sqlite":
            sql = f"SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = {_literal(name)}"
        else:
            sql = f"SELECT COUNT(*) > 0 FROM duckdb_tables() WHERE table_name = {_literal(name)}"
        return bool(self.engine(con).scalars(sql)[0])

    # -- writing -------------------------------------------------------------------------

    def execute(self, con, sql: str) -> None:
        con.execute(sql)

    def create_table(self, con, name: str, frame: pd.DataFrame, temporary: bool = False) -> None:
        columns = ", ".join(f"{quote_identifier(str(c))} {_sql_type(frame[c])}" for c in frame.columns)
        temp = "TEMPORARY " if temporary else ""
        self.execute(con, f"CREATE {temp}TABLE {quote_table(name)} ({columns})")

    def insert(self, con, name: str, frame: pd.DataFrame) -> None:
        """Append the rows of ``frame`` (columns in the table's order) to table ``name``."""
        if frame.empty:
            return
        if self.dialect == "duckdb":
            con.register("frame_to_insert", _nullable(frame))
            con.execute(f"INSERT INTO {quote_table(name)} SELECT * FROM frame_to_insert")
            con.unregister("frame_to_insert")
            return
        rows = _rows(frame, iso_timestamps=self.dialect == "sqlite")
        if self.dialect == "sqlite":
            marks = ", ".join("?" * frame.shape[1])
            con.executemany(f"INSERT INTO {quote_table(name)} VALUES ({marks})", rows)
            return
        cols = ", ".join(quote_identifier(str(c)) for c in frame.columns)
        with con.cursor() as cur, cur.copy(f"COPY {quote_table(name)} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def index(self, con, table: str, column: str = "customer_id") -> None:
        name = quote_identifier(f"ix_{table.split('.')[-1]}_{column}")
        self.execute(con, f"CREATE INDEX {name} ON {quote_table(table)} ({quote_identifier(column)})")

    def replace_tables(self, tables: dict[str, pd.DataFrame], index_on: str = "customer_id") -> None:
        """Replace ``tables`` together in one transaction (see :meth:`swap_in`)."""
        with self.connect(create=True, write=True) as con:
            self.swap_in(con, tables, index_on)

    def swap_in(self, con, tables: dict[str, pd.DataFrame], index_on: str = "customer_id") -> None:
        """Write each table under a new name, then drop the old one and rename the new one.

        Inside the caller's transaction: readers see the old tables until the commit and the
        complete new ones after it. A table with an ``index_on`` column gets an index on it.
        """
        for name, frame in tables.items():
            staging = f"{name}__new"
            self.execute(con, f"DROP TABLE IF EXISTS {quote_table(staging)}")
            self.create_table(con, staging, frame)
            self.insert(con, staging, frame)
        for name, frame in tables.items():
            self.execute(con, f"DROP TABLE IF EXISTS {quote_table(name)}")
            unqualified = quote_identifier(name.split(".")[-1])
            self.execute(con, f"ALTER TABLE {quote_table(name + '__new')} RENAME TO {unqualified}")
            if index_on in frame.columns:
                self.index(con, name, index_on)

    def upsert(self, con, table: str, frame: pd.DataFrame, key: str = "customer_id") -> None:
        """Replace the rows of ``table`` whose ``key`` is in ``frame`` by ``frame``'s rows.

        Creates the table (with an index on ``key``) when it does not exist; refuses a table
        whose columns differ from ``frame``'s.
        """
        if not self.has_table(con, table):
            self.create_table(con, table, frame)
            self.insert(con, table, frame)
            self.index(con, table, key)
            return
        existing = self.columns(con, quote_table(table))
        if existing != [str(c) for c in frame.columns]:
            raise InputError(
                f"table {table} in {self} has columns {', '.join(existing)}; this model writes "
                f"{', '.join(map(str, frame.columns))}: run `segmentation run --db` again to rebuild it"
            )
        staging = f"{table}__scored"
        self.create_table(con, staging, frame, temporary=True)
        self.insert(con, staging, frame)
        k = quote_identifier(key)
        cols = ", ".join(quote_identifier(str(c)) for c in frame.columns)
        self.execute(con, f"DELETE FROM {quote_table(table)} WHERE {k} IN (SELECT {k} FROM {staging})")
        self.execute(con, f"INSERT INTO {quote_table(table)} ({cols}) SELECT {cols} FROM {staging}")
        self.execute(con, f"DROP TABLE {staging}")

    def append(self, con, table: str, frame: pd.DataFrame, index_on: str | None = "customer_id") -> None:
        """Append rows to ``table``, creating it (and its index) first when needed."""
        if not self.has_table(con, table):
            self.create_table(con, table, frame)
            if index_on in frame.columns:
                self.index(con, table, index_on)
        self.insert(con, table, frame)


def _is_driver_error(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error | duckdb.Error):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a runtime dependency
        return False
    return isinstance(exc, psycopg.Error)


def _sql_type(series: pd.Series) -> str:
    """One spelling that PostgreSQL, DuckDB and SQLite all read the same way."""
    if pd.api.types.is_bool_dtype(series):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(series):
        return "BIGINT"
    if pd.api.types.is_float_dtype(series):
        return "DOUBLE PRECISION"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "TIMESTAMP"
    return "TEXT"


def _rows(frame: pd.DataFrame, iso_timestamps: bool) -> Iterator[tuple]:
    """Rows as tuples of plain Python values, None for missing."""
    out = frame.copy()
    for name in out.columns:
        if iso_timestamps and pd.api.types.is_datetime64_any_dtype(out[name]):
            out[name] = out[name].dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    out = out.astype(object).where(out.notna(), None)
    return out.itertuples(index=False, name=None)


def _nullable(frame: pd.DataFrame) -> pd.DataFrame:
    """Floats as nullable Float64, so DuckDB stores a missing value as NULL, not NaN."""
    return frame.astype({c: "Float64" for c in frame.columns if pd.api.types.is_float_dtype(frame[c])})


class DatabaseSource(Source):
    """Transactions (or a customer table) in a database: a table or a query.

    Opened once per use (``with source: ...``): one connection, inside one read transaction,
    where the temporary view ``source`` is the input; the feature SQL runs there.

    Parameters
    ----------
    url : str, optional
        Database URL (default: ``SEGMENTATION_DB_URL``).
    table : str, optional
        Table or view name, optionally schema-qualified.
    query : str, optional
        A SELECT whose rows are the input (instead of ``table``).
    """

    filters_since = True

    def __init__(self, url: str | None = None, table: str | None = None, query: str | None = None):
        super().__init__()
        if (table is None) == (query is None):
            raise InputError("give the input as either --table NAME or --query SQL")
        self.url, self.table, self.query = url, table, query
        self.database = Database(url)
        self._stack: contextlib.ExitStack | None = None
        self._con = None

    def __str__(self) -> str:
        return f"table {self.table}" if self.table else "--query"

    @property
    def relation(self) -> str:
        if self.table is not None:
            return quote_table(self.table)
        return f"({self.query.strip().rstrip(';')})"

    def _open(self) -> None:
        db = self.database
        self._stack = contextlib.ExitStack()
        con = self._stack.enter_context(db.connect())
        try:
            self._columns = db.columns(con, self.relation)
        except Exception as exc:
            self._stack.close()
            if not _is_driver_error(exc):
                raise
            raise db.error(f"cannot read {'table ' + repr(self.table) if self.table else '--query'} from", exc) from None
        try:
            # (SQLite names the second of two equal names in a query "amount:1"; DuckDB, in the
            # subquery, "amount_1": its own result, bound but not run, has the names as written)
            names = [re.sub(r":\d+$", "", c) if db.dialect == "sqlite" else c for c in self._columns]
            if db.dialect == "duckdb" and self.query is not None:
                names = con.sql(self.query.strip().rstrip(";")).columns
            check_names(names, f"{self} in {db}")
        except InputError:
            self._stack.close()
            raise
        db.execute(con, f"CREATE TEMPORARY VIEW source AS SELECT * FROM {self.relation} AS input")
        self._con = con

    def _close(self) -> None:
        self._stack.close()
        self._stack = self._con = None

    def columns(self) -> list[str]:
        with self:
            return list(self._columns)

    def aggregate(self, kind: str, options: LoadOptions):
        with self:
            return aggregate(self.database.engine(self._con), self.columns(), kind, options)

    def frame(self) -> pd.DataFrame:
        with self:
            return self.database.read(self._con, "SELECT * FROM source")
