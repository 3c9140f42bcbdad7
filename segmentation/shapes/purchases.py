"""Purchase logs: one row per purchase (customer, date, amount; no repayment date), aggregated
in SQL to recency, frequency, monetary value, average order value, tenure and RFM scores 1-5
(``io/sql/purchase_features.sql``), and the named RFM segment of each customer
(``book/rules/rfm_segments.yaml``) in ``rfm_segment``.
"""

from __future__ import annotations

from ..options import LoadOptions
from .base import Dataset, FeatureSet, Panel
from .rfm import RfmTable
from .transactions import resolve_log, roles_text

#: Purchase-log features clustered on by default (the RFM scores are profiled, not clustered:
#: they are ranks of recency, frequency and monetary, which the model already has).
PURCHASE_MODEL_FEATURES = ["recency_days", "frequency", "monetary", "avg_order_value", "tenure_days"]


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
        found = resolve_log(columns, mapping)
        if found is None or found.repayment_date is not None:
            return None
        return "one row per purchase: a customer, a date and an amount, and no repayment date column"

    def headline(self, dataset: Dataset) -> str:
        return f"columns {roles_text(dataset.report)}; RFM segments in rfm_segment"

    def load(self, source, options: LoadOptions) -> Dataset:
        customers, feature_report = source.aggregate(self.name, options)
        table = RfmTable.load(options.rfm_rules)
        customers["rfm_segment"] = table.name(customers["r_score"], customers["f_score"], customers["m_score"])
        report = feature_report.cleaning_report(self.name)
        report.details["rfm_rules"] = table.source
        return self.finish(customers, report, options, list(feature_report.notices), unit="customers")
