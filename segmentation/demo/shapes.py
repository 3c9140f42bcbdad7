"""Seeded synthetic data of every shape, each drawn from known behaviour groups.

- ``transactions``: microfinance loans (:mod:`segmentation.demo.transactions`);
- ``purchases``: a purchase log (order_id, customer_id, order_date, amount);
- ``ecommerce``: an online shop's customer table (spend, orders, loyalty, support tickets,
  recency, tenure, age, gender, income, preferred category, R/F/M scores);
- ``creditcard``: card holders with the 17 CC GENERAL columns, including what the public
  file has: blank MINIMUM_PAYMENTS, a blank CREDIT_LIMIT, cash-advance frequencies above 1.

Same seed, same data; ``with_groups=True`` adds each customer's latent ``group``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from ..shapes.rfm import rfm_scores
from .transactions import MAX_CUSTOMERS, MIN_CUSTOMERS

END = np.datetime64("2026-10-31")


def _check_size(n: int) -> None:
    if not MIN_CUSTOMERS <= n <= MAX_CUSTOMERS:
        raise InputError(f"--customers must be from {MIN_CUSTOMERS:,} to {MAX_CUSTOMERS:,}, got {n:,}")


def _ids(n: int, prefix: str = "C", width: int = 7) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width))


def _uniform(rng, bounds: np.ndarray) -> np.ndarray:
    """One uniform integer per row between the row's [low, high] (inclusive)."""
    return rng.integers(bounds[:, 0], bounds[:, 1] + 1)


@dataclass(frozen=True)
class Shopper:
    """A latent group of the purchase and e-commerce demos."""

    name: str
    weight: float
    orders: tuple[int, int]
    order_value: float  # median; log-normal
    last_order: tuple[int, int]  # days before END
    tenure: tuple[int, int]  # days from the first order to END
    tickets: tuple[int, int]
    income: float


SHOPPERS = (
    Shopper("loyal big spenders", 0.20, (20, 50), 120, (0, 30), (700, 1800), (0, 2), 95_000),
    Shopper("bargain hunters", 0.30, (10, 30), 25, (0, 60), (300, 1500), (0, 3), 45_000),
    Shopper("lapsed big spenders", 0.15, (4, 12), 250, (200, 500), (600, 1800), (0, 3), 85_000),
    Shopper("new customers", 0.20, (1, 2), 60, (0, 40), (0, 60), (0, 1), 55_000),
    Shopper("unhappy, drifting away", 0.15, (5, 15), 70, (90, 250), (400, 1500), (5, 12), 60_000),
)


def _draw_shoppers(n: int, rng: np.random.Generator):
    weights = np.array([g.weight for g in SHOPPERS])
    group = rng.choice(len(SHOPPERS), size=n, p=weights / weights.sum())

    def per(attr):
        return np.array([getattr(g, attr) for g in SHOPPERS])[group]

    orders = _uniform(rng, per("orders"))
    last = _uniform(rng, per("last_order"))
    tenure = np.maximum(_uniform(rng, per("tenure")), last)
    return group, per, orders, last, tenure


def demo_purchases(n_customers: int = 5_000, seed: int = 0, with_groups: bool = False) -> pd.DataFrame:
    """A purchase log: order_id, customer_id, order_date, amount (one row per order)."""
    _check_size(n_customers)
    rng = np.random.default_rng(seed)
    group, per, orders, last, tenure = _draw_shoppers(n_customers, rng)
    cust = np.repeat(np.arange(n_customers), orders)
    # the first order at the start of the tenure, the last at the end, the others in between
    first = np.r_[True, np.diff(cust) != 0]
    final = np.r_[np.diff(cust) != 0, True]
    ago = rng.integers(last[cust], tenure[cust] + 1)
    ago = np.where(first, tenure[cust], np.where(final, last[cust], ago))
    amount = np.round(per("order_value")[cust] * rng.lognormal(0.0, 0.4, len(cust)), 2)
    frame = pd.DataFrame(
        {
            "order_id": _ids(len(cust), "O", 9),
            "customer_id": _ids(n_customers)[cust],
            "order_date": END - ago.astype("timedelta64[D]"),
            "amount": amount,
        }
    )
    if with_groups:
        frame["group"] = group[cust]
    return frame.sort_values(["order_date", "order_id"], kind="stable").reset_index(drop=True)


def demo_ecommerce(n_customers: int = 5_000, seed: int = 0, with_groups: bool = False) -> pd.DataFrame:
    """An e-commerce customer table (one row per customer)."""
    _check_size(n_customers)
    rng = np.random.default_rng(seed)
    group, per, orders, last, tenure = _draw_shoppers(n_customers, rng)
    aov = np.round(per("order_value") * rng.lognormal(0.0, 0.25, n_customers), 2)
    total = np.round(aov * orders, 2)
    categories = np.array(["Electronics", "Fashion", "Home", "Beauty", "Sports", "Books"])
    frame = pd.DataFrame(
        {
            "customer_id": _ids(n_customers),
            "age": np.clip(rng.normal(40, 12, n_customers).round(), 18, 85).astype(int),
            "gender": rng.choice(["Female", "Male"], n_customers),
            "income": np.round(per("income") * rng.lognormal(0.0, 0.3, n_customers), -2),
            "total_spent": total,
            "number_of_orders": orders,
            "avg_order_value": aov,
            "loyalty_points": np.round(total * rng.uniform(0.8, 1.2, n_customers) / 10).astype(int),
            "support_tickets": _uniform(rng, per("tickets")),
            "recency": last,
            "tenure": tenure,
            "preferred_category": rng.choice(categories, n_customers),
        }
    )
    frame = pd.concat([frame, rfm_scores(frame)], axis=1)
    if with_groups:
        frame["group"] = group
    return frame


@dataclass(frozen=True)
class CardHolder:
    """A latent group of the credit-card demo (monthly figures over a 12-month tenure)."""

    name: str
    weight: float
    balance: float
    oneoff: float
    installments: float
    cash_advance: float
    purchase_freq: tuple[float, float]
    cash_freq: tuple[float, float]
    limit: float
    full_payment: tuple[float, float]  # share of months paid in full
    pay_ratio: float  # payments / minimum payments


CARD_HOLDERS = (
    CardHolder("transactors, pay in full", 0.30, 300, 2_500, 400, 0, (0.7, 1.0), (0, 0), 9_000, (0.6, 1.0), 12),
    CardHolder("cash-advance heavy, pay minimum", 0.20, 5_000, 50, 0, 4_000, (0.0, 0.2), (0.3, 0.8), 6_000, (0, 0.05), 1.1),
    CardHolder("instalment buyers", 0.25, 1_200, 100, 1_500, 0, (0.7, 1.0), (0, 0.05), 4_000, (0.0, 0.3), 2.5),
    CardHolder("dormant cards", 0.25, 900, 0, 0, 0, (0.0, 0.1), (0, 0.05), 3_000, (0.0, 0.1), 1.5),
)


def demo_creditcard(n_customers: int = 5_000, seed: int = 0, with_groups: bool = False) -> pd.DataFrame:
    """Card holders with the CC GENERAL columns (CUST_ID and 17 numeric columns)."""
    _check_size(n_customers)
    rng = np.random.default_rng(seed)
    weights = np.array([g.weight for g in CARD_HOLDERS])
    group = rng.choice(len(CARD_HOLDERS), size=n_customers, p=weights / weights.sum())

    def per(attr):
        return np.array([getattr(g, attr) for g in CARD_HOLDERS])[group]

    def money(attr):
        return np.round(per(attr) * rng.lognormal(0.0, 0.5, n_customers), 2)

    def share(attr):
        bounds = per(attr)
        return np.round(rng.uniform(bounds[:, 0], bounds[:, 1]), 6)

    oneoff, inst, cash = money("oneoff"), money("installments"), money("cash_advance")
    purchase_freq, cash_freq = share("purchase_freq"), share("cash_freq")
    limit = np.round(per("limit") * rng.lognormal(0.0, 0.3, n_customers), -2)
    balance = money("balance")
    minimum = np.round(np.maximum(balance * 0.05, 20) * rng.lognormal(0.0, 0.2, n_customers), 2)
    payments = np.round(minimum * per("pay_ratio") * rng.lognormal(0.0, 0.3, n_customers), 2)
    frame = pd.DataFrame(
        {
            "CUST_ID": _ids(n_customers, "C", 5),
            "BALANCE": balance,
            "BALANCE_FREQUENCY": np.round(rng.uniform(0.8, 1.0, n_customers), 6),
            "PURCHASES": oneoff + inst,
            "ONEOFF_PURCHASES": oneoff,
            "INSTALLMENTS_PURCHASES": inst,
            "CASH_ADVANCE": cash,
            "PURCHASES_FREQUENCY": purchase_freq,
            "ONEOFF_PURCHASES_FREQUENCY": np.round(purchase_freq * (oneoff > inst), 6),
            "PURCHASES_INSTALLMENTS_FREQUENCY": np.round(purchase_freq * (inst >= oneoff), 6),
            "CASH_ADVANCE_FREQUENCY": cash_freq,
            "CASH_ADVANCE_TRX": np.round(cash_freq * 12 * rng.uniform(1, 2, n_customers)).astype(int),
            "PURCHASES_TRX": np.round(purchase_freq * 12 * rng.uniform(1, 3, n_customers)).astype(int),
            "CREDIT_LIMIT": limit,
            "PAYMENTS": payments,
            "MINIMUM_PAYMENTS": minimum,
            "PRC_FULL_PAYMENT": share("full_payment"),
            "TENURE": 12,
        }
    )
    # The public file's oddities: blank minimum payments, one blank limit, frequencies above 1.
    frame.loc[rng.random(n_customers) < 0.03, "MINIMUM_PAYMENTS"] = np.nan
    frame.loc[rng.integers(n_customers), "CREDIT_LIMIT"] = np.nan
    frame.loc[rng.choice(n_customers, 3, replace=False), "CASH_ADVANCE_FREQUENCY"] = 1.25
    if with_groups:
        frame["group"] = group
    return frame
