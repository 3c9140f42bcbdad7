"""Which input column plays which role of a log (customer id, date, amount, ...): names,
aliases, the user's ``--map``, and quoting names for SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from ..errors import InputError

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


def normalise(name: str) -> str:
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
            f"found {show(found)} (map yours with --map {missing[0]}=YOUR_COLUMN)"
        )
    return ColumnMap(**chosen)


def match_roles(found: list[str], mapping: dict[str, str] | None = None) -> dict[str, str | None]:
    """Role -> the column playing it (None when no column matches), as :func:`resolve_columns`
    matches them, without requiring any."""
    mapping = dict(mapping or {})
    by_norm: dict[str, str] = {}
    for column in found:
        by_norm.setdefault(normalise(column), column)
    chosen: dict[str, str | None] = {}
    for role in TRANSACTION_ROLES:
        if role in mapping:
            if mapping[role] not in found:
                raise InputError(
                    f"--map {role}={mapping[role]}: no column {mapping[role]!r} in the input; "
                    f"found {show(found)}"
                )
            chosen[role] = mapping[role]
            continue
        candidates = (normalise(role), *_ALIASES[role])
        taken = set(chosen.values()) | set(mapping.values())
        chosen[role] = next(
            (by_norm[c] for c in candidates if c in by_norm and by_norm[c] not in taken), None
        )
    return chosen


def show(columns: list[str], most: int = 12) -> str:
    shown = ", ".join(columns[:most])
    return shown + (f" and {len(columns) - most} more" if len(columns) > most else "")


def quote_identifier(name: str) -> str:
    """Quote a column or table name for SQL (spaces, symbols and quotes allowed)."""
    return '"' + name.replace('"', '""') + '"'
