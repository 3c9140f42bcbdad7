"""Datasets with a known number of behaviour groups, for the k-recovery benchmark.

Independent of the demo generators (whose groups the product's rules were written against):
each dataset draws 2-8 groups from a pool of archetypes of its shape, jitters their parameters,
gives them unequal shares (5%-60%), heavy-tailed money and per-customer variation, and is
written as the file a user has:

- ``transactions``: a loan log (customer_id, txn_date, amount, repayment_date);
- ``purchases``: a purchase log (order_id, customer_id, order_date, amount);
- ``creditcard``: a card table with the 17 CC GENERAL columns;
- ``ecommerce``: an e-commerce customer table (spend, orders, loyalty points, tickets, ...);
- ``table``: any customer table: Gaussian or heavy-tailed groups in a few dimensions,
  correlated copies of features and features that carry no group signal.

``dataset(i)`` is the i-th dataset (seed i); even i are the 'tune' half, odd i 'held-out'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

END = np.datetime64("2026-10-31")
SHAPES = ("transactions", "purchases", "creditcard", "table", "ecommerce")
N_DATASETS = 48


@dataclass
class Spec:
    """What was planted in one dataset."""

    index: int
    shape: str
    k: int
    n: int
    shares: list[float]
    groups: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def half(self) -> str:
        return "tune" if self.index % 2 == 0 else "held-out"

    @property
    def name(self) -> str:
        return f"{self.index:02d}-{self.shape}-k{self.k}"


def _ids(n: int, prefix: str = "C") -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), 7))


def _shares(rng: np.random.Generator, k: int) -> np.ndarray:
    """Unequal shares between 5% and 60% (rejection sampling from a Dirichlet)."""
    while True:
        p = rng.dirichlet(np.full(k, 1.2))
        if p.min() >= 0.05 and p.max() <= 0.60:
            return p


def _assign(rng, n: int, shares: np.ndarray) -> np.ndarray:
    counts = np.floor(shares * n).astype(int)
    counts[np.argmax(counts)] += n - counts.sum()
    return rng.permutation(np.repeat(np.arange(len(shares)), counts))


def _jitter(rng, value: float, sd: float = 0.12) -> float:
    return float(value * rng.lognormal(0.0, sd))


def _lognormal(rng, median: np.ndarray, sigma: float, size=None) -> np.ndarray:
    return median * rng.lognormal(0.0, sigma, size if size is not None else np.shape(median))


# -- loan and purchase logs -------------------------------------------------------------------

#: name: (events per year, amount median, repayment days median, tenure days range, days since the
#: last event range). Repayment days None for purchases.
LOAN_ARCHETYPES = {
    "prompt regulars": (12, 150, 10, (400, 1500), (0, 30)),
    "late repayers": (6, 250, 75, (300, 1500), (0, 60)),
    "rare large long-term": (1.5, 1500, 120, (500, 1800), (0, 200)),
    "new small borrowers": (15, 80, 18, (5, 60), (0, 20)),
    "occasional": (2, 200, 20, (600, 1800), (60, 300)),
    "dormant former": (5, 180, 22, (700, 1800), (400, 900)),
    "heavy frequent": (40, 100, 6, (300, 1200), (0, 10)),
    "big prompt": (4, 900, 15, (300, 1500), (0, 90)),
    "struggling small": (10, 90, 45, (200, 900), (0, 45)),
    "recent large": (8, 700, 30, (40, 150), (0, 30)),
}
PURCHASE_ARCHETYPES = {
    "loyal big spenders": (20, 120, None, (700, 1800), (0, 30)),
    "bargain frequent": (30, 22, None, (300, 1500), (0, 40)),
    "lapsed big": (6, 260, None, (600, 1800), (250, 600)),
    "new one-time": (0, 60, None, (0, 45), (0, 45)),
    "drifting": (8, 70, None, (400, 1500), (100, 250)),
    "vip": (45, 320, None, (500, 1800), (0, 15)),
    "rare gift buyers": (1.5, 150, None, (700, 1800), (30, 330)),
    "weekly small": (52, 12, None, (200, 1500), (0, 10)),
    "recent trial": (10, 45, None, (60, 180), (0, 30)),
}


def _log(rng, spec: Spec, archetypes: dict, group: np.ndarray) -> pd.DataFrame:
    """One row per loan or purchase of customers whose group is ``group``."""
    names = spec.groups
    params = [archetypes[g] for g in names]
    # this dataset's version of each archetype: the same behaviour, not the same numbers
    rate = np.array([_jitter(rng, p[0]) for p in params])[group]
    amount_med = np.array([_jitter(rng, p[1]) for p in params])[group]
    repay_med = np.array([_jitter(rng, p[2]) if p[2] else np.nan for p in params])[group]
    ten = np.array([p[3] for p in params])[group]
    rec = np.array([p[4] for p in params])[group]
    n = len(group)
    recency = rng.integers(rec[:, 0], rec[:, 1] + 1)
    tenure = np.maximum(rng.integers(ten[:, 0], ten[:, 1] + 1), recency)
    active_years = (tenure - recency) / 365
    count = 1 + rng.poisson(rate * _lognormal(rng, 1.0, 0.35, n) * active_years)
    # heavy tails: per-customer scale is log-normal; a few customers are far out (Pareto)
    scale = _lognormal(rng, amount_med, 0.45) * np.where(rng.random(n) < 0.02, 1 + rng.pareto(1.5, n), 1.0)
    cust = np.repeat(np.arange(n), count)
    first = np.r_[True, np.diff(cust) != 0]
    final = np.r_[np.diff(cust) != 0, True]
    ago = rng.integers(recency[cust], tenure[cust] + 1)
    ago = np.where(first, tenure[cust], np.where(final, recency[cust], ago))
    amount = np.round(scale[cust] * rng.lognormal(0.0, 0.35, len(cust)), 2)
    day = END - ago.astype("timedelta64[D]")
    ids = _ids(n)[cust]
    if np.isnan(repay_med).all():
        frame = pd.DataFrame({"order_id": _ids(len(cust), "O"), "customer_id": ids, "order_date": day,
                              "amount": amount})
        return frame.sort_values(["order_date", "order_id"], kind="stable").reset_index(drop=True)
    cust_repay = _lognormal(rng, repay_med, 0.25)
    repay_days = np.maximum(1, np.round(rng.gamma(4.0, cust_repay[cust] / 4.0))).astype(int)
    repaid = day + repay_days.astype("timedelta64[D]")
    frame = pd.DataFrame({"customer_id": ids, "txn_date": day, "amount": amount,
                          "repayment_date": np.where(repaid <= END, repaid, np.datetime64("NaT"))})
    return frame.sort_values(["txn_date", "customer_id"], kind="stable").reset_index(drop=True)


# -- customer tables --------------------------------------------------------------------------

#: name: (balance, one-off purchases, instalment purchases, cash advance (medians; 0 = almost
#: never), purchase frequency, paid-in-full share, credit limit, payments / minimum payments)
CARD_ARCHETYPES = {
    "transactors": (300, 2500, 400, 0, 0.85, 0.8, 9000, 12),
    "revolvers": (4000, 300, 200, 0, 0.35, 0.02, 5000, 1.3),
    "cash advance users": (3000, 0, 0, 3000, 0.08, 0.0, 4000, 1.1),
    "instalment buyers": (800, 0, 1500, 0, 0.9, 0.25, 3000, 2.5),
    "inactive": (60, 0, 0, 0, 0.02, 0.1, 2000, 1.5),
    "vip spenders": (2500, 8000, 2500, 0, 0.95, 0.5, 15000, 6),
    "maxed minimum payers": (4700, 150, 600, 400, 0.5, 0.0, 5000, 1.0),
    "new small-limit": (250, 150, 100, 0, 0.6, 0.4, 800, 3),
}
#: name: (orders, order value, loyalty per unit spent, support tickets, recency days, tenure days)
SHOP_ARCHETYPES = {
    "loyal big spenders": (40, 120, 0.10, 1, 15, 1400),
    "bargain hunters": (25, 22, 0.10, 2, 30, 900),
    "lapsed big spenders": (8, 260, 0.10, 1, 400, 1300),
    "new customers": (1.5, 60, 0.10, 0.3, 20, 30),
    "unhappy, drifting away": (10, 70, 0.10, 9, 170, 900),
    "vip members": (60, 300, 0.25, 1, 10, 1600),
    "gift buyers": (3, 150, 0.05, 0.5, 150, 1200),
}


def _creditcard(rng, spec: Spec, group: np.ndarray) -> pd.DataFrame:
    p = np.array([[_jitter(rng, v) for v in CARD_ARCHETYPES[g]] for g in spec.groups])[group]
    n = len(group)

    def money(col, sigma=0.6):
        # a zero median: the group never does it (a few who sometimes do would be a group of their own)
        return np.round(np.where(p[:, col] > 0, _lognormal(rng, np.maximum(p[:, col], 1.0), sigma), 0.0), 2)

    def share(col, conc=12.0):
        m = np.clip(p[:, col], 0.01, 0.99)
        return np.round(rng.beta(m * conc, (1 - m) * conc), 6)

    limit = np.round(_lognormal(rng, p[:, 6], 0.3), -2)
    balance = money(0, 0.5)
    oneoff, inst, cash = money(1), money(2), money(3)
    pf = share(4)
    minimum = np.round(np.maximum(balance * 0.05, 20) * rng.lognormal(0.0, 0.2, n), 2)
    payments = np.round(minimum * _lognormal(rng, p[:, 7], 0.35), 2)
    cash_freq = np.where(cash > 0, np.round(rng.uniform(0.1, 0.6, n), 6), 0.0)
    return pd.DataFrame({
        "CUST_ID": _ids(n),
        "BALANCE": balance,
        "BALANCE_FREQUENCY": np.round(rng.uniform(0.8, 1.0, n), 6),
        "PURCHASES": oneoff + inst,
        "ONEOFF_PURCHASES": oneoff,
        "INSTALLMENTS_PURCHASES": inst,
        "CASH_ADVANCE": cash,
        "PURCHASES_FREQUENCY": pf,
        "ONEOFF_PURCHASES_FREQUENCY": np.round(pf * (oneoff > inst), 6),
        "PURCHASES_INSTALLMENTS_FREQUENCY": np.round(pf * (inst >= oneoff), 6),
        "CASH_ADVANCE_FREQUENCY": cash_freq,
        "CASH_ADVANCE_TRX": np.round(cash_freq * 12 * rng.uniform(1, 2, n)).astype(int),
        "PURCHASES_TRX": np.round(pf * 12 * rng.uniform(1, 3, n)).astype(int),
        "CREDIT_LIMIT": limit,
        "PAYMENTS": payments,
        "MINIMUM_PAYMENTS": minimum,
        "PRC_FULL_PAYMENT": share(5, 8.0),
        "TENURE": rng.choice([6, 12], n, p=[0.1, 0.9]),
    })


def _ecommerce(rng, spec: Spec, group: np.ndarray) -> pd.DataFrame:
    p = np.array([[_jitter(rng, v) for v in SHOP_ARCHETYPES[g]] for g in spec.groups])[group]
    n = len(group)
    orders = 1 + rng.poisson(_lognormal(rng, p[:, 0], 0.35))
    aov = np.round(_lognormal(rng, p[:, 1], 0.35) * np.where(rng.random(n) < 0.02, 1 + rng.pareto(1.5, n), 1), 2)
    total = np.round(aov * orders, 2)
    recency = np.round(_lognormal(rng, p[:, 4], 0.4)).astype(int)
    return pd.DataFrame({
        "customer_id": _ids(n),
        "age": np.clip(rng.normal(40, 12, n).round(), 18, 85).astype(int),
        "income": np.round(rng.lognormal(np.log(55_000), 0.4, n), -2),
        "total_spent": total,
        "number_of_orders": orders,
        "avg_order_value": aov,
        "loyalty_points": np.round(total * _lognormal(rng, p[:, 2], 0.2)).astype(int),  # repeats total_spent
        "support_tickets": rng.poisson(p[:, 3]),
        "recency": recency,
        "tenure": np.maximum(np.round(_lognormal(rng, p[:, 5], 0.3)).astype(int), recency),
    })


def _table(rng, spec: Spec, group: np.ndarray) -> pd.DataFrame:
    """Groups in ``d`` signal dimensions (separated by a few within-group deviations), some
    heavy-tailed, some skewed money-like columns, correlated copies and no-signal columns."""
    n, k = len(group), spec.k
    d = int(rng.integers(2, 6))
    separation = float(rng.uniform(4.5, 7.0))  # min distance between centres, in within-group sds
    while True:
        centres = rng.normal(0.0, separation * 0.6 * np.sqrt(k), (k, d))
        dist = np.sqrt(((centres[:, None] - centres[None]) ** 2).sum(-1))[np.triu_indices(k, 1)]
        if dist.min() >= separation and dist.min() <= separation * 1.3:
            break
    heavy = rng.random() < 0.5
    noise = rng.standard_t(4, (n, d)) / np.sqrt(2) if heavy else rng.normal(size=(n, d))
    spread = np.array([[_jitter(rng, 1.0, 0.2) for _ in range(d)] for _ in range(k)])
    X = centres[group] + noise * spread[group]
    cols = {f"f{j + 1}": X[:, j] for j in range(d)}
    n_money = int(rng.integers(0, d + 1))
    for j in range(n_money):  # skewed, positive, as money is (the product log-transforms it)
        cols[f"f{j + 1}"] = np.round(np.exp(4 + 0.5 * X[:, j]), 2)
    n_copy = int(rng.integers(0, 3))
    for j in range(n_copy):
        src = X[:, j % d]
        cols[f"copy{j + 1}"] = 0.9 * src + rng.normal(0, 0.45 * src.std(), n)
    n_noise = int(rng.integers(0, 3))
    for j in range(n_noise):
        cols[f"noise{j + 1}"] = rng.normal(50, 10, n) if j % 2 == 0 else rng.lognormal(3, 0.8, n)
    spec.notes += [f"{d} signal dims, min centre distance {separation:.1f} sd", "t(4) noise" if heavy else "normal",
                   f"{n_money} skewed, {n_copy} copies, {n_noise} no-signal"]
    return pd.DataFrame({"customer_id": _ids(n), **cols})


# -- the benchmark's datasets -----------------------------------------------------------------

POOLS = {"transactions": LOAN_ARCHETYPES, "purchases": PURCHASE_ARCHETYPES, "creditcard": CARD_ARCHETYPES,
         "ecommerce": SHOP_ARCHETYPES, "table": None}
#: Customers by index; the rest 1,000-6,000. Log shapes cost most (rows per customer).
LARGE = {10: 20_000, 11: 20_000, 26: 30_000, 27: 30_000, 36: 100_000, 37: 100_000}


def spec(i: int) -> Spec:
    """The plan of dataset ``i``: shape and k are the same for 2j and 2j+1 (tune and held-out
    see the same designs), the archetypes, shares and sizes differ."""
    j = i // 2
    shape = SHAPES[j % len(SHAPES)]
    k = 2 + (j * 3) % 7
    rng = np.random.default_rng([12, i])
    pool = POOLS[shape]
    k = min(k, len(pool)) if pool else k
    groups = sorted(str(g) for g in rng.choice(list(pool), k, replace=False)) if pool else [f"group {g + 1}" for g in range(k)]
    n = LARGE.get(i, int(rng.integers(1_000, 6_001)))
    if shape in ("transactions", "purchases"):
        n = min(n, 30_000)  # a log of 100k customers is millions of rows: the tables carry that size
    if i in (36, 37):
        shape = "table" if shape != "creditcard" else shape
    return Spec(i, shape, k, n, [float(s) for s in _shares(rng, k)], list(groups))


def dataset(i: int, max_customers: int | None = None) -> tuple[pd.DataFrame, pd.Series, Spec]:
    """The i-th dataset as a user's file would hold it, each customer's planted group (by id),
    and its spec; at most ``max_customers`` customers (a cap for a busy machine)."""
    s = spec(i)
    if max_customers:
        s.n = min(s.n, max_customers)
    if s.shape == "table" and s.groups[0] != "group 1":
        s.groups = [f"group {g + 1}" for g in range(s.k)]
    rng = np.random.default_rng([12, i, 1])
    group = _assign(rng, s.n, np.array(s.shares))
    make = {"transactions": lambda: _log(rng, s, LOAN_ARCHETYPES, group),
            "purchases": lambda: _log(rng, s, PURCHASE_ARCHETYPES, group),
            "creditcard": lambda: _creditcard(rng, s, group),
            "ecommerce": lambda: _ecommerce(rng, s, group),
            "table": lambda: _table(rng, s, group)}
    frame = make[s.shape]()
    truth = pd.Series(group, index=_ids(s.n), name="group")
    return frame, truth, s


def public_datasets() -> list[tuple[str, pd.DataFrame, pd.Series]]:
    """Labelled data scikit-learn ships, as customer tables: iris (3 species) and wine (3 cultivars)."""
    from sklearn.datasets import load_iris, load_wine

    out = []
    for name, loader in (("iris", load_iris), ("wine", load_wine)):
        bunch = loader(as_frame=True)
        frame = bunch.data.copy()
        frame.columns = [c.replace(" (cm)", "").replace(" ", "_").replace("/", "_") for c in frame.columns]
        ids = _ids(len(frame))
        frame.insert(0, "customer_id", ids)
        out.append((name, frame, pd.Series(bunch.target.to_numpy(), index=ids, name="group")))
    return out


def write(frame: pd.DataFrame, folder: Path, name: str) -> Path:
    """``frame`` as CSV in ``folder`` (dates as ISO days, open loans blank)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False)
    return path
