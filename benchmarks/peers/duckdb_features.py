"""Per-customer loan features in one DuckDB GROUP BY over read_csv, as an analyst writes it."""

import sys

import duckdb

src, out = sys.argv[1], sys.argv[2]
duckdb.sql(f"""
COPY (
    WITH t AS (SELECT *, COALESCE(due_date, txn_date + 30) AS due,
                      MAX(GREATEST(txn_date, repayment_date)) OVER () AS as_of
               FROM read_csv('{src}'))
    SELECT customer_id, COUNT(*) AS txn_count, AVG(amount) AS avg_txn_amount, SUM(amount) AS total_amount,
           MAX(amount) AS max_amount, AVG(repayment_date - txn_date) AS avg_repayment_days,
           SUM(CASE WHEN repayment_date > due OR (repayment_date IS NULL AND as_of > due) THEN 1 ELSE 0 END)
               / NULLIF(SUM(CASE WHEN repayment_date IS NOT NULL OR as_of > due THEN 1 ELSE 0 END), 0) AS late_share,
           COUNT(*) - COUNT(repayment_date) AS open_loans,
           ANY_VALUE(as_of) - MAX(txn_date) AS recency_days, ANY_VALUE(as_of) - MIN(txn_date) AS tenure_days
    FROM t GROUP BY customer_id
) TO '{out}' (HEADER)
""")
