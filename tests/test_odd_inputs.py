"""A catalogue of odd and bad inputs, as real exports contain them, on every surface.

Each case is (name, input, surface, expected outcome). The input is the bytes of a file (an
Excel-on-Windows CSV in Windows-1252 with semicolons and decimal commas, a header added with
sed, a NUL byte in an id, ...), a frame for a database table, or lists as Tableau sends them.
The surfaces: the CLI (``segmentation features`` in-process), the upload view (its plain
functions: read_upload, then fit_upload through the DataStore), the TabPy endpoints, and the
database path (SQLite and DuckDB files, PostgreSQL for a few). A case works (and then rows in =
rows used + rows set aside, the reasons and notices expected are there) or fails with one line
naming the problem (exit code 2, an InputError for the page) or answers null for the bad row.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segmentation import LoadOptions
from segmentation.book.bundle import Bundle
from segmentation.cli import build_parser, load_options, main
from segmentation.errors import InputError
from segmentation.io.database import Database, DatabaseSource
from segmentation.jobs import load_dataset
from segmentation.tabpy import endpoints

from conftest import shared_file

# -- what real exports look like ---------------------------------------------------------------

HEADER = ["customer_id", "txn_date", "amount", "repayment_date"]


def loans(n: int = 130, customers: int = 40) -> list[list[str]]:
    """A loan log: ids C00001.., ISO dates over three months, amounts 100-1,400, repaid 3-40 days later."""
    rows = []
    for i in range(n):
        day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=(i * 7) % 85)
        repaid = day + pd.Timedelta(days=3 + (i * 11) % 38)
        rows.append([f"C{i % customers + 1:05d}", day.strftime("%Y-%m-%d"), f"{100 + (i * 37) % 1300}",
                     repaid.strftime("%Y-%m-%d")])
    return rows


def table(header, rows, sep=",", nl="\n", encoding="utf-8", bom=False, header_nl=None) -> bytes:
    """A CSV's bytes; ``header_nl``: the header line's own ending (a header added with sed)."""
    def cell(v):
        v = str(v)
        return f'"{v}"' if (sep in v or "\n" in v) else v

    head = sep.join(map(cell, header)) + (header_nl or nl)
    body = "".join(sep.join(map(cell, r)) + nl for r in rows)
    return (b"\xef\xbb\xbf" if bom else b"") + (head + body).encode(encoding)


def with_amounts(*amounts, at=5) -> list[list[str]]:
    """The loan log with the amounts of rows ``at``, ``at``+1, ... replaced."""
    rows = loans()
    for i, amount in enumerate(amounts):
        rows[at + i * 7][2] = amount
    return rows


def json_records(rows=None, wrap: str | None = None, lines: bool = False) -> bytes:
    """A JSON export of the loan log: amounts as JSON numbers where they are numbers (one text
    among numbers makes a mixed column), an array of records, one per line, or under ``wrap``."""
    def value(v):
        try:
            return float(v)
        except ValueError:
            return v
    records = [dict(zip(HEADER, [r[0], r[1], value(r[2]), r[3] or None], strict=True)) for r in rows or loans()]
    if lines:
        return "\n".join(json.dumps(r) for r in records).encode()
    return json.dumps({wrap: records} if wrap else records).encode()


def excel_windows() -> bytes:
    """Excel's "CSV" on a European Windows: Windows-1252, semicolons, decimal commas, CRLF."""
    rows = [[r[0], r[1], r[2] + ",50", r[3], "Café Müller"] for r in loans()]
    return table([*HEADER, "branch"], rows, sep=";", nl="\r\n", encoding="cp1252")


def far_latin() -> bytes:
    """UTF-8 for 3,000 rows, then one Windows-1252 byte (an é) in a note."""
    rows = [[*r, "ok"] for r in loans(3_000, 300)]
    rows[-1][4] = "café"
    good = table([*HEADER, "note"], rows[:-1])
    return good + ",".join(rows[-1]).encode("cp1252") + b"\n"


def day_first(rows=None) -> list[list[str]]:
    rows = rows or loans()
    return [[r[0], _dmy(r[1]), r[2], _dmy(r[3])] for r in rows]


def _dmy(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{d}/{m}/{y}"


def ambiguous_dates() -> list[list[str]]:
    """Day-first dates whose days are all 12 or less: nothing tells them from month-first."""
    rows = loans()
    for i, r in enumerate(rows):
        r[1], r[3] = f"{i % 12 + 1:02d}/0{i % 3 + 1}/2024", ""
    return rows


def xlsx(sheets: dict[str, pd.DataFrame]) -> bytes:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False, header=name != "Notes")
    return buffer.getvalue()


def loans_frame(n=130, customers=40) -> pd.DataFrame:
    return pd.DataFrame(loans(n, customers), columns=HEADER)


NOTES = pd.DataFrame({"a": ["Loan export, Q1 2024", "Amounts in NGN", "Contact: risk team"]})


def features_file(shape: str) -> bytes:
    """The product's own per-customer features, as `segmentation features` writes them."""
    import tempfile

    from segmentation.demo import write_demo

    with tempfile.TemporaryDirectory() as tmp:
        demo = write_demo(Path(tmp) / "log.csv", 300, seed=4, shape=shape)
        assert main(["features", str(demo), "--out", str(Path(tmp) / "f.csv")]) == 0
        return (Path(tmp) / "f.csv").read_bytes()


def customer_table(ids=None, spend=None) -> bytes:
    n = 60
    ids = ids or [f"{i:04d}" for i in range(1, n + 1)]
    spend = spend or [str(100 + i * 13 % 500) for i in range(n)]
    rows = [[ids[i], str(20 + i % 40), spend[i], str(i % 7)] for i in range(n)]
    return table(["CustomerID", "Age", "Annual Spend", "Visits"], rows)


def real(name: str, transform=None):
    """A file of ../shared/data (skipped when absent), maybe transformed as an export would be."""
    def build():
        data = shared_file(name).read_bytes()
        return transform(data) if transform else data
    return build


def to_excel_windows(data: bytes) -> bytes:
    """A real UTF-8 comma file re-saved by Excel on a European Windows (cp1252, ;)."""
    text = data.decode("utf-8")
    return "\r\n".join(line.replace(",", ";") for line in text.splitlines()).encode("cp1252")


def sed_header(data: bytes) -> bytes:
    """The header line replaced with sed on Linux: it now ends in LF, the rows in CRLF."""
    head, _, rest = data.partition(b"\r\n")
    return head + b"\n" + rest


# -- expected outcomes ---------------------------------------------------------------------------


@dataclass
class Works:
    """The input is read: reasons set aside (reason -> rows), notices (regexes) and checks."""

    set_aside: dict | None = None  # {}: nothing set aside; None: not checked
    notices: tuple = ()
    customers: int | None = None
    feature_set: str | None = None
    check: object = None


@dataclass
class Fails:
    """One line naming the problem (a regex)."""

    message: str


@dataclass
class Nulls:
    """TabPy: these rows answered null, the others answered."""

    rows: tuple


# -- the catalogue -------------------------------------------------------------------------------
# (name, input, surface, expected); an input is bytes, a callable giving bytes, or for the
# database and TabPy surfaces a frame or lists. Options follow the file name: "x.csv --decimal ,".

NUL_ID = [r[:] for r in loans()]
NUL_ID[3][0] = "C00004\x00"
TAB_ID = [r[:] for r in loans()]
TAB_ID[3][0] = "C00004\t"
TEN_PERCENT_BAD = with_amounts(*(["n/a"] * 14), at=0)
DUP = [r + [r[2]] for r in loans()]

CASES = [
    # encodings and line endings
    ("utf8 comma", "a.csv", table(HEADER, loans()), "cli", Works(customers=40, feature_set="transactions")),
    ("utf8 with BOM", "a.csv", table(HEADER, loans(), bom=True), "cli", Works(customers=40)),
    ("windows CRLF", "a.csv", table(HEADER, loans(), nl="\r\n"), "cli", Works(customers=40)),
    ("sed-added LF header on CRLF rows", "a.csv", table(HEADER, loans(), nl="\r\n", header_nl="\n"), "cli",
     Works(notices=("mixed line endings",), customers=40)),
    ("old Mac CR line endings", "a.csv", table(HEADER, loans(), nl="\r"), "cli", Works(customers=40)),
    ("excel on windows: cp1252, semicolons, decimal commas", "a.csv", excel_windows(), "cli",
     Works(notices=("not UTF-8 .*Windows-1252", "decimal comma"), customers=40)),
    ("first non-UTF-8 byte on line 3,001", "a.csv", far_latin, "cli",
     Works(notices=("byte 0xE9 on line 3,001",), customers=300)),
    ("latin-1 named with --encoding", "a.csv --encoding latin-1", excel_windows(), "cli", Works(customers=40)),
    ("cp1252 file read as --encoding utf-8", "a.csv --encoding utf-8", excel_windows(), "cli",
     Fails(r"cannot read a.csv as UTF-8 \(byte 0xE9 on line 2\).*--encoding cp1252")),
    ("unknown --encoding", "a.csv --encoding klingon", table(HEADER, loans()), "cli", Fails("unknown encoding")),
    ("excel 'unicode text': UTF-16 with BOM, tabs", "a.txt",
     "\ufeff".encode("utf-16-le") + table(HEADER, loans(), sep="\t", nl="\r\n", encoding="utf-16-le"), "cli",
     Works(customers=40)),
    # separators, compression, quoting, blank lines, names
    ("tab separated", "a.tsv", table(HEADER, loans(), sep="\t"), "cli", Works(customers=40)),
    ("pipe separated", "a.csv", table(HEADER, loans(), sep="|"), "cli", Works(customers=40)),
    ("gzip csv", "a.csv.gz", gzip.compress(table(HEADER, loans())), "cli", Works(customers=40)),
    ("gzip cp1252 with semicolons", "a.csv.gz", gzip.compress(excel_windows()), "cli",
     Works(notices=("Windows-1252",), customers=40)),
    ("quoted notes with line breaks", "a.csv",
     table([*HEADER, "notes"], [[*r, "called twice\nno answer"] for r in loans()], nl="\r\n"), "cli",
     Works(customers=40)),
    ("blank lines inside and trailing", "a.csv", table(HEADER, loans()).replace(b"\nC00010", b"\n\nC00010") + b"\n\n\n",
     "cli", Works(customers=40)),
    ("two title lines above the header", "a.csv", b"Loan book export\nrun 2024-05-01\n" + table(HEADER, loans()), "cli",
     Works(notices=("first 2 lines",), customers=40)),
    ("header names with spaces and case", "a.csv",
     table(["Customer ID", "Transaction Date", "Loan Amount", "Repayment Date"], loans()), "cli",
     Works(feature_set="transactions", customers=40)),
    # refused columns
    ("two amount columns", "a.csv", table([*HEADER, "amount"], DUP), "cli",
     Fails(r"1 column name used twice: 'amount' \(columns 3 and 5\)")),
    ("same name after trim and case folding", "a.csv", table(["customer_id", "txn_date", "Amount", " amount "], loans()),
     "cli", Fails(r"'Amount' and ' amount ' \(columns 3 and 4\)")),
    ("amount column named amt", "a.csv", table(["customer_id", "txn_date", "amt", "repayment_date"], loans()), "cli",
     Fails(r"looks like a transactions log \(customer id, transaction date, repayment date\) but has no amount "
           r"column; found amt: name it with --map amount=amt")),
    ("log with no amount at all", "a.csv", table(["customer_id", "txn_date", "branch"], [r[:2] + ["x"] for r in loans()]),
     "cli", Fails(r"looks like a log of transactions or purchases \(customer id, transaction date\) but has no amount")),
    ("--map fixes the amount column", "a.csv --map amount=amt",
     table(["customer_id", "txn_date", "amt", "repayment_date"], loans()), "cli", Works(feature_set="transactions")),
    # bad values among good rows
    ("NaN amount", "a.csv", table(HEADER, with_amounts("NaN")), "cli", Works({"amount_not_finite": 1}, customers=40)),
    ("inf amount", "a.csv", table(HEADER, with_amounts("inf")), "cli", Works({"amount_not_finite": 1})),
    ("-Infinity amount", "a.csv", table(HEADER, with_amounts("-Infinity")), "cli", Works({"amount_not_finite": 1})),
    ("1e400 amount", "a.csv", table(HEADER, with_amounts("1e400")), "cli", Works({"amount_too_large": 1})),
    ("5,000-digit amount", "a.csv", table(HEADER, with_amounts("9" * 5000)), "cli",
     Works({"amount_too_large": 1}, check=lambda r, err: "(5,000 characters)" in err)),
    ("every kind of non-finite at once", "a.csv", table(HEADER, with_amounts("NaN", "inf", "1e400", "1e20", "-nan")),
     "cli", Works({"amount_not_finite": 3, "amount_too_large": 2})),
    ("NUL byte after an id", "a.csv", table(HEADER, NUL_ID), "cli",
     Works(customers=40, notices=("customer_id had control characters",))),
    ("tab after an id", "a.csv", table(HEADER, TAB_ID), "cli", Works(customers=40)),
    ("10% bad amounts stop the run", "a.csv", table(HEADER, TEN_PERCENT_BAD), "cli",
     Fails(r"14 of 130 rows: amount is not a number, e.g. 'n/a'; 11% of rows are unusable.*--max-rejected")),
    ("10% bad amounts allowed by --max-rejected", "a.csv --max-rejected 0.2", table(HEADER, TEN_PERCENT_BAD), "cli",
     Works({"amount_invalid": 14})),
    # locale
    ("day-first dates", "a.csv", table(HEADER, day_first()), "cli", Works(notices=("dates read day first",), customers=40)),
    ("dates that could be either order", "a.csv", table(HEADER, ambiguous_dates()), "cli",
     Fails(r"txn_date is not a date, e.g. '01/01/2024' \(day or month first\? set --date-format %d/%m/%Y")),
    ("--date-format settles the order", "a.csv --date-format %d/%m/%Y", table(HEADER, ambiguous_dates()), "cli",
     Works(feature_set="transactions")),
    ("dd-Mon-yyyy with --date-format %d-%b-%Y", "a.csv --date-format %d-%b-%Y",
     table(HEADER, [[r[0], pd.Timestamp(r[1]).strftime("%d-%b-%Y"), r[2], r[3]] for r in loans()]), "cli",
     Works(customers=40)),
    ("unsupported --date-format", "a.csv --date-format %j/%Y", table(HEADER, loans()), "cli", Fails("%j is not supported")),
    ("dollar amounts with thousands commas", "a.csv",
     table(HEADER, [[r[0], r[1], f"${int(r[2]) * 10:,}.50", r[3]] for r in loans()]), "cli", Works({}, customers=40)),
    ("euro amounts 1.234,56 € with --decimal ,", "a.csv --decimal ,",
     table(HEADER, [[r[0], r[1], f"{int(r[2]) * 10:,}.56 €".replace(",", "X").replace(".", ",").replace("X", "."), r[3]]
                    for r in loans()], sep=";"), "cli", Works({}, customers=40)),
    ("swiss 1'234.50 with --thousands \"'\"", "a.csv --thousands '",
     table(HEADER, [[r[0], r[1], f"{int(r[2]) * 10:,}.50".replace(",", "'"), r[3]] for r in loans()]), "cli",
     Works({}, customers=40)),
    ("1,5 among 100.25: a hint", "a.csv",
     table(HEADER, [[*r[:2], "1,5" if i % 10 == 0 else f"{r[2]}.25", r[3]] for i, r in enumerate(loans())]), "cli",
     Fails(r"e\.g\. '1,5' \(a decimal comma\? set --decimal ,")),
    # files that are not tables
    ("json: an array of records", "a.json", json_records(), "cli", Works({}, customers=40, feature_set="transactions")),
    ("json lines", "a.jsonl", json_records(lines=True), "cli", Works({}, customers=40)),
    ("json: the records under a key, as an API answers", "a.json", json_records(wrap="data"), "cli",
     Works({}, notices=("the records are the list under 'data'",), customers=40)),
    ("json: one amount written as text among numbers", "a.json", json_records(with_amounts("n/a")), "cli",
     Works({"amount_invalid": 1}, customers=40)),
    ("json gzip", "a.json.gz", gzip.compress(json_records()), "cli", Works({}, customers=40)),
    ("json cut off in the middle", "a.json", json_records()[:500], "cli", Fails("cannot read a.json as JSON records")),
    ("accounting negatives from Excel: (20.76)", "a.csv", table(HEADER, with_amounts("(20.76)", "( $1,200.00 )")), "cli",
     Works({"amount_invalid": 2}, customers=40)),
    ("many accounting negatives: the hint says what they are", "a.csv",
     table(HEADER, [[*r[:2], f"({r[2]})" if i % 8 == 0 else r[2], r[3]] for i, r in enumerate(loans())]), "cli",
     Fails(r"e\.g\. '\(\d+(\.\d+)?\)' \(an accounting negative, -\d")),
    ("empty file", "a.csv", b"", "cli", Fails("input file is empty")),
    ("header only", "a.csv", table(HEADER, []), "cli", Fails(r"no rows \(only a header\?\)")),
    ("blank lines only", "a.csv", b"\n\n   \n", "cli", Fails(r"no rows")),
    ("a row with one field too many", "a.csv", table(HEADER, loans()) + b"C00001,2024-01-01,5,2024-01-09,Smith, John\n",
     "cli", Fails(r"a row has 6 fields where the header has 4, e.g. 'C00001,2024-01-01,5,2024-01-09,Smith, John'")),
    ("a PDF named .csv", "a.csv", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "cli", Fails("it is a PDF document")),
    ("an XLSX named .csv", "a.csv", lambda: xlsx({"Data": loans_frame()}), "cli", Fails("it is an XLSX workbook")),
    ("a Word file", "a.docx", b"PK\x03\x04", "cli", Fails(r"expected a CSV, Parquet, XLSX or JSON file, got '\.docx'")),
    # workbooks
    ("xlsx: notes sheet first, data second", "a.xlsx", lambda: xlsx({"Notes": NOTES, "Loans": loans_frame()}), "cli",
     Works(notices=(r"read sheet 'Loans'; not read: 'Notes'",), customers=40)),
    ("xlsx: two data sheets, the larger read", "a.xlsx",
     lambda: xlsx({"Q1": loans_frame(60, 20), "Q2": loans_frame(130, 40)}), "cli",
     Works(notices=(r"read sheet 'Q2'; not read: 'Q1' \(choose one with --sheet\)",), customers=40)),
    ("xlsx: --sheet names the other", "a.xlsx --sheet Q1",
     lambda: xlsx({"Q1": loans_frame(60, 20), "Q2": loans_frame(130, 40)}), "cli", Works(customers=20)),
    ("xlsx: --sheet by number", "a.xlsx --sheet 1",
     lambda: xlsx({"Q1": loans_frame(60, 20), "Q2": loans_frame(130, 40)}), "cli", Works(customers=20)),
    ("xlsx: no such --sheet", "a.xlsx --sheet Q3", lambda: xlsx({"Q1": loans_frame()}), "cli",
     Fails("--sheet Q3: a.xlsx has no such sheet; its sheets are Q1")),
    ("xlsx: duplicate headers", "a.xlsx",
     lambda: xlsx({"Data": pd.DataFrame(DUP, columns=[*HEADER, "amount "])}), "cli", Fails("column name used twice")),
    # the product's own features, customer tables
    ("the product's own transactions features", "f.csv", lambda: features_file("transactions"), "cli",
     Works(feature_set="transactions", customers=300, notices=("the per-customer features of a transactions log",))),
    ("the product's own purchase-log features", "f.csv", lambda: features_file("purchases"), "cli",
     Works(feature_set="purchases", customers=300)),
    ("customer table with inf", "t.csv", customer_table(spend=["inf"] + [str(100 + i) for i in range(59)]), "cli",
     Works({"not_finite": 1}, feature_set="table", customers=59)),
    ("customer table with a 5,000-digit number", "t.csv",
     customer_table(spend=["9" * 5000] + [str(100 + i) for i in range(59)]), "cli",
     Works({"too_large": 1}, feature_set="table", customers=59)),
    ("customer table with 1e400", "t.csv", customer_table(spend=["1e400"] + [str(100 + i) for i in range(59)]), "cli",
     Works({"too_large": 1}, feature_set="table", customers=59)),
    ("customer table with a NUL in an id", "t.csv", customer_table(ids=["0001\x00"] + [f"{i:04d}" for i in range(2, 61)]),
     "cli", Works(customers=60, notices=("had control characters",))),
    ("customer table with NaN written out", "t.csv", customer_table(spend=["NaN"] + [str(100 + i) for i in range(59)]),
     "cli", Works(customers=60, notices=("not numbers",))),
    # real files
    ("real: microfinance loans", "loans.csv --map customer_id=customerid,txn_date=approveddate,amount=loanamount,"
     "repayment_date=closeddate", real("loans_trainprevloans.csv"), "cli", Works(feature_set="transactions",
                                                                                 customers=4_359)),
    ("real: loans with a sed-added header", "loans.csv --map customer_id=customerid,txn_date=approveddate,"
     "amount=loanamount,repayment_date=closeddate", real("loans_trainprevloans.csv", sed_header), "cli",
     Works(notices=("mixed line endings",), customers=4_359)),
    ("real: CC GENERAL", "cc.csv", real("CC_GENERAL.csv"), "cli", Works(feature_set="creditcard")),
    ("real: Mall customers re-saved by Excel on Windows", "mall.csv", real("Mall_Customers.csv", to_excel_windows),
     "cli", Works(feature_set="table", customers=200)),
    ("real: customer segmentation data, gzip", "seg.csv.gz", real("customer_segmentation_data.csv", gzip.compress),
     "cli", Works(customers=1_000)),
    # the upload view: the same rules, one message, a fit that never fails where the preview worked
    ("upload: excel on windows", "a.csv", excel_windows(), "upload", Works(customers=40)),
    ("upload: first non-UTF-8 byte far down", "a.csv", far_latin, "upload",
     Works(notices=("byte 0xE9 on line 3,001",), customers=300)),
    ("upload: json lines", "a.jsonl", json_records(lines=True), "upload", Works(customers=40)),
    ("upload: json gzip", "a.json.gz", gzip.compress(json_records(wrap="rows")), "upload", Works(customers=40)),
    ("upload: duplicate headers", "a.csv", table([*HEADER, "amount"], DUP), "upload", Fails("column name used twice")),
    ("upload: amount named amt", "a.csv", table(["customer_id", "txn_date", "amt", "repayment_date"], loans()), "upload",
     Fails(r"--map amount=amt")),
    ("upload: xlsx notes first", "a.xlsx", lambda: xlsx({"Notes": NOTES, "Loans": loans_frame()}), "upload",
     Works(notices=("read sheet 'Loans'",), customers=40)),
    ("upload: inf and NaN amounts", "a.csv", table(HEADER, with_amounts("inf", "NaN")), "upload",
     Works({"amount_not_finite": 2}, customers=40)),
    ("upload: the product's own features", "f.csv", lambda: features_file("transactions"), "upload",
     Works(feature_set="transactions", customers=300)),
    ("upload: too many bad rows", "a.csv", table(HEADER, TEN_PERCENT_BAD), "upload", Fails("--max-rejected")),
    # TabPy: null for the bad row, the rest answered
    ("tabpy: an integer too large for a float", None, [10**400, 2], "tabpy", Nulls((0,))),
    ("tabpy: infinity", None, [float("inf"), 2.0], "tabpy", Nulls((0,))),
    ("tabpy: text and true/false", None, ["12", True], "tabpy", Nulls((0, 1))),
    ("tabpy: NaN is a missing value, answered", None, [float("nan"), 3.0], "tabpy", Nulls(())),
    # the database path
    ("sqlite: non-finite amounts", "sqlite", lambda: _frame(with_amounts("NaN", "inf", "1e400")), "db",
     Works({"amount_not_finite": 2, "amount_too_large": 1}, customers=40)),
    ("duckdb: NUL byte after an id", "duckdb", lambda: _frame(NUL_ID), "db", Works(customers=40)),
    ("sqlite: day-first dates and dollar amounts", "sqlite",
     lambda: _frame([[r[0], r[1], f"${int(r[2]):,}.00", r[3]] for r in day_first()]), "db",
     Works({}, notices=("day first",), customers=40)),
    ("sqlite: --decimal , and --date-format", "sqlite --decimal , --date-format %d.%m.%Y",
     lambda: _frame([[r[0], r[1].replace("/", "."), r[2] + ",5", r[3].replace("/", ".")] for r in ambiguous_dates()]),
     "db", Works({})),
    ("sqlite: a query with two amount columns", "sqlite-query", lambda: _frame(loans()), "db",
     Fails("column name used twice")),
    ("duckdb: a query with two amount columns (DuckDB renames one amount_1)", "duckdb-query",
     lambda: _frame(loans()), "db", Fails("column name used twice")),
]


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=HEADER)


# -- running a case on its surface -------------------------------------------------------------


def _bytes(data) -> bytes:
    return data() if callable(data) else data


def _check_counts(report: dict) -> None:
    """Nothing dropped without being counted."""
    assert report["rows_in"] == report["rows_used"] + report["rows_set_aside"]
    assert report["rows_set_aside"] == sum(report["set_aside_by_reason"].values())


def _check_works(expected: Works, report: dict, notices: list[str], customers: int, feature_set: str, err: str = ""):
    _check_counts(report)
    if expected.set_aside is not None:
        if not expected.set_aside:
            assert report["rows_set_aside"] == 0, report["set_aside_by_reason"]
        for reason, n in expected.set_aside.items():
            assert report["set_aside_by_reason"].get(reason) == n, report["set_aside_by_reason"]
    text = "\n".join(notices)
    for notice in expected.notices:
        assert re.search(notice, text), text
    if expected.customers is not None:
        assert customers == expected.customers
    if expected.feature_set is not None:
        assert feature_set == expected.feature_set
    if expected.check is not None:
        assert expected.check(report, err or text)


def _run_cli(tmp_path, spec, data, expected, capsys):
    name, *options = spec.split(" ", 1)
    args = options[0].split(" ") if options else []
    path = tmp_path / name
    path.write_bytes(_bytes(data))
    code = main(["features", str(path), "--out", str(tmp_path / "out.csv"), *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if isinstance(expected, Fails):
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
        assert re.search(expected.message, lines[0]), lines[0]
        return
    assert code == 0, err
    # The same options, read by the library: the report behind the CLI's lines.
    dataset = load_dataset(path, load_options(build_parser().parse_args(["features", str(path), "--out", "x", *args])))
    _check_works(expected, dataset.report, dataset.notices, len(dataset.customers), dataset.feature_set, err)
    written = pd.read_csv(tmp_path / "out.csv", dtype={"customer_id": str})
    assert len(written) == len(dataset.customers)


def _run_upload(tmp_path, spec, data, expected):
    from dashboard.store import DataStore
    from dashboard.views.upload import fit_upload, read_upload, upload_facts

    store = DataStore(tmp_path / "store")
    contents = "data:application/octet-stream;base64," + base64.b64encode(_bytes(data)).decode()
    if isinstance(expected, Fails):
        with pytest.raises(InputError) as error:
            info = read_upload(contents, spec, store, 10_000_000)
            fit_upload(store, info, None, None, "session-1")
        message = str(error.value)
        assert "\n" not in message and re.search(expected.message, message), message
        return
    info = read_upload(contents, spec, store, 10_000_000)
    dataset_id = fit_upload(store, info, None, None, "session-1")
    workspace = store.get(dataset_id, "auto", owner="session-1")
    meta = store.meta(dataset_id, "session-1")
    dataset = load_dataset(meta["source"], LoadOptions.from_dict(meta["options"]))
    _check_works(expected, dataset.report, [upload_facts(info)], len(workspace.frame), workspace.feature_set)
    assert len(workspace.frame) == len(dataset.customers)


def _run_db(tmp_path, spec, data, expected):
    kind, *options = spec.split(" ", 1)
    args = options[0].split(" ") if options else []
    engine = "duckdb" if kind.startswith("duckdb") else "sqlite"
    url = f"{engine}:///{tmp_path / ('t.' + ('duckdb' if engine == 'duckdb' else 'db'))}"
    Database(url).replace_tables({"loans": _bytes(data)})
    if kind.endswith("-query"):
        source = DatabaseSource(url, query="SELECT customer_id, txn_date, amount, amount AS Amount FROM loans")
    else:
        source = DatabaseSource(url, table="loans")
    options = load_options(build_parser().parse_args(["features", "x", "--out", "x", *args]))
    if isinstance(expected, Fails):
        with pytest.raises(InputError, match=expected.message):
            load_dataset(source, options)
        return
    dataset = load_dataset(source, options)
    assert dataset.report["engine"] == engine
    _check_works(expected, dataset.report, dataset.notices, len(dataset.customers), dataset.feature_set)


@pytest.fixture(scope="module")
def bundle(demo_run):
    return Bundle.load(demo_run / "model")


def _run_tabpy(bundle, values, expected: Nulls):
    n = len(values)
    # One odd feature among good ones; every other feature a plain value.
    lists = [[1.0] * n for _ in bundle.features]
    lists[1] = list(values)
    for endpoint in (endpoints.segment_assign, endpoints.segment_name, endpoints.segment_action):
        answer = endpoint(bundle, *lists)
        assert len(answer) == n
        for i, value in enumerate(answer):
            assert (value is None) == (i in expected.rows), (endpoint.__name__, answer)
    live = endpoints.segment_live(0, list(values), [1.0, 2.0][:n] + [1.0] * (n - 2))
    assert [i for i, v in enumerate(live) if v is None] == [i for i in expected.rows]


@pytest.mark.parametrize(("name", "spec", "data", "surface", "expected"), CASES, ids=[c[0] for c in CASES])
def test_odd_input(name, spec, data, surface, expected, tmp_path, capsys, request):
    if surface == "cli":
        _run_cli(tmp_path, spec, data, expected, capsys)
    elif surface == "upload":
        _run_upload(tmp_path, spec, data, expected)
    elif surface == "db":
        _run_db(tmp_path, spec, data, expected)
    else:
        _run_tabpy(request.getfixturevalue("bundle"), data, expected)


def test_catalogue_is_large_and_covers_every_surface():
    assert len(CASES) >= 60
    assert {c[3] for c in CASES} == {"cli", "upload", "tabpy", "db"}


def test_the_issue_file_with_one_inf_runs_and_reports_it(tmp_path, cli):
    """The issue's case end to end: `run` continues, cleaning_report.json counts the row."""
    path = tmp_path / "tx.csv"
    path.write_bytes(table(HEADER, with_amounts("inf")))
    code, out, err = cli("run", path, "--out", tmp_path / "out", "--k", "2", "--stability-resamples", "0")
    assert code == 0, err
    import json

    report = json.loads((tmp_path / "out" / "cleaning_report.json").read_text())
    _check_counts(report)
    assert report["set_aside_by_reason"] == {"amount_not_finite": 1}
    assert "1 of 130 rows: amount is not a finite number (NaN or infinity), e.g. 'inf'" in err


def test_fit_on_the_features_file_equals_run(tmp_path, cli):
    """`features` then `fit` gives the features, names and actions `run` gives on the log."""
    from segmentation.demo import write_demo

    log = write_demo(tmp_path / "tx.csv", 600, seed=5)
    assert cli("run", log, "--out", tmp_path / "run")[0] == 0
    assert cli("features", log, "--out", tmp_path / "features.csv")[0] == 0
    code, _, err = cli("fit", tmp_path / "features.csv", "--model", tmp_path / "model")
    assert code == 0, err
    ran, fitted = Bundle.load(tmp_path / "run" / "model"), Bundle.load(tmp_path / "model")
    assert fitted.features == ran.features
    assert fitted.metadata["feature_set"] == "transactions"
    columns = ["segment", "segment_name", "recommended_action", "size"]
    pd.testing.assert_frame_equal(fitted.segments[columns], ran.segments[columns])
    # --feature-set still overrides: read as any table, every numeric column clustered
    code, _, err = cli("fit", tmp_path / "features.csv", "--model", tmp_path / "m2", "--feature-set", "table", "--k", "2")
    assert code == 0 and "feature set: table" in err


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_database_engines_count_bad_rows_like_files(tmp_path, engine):
    rows = with_amounts("NaN", "inf", "1e400", "$1,200.50")
    path = tmp_path / "t.csv"
    path.write_bytes(table(HEADER, rows))
    url = f"{engine}:///{tmp_path / 'db.file'}"
    Database(url).replace_tables({"loans": _frame(rows)})
    from_file = load_dataset(path)
    from_db = load_dataset(DatabaseSource(url, table="loans"))
    assert from_db.report["set_aside_by_reason"] == from_file.report["set_aside_by_reason"]
    pd.testing.assert_frame_equal(from_db.customers, from_file.customers, rtol=1e-12)


def test_postgres_reads_odd_values_like_duckdb(postgres, pg_db, tmp_path):
    """Text the way exports write it, typed NaN and infinity, and a date format, in PostgreSQL."""
    rows = [[r[0], r[1].replace("/", "."), r[2], r[3].replace("/", ".")] for r in day_first()]
    rows[3][2], rows[10][2], rows[17][2], rows[24][2] = "NaN", "inf", "9" * 400, "$1,200.50"
    url = postgres.url(pg_db)
    Database(url).replace_tables({"odd": _frame(rows)})
    options = LoadOptions(date_format="%d.%m.%Y")
    in_pg = load_dataset(DatabaseSource(url, table="odd"), options)
    path = tmp_path / "odd.csv"
    path.write_bytes(table(HEADER, rows))
    in_duckdb = load_dataset(path, options)
    assert in_pg.report["set_aside_by_reason"] == in_duckdb.report["set_aside_by_reason"] == {
        "amount_not_finite": 2, "amount_too_large": 1}
    pd.testing.assert_frame_equal(in_pg.customers, in_duckdb.customers, rtol=1e-12)
    # a double precision column holding NaN and infinity
    with postgres.connect(pg_db) as con:
        con.execute("CREATE TABLE typed AS SELECT customer_id, CAST(txn_date AS text) AS txn_date, "
                    "CAST(CASE WHEN amount IN ('NaN', 'inf') THEN amount ELSE '5' END AS double precision) AS amount "
                    "FROM odd WHERE amount <> '$1,200.50' AND length(amount) < 20")
    typed = load_dataset(DatabaseSource(url, table="typed"), options)
    assert typed.report["set_aside_by_reason"] == {"amount_not_finite": 2}
    _check_counts(typed.report)
    assert np.isfinite(typed.customers.select_dtypes("number").to_numpy(dtype=float)).all()


def _times_near_midnight() -> pd.DataFrame:
    """Loans stamped in Lagos (UTC+1) between 23:00 and 01:00: the UTC day and the local day differ."""
    rng = np.random.default_rng(11)
    n = 300
    lent = pd.Timestamp("2024-03-01 23:00", tz="Africa/Lagos") + pd.to_timedelta(
        rng.integers(0, 120, n), unit="D") + pd.to_timedelta(rng.integers(0, 120, n), unit="min")
    return pd.DataFrame({"customer_id": [f"C{i % 40:03d}" for i in range(n)], "txn_date": lent,
                         "amount": rng.integers(100, 900, n).astype(float),
                         "repayment_date": lent + pd.to_timedelta(rng.integers(600, 40 * 1440, n), unit="min")})


def test_time_zone_aware_times_fall_on_their_utc_day_on_every_machine(tmp_path, postgres, pg_db):
    """The same tz-aware file gives the same features on a server in UTC and a laptop in
    Auckland, equal to those of its times written out in UTC, and a PostgreSQL timestamptz
    column as well, whatever the database's own time zone."""
    import os
    import subprocess
    import sys

    frame = _times_near_midnight()
    frame.to_parquet(tmp_path / "aware.parquet")
    utc = frame.assign(txn_date=frame["txn_date"].dt.tz_convert("UTC").dt.tz_localize(None),
                       repayment_date=frame["repayment_date"].dt.tz_convert("UTC").dt.tz_localize(None))
    utc.to_csv(tmp_path / "utc.csv", index=False)
    outputs = {}
    for tz in ("UTC", "Pacific/Auckland", "America/Los_Angeles"):
        out = tmp_path / f"{tz.replace('/', '_')}.csv"
        subprocess.run([sys.executable, "-m", "segmentation", "features", str(tmp_path / "aware.parquet"),
                        "--out", str(out)], check=True, env={**os.environ, "TZ": tz}, capture_output=True)
        outputs[tz] = pd.read_csv(out)
    expected = load_dataset(tmp_path / "utc.csv").customers.reset_index(drop=True)
    for tz, got in outputs.items():
        pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False, obj=tz)
    url = postgres.url(pg_db)
    with postgres.connect(pg_db) as con:
        con.execute(f"ALTER DATABASE {pg_db} SET timezone TO 'Pacific/Auckland'")
        con.execute("CREATE TABLE aware (customer_id text, txn_date timestamptz, amount float8, "
                    "repayment_date timestamptz)")
        with con.cursor() as cur:
            cur.executemany("INSERT INTO aware VALUES (%s, %s, %s, %s)",
                            [(c, t.to_pydatetime(), a, r.to_pydatetime()) for c, t, a, r in frame.itertuples(index=False)])
    in_pg = load_dataset(DatabaseSource(url, table="aware")).customers.reset_index(drop=True)
    pd.testing.assert_frame_equal(in_pg[expected.columns], expected, check_dtype=False)


def test_times_written_with_an_offset_fall_on_their_written_day(tmp_path):
    """`2024-03-18T00:30:00+01:00` is on the 18th, read with types (a clean file) or as text (a
    file with a bad row, staged again from text), as the same times written without the offset."""
    frame = _times_near_midnight()
    written = frame.copy()
    for column in ("txn_date", "repayment_date"):
        written[column] = frame[column].map(lambda t: t.isoformat())
    written.to_csv(tmp_path / "offsets.csv", index=False)
    naive = frame.assign(txn_date=frame["txn_date"].dt.tz_localize(None),
                         repayment_date=frame["repayment_date"].dt.tz_localize(None))
    naive.to_csv(tmp_path / "naive.csv", index=False)
    with_bad = pd.concat([written, written.head(1).assign(customer_id="C999", amount="abc")])
    with_bad.to_csv(tmp_path / "with_bad.csv", index=False)
    expected = load_dataset(tmp_path / "naive.csv").customers.reset_index(drop=True)
    typed = load_dataset(tmp_path / "offsets.csv").customers.reset_index(drop=True)
    text = load_dataset(tmp_path / "with_bad.csv", max_rejected_share=0.5)
    assert text.report["set_aside_by_reason"] == {"amount_invalid": 1}
    pd.testing.assert_frame_equal(typed, expected, check_dtype=False)
    pd.testing.assert_frame_equal(text.customers.reset_index(drop=True), expected, check_dtype=False)
