"""The product's own per-customer features: ``customer_features.csv`` of a run, the output of
``segmentation features``, or the ``customer_features`` table a run writes to a database.

Recognised by ``customer_id`` and the model features of a log (transactions, or a purchase
log), and read as a customer table, but segmented as that log is: its default model features,
its rule table of names and actions, its panels. So ``segmentation fit features.csv`` gives the
features, names and actions that ``segmentation run`` gives on the log itself.
"""

from __future__ import annotations

import pandas as pd

from ..errors import InputError
from ..io.columns import show
from ..options import LoadOptions
from .base import Dataset
from .purchases import PURCHASE_MODEL_FEATURES
from .rfm import RfmTable
from .table import TableFeatureSet
from .transactions import TRANSACTION_MODEL_FEATURES

#: The log each kind of features file comes from, and the features that identify it.
KINDS = {"transactions": TRANSACTION_MODEL_FEATURES, "purchases": PURCHASE_MODEL_FEATURES}


def features_kind(columns) -> str | None:
    """"transactions" or "purchases" when ``columns`` are such a log's features, else None."""
    present = set(columns)
    if "customer_id" not in present:
        return None
    return next((kind for kind, names in KINDS.items() if set(names) <= present), None)


class CustomerFeatures(TableFeatureSet):
    name = "features"
    title = "per-customer features made by this product"

    def detect(self, columns, mapping):
        kind = features_kind(columns)
        if kind is None:
            return None
        return f"the per-customer features of a {kind} log (customer_id, {show(KINDS[kind], 6)})"

    def default_features(self, customers: pd.DataFrame) -> list[str]:
        # As for the log itself: features without any value (no repaid loans) are left out.
        kind = features_kind(customers.columns) or "transactions"
        return [f for f in KINDS[kind] if f in customers and customers[f].notna().any()]

    def load(self, source, options: LoadOptions) -> Dataset:
        columns = source.columns()
        kind = features_kind(columns)
        if kind is None:
            raise InputError(
                "--feature-set features needs customer_id and the model features of a transactions log "
                f"({', '.join(TRANSACTION_MODEL_FEATURES)}) or a purchase log ({', '.join(PURCHASE_MODEL_FEATURES)}); "
                f"found {show(columns)}"
            )
        from ..io.sources import FrameSource  # (sources import the shapes' SQL runner)

        frame = source.frame()
        # rfm_segment is made again from the scores below, as for the log (not one-hot encoded).
        table = frame.drop(columns=[c for c in ("rfm_segment",) if c in frame.columns])
        dataset = super().load(FrameSource(table), options.replace(mapping={**options.mapping, "customer_id": "customer_id"}))
        customers = dataset.customers
        if kind == "purchases" and {"r_score", "f_score", "m_score"} <= set(customers.columns):
            rules = RfmTable.load(options.rfm_rules)
            customers["rfm_segment"] = rules.name(customers["r_score"], customers["f_score"], customers["m_score"])
        # Named, profiled and shown as the log it was made from.
        dataset.feature_set = kind
        return dataset
