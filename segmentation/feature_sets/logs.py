"""Feature sets read from a log of one row per loan or purchase, aggregated in SQL.

- ``transactions``: microfinance loans (customer, date, amount and a repayment date): loan
  count and size, repayment speed, lateness, recency, tenure (``sql/transaction_features.sql``).
- ``purchases``: a purchase log (customer, date, amount; no repayment date): recency,
  frequency, monetary value, average order value, tenure and RFM scores 1-5
  (``sql/purchase_features.sql``), and the named RFM segment of each customer
  (``rules/rfm_segments.yaml``) in ``rfm_segment``.
"""

from __future__ import annotations

from ..database import DatabaseSource
from ..errors import InputError
from ..features import purchase_features, transaction_features
from ..rfm import RfmTable
from ..sources import resolve_columns
from .base import Dataset, FeatureSet, LoadOptions, Panel, check_features

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
#: Purchase-log features clustered on by default (the RFM scores are profiled, not clustered:
#: they are ranks of recency, frequency and monetary, which the model already has).
PURCHASE_MODEL_FEATURES = ["recency_days", "frequency", "monetary", "avg_order_value", "tenure_days"]


def _resolve(columns: list[str], mapping: dict | None):
    """The transactions roles of ``columns``, or None; a user's mapping that fails raises."""
    try:
        return resolve_columns(columns, mapping)
    except InputError:
        if mapping and {"txn_date", "amount"} & set(mapping):
            raise
        return None


def _log_features(kind: str, source, con, options: LoadOptions):
    """The feature SQL of ``kind`` run on ``source``: inside its database for a
    :class:`DatabaseSource`, else in DuckDB (or SQLite with ``engine``)."""
    common = {
        "mapping": options.mapping,
        "as_of": options.as_of,
        "max_rejected_share": options.max_rejected_share,
        "keep_duplicate_rows": options.keep_duplicate_rows,
    }
    if kind == "transactions":
        common["late_after_days"] = options.late_after_days
    if isinstance(source, DatabaseSource):
        return source.features(kind=kind, since=options.since, **common)
    if options.since is not None:
        raise InputError("--since needs the transactions in a database (--db with --table or --query)")
    compute = transaction_features if kind == "transactions" else purchase_features
    return compute(source, engine=options.engine, con=con, **common)


def _roles(report: dict) -> str:
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
        found = _resolve(columns, mapping)
        if found is None or found.repayment_date is None:
            return None
        return f"one row per loan, with a repayment date column ({found.repayment_date!r})"

    def headline(self, dataset: Dataset) -> str:
        return f"columns {_roles(dataset.report)}"

    def load(self, source, con, columns, options: LoadOptions) -> Dataset:
        customers, feature_report = _log_features(self.name, source, con, options)
        report = feature_report.cleaning_report(self.name)
        notices = []
        if options.features:
            chosen = check_features(options.features, list(customers.columns[1:]))
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


class Purchases(FeatureSet):
    name = "purchases"
    title = "purchase log"
    model_features = tuple(PURCHASE_MODEL_FEATURES)
    panels = {
        "amount": Panel("avg_order_value", "Avg order value", "money"),
        "count": Panel("frequency", "Purchases", "count"),
        "total": Panel("monetary", "Total spent", "money"),
        "mean": Panel("recency_days", "Avg days since last purchase", "days"),
        "box": Panel("recency_days", "Days since last purchase", "days"),
    }

    def detect(self, columns, mapping):
        found = _resolve(columns, mapping)
        if found is None or found.repayment_date is not None:
            return None
        return "one row per purchase: a customer, a date and an amount, and no repayment date column"

    def headline(self, dataset: Dataset) -> str:
        return f"columns {_roles(dataset.report)}; RFM segments in rfm_segment"

    def load(self, source, con, columns, options: LoadOptions) -> Dataset:
        customers, feature_report = _log_features(self.name, source, con, options)
        table = RfmTable.load(options.rfm_rules)
        customers["rfm_segment"] = table.name(customers["r_score"], customers["f_score"], customers["m_score"])
        report = feature_report.cleaning_report(self.name)
        report.details["rfm_rules"] = table.source
        return self.finish(customers, report, options, [], unit="customers")
