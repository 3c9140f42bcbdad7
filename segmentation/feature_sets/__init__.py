"""Feature sets: the data shapes the workbench reads, one module each.

Each declares how it is detected from the columns, how it is read and cleaned, the features
the model clusters on (the others are profiled), which are log-transformed, and its rule
table of names and actions (``segmentation/rules/<name>.yaml``).

=============  ======================================================  ======================
name           shape                                                   module
=============  ======================================================  ======================
transactions   one row per loan: customer, date, amount, repayment     :mod:`.logs`
purchases      one row per purchase: customer, date, amount            :mod:`.logs`
creditcard     CC GENERAL: one row per card holder, 17 behaviour cols  :mod:`.creditcard`
ecommerce      one row per customer: spend, orders, recency, ...       :mod:`.ecommerce`
table          any table: an id and numeric (and categorical) columns  :mod:`.tables`
=============  ======================================================  ======================

Detection tries them in this order; the first that matches wins (``table`` always does).
"""

from __future__ import annotations

from ..errors import InputError
from .base import PANEL_ROLES, Dataset, FeatureSet, LoadOptions, Panel
from .creditcard import CreditCard
from .ecommerce import Ecommerce
from .logs import PURCHASE_MODEL_FEATURES, TRANSACTION_MODEL_FEATURES, Purchases, Transactions
from .tables import AnyTable

FEATURE_SETS: dict[str, FeatureSet] = {
    fs.name: fs for fs in (Transactions(), Purchases(), CreditCard(), Ecommerce(), AnyTable())
}


def detect(columns: list[str], mapping: dict | None = None) -> tuple[FeatureSet, str]:
    """The first feature set whose rule matches ``columns``, and why."""
    for feature_set in FEATURE_SETS.values():
        reason = feature_set.detect(columns, mapping)
        if reason:
            return feature_set, reason
    raise AssertionError("the table feature set matches everything")


def get(name: str) -> FeatureSet:
    """The feature set called ``name``."""
    try:
        return FEATURE_SETS[name]
    except KeyError:
        raise InputError(f"unknown feature set {name!r}; use auto, {', '.join(FEATURE_SETS)}") from None


def panel_columns(name: str, columns, model_features: list[str]) -> dict[str, Panel]:
    """The columns playing each panel role (see :data:`PANEL_ROLES`) for data of shape ``name``
    (an unknown name, e.g. from an older model, is read as any table)."""
    return FEATURE_SETS.get(name, FEATURE_SETS["table"]).panel_columns(columns, model_features)


__all__ = [
    "FEATURE_SETS",
    "PANEL_ROLES",
    "PURCHASE_MODEL_FEATURES",
    "TRANSACTION_MODEL_FEATURES",
    "Dataset",
    "FeatureSet",
    "LoadOptions",
    "Panel",
    "detect",
    "get",
    "panel_columns",
]
