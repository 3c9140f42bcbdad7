-- Portable (DuckDB, SQLite, PostgreSQL): for re-scoring, keep only the customers with a
-- transaction or a repayment on or after {since_day}, with all of their rows (features are
-- computed over a customer's whole history). Rows without a customer id stay, so they are
-- still counted as rejected. NOT EXISTS, not NOT IN: it plans as an anti-join at any size.
DELETE FROM staged
WHERE customer_id IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM staged AS recent
      WHERE recent.customer_id = staged.customer_id
        AND (recent.txn_day >= {since_day} OR recent.repay_day >= {since_day})
  )
