"""Reading inputs: files into DuckDB relations, and which column plays which role.

Inputs are read where they are (DuckDB scans CSV and Parquet directly), never loaded into
pandas first; only XLSX, which DuckDB cannot read without an extension, goes through pandas.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

import duckdb
import pandas as pd

from .errors import InputError

#: Roles of the transactions schema; the first three are required.
TRANSACTION_ROLES = ("customer_id", "txn_date", "amount", "repayment_date", "due_date")
REQUIRED_ROLES = ("customer_id", "txn_date", "amount")

# Other spellings seen in the field, compared after normalisation (lower case, letters and
# digits only), so "CustomerID", "customer id" and "Customer_ID" all match customer_id.
_ALIASES = {
    "customer_id": ("customerid", "custid", "clientid", "borrowerid", "userid", "customer"),
    "txn_date": (
        "txndate",
        "transactiondate",
        "date",
        "loandate",
        "disbursementdate",
        "orderdate",
        "purchasedate",
        "invoicedate",
    ),
    "amount": (
        "amount",
        "txnamount",
        "transactionamount",
        "loanamount",
        "value",
        "orderamount",
        "purchaseamount",
        "ordervalue",
        "sales",
    ),
    "repayment_date": ("repaymentdate", "repaiddate", "repaydate", "paiddate"),
    "due_date": ("duedate", "loanduedate"),
}

READABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".parquet", ".xlsx", ".csv.gz")


@dataclass(frozen=True)
class ColumnMap:
    """Which source column plays each role of the transactions schema (None: absent)."""

    customer_id: str
    txn_date: str
    amount: str
    repayment_date: str | None = None
    due_date: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _normalise(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def parse_mapping(items: list[str] | None) -> dict[str, str]:
    """Parse ``role=column`` pairs (``--map customer_id=customerid``)."""
    mapping: dict[str, str] = {}
    for item in items or []:
        for pair in item.split(","):
            if not pair.strip():
                continue
            role, sep, column = pair.partition("=")
            role, column = role.strip(), column.strip()
            if not sep or not column:
                raise InputError(f"--map expects role=column, got {pair!r}")
            if role not in TRANSACTION_ROLES:
                raise InputError(f"--map: unknown role {role!r}; roles are {', '.join(TRANSACTION_ROLES)}")
            mapping[role] = column
    return mapping


def resolve_columns(found: list[str], mapping: dict[str, str] | None = None) -> ColumnMap:
    """Match the roles of the transactions schema to the columns found in the input.

    Explicit ``mapping`` wins; otherwise exact names, then known aliases, compared
    case- and punctuation-insensitively.
    """
    chosen = match_roles(found, mapping)
    missing = [r for r in REQUIRED_ROLES if chosen[r] is None]
    if missing:
        raise InputError(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            f"found {_show(found)} (map yours with --map {missing[0]}=YOUR_COLUMN)"
        )
    return ColumnMap(**chosen)


def match_roles(found: list[str], mapping: dict[str, str] | None = None) -> dict[str, str | None]:
    """Role -> the column playing it (None when no column matches), as :func:`resolve_columns`
    matches them, without requiring any."""
    mapping = dict(mapping or {})
    by_norm: dict[str, str] = {}
    for column in found:
        by_norm.setdefault(_normalise(column), column)
    chosen: dict[str, str | None] = {}
    for role in TRANSACTION_ROLES:
        if role in mapping:
            if mapping[role] not in found:
                raise InputError(
                    f"--map {role}={mapping[role]}: no column {mapping[role]!r} in the input; "
                    f"found {_show(found)}"
                )
            chosen[role] = mapping[role]
            continue
        candidates = (_normalise(role), *_ALIASES[role])
        taken = set(chosen.values()) | set(mapping.values())
        chosen[role] = next(
            (by_norm[c] for c in candidates if c in by_norm and by_norm[c] not in taken), None
        )
    return chosen


def _show(columns: list[str], most: int = 12) -> str:
    shown = ", ".join(columns[:most])
    return shown + (f" and {len(columns) - most} more" if len(columns) > most else "")


def quote_identifier(name: str) -> str:
    """Quote a column or table name for SQL (spaces, symbols and quotes allowed)."""
    return '"' + name.replace('"', '""') + '"'


#: Environment variable capping DuckDB's memory (e.g. "1GB"): big inputs then spill to disk.
MEMORY_LIMIT_ENV = "SEGMENTATION_DUCKDB_MEMORY_LIMIT"


def connect_duckdb(database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection, with the memory cap of :data:`MEMORY_LIMIT_ENV` when it is set."""
    con = duckdb.connect(database)
    limit = os.environ.get(MEMORY_LIMIT_ENV)
    if limit:
        try:
            con.execute("SET memory_limit = ?", [limit])
        except duckdb.Error as exc:
            raise InputError(f"{MEMORY_LIMIT_ENV}={limit!r} is not a memory size (e.g. 1GB): {exc}") from None
    return con


def open_relation(con: duckdb.DuckDBPyConnection, path: str | Path, name: str = "source") -> list[str]:
    """Make the file at ``path`` queryable as view ``name`` in ``con``; return its columns.

    CSV is read with every column as text, so that a bad value in one row is counted by the
    checks instead of failing the whole read.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a folder, not a file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"input file is empty: {path}")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    literal = "'" + str(path).replace("'", "''") + "'"
    try:
        if suffix == ".parquet":
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_parquet({literal})")
        elif suffix in (".xlsx", ".xlsm"):
            try:
                frame = pd.read_excel(path, dtype=str)
            except Exception as exc:  # openpyxl and zipfile raise their own types for a bad file
                raise InputError(f"cannot read {path.name} as an XLSX workbook: {exc}") from None
            con.register(f"{name}_frame", frame)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {name}_frame")
        elif suffix in (".csv", ".txt", ".tsv", ".csv.gz", ""):
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_csv({literal}, "
                "all_varchar = true, header = true, normalize_names = false)"
            )
        else:
            raise InputError(f"cannot read {path.name}: expected a CSV, Parquet or XLSX file, got '{suffix}'")
        columns = [row[0] for row in con.execute(f"DESCRIBE {name}").fetchall()]
    except (duckdb.Error, ValueError, OSError) as exc:
        if isinstance(exc, InputError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read {path.name} as a table: {first}") from None
    return columns
