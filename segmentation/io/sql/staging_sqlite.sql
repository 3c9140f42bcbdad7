-- Stage raw transactions for the feature SQL (SQLite dialect).
-- The dialect switch: day numbers come from julianday() instead of date_diff(); a value that
-- is not a date gives NULL in both. {source} is a table of text columns; {copy_no} as in
-- staging_duckdb.sql.
CREATE TEMP TABLE staged AS
WITH typed AS (
    SELECT
        NULLIF(TRIM(CAST({customer_id} AS TEXT)), '') AS customer_id,
        CAST({txn_date} AS TEXT) AS txn_date_raw,
        CAST({amount} AS TEXT) AS amount_raw,
        {copy_no} AS copy_no,
        NULLIF(TRIM(CAST({repayment_date} AS TEXT)), '') AS repayment_date_raw,
        NULLIF(TRIM(CAST({due_date} AS TEXT)), '') AS due_date_raw
    FROM {source}
)
SELECT
    customer_id,
    CAST(julianday(date(TRIM(txn_date_raw))) - 2440587.5 AS INTEGER) AS txn_day,
    CASE WHEN TRIM(amount_raw) GLOB '*[0-9]*'
          AND TRIM(amount_raw) NOT GLOB '*[^0-9eE.+-]*'
         THEN CAST(TRIM(amount_raw) AS REAL) END AS amount,
    CAST(julianday(date(repayment_date_raw)) - 2440587.5 AS INTEGER) AS repay_day,
    CAST(julianday(date(due_date_raw)) - 2440587.5 AS INTEGER) AS due_day,
    txn_date_raw, amount_raw, repayment_date_raw, due_date_raw, copy_no
FROM typed
