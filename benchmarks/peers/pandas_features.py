"""Per-customer loan features with pandas, as an analyst writes them."""

import sys

import pandas as pd

src, out = sys.argv[1], sys.argv[2]
t = pd.read_csv(src, parse_dates=["txn_date", "repayment_date", "due_date"])
as_of = max(t["txn_date"].max(), t["repayment_date"].max())
due = t["due_date"].fillna(t["txn_date"] + pd.Timedelta(days=30))
t["repay_days"] = (t["repayment_date"] - t["txn_date"]).dt.days
t["late"] = (t["repayment_date"] > due) | (t["repayment_date"].isna() & (as_of > due))
t["open"] = t["repayment_date"].isna()
t["known"] = t["repayment_date"].notna() | (as_of > due)  # late_share: of the loans whose outcome is known
g = t.groupby("customer_id")
features = g.agg(
    txn_count=("amount", "size"), avg_txn_amount=("amount", "mean"), total_amount=("amount", "sum"),
    max_amount=("amount", "max"), avg_repayment_days=("repay_days", "mean"), late=("late", "sum"), known=("known", "sum"),
    open_loans=("open", "sum"), last=("txn_date", "max"), first=("txn_date", "min"),
)
features["late_share"] = features.pop("late") / features.pop("known").replace(0, float("nan"))
features["recency_days"] = (as_of - features.pop("last")).dt.days
features["tenure_days"] = (as_of - features.pop("first")).dt.days
features.to_csv(out)
