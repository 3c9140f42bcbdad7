"""Feature sets read from a customer table (one row per customer), and the cleaning they share.

The rows go through these rules, in order; a row set aside is counted under the first rule it
breaks, so the counts add up (rows in = rows used + rows set aside):

1. the id is empty: set aside;
2. the row is an exact copy of an earlier row (every column equal): set aside, the first kept
   (``--keep-duplicate-rows`` keeps them all);
3. the id is on more than one row (with different values, or rule 2 was off): all its rows
   set aside (which one is right cannot be known);
4. a value outside its column's bounds (:class:`Bound`, e.g. a negative amount): set aside, or
   capped where the feature set says so (a frequency above 1 becomes 1);

and the values: text in a numeric column (at most 5% of its values) is treated as missing;
the feature set's median-imputed columns are filled with their median; the model imputes any
other missing value with the median. Each rule is reported with its count. Text columns with
at most :data:`MAX_LEVELS` values are one-hot encoded (``column=value``, profiled per segment,
clustered on when named in ``--features``); other text columns are left out with a notice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.columns import REQUIRED_ROLES, match_roles, normalise, show
from ..io.parsing import MAX_AMOUNT
from ..options import LoadOptions
from .base import Dataset, FeatureSet, check_features, set_aside_rule
from .cleaning import CleaningReport, CleaningRule, share_text

MAX_LEVELS = 20
#: Column names (normalised: lower case, letters and digits) taken as the customer id.
ID_NAMES = ("customerid", "custid", "clientid", "id", "customer", "userid", "customerno", "customernumber")


@dataclass(frozen=True)
class Bound:
    """Allowed range of a column: a row below ``low`` is set aside; a row above ``high`` is set
    aside too, or capped to ``high`` (kept) with ``cap_high``."""

    low: float | None = None
    high: float | None = None
    cap_high: bool = False
    high_reason: str = "out_of_range"


def _log_hint(columns: list[str]) -> str:
    """What a table with repeated ids lacks to be read as a log of transactions."""
    roles = match_roles(columns)
    missing = [r for r in REQUIRED_ROLES if roles[r] is None]
    if roles["customer_id"] and len(missing) < len(REQUIRED_ROLES) - 1:
        return (
            f"for a log of transactions map its {' and '.join(missing)} column: no column "
            f"matches {', '.join(missing)} in {show(columns)} (--map {missing[0]}=YOUR_COLUMN)"
        )
    return "for a log of transactions map its date and amount columns"


#: Normalised names that suggest an amount column (amt, loan_value, principal, ...).
_AMOUNT_LIKE = ("amt", "amount", "value", "sum", "price", "total", "principal", "paid", "spend", "revenue")


def log_without_amount(columns: list[str], mapping: dict | None, repeated_ids: bool) -> None:
    """Refuse a file that looks like a log (a customer id and a transaction date, with a
    repayment or due date, or ids on several rows) but has no amount column: name what was
    found and the ``--map`` to write."""
    if mapping and "amount" in mapping:
        return
    try:
        roles = match_roles(columns, mapping)
    except InputError:
        return
    dated = [r for r in ("repayment_date", "due_date") if roles[r]]
    if not (roles["customer_id"] and roles["txn_date"]) or roles["amount"] or not (dated or repeated_ids):
        return
    names = {"customer_id": "customer id", "txn_date": "transaction date", "repayment_date": "repayment date",
             "due_date": "due date"}
    found = ", ".join(names[r] for r in ("customer_id", "txn_date", *dated))
    taken = {c for c in roles.values() if c}
    others = [c for c in columns if c not in taken]
    likely = next((c for c in others if any(a in normalise(c) for a in _AMOUNT_LIKE)), others[0] if others else None)
    kind = "a transactions log" if dated else "a log of transactions or purchases"
    if likely is None:
        raise InputError(f"this looks like {kind} ({found}) but has no amount column, and no other column to use")
    raise InputError(
        f"this looks like {kind} ({found}) but has no amount column; found {show(others)}: "
        f"name it with --map amount={likely}"
    )


def pick_id(frame: pd.DataFrame, mapping: dict | None) -> str:
    """The id column: ``--map customer_id=COLUMN``, a column named like an id, else the first."""
    id_col = (mapping or {}).get("customer_id")
    if id_col is not None:
        if id_col not in frame.columns:
            raise InputError(f"--map customer_id={id_col}: no such column; found {show(list(frame.columns))}")
        return id_col
    norm = {}
    for c in frame.columns:
        norm.setdefault(normalise(c), c)
    return next((norm[n] for n in ID_NAMES if n in norm), frame.columns[0])


class TableFeatureSet(FeatureSet):
    """A customer table; subclasses declare their schema, bounds and extra columns.

    Attributes
    ----------
    schema : dict
        Canonical column name -> other spellings (normalised). Columns found under another
        spelling are renamed to the canonical name.
    min_match : int
        Detected when at least this many schema columns are present.
    bounds : dict
        Column -> :class:`Bound`.
    impute_median : tuple of str
        Columns whose missing values are filled with the column's median before anything is
        derived from them (reported per column).
    """

    schema: dict[str, tuple[str, ...]] = {}
    min_match = 0
    bounds: dict[str, Bound] = {}
    impute_median: tuple[str, ...] = ()

    def match(self, columns) -> dict[str, str]:
        """Canonical name -> the input's column, for the schema columns present."""
        by_norm: dict[str, str] = {}
        for column in columns:
            by_norm.setdefault(normalise(column), column)
        found: dict[str, str] = {}
        for canon, aliases in self.schema.items():
            hit = next((by_norm[a] for a in (normalise(canon), *aliases) if a in by_norm), None)
            if hit is not None and hit not in found.values():
                found[canon] = hit
        return found

    def detect(self, columns, mapping):
        found = self.match(columns)
        if not self.schema or len(found) < self.min_match:
            return None
        return f"{len(found)} of the {len(self.schema)} {self.title} columns ({show(list(found.values()), 6)})"

    def derive(self, customers: pd.DataFrame, report: CleaningReport, notices: list[str], options) -> pd.DataFrame:
        """Add columns computed from the cleaned ones (none by default)."""
        return customers

    def headline(self, dataset: Dataset) -> str:
        return f"{self.title}, id column {dataset.report['id_column']!r}, {len(dataset.model_features)} features"

    def load(self, source, options: LoadOptions) -> Dataset:
        if options.since is not None:
            raise InputError("--since needs a log of transactions or purchases; a customer table is re-scored whole")
        # (CSV columns arrive as text: the values are parsed by the rules below)
        frame = source.frame()
        frame.columns = [str(c) for c in frame.columns]
        if frame.empty:
            raise InputError("the input has no rows (only a header?)")
        renames = {col: canon for canon, col in self.match(frame.columns).items() if col != canon}
        frame = frame.rename(columns=renames)
        notices = [f"columns read as {', '.join(f'{a!r} -> {b}' for a, b in renames.items())}"] if renames else []
        id_col = pick_id(frame, options.mapping)
        report = CleaningReport(self.name, len(frame), details={"id_column": id_col})
        ids = frame[id_col].astype("string")
        control = ids.str.contains(r"[\x00-\x1f\x7f]", regex=True).fillna(False).astype(bool)
        if control.any():
            # A NUL byte or a tab in an id would make a second customer beside the real one.
            example = ids[control].iloc[0]
            ids = ids.str.replace(r"[\x00-\x1f\x7f]", "", regex=True)
            report.add(CleaningRule("id_control_chars", id_col, int(control.sum()), example,
                                    f"{share_text(int(control.sum()), len(frame))}: id column {id_col!r} had control "
                                    f"characters (a NUL byte, a tab), removed, e.g. {example!r}", action="cleaned"))
        ids = ids.str.strip()
        numeric, not_numbers, categorical = _parse_columns(frame, id_col, notices)
        keep = self._clean_rows(frame, ids, id_col, numeric, report, options)

        customers = pd.DataFrame({"customer_id": ids[keep].astype(str)})
        for name, values in numeric.items():
            customers[name] = values[keep]
        for name, bad in not_numbers.items():
            bad = bad[keep]
            if bad.any():
                report.add(
                    CleaningRule(
                        "not_a_number",
                        name,
                        int(bad.sum()),
                        str(frame.loc[bad[bad].index[0], name]),
                        f"{name}: {share_text(int(bad.sum()), int(keep.sum()))} are not numbers "
                        f"(e.g. {frame.loc[bad[bad].index[0], name]!r})",
                        action="treated as missing",
                    )
                )
        customers = self._impute(self._cap(customers, report), report)
        read = list(customers.columns[1:])
        if not read and not options.features:
            hint = f" (text columns one-hot encode with --features {next(iter(categorical))})" if categorical else ""
            raise InputError(f"no numeric column to segment on; found {show(list(frame.columns))}{hint}")
        customers = self.derive(customers, report, notices, options).reset_index(drop=True)
        levels = _one_hot(customers, {name: values[keep] for name, values in categorical.items()})
        if options.features:
            chosen = _expand(list(options.features), levels, customers)
            numeric_cols = [c for c in customers.columns[1:] if pd.api.types.is_numeric_dtype(customers[c])]
            chosen = check_features(chosen, numeric_cols)
        else:
            # The declared features of the shape, or every numeric column the input had.
            declared = self.default_features(customers)
            chosen = declared if len(declared) >= 2 else [c for c in read if c in customers]
        for name, lv in levels.items():
            used = any(c.startswith(f"{name}=") for c in chosen)
            notices.append(
                f"{name}: categorical ({len(lv)} values), one-hot encoded as {name}=<value>; "
                + ("clustered on" if used else f"profiled per segment (cluster on it with --features {name})")
            )
        return self.finish(customers, report, options, notices, unit="rows", chosen=chosen)

    def _clean_rows(self, frame, ids, id_col, numeric, report, options) -> pd.Series:
        """Rules 1-4 of the module docstring; returns the mask of rows kept."""
        total = len(frame)
        keep = pd.Series(True, index=frame.index)

        def take(mask) -> pd.Series:
            """The rows of ``mask`` still kept, now set aside."""
            nonlocal keep
            hit = mask & keep
            keep &= ~hit
            return hit

        if (m := take(ids.isna() | (ids == ""))).any():
            report.add(set_aside_rule("id_missing", id_col, m, total, f"the id column {id_col!r} is empty"))
        if not options.keep_duplicate_rows and (m := take(frame.duplicated(keep="first"))).any():
            what = "exact copies of an earlier row (keep them with --keep-duplicate-rows)"
            report.add(set_aside_rule("duplicate_row", None, m, total, what, ids[m].iloc[0]))
        if (m := take(ids.where(keep).duplicated(keep=False))).any():
            if options.feature_set == "auto" and type(self) is AnyTable:
                log_without_amount(list(frame.columns), options.mapping, repeated_ids=True)
            report.add(
                CleaningRule(
                    "duplicate_id",
                    id_col,
                    int(m.sum()),
                    str(ids[m].iloc[0]),
                    f"{share_text(int(m.sum()), total)}: id column {id_col!r} has {ids[m].nunique():,} ids on "
                    f"more than one row, e.g. {ids[m].iloc[0]!r} (all their rows set "
                    "aside; one row per customer is expected: name the id column with --map "
                    f"customer_id=COLUMN, or {_log_hint(list(frame.columns))})",
                )
            )
        for name, x in numeric.items():
            # inf written as a word is not a number; one past a double (1e400, 5,000 digits), too large
            word = frame[name].astype("string").str.strip().str.lstrip("+-").str[:1].str.lower().isin(["i", "n"])
            infinite = ~np.isfinite(x.to_numpy(dtype=float, na_value=np.nan)) & x.notna()
            if (m := take(infinite & word.fillna(False))).any():
                what = f"{name} is not a finite number"
                report.add(set_aside_rule("not_finite", name, m, total, what, frame.loc[m, name].iloc[0]))
            if (m := take(x.abs() >= MAX_AMOUNT)).any():
                what = f"{name} is too large to compute with (at least {MAX_AMOUNT:.0e})"
                report.add(set_aside_rule("too_large", name, m, total, what, str(frame.loc[m, name].iloc[0])[:40]))
        for name, bound in self.bounds.items():
            x = numeric.get(name)
            if x is None:
                continue
            if bound.low is not None and (m := take(x < bound.low)).any():
                reason, what = ("negative_value", "is negative") if bound.low == 0 else ("out_of_range", f"is below {bound.low:g}")
                report.add(set_aside_rule(reason, name, m, total, f"{name} {what}", f"{x[m].iloc[0]:g}"))
            if bound.high is not None and not bound.cap_high and (m := take(x > bound.high)).any():
                what = f"{name} is above {bound.high:g}"
                report.add(set_aside_rule(bound.high_reason, name, m, total, what, f"{x[m].iloc[0]:g}"))
        return keep

    def _impute(self, customers: pd.DataFrame, report: CleaningReport) -> pd.DataFrame:
        """Fill the ``impute_median`` columns with their median, one rule per column."""
        for name in self.impute_median:
            missing = customers[name].isna() if name in customers else None
            if missing is None or not missing.any():
                continue
            median = customers[name].median()
            customers[name] = customers[name].fillna(median)
            report.add(
                CleaningRule(
                    "missing_value",
                    name,
                    int(missing.sum()),
                    str(customers.loc[missing, "customer_id"].iloc[0]),
                    f"{name}: {share_text(int(missing.sum()), len(customers))} have no value, "
                    f"imputed with the median ({median:,.4g})",
                    action="imputed",
                )
            )
        return customers

    def _cap(self, customers: pd.DataFrame, report: CleaningReport) -> pd.DataFrame:
        for name, bound in self.bounds.items():
            if name in customers and bound.cap_high:
                above = customers[name] > bound.high
                if above.any():
                    example = customers.loc[above, name].iloc[0]
                    report.add(
                        CleaningRule(
                            bound.high_reason,
                            name,
                            int(above.sum()),
                            f"{customers.loc[above, 'customer_id'].iloc[0]}: {example:g}",
                            f"{name}: {share_text(int(above.sum()), len(customers))} above {bound.high:g} "
                            f"(e.g. {example:g}), capped to {bound.high:g}",
                            action="capped",
                        )
                    )
                    customers[name] = customers[name].clip(upper=bound.high)
        return customers


def numeric_columns(frame: pd.DataFrame, mapping: dict | None = None) -> list[str]:
    """The columns of a customer table that the table rules read as numbers (besides its id)."""
    numeric, _, _ = _parse_columns(frame, pick_id(frame, mapping), [])
    return list(numeric)


def _parse_columns(frame: pd.DataFrame, id_col: str, notices: list[str]):
    """Split the columns: numeric (with the text values that are not numbers), categorical, or
    left out with a notice."""
    numeric, not_numbers, categorical = {}, {}, {}
    for name in frame.columns:
        if name == id_col:
            continue
        raw = frame[name]
        if pd.api.types.is_bool_dtype(raw) or pd.api.types.is_numeric_dtype(raw):
            numeric[name] = raw.astype(float)
            continue
        if pd.api.types.is_datetime64_any_dtype(raw):
            notices.append(f"{name}: dates, left out")
            continue
        text = raw.astype("string").str.strip()
        given = text.notna() & (text != "")
        values = pd.to_numeric(text.where(given), errors="coerce")
        # pandas gives up on digits too many for any integer type (5,000 of them); as a float
        # they overflow to inf, set aside below as too large, not taken for a word
        long = given & values.isna() & text.str.fullmatch(r"[+-]?[0-9]+", na=False)
        if long.any():
            values = values.astype("Float64")
            values[long] = text[long].map(float)
        bad = given & values.isna()
        if given.sum() and bad.sum() <= 0.05 * given.sum():
            finite = np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
            whole = values.notna().all() and finite.all() and (values % 1 == 0).all()
            numeric[name] = values.astype("int64" if whole else float)  # "19" stays 19, not 19.0
            if bad.any():
                not_numbers[name] = bad
            continue
        levels = text[given].nunique()
        if 2 <= levels <= MAX_LEVELS and levels < given.sum():
            categorical[name] = text.where(given)
        elif levels <= 1:
            notices.append(f"{name}: the same text in every row, left out")
        else:
            notices.append(f"{name}: text with {levels:,} distinct values, left out")
    return numeric, not_numbers, categorical


def _one_hot(customers: pd.DataFrame, categorical: dict[str, pd.Series]) -> dict[str, list]:
    """Add a 0/1 column ``name=value`` per value of each categorical column (0 where the
    value is missing) to ``customers`` (same rows, in order); return the values per column."""
    levels = {}
    for name, values in categorical.items():
        levels[name] = sorted(values.dropna().unique())
        for level in levels[name]:
            customers[f"{name}={level}"] = (values == level).fillna(False).astype(float).to_numpy()
    return levels


def _expand(wanted: list[str], levels: dict[str, list], customers: pd.DataFrame) -> list[str]:
    """``--features`` with each categorical column replaced by its one-hot columns; a one-hot
    column of a value absent from this data (scoring new customers) is added as zeros."""
    out = []
    for name in wanted:
        if name in levels:
            out += [f"{name}={level}" for level in levels[name]]
            continue
        column, sep, _ = name.partition("=")
        if name not in customers and sep and column in levels:
            customers[name] = 0.0
        out.append(name)
    return out


class AnyTable(TableFeatureSet):
    """Any customer table: an id column and the numeric columns the user picks."""

    name = "table"
    title = "customer table"

    def detect(self, columns, mapping):
        return "no date and amount columns and no known schema: an id column and numeric columns"

    def headline(self, dataset: Dataset) -> str:
        return f"id column {dataset.report['id_column']!r}, {len(dataset.model_features)} features"
