"""Data shapes: the inputs the workbench reads, one module each (a feature set per shape).

Each declares how it is detected from the columns, how it is read and cleaned, the features
the model clusters on (the others are profiled), which are log-transformed, and its rule
table of names and actions (``segmentation/rules/<name>.yaml``).

=============  ======================================================  ======================
name           shape                                                   module
=============  ======================================================  ======================
transactions   one row per loan: customer, date, amount, repayment     :mod:`.transactions`
purchases      one row per purchase: customer, date, amount            :mod:`.purchases`
features       this product's per-customer features of either log      :mod:`.features_table`
creditcard     CC GENERAL: one row per card holder, 17 behaviour cols  :mod:`.creditcard`
ecommerce      one row per customer: spend, orders, recency, ...       :mod:`.ecommerce`
table          any table: an id and numeric (and categorical) columns  :mod:`.table`
=============  ======================================================  ======================

Detection tries them in this order; the first that matches wins (``table`` always does).
A new shape is one module here (a :class:`FeatureSet` subclass), one entry in
:data:`FEATURE_SETS` and one rule table ``book/rules/<name>.yaml``.
"""

from __future__ import annotations

from ..errors import InputError
from ..options import SHAPES
from .base import PANEL_ROLES, Dataset, FeatureSet, Panel
from .creditcard import CreditCard
from .ecommerce import Ecommerce
from .features_table import CustomerFeatures
from .purchases import PURCHASE_MODEL_FEATURES, Purchases
from .table import AnyTable, log_without_amount
from .transactions import TRANSACTION_MODEL_FEATURES, Transactions

FEATURE_SETS: dict[str, FeatureSet] = {
    fs.name: fs for fs in (Transactions(), Purchases(), CustomerFeatures(), CreditCard(), Ecommerce(), AnyTable())
}
# The CLI lists the names without importing the shapes (and pandas).
assert tuple(FEATURE_SETS) == SHAPES, "segmentation.options.SHAPES must name the shapes in this order"


def detect(columns: list[str], mapping: dict | None = None) -> tuple[FeatureSet, str]:
    """The first feature set whose rule matches ``columns``, and why; a log (an id and dates)
    without an amount column is refused, naming what to map."""
    for feature_set in FEATURE_SETS.values():
        if feature_set.name == "features":
            log_without_amount(columns, mapping, repeated_ids=False)
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
    "Panel",
    "detect",
    "get",
    "panel_columns",
]
