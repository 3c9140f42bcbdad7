"""Credit-card behaviour: the CC GENERAL schema (six months of card use, one row per holder).

Cleaning beyond the shared table rules: MINIMUM_PAYMENTS and CREDIT_LIMIT are filled with their
median (they are blank for cards with no statement due, and one card in the public file has
no limit); the frequency columns are shares, so a value above 1 is capped to 1 and reported;
negative money or counts are impossible and set aside; a balance above the credit limit is odd
but real (over-limit accounts) and only noted. The money columns are log-transformed (they
are heavily right-skewed). Two ratios are added: LIMIT_USAGE (balance / credit limit) and
PAYMENT_MINIMUM_RATIO (payments / minimum payments: near or under 1 means paying the minimum).
"""

from __future__ import annotations

import numpy as np

from .base import Panel
from .cleaning import CleaningRule, share_text
from .table import Bound, TableFeatureSet

MONEY = (
    "BALANCE",
    "PURCHASES",
    "ONEOFF_PURCHASES",
    "INSTALLMENTS_PURCHASES",
    "CASH_ADVANCE",
    "CREDIT_LIMIT",
    "PAYMENTS",
    "MINIMUM_PAYMENTS",
)
FREQUENCIES = (
    "BALANCE_FREQUENCY",
    "PURCHASES_FREQUENCY",
    "ONEOFF_PURCHASES_FREQUENCY",
    "PURCHASES_INSTALLMENTS_FREQUENCY",
    "CASH_ADVANCE_FREQUENCY",
    "PRC_FULL_PAYMENT",
)
COUNTS = ("CASH_ADVANCE_TRX", "PURCHASES_TRX", "TENURE")
#: The 17 columns of CC GENERAL besides CUST_ID.
CC_COLUMNS = (
    "BALANCE",
    "BALANCE_FREQUENCY",
    "PURCHASES",
    "ONEOFF_PURCHASES",
    "INSTALLMENTS_PURCHASES",
    "CASH_ADVANCE",
    "PURCHASES_FREQUENCY",
    "ONEOFF_PURCHASES_FREQUENCY",
    "PURCHASES_INSTALLMENTS_FREQUENCY",
    "CASH_ADVANCE_FREQUENCY",
    "CASH_ADVANCE_TRX",
    "PURCHASES_TRX",
    "CREDIT_LIMIT",
    "PAYMENTS",
    "MINIMUM_PAYMENTS",
    "PRC_FULL_PAYMENT",
    "TENURE",
)
DERIVED = ("LIMIT_USAGE", "PAYMENT_MINIMUM_RATIO")


class CreditCard(TableFeatureSet):
    name = "creditcard"
    title = "credit-card behaviour"
    schema = {c: () for c in CC_COLUMNS}
    min_match = 12
    bounds = {
        **{c: Bound(low=0) for c in MONEY + COUNTS},
        **{c: Bound(low=0, high=1, cap_high=True, high_reason="frequency_above_1") for c in FREQUENCIES},
    }
    impute_median = ("MINIMUM_PAYMENTS", "CREDIT_LIMIT")
    # Spending (one-off vs instalments), cash advances, how often, how much of the limit is
    # used and how the bill is paid. Left for profiles: PURCHASES (one-off + instalments),
    # CREDIT_LIMIT (in LIMIT_USAGE; with it, the public file splits by limit size more than by
    # behaviour), PAYMENTS and MINIMUM_PAYMENTS (in PAYMENT_MINIMUM_RATIO), the TRX counts and the
    # cash-advance and one-off/instalment frequencies (they repeat the amounts),
    # BALANCE_FREQUENCY (nearly always 1) and TENURE (nearly always 12).
    model_features = (
        "BALANCE",
        "ONEOFF_PURCHASES",
        "INSTALLMENTS_PURCHASES",
        "CASH_ADVANCE",
        "PURCHASES_FREQUENCY",
        "PRC_FULL_PAYMENT",
        "LIMIT_USAGE",
        "PAYMENT_MINIMUM_RATIO",
    )
    log_features = (*MONEY, "CASH_ADVANCE_TRX", "PURCHASES_TRX", "PAYMENT_MINIMUM_RATIO")
    panels = {
        "count": Panel("PURCHASES_TRX", "Purchase transactions", "count"),
        "total": Panel("PURCHASES", "Total purchases", "money"),
        "mean": Panel("BALANCE", "Avg balance", "money"),
        "share": Panel("PRC_FULL_PAYMENT", "Paid-in-full share", "share"),
        "box": Panel("LIMIT_USAGE", "Credit limit used", "share"),
    }

    def derive(self, customers, report, notices, options):
        if {"BALANCE", "CREDIT_LIMIT"} <= set(customers):
            customers["LIMIT_USAGE"] = customers["BALANCE"] / customers["CREDIT_LIMIT"].where(
                customers["CREDIT_LIMIT"] > 0
            )
            over = customers["BALANCE"] > customers["CREDIT_LIMIT"]
            if over.any():
                report.add(
                    CleaningRule(
                        "balance_above_limit",
                        "BALANCE",
                        int(over.sum()),
                        str(customers.loc[over, "customer_id"].iloc[0]),
                        f"BALANCE above CREDIT_LIMIT in {share_text(int(over.sum()), len(customers))} "
                        "(over-limit accounts are real)",
                        action="kept",
                    )
                )
        if {"PAYMENTS", "MINIMUM_PAYMENTS"} <= set(customers):
            ratio = customers["PAYMENTS"] / customers["MINIMUM_PAYMENTS"].where(customers["MINIMUM_PAYMENTS"] > 0)
            customers["PAYMENT_MINIMUM_RATIO"] = ratio.replace([np.inf, -np.inf], np.nan)
        return customers
