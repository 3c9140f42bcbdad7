-- Portable (DuckDB, SQLite, PostgreSQL): mark every staged row with the first rule it breaks.
-- Rows with a reject_reason are counted and reported, never silently dropped.
CREATE TEMP VIEW checked AS
SELECT
    staged.*,
    CASE
        WHEN copy_no > 1 THEN 'duplicate_row'
        WHEN customer_id IS NULL THEN 'customer_id_missing'
        WHEN txn_day IS NULL THEN 'txn_date_invalid'
        WHEN amount IS NULL THEN COALESCE(amount_issue, 'amount_invalid')
        WHEN amount < 0 THEN 'amount_negative'
        WHEN repayment_date_raw IS NOT NULL AND repay_day IS NULL THEN 'repayment_date_invalid'
        WHEN repay_day < txn_day THEN 'repayment_before_txn'
        WHEN due_date_raw IS NOT NULL AND due_day IS NULL THEN 'due_date_invalid'
    END AS reject_reason,
    CASE
        WHEN copy_no > 1 THEN COALESCE(customer_id, '') || ' / ' || COALESCE(txn_date_raw, '') || ' / ' || COALESCE(amount_raw, '')
        WHEN customer_id IS NULL THEN COALESCE(txn_date_raw, '') || ' / ' || COALESCE(amount_raw, '')
        WHEN txn_day IS NULL THEN COALESCE(txn_date_raw, '(empty)')
        WHEN amount IS NULL OR amount < 0 THEN COALESCE(amount_raw, '(empty)')
        WHEN repayment_date_raw IS NOT NULL AND repay_day IS NULL THEN repayment_date_raw
        WHEN repay_day < txn_day THEN customer_id || ': repaid ' || repayment_date_raw || ', lent ' || txn_date_raw
        ELSE due_date_raw
    END AS reject_example
FROM staged
