"""Per-customer loan features with a polars lazy scan, as an analyst writes them."""

import sys

import polars as pl

src, out = sys.argv[1], sys.argv[2]
t = pl.scan_csv(src, try_parse_dates=True)
as_of = pl.max_horizontal(pl.col("txn_date").max(), pl.col("repayment_date").max())
due = pl.coalesce(pl.col("due_date"), pl.col("txn_date") + pl.duration(days=30))
late = (pl.col("repayment_date") > due) | (pl.col("repayment_date").is_null() & (as_of > due))
known = pl.col("repayment_date").is_not_null() | (as_of > due)  # late_share: of the loans whose outcome is known
features = (
    t.with_columns(as_of=as_of, late=late, known=known, repay_days=(pl.col("repayment_date") - pl.col("txn_date")).dt.total_days())
    .group_by("customer_id")
    .agg(
        txn_count=pl.len(), avg_txn_amount=pl.col("amount").mean(), total_amount=pl.col("amount").sum(),
        max_amount=pl.col("amount").max(), avg_repayment_days=pl.col("repay_days").mean(),
        late_share=pl.col("late").sum() / pl.when(pl.col("known").sum() > 0).then(pl.col("known").sum()), open_loans=pl.col("repayment_date").is_null().sum(),
        recency_days=(pl.col("as_of").first() - pl.col("txn_date").max()).dt.total_days(),
        tenure_days=(pl.col("as_of").first() - pl.col("txn_date").min()).dt.total_days(),
    )
)
features.sink_csv(out)
