"""How the text of a log's cells becomes numbers and day numbers, in every SQL dialect alike.

The staging SQL (``io/sql/staging_*.sql``) calls a few small functions defined here per
dialect (DuckDB macros, PostgreSQL temporary SQL functions, SQLite Python functions), so that
the same text gives the same value, or the same reason to set the row aside, wherever the SQL
runs:

- an amount is a number once spaces and currency symbols are stripped, the thousands
  separator removed (by default only where it groups digits by three: ``1,200.50``) and the
  decimal separator made a point (``--decimal ,``: ``1.234,56``); ``NaN`` and ``inf`` are
  not finite, and a number beyond :data:`MAX_AMOUNT` (``1e400``, 5,000 digits) is too large
  to add up: both are reasons to set the row aside, never values;
- a date is ISO (``2024-01-31``, with an optional time) or written in ``--date-format``
  (``%d/%m/%Y``; see :func:`date_pattern`; ISO dates are still read then);
- an id loses its control characters (a NUL byte, a tab), so ``C00002\\0`` is ``C00002``.

It also guesses, from a sample of values, a date order (day first when a day above 12 is in
first place and never in second) and a decimal comma, and says so in a notice.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from ..errors import InputError

#: Amounts at or above this size are set aside: sums and squares of them stay finite.
MAX_AMOUNT = 1e15
CURRENCY = "$€£¥₦₹₱₩₽¢"
#: Characters stripped from an amount before it is read (spaces, no-break spaces, currency).
STRIP = f"[[:space:]{CURRENCY}\u00a0]"
_STRIP_PY = re.compile(f"[\\s{re.escape(CURRENCY)}\u00a0]")
DECIMALS = (".", ",")
THOUSANDS = (",", ".", " ", "'")
_MONTHS = "janfebmaraprmayjunjulaugsepoctnovdec"
# A time after the date is allowed and ignored (days are whole calendar days).
_TIME = "([ T].*)?"
_DIRECTIVES = {"d": "([0-9]{1,2})", "m": "([0-9]{1,2})", "Y": "([0-9]{4})", "y": "([0-9]{2})",
               "b": "([A-Za-z]{3,9})", "B": "([A-Za-z]{3,9})"}


@dataclass(frozen=True)
class DatePattern:
    """A ``--date-format`` as a regular expression and the groups holding year, month, day."""

    regex: str
    year: int
    month: int
    day: int
    two_digit_year: bool
    month_name: bool

    def day_number(self, text) -> int | None:
        """Days since 1970-01-01 of ``text``, None when it is not such a date (Python, for SQLite)."""
        if text is None:
            return None
        match = re.fullmatch(self.regex[1:-1], str(text).strip())
        if not match:
            return None
        y, d = int(match.group(self.year)), int(match.group(self.day))
        if self.two_digit_year:
            y += 2000 if y < 69 else 1900
        month = match.group(self.month)
        if self.month_name:
            at = _MONTHS.find(month[:3].lower())
            m = at // 3 + 1 if at >= 0 and at % 3 == 0 else 0
        else:
            m = int(month)
        try:
            return (dt.date(y, m, d) - dt.date(1970, 1, 1)).days
        except ValueError:
            return None


def date_pattern(fmt: str) -> DatePattern:
    """The :class:`DatePattern` of a strftime-style format: %d, %m, %Y, %y, %b (month name) and
    literal characters; a time after the date is ignored."""
    parts, groups, i = [], {}, 0
    while i < len(fmt):
        c = fmt[i]
        if c == "%" and i + 1 < len(fmt):
            code = fmt[i + 1]
            i += 2
            if code == "%":
                parts.append("[%]")
                continue
            if code not in _DIRECTIVES:
                raise InputError(f"--date-format {fmt!r}: %{code} is not supported; use %d, %m, %Y, %y or %b")
            groups[code] = len(groups) + 1
            parts.append(_DIRECTIVES[code])
            continue
        parts.append(c if c.isalnum() else f"[{c}]" if c not in "]\\^" else "\\" + c)
        i += 1
    year = groups.get("Y") or groups.get("y")
    month = groups.get("m") or groups.get("b") or groups.get("B")
    if not (year and month and groups.get("d")):
        raise InputError(f"--date-format {fmt!r} needs a day (%d), a month (%m or %b) and a year (%Y or %y)")
    return DatePattern("^" + "".join(parts) + _TIME + "$", year, month, groups["d"], "Y" not in groups,
                       "m" not in groups)


def check_style(date_format: str | None, decimal: str | None, thousands: str | None) -> None:
    """Refuse an unsupported date format or separator before anything is read with it."""
    check_number_style(decimal, thousands)
    if date_format:
        date_pattern(date_format)


def check_number_style(decimal: str | None, thousands: str | None) -> None:
    if decimal is not None and decimal not in DECIMALS:
        raise InputError(f"--decimal must be . or , (got {decimal!r})")
    if thousands is not None and thousands not in THOUSANDS:
        raise InputError(f"--thousands must be one of , . ' or a space (got {thousands!r})")
    if thousands is not None and thousands == (decimal or "."):
        raise InputError(f"--thousands and --decimal cannot both be {thousands!r}")


def _grouping(decimal: str) -> tuple[str, str]:
    """The default thousands separator for a decimal separator, and the regex of a number
    grouped by it (digits in threes): only such a number loses its separators."""
    sep = "," if decimal == "." else "."
    return sep, f"^[+-]?[0-9]{{1,3}}([{sep}][0-9]{{3}})+([{decimal}][0-9]*)?$"


def number_text(text, decimal: str | None, thousands: str | None) -> str | None:
    """``text`` as a plain number's text (Python; the SQL functions do the same)."""
    if text is None:
        return None
    decimal = decimal or "."
    s = _STRIP_PY.sub("", str(text))
    if thousands is not None:
        s = s.replace(thousands, "")
    else:
        sep, grouped = _grouping(decimal)
        if re.match(grouped, s):
            s = s.replace(sep, "")
    return s.replace(",", ".") if decimal == "," else s


def amount_of(text, decimal: str | None = None, thousands: str | None = None) -> tuple[float | None, str | None]:
    """An amount's value, or None with the reason it is set aside (None: not a number)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text) if not isinstance(text, int) or abs(text) < 1e300 else math.inf
        word = math.isnan(value) or (math.isinf(value) and not isinstance(text, int))
    else:
        s = number_text(text, decimal, thousands)
        if s is None or not re.fullmatch(r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?|[+-]?(nan|inf|infinity)",
                                         s, flags=re.IGNORECASE):
            return None, None
        word = s.lstrip("+-")[:1].lower() in ("n", "i")
        try:
            value = float(s)
        except (OverflowError, ValueError):
            value = math.inf
    if word:
        return None, "amount_not_finite"
    if not abs(value) < MAX_AMOUNT:
        return None, "amount_too_large"
    return value, None


# -- the functions the staging SQL calls, per dialect ---------------------------------------


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _number_text_sql(v: str, decimal: str | None, thousands: str | None, dialect: str) -> str:
    """SQL (DuckDB or PostgreSQL) of :func:`number_text` of the text ``v``."""
    decimal = decimal or "."
    s = f"regexp_replace({v}, {_literal(STRIP)}, '', 'g')"
    if thousands is not None:
        s = f"replace({s}, {_literal(thousands)}, '')"
    else:
        sep, grouped = _grouping(decimal)
        match = f"regexp_matches({s}, {_literal(grouped)})" if dialect == "duckdb" else f"{s} ~ {_literal(grouped)}"
        s = f"(CASE WHEN {match} THEN replace({s}, {_literal(sep)}, '') ELSE {s} END)"
    return f"replace({s}, ',', '.')" if decimal == "," else s


def _day_sql(v: str, pattern: DatePattern, dialect: str) -> str:
    """SQL of :meth:`DatePattern.day_number` of the text ``v`` (DuckDB or PostgreSQL)."""
    if dialect == "duckdb":
        def group(i):
            return f"regexp_extract(TRIM({v}), {_literal(pattern.regex)}, {i})"
    else:
        def group(i):
            return f"(regexp_match(TRIM({v}), {_literal(pattern.regex)}))[{i}]"
    year = f"TRY_CAST({group(pattern.year)} AS INTEGER)" if dialect == "duckdb" else f"CAST(NULLIF({group(pattern.year)}, '') AS integer)"
    if pattern.two_digit_year:
        year = f"(CASE WHEN {year} < 69 THEN 2000 + {year} ELSE 1900 + {year} END)"
    if pattern.month_name:
        at = f"strpos('{_MONTHS}', lower(left({group(pattern.month)}, 3)))"
        month = f"(CASE WHEN {at} % 3 = 1 THEN CAST(({at} + 2) / 3 AS INTEGER) END)"
    else:
        month = f"TRY_CAST({group(pattern.month)} AS INTEGER)" if dialect == "duckdb" else f"CAST(NULLIF({group(pattern.month)}, '') AS integer)"
    day = f"TRY_CAST({group(pattern.day)} AS INTEGER)" if dialect == "duckdb" else f"CAST(NULLIF({group(pattern.day)}, '') AS integer)"
    if dialect == "duckdb":
        return f"CAST(date_diff('day', DATE '1970-01-01', try(make_date({year}, {month}, {day}))) AS INTEGER)"
    return f"pg_temp.valid_day({year}, {month}, {day})"


def duckdb_functions(date_format: str | None, decimal: str | None, thousands: str | None) -> str:
    """Macros ``seg_day(text)`` (day number) and ``seg_number(text)`` (a double, maybe NaN or
    infinite: the staging tells the word inf from a number beyond a double) for the DuckDB staging."""
    day = "CAST(date_diff('day', DATE '1970-01-01', TRY_CAST(TRY_CAST(v AS TIMESTAMP) AS DATE)) AS INTEGER)"
    if date_format:  # ISO dates still read: they have one reading
        day = f"COALESCE({_day_sql('v', date_pattern(date_format), 'duckdb')}, {day})"
    number = f"TRY_CAST({_number_text_sql('v', decimal, thousands, 'duckdb')} AS DOUBLE)"
    if not decimal or decimal == ".":
        # Plain numbers (nearly all) skip the clean-up.
        number = f"COALESCE(TRY_CAST(v AS DOUBLE), {number})"
    return f"CREATE OR REPLACE TEMP MACRO seg_day(v) AS {day};\nCREATE OR REPLACE TEMP MACRO seg_number(v) AS {number};\n"


def postgres_functions(date_format: str | None, decimal: str | None, thousands: str | None) -> str:
    """``pg_temp.number_text(text)``, ``pg_temp.amount_value(text)`` and
    ``pg_temp.day_number(text)`` for the PostgreSQL staging."""
    text = _number_text_sql("value", decimal, thousands, "postgresql")
    amount = "pg_temp.amount_of_text(pg_temp.number_text(value))"
    if decimal != ",":
        # Plain numbers (nearly all) skip the clean-up.
        plain = "^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,5})?$"
        amount = f"CASE WHEN TRIM(value) ~ {_literal(plain)} THEN pg_temp.amount_of_text(TRIM(value)) ELSE {amount} END"
    day = "pg_temp.iso_day(value)"
    if date_format:  # ISO dates still read: they have one reading
        day = f"COALESCE({_day_sql('value', date_pattern(date_format), 'postgresql')}, {day})"
    out = (
        f"CREATE FUNCTION pg_temp.number_text(value text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT {text} $$;\n"
        f"CREATE FUNCTION pg_temp.amount_value(value text) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$ "
        f"SELECT {amount} $$;\n"
        f"CREATE FUNCTION pg_temp.day_number(value text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT {day} $$;\n"
    )
    return out


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def register_sqlite(con, date_format: str | None, decimal: str | None, thousands: str | None) -> None:
    """The Python functions of the SQLite staging: seg_id, seg_amount, seg_amount_issue, seg_day."""
    pattern = date_pattern(date_format) if date_format else None

    def seg_id(value):
        if value is None:
            return None
        return _CONTROL.sub("", str(value)).strip() or None

    con.create_function("seg_id", 1, seg_id, deterministic=True)
    con.create_function("seg_has_control", 1, lambda v: int(v is not None and bool(_CONTROL.search(str(v)))),
                        deterministic=True)
    con.create_function("seg_amount", 1, lambda v: amount_of(v, decimal, thousands)[0], deterministic=True)
    con.create_function("seg_amount_issue", 1, lambda v: amount_of(v, decimal, thousands)[1], deterministic=True)
    con.create_function("seg_day", 1, pattern.day_number if pattern else lambda v: None, deterministic=True)


# -- guessing a date order and a decimal comma from a sample ------------------------------------

_SLASHED = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})([ T].*)?$")
_ISO = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")


def guess_date_format(values: list) -> tuple[str | None, str | None]:
    """A date format for ``values`` (text of one column) that are not ISO but day/month/year
    with the same separator, and the notice saying why; (None, None) when ISO or undecidable."""
    texts = [str(v).strip() for v in values if v is not None and str(v).strip()]
    if not texts or sum(bool(_ISO.match(t)) for t in texts) >= len(texts) / 2:
        return None, None
    matches = [m for m in map(_SLASHED.match, texts) if m]
    if len(matches) < len(texts) / 2 or len({m.group(2) for m in matches}) != 1:
        return None, None
    sep = matches[0].group(2)
    year = "%Y" if all(len(m.group(4)) == 4 for m in matches) else "%y"
    first = max(int(m.group(1)) for m in matches)
    second = max(int(m.group(3)) for m in matches)
    if first > 12 >= second:
        fmt, order = f"%d{sep}%m{sep}{year}", "day first"
    elif second > 12 >= first:
        fmt, order = f"%m{sep}%d{sep}{year}", "month first"
    else:
        return None, None
    example = next(m.group(0) for m in matches if int(m.group(1 if order == "day first" else 3)) > 12)
    return fmt, f"dates read {order} ({fmt}: {example!r} has no other reading); set --date-format to change"


def ambiguous_date_hint(example: str) -> str:
    """What to add to a 'not a date' message whose example is like 03/04/2024."""
    m = _SLASHED.match(str(example).strip())
    if not m:
        return ""
    sep = m.group(2)
    return f" (day or month first? set --date-format %d{sep}%m{sep}%Y or %m{sep}%d{sep}%Y)"


_COMMA_DECIMAL = re.compile(r"^[^0-9]*[+-]?([0-9]+,[0-9]{1,2}|[0-9]{1,3}([. ][0-9]{3})+(,[0-9]+)?)[^0-9]*$")
_POINT_DECIMAL = re.compile(r"^[^0-9]*[+-]?([0-9]+[.][0-9]{1,2}|[0-9]{1,3}(,[0-9]{3})+([.][0-9]+)?)[^0-9]*$")


def guess_decimal(values: list) -> tuple[str | None, str | None]:
    """"," when the amounts are written with a decimal comma (``1234,50``, ``1.234,50``) and
    none with a decimal point, with the notice saying so; else (None, None)."""
    texts = [str(v).strip() for v in values if v is not None and str(v).strip()]
    comma = [t for t in texts if _COMMA_DECIMAL.match(t)]
    if comma and not any(_POINT_DECIMAL.match(t) for t in texts):
        return ",", f"amounts read with a decimal comma ({comma[0]!r} is {number_text(comma[0], ',', None)}); set --decimal . if not"
    return None, None


def number_hint(example: str) -> str:
    """What to add to a 'not a number' message whose example has separators, or is an
    accounting negative (Excel's Accounting format saved as CSV writes -20.76 as (20.76))."""
    accounting = re.fullmatch(r"\s*\(\s*([^()]*[0-9][^()]*?)\s*\)\s*", str(example))
    if accounting:
        return (f" (an accounting negative, -{accounting[1]}? amounts below zero, refunds and reversals, "
                "are set aside either way: net them out first, or allow more with --max-rejected)")
    if re.search(r"[0-9],[0-9]", str(example)):
        return " (a decimal comma? set --decimal , ; a thousands separator? set --thousands)"
    return ""
