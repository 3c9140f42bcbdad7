"""Data files as analysts receive them: made readable before DuckDB scans them, and the reason
named when one cannot be read.

A CSV (or gzip-compressed CSV) is read where it is when it is UTF-8 with one kind of line
ending, which one pass over its bytes checks. Otherwise it is copied once, as UTF-8 with LF
line endings, into a temporary folder that lives as long as the source is open:

- text in another encoding: ``--encoding``, or detected: UTF-16/32 by its byte-order mark,
  else Windows-1252 (Excel's "CSV" on Windows; latin-1 where a byte has no Windows-1252
  meaning) when the bytes are not UTF-8, with a notice;
- mixed line endings (a header added with ``sed`` to a Windows export, files concatenated).

An XLSX workbook is read from one sheet: ``--sheet``, else the sheet holding the most cells,
with a notice naming the sheets not read. Header names are compared after trimming and case
folding: two columns of one name are refused, naming them.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import InputError
from .columns import show

_CHUNK = 1 << 23
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
ENCODING_FIX = "--encoding cp1252 (Excel on Windows) or --encoding latin-1"


@dataclass
class Prepared:
    """The file DuckDB reads (the input itself, or a clean copy) and what was done to it."""

    path: Path
    notices: list[str] = field(default_factory=list)
    temp_dir: Path | None = None

    def cleanup(self) -> None:
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None


def _open_bytes(path: Path):
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def text_lines(path: Path) -> io.TextIOWrapper:
    """A (UTF-8, maybe gzip-compressed) CSV opened as text, its line endings as written."""
    return io.TextIOWrapper(_open_bytes(path), encoding="utf-8", errors="replace", newline="")


def _scan(path: Path) -> tuple[str | None, list[str]]:
    """One pass over the bytes: where they first are not UTF-8 (None when they all are), and
    the kinds of line ending found (CRLF, LF, CR). About 0.1 s per 100 MB: ASCII chunks skip
    the decoder and chunks without a CR are only searched, not counted."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    kinds: set[str] = set()
    offset, bad, last = 0, None, b""
    with _open_bytes(path) as f:
        while chunk := f.read(_CHUNK):
            # (a CRLF split across two chunks counts once, as CRLF)
            split = int(last == b"\r" and chunk[:1] == b"\n")
            if last == b"\r":
                kinds.add("CRLF" if split else "CR")
            if b"\r" not in chunk:
                if b"\n" in chunk[split:]:
                    kinds.add("LF")
            else:
                n, r = chunk.count(b"\n") - split, chunk.count(b"\r") - chunk.endswith(b"\r")
                crlf = chunk.count(b"\r\n") if n != r else n
                kinds.update(k for k, c in (("CRLF", crlf), ("LF", n - crlf), ("CR", r - crlf)) if c > 0)
            if bad is None and not (chunk.isascii() and not decoder.getstate()[0]):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    bad = (offset + exc.start, chunk[exc.start])
            offset += len(chunk)
            last = chunk[-1:]
    if last == b"\r":
        kinds.add("CR")
    if bad is None:
        return None, sorted(kinds)
    with _open_bytes(path) as f:
        line = f.read(bad[0]).count(b"\n") + 1
    return f"byte 0x{bad[1]:02X} on line {line:,}", sorted(kinds)


#: Files that are no CSV, by their first bytes.
_NOT_TEXT = {b"PK\x03\x04": "an XLSX workbook (or another zip file): name it .xlsx",
             b"\xd0\xcf\x11\xe0": "an old Excel (.xls) workbook: save it as .xlsx or CSV",
             b"%PDF": "a PDF document, not a table", b"PAR1": "a Parquet file: name it .parquet"}


def prepare_csv(path: Path, encoding: str | None = None) -> Prepared:
    """``path`` as DuckDB can read it (see the module docstring)."""
    with _open_bytes(path) as f:
        head = f.read(4096)
    kind = next((what for magic, what in _NOT_TEXT.items() if head.startswith(magic)), None)
    if kind is not None:
        raise InputError(f"cannot read {path.name} as CSV: it is {kind}")
    notices = []
    if encoding:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise InputError(f"--encoding {encoding}: unknown encoding (try utf-8, cp1252, latin-1, utf-16)") from None
    else:
        encoding = next((name for mark, name in _BOMS if head.startswith(mark)), None)
    endings = []
    if encoding in (None, "utf-8", "utf-8-sig"):
        bad, endings = _scan(path)
        if bad is not None and encoding is not None:
            raise InputError(f"cannot read {path.name} as UTF-8 ({bad}): set another encoding, e.g. {ENCODING_FIX}")
        if bad is not None:
            encoding = "cp1252"
            notices.append(f"{path.name}: not UTF-8 ({bad}): read as Windows-1252, the encoding of Excel's CSV "
                           "on Windows; set --encoding if it is another")
    if len(endings) > 1 or endings == ["CR"]:
        notices.append(f"{path.name}: mixed line endings ({' and '.join(endings)}), read as one kind")
    elif encoding in (None, "utf-8", "utf-8-sig"):
        return Prepared(path, notices)
    return _rewrite(path, encoding or "utf-8", notices)


def _rewrite(path: Path, encoding: str, notices: list[str]) -> Prepared:
    """A UTF-8 copy with LF line endings (quoted line breaks too become LF)."""
    temp_dir = Path(tempfile.mkdtemp(prefix="segmentation-"))
    out = temp_dir / (path.name.removesuffix(".gz") if path.name.endswith(".gz") else path.name)
    encoding = "utf-8-sig" if encoding == "utf-8" else encoding  # drops a byte-order mark
    for attempt in (encoding, "latin-1") if encoding == "cp1252" else (encoding,):
        try:
            with _open_bytes(path) as raw, open(out, "w", encoding="utf-8", newline="\n") as dst:
                src = codecs.getreader(attempt)(raw)
                # Universal newlines: CRLF and CR become LF.
                pending = ""
                while chunk := src.read(_CHUNK):
                    text = pending + chunk
                    pending = "\r" if text.endswith("\r") else ""
                    if pending:
                        text = text[:-1]
                    dst.write(text.replace("\r\n", "\n").replace("\r", "\n"))
                dst.write(pending.replace("\r", "\n"))
            if attempt != encoding:  # a byte with no Windows-1252 meaning
                notices[:] = [n.replace("Windows-1252", "latin-1") for n in notices]
            return Prepared(out, notices, temp_dir)
        except UnicodeDecodeError as exc:
            if attempt == encoding and encoding == "cp1252":
                continue
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise InputError(
                f"cannot read {path.name} as {encoding}: byte 0x{exc.object[exc.start]:02X} is not {encoding} text; "
                f"set another encoding ({ENCODING_FIX}, --encoding utf-16)"
            ) from None
    raise AssertionError("latin-1 decodes every byte")


def check_names(names: list, where: str) -> None:
    """Refuse two columns of one name (after trimming and case folding), naming them."""
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        seen.setdefault(str(name).strip().casefold(), []).append(i)
    twice = {key: at for key, at in seen.items() if len(at) > 1}
    if twice:
        named = "; ".join(
            f"{' and '.join(dict.fromkeys(repr(str(names[i - 1])) for i in at))} "
            f"(columns {', '.join(map(str, at[:-1]))} and {at[-1]})"
            for at in twice.values()
        )
        raise InputError(
            f"{where} has {len(twice)} column name{'s' if len(twice) > 1 else ''} used twice: {named}; "
            "which one to use cannot be known: rename or delete one (names are compared ignoring case "
            "and spaces at the ends)"
        )


_DELIMITERS = (",", ";", "\t", "|")


def header_delimiter(path: Path) -> str | None:
    """The separator of a (UTF-8) CSV as its first line shows it: the candidate found most
    often outside quotes; None when none is (one column, or a title line to sniff past)."""
    with text_lines(path) as f:
        first = next((line for line in f if line.strip()), "")
    bare = re.sub(r'"[^"]*"', "", first)
    counts = {d: bare.count(d) for d in _DELIMITERS}
    best = max(counts.values())
    winners = [d for d, n in counts.items() if n == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


def ragged_row(path: Path, delimiter: str, name: str) -> InputError | None:
    """The first row of a CSV whose number of fields is not the header's, as an InputError."""
    import csv

    with text_lines(path) as f:
        rows = (row for row in csv.reader(f, delimiter=delimiter) if any(cell.strip() for cell in row))
        header = next(rows, None)
        for row in rows:
            if header is not None and len(row) != len(header):
                example = delimiter.join(row)[:60]
                return InputError(
                    f"cannot read {name}: a row has {len(row)} fields where the header has {len(header)}, "
                    f"e.g. {example!r} (a separator inside a value that is not quoted?): quote that value or fix the row"
                )
    return None


def read_error(exc: Exception, name: str) -> InputError | None:
    """The InputError for DuckDB's error reading the CSV ``name``, naming the likely cause and
    the option that fixes it; None when ``exc`` is not a reading error."""
    text = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    at = f" (line {int(line.group(1)):,})" if line else ""
    if "unicode" in text.lower() or "utf-8" in text.lower():
        return InputError(f"cannot read {name}: it is not UTF-8 text{at}: read it with {ENCODING_FIX}")
    if "sniffing" in text or "automatically detect the CSV" in text:
        return InputError(
            f"cannot read {name} as a table: its separator, quotes or line endings could not be told apart "
            "(tried , ; | and tab); save it again as CSV or XLSX, or check --encoding"
        )
    columns = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    if columns:
        return InputError(
            f"cannot read {name}{at}: a row has {columns.group(2)} fields where the header has {columns.group(1)} "
            "(a separator inside a value that is not quoted?): quote that value or fix the row"
        )
    if "unterminated quote" in text.lower():
        return InputError(f"cannot read {name}{at}: a quote is opened and never closed: fix the quotes of that row")
    if "CSV Error" in text or "Error when" in text:
        first = text.strip().splitlines()[0]
        return InputError(f"cannot read {name} as a table: {first}")
    return None


# -- workbooks ---------------------------------------------------------------------------------


def read_workbook(path: Path, sheet: str | None) -> tuple[pd.DataFrame, list[str]]:
    """One sheet of an XLSX workbook as text columns, and a notice naming the sheets not read."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        sizes = {ws.title: (ws.max_row or 0) * (ws.max_column or 0) for ws in book.worksheets}
        book.close()
    except Exception as exc:  # openpyxl and zipfile raise their own types for a bad file
        raise InputError(f"cannot read {path.name} as an XLSX workbook: {exc}") from None
    names = list(sizes)
    if sheet is not None:
        chosen = next((n for n in names if n == sheet), None) or next(
            (n for n in names if n.strip().casefold() == str(sheet).strip().casefold()), None
        )
        if chosen is None and str(sheet).isdigit() and 1 <= int(sheet) <= len(names):
            chosen = names[int(sheet) - 1]
        if chosen is None:
            raise InputError(f"--sheet {sheet}: {path.name} has no such sheet; its sheets are {show(names)}")
    else:
        chosen = max(names, key=lambda n: sizes[n])  # the first of the largest
    frame = pd.read_excel(path, sheet_name=chosen, header=None, dtype=str)
    frame = frame.dropna(how="all").dropna(axis=1, how="all")
    if frame.empty:
        raise InputError(f"sheet {chosen!r} of {path.name} is empty" + ("" if sheet else f"; its sheets are {show(names)}"))
    header = [str(v).strip() if pd.notna(v) else f"column{i}" for i, v in enumerate(frame.iloc[0], start=1)]
    check_names(header, f"sheet {chosen!r} of {path.name}")
    frame = frame.iloc[1:].reset_index(drop=True)
    frame.columns = header
    notices = []
    others = [n for n in names if n != chosen]
    if others:
        notices.append(
            f"{path.name}: read sheet {chosen!r}; not read: {', '.join(map(repr, others))} (choose one with --sheet)"
        )
    return frame, notices
