"""Microfinance transactions: one row per loan (customer, date, amount and a repayment date),
aggregated in SQL to loan count and size, repayment speed, lateness, recency and tenure
(``io/sql/transaction_features.sql``), where the data is.
"""

from __future__ import annotations

import pandas as pd

from ..errors import InputError
from ..io.columns import resolve_columns
from ..options import LoadOptions
from .base import Dataset, FeatureSet, Panel, check_features

#: Features the model clusters transactions on by default: frequency, size, volume,
#: repayment speed and discipline, recency. The others are profiled but not clustered on
#: (max_amount and tenure mostly repeat avg amount and count; open_loans repeats lateness).
TRANSACTION_MODEL_FEATURES = [
    "txn_count",
    "avg_txn_amount",
    "total_amount",
    "avg_repayment_days",
    "late_share",
    "recency_days",
]


def resolve_log(columns: list[str], mapping: dict | None):
    """The transactions roles of ``columns``, or None; a user's mapping that fails raises."""
    try:
        return resolve_columns(columns, mapping)
    except InputError:
        if mapping and {"txn_date", "amount"} & set(mapping):
            raise
        return None


def roles_text(report: dict) -> str:
    return ", ".join(f"{role}={col}" for role, col in report["columns"].items() if col)


class Transactions(FeatureSet):
    name = "transactions"
    title = "microfinance transactions"
    model_features = tuple(TRANSACTION_MODEL_FEATURES)
    panels = {
        "amount": Panel("avg_txn_amount", "Avg transaction amount", "money"),
        "count": Panel("txn_count", "Transactions", "count"),
        "total": Panel("total_amount", "Total amount", "money"),
        "mean": Panel("avg_repayment_days", "Avg repayment days", "days"),
        "share": Panel("late_share", "Late-repayment share", "share"),
        "box": Panel("avg_repayment_days", "Repayment days", "days"),
    }

    def detect(self, columns, mapping):
        found = resolve_log(columns, mapping)
        if found is None or found.repayment_date is None:
            return None
        return f"one row per loan, with a repayment date column ({found.repayment_date!r})"

    def headline(self, dataset: Dataset) -> str:
        return f"columns {roles_text(dataset.report)}"

    def load(self, source, options: LoadOptions) -> Dataset:
        customers, feature_report = source.aggregate(self.name, options)
        report = feature_report.cleaning_report(self.name)
        notices = list(feature_report.notices)
        if options.features:
            chosen = check_features(list(options.features), list(customers.columns[1:]))
        else:
            # Without repayments (only open loans) the repayment features are empty for
            # everyone: leave them out rather than fail.
            chosen = [f for f in self.model_features if customers[f].notna().any()]
            notices += [
                f"{f}: no values (no repaid loans in the data), left out of the model"
                for f in self.model_features
                if f not in chosen
            ]
        return self.finish(customers, report, options, notices, unit="customers", chosen=chosen)


def reference_features(
    transactions: pd.DataFrame, *, late_after_days: int = 30, as_of: str | None = None
) -> pd.DataFrame:
    """The same features computed with pandas, as a reference for the SQL (tests, benchmarks).

    ``transactions`` holds clean rows: customer_id, txn_date, amount, repayment_date and
    optionally due_date (dates parseable by pandas, empty for open loans).
    """
    # (imported here: the SQL runner reports with this package's cleaning rules)
    from ..io.sql_runner import EPOCH, TENURE_FLOOR_DAYS, TRANSACTION_FEATURES, typed_features

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
    out["loans_per_year"] = out["txn_count"] / (out["tenure_days"].clip(lower=TENURE_FLOOR_DAYS).astype(float) / 365)
    return typed_features(out, TRANSACTION_FEATURES)
