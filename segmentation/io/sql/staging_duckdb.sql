-- Stage raw transactions for the feature SQL (DuckDB dialect).
-- Reads every column as text and converts it here so that one bad value becomes a counted,
-- rejected row instead of a failed read. Dates become integer day numbers (days since
-- 1970-01-01) so that the feature SQL needs only portable integer arithmetic.
-- {source}: a DuckDB relation (read_csv(...), read_parquet(...), a table).
-- {due_date}: the due-date column expression, or NULL when there is none.
-- {copy_no}: 1 here; duplicates_duckdb.sql then numbers the copies of a row (copy_no > 1:
-- it repeats an earlier row exactly, set aside by checks.sql), using
-- {row_hash}: a 64-bit hash of every source column (0 when duplicates are kept).
CREATE OR REPLACE TEMP TABLE staged AS
WITH typed AS (
    SELECT
        NULLIF(TRIM(CAST({customer_id} AS VARCHAR)), '') AS customer_id,
        CAST({txn_date} AS VARCHAR) AS txn_date_raw,
        CAST({amount} AS VARCHAR) AS amount_raw,
        {copy_no} AS copy_no,
        {row_hash} AS row_hash,
        NULLIF(TRIM(CAST({repayment_date} AS VARCHAR)), '') AS repayment_date_raw,
        NULLIF(TRIM(CAST({due_date} AS VARCHAR)), '') AS due_date_raw,
        CAST(date_diff('day', DATE '1970-01-01', TRY_CAST(TRY_CAST({txn_date} AS TIMESTAMP) AS DATE)) AS INTEGER) AS txn_day,
        TRY_CAST({amount} AS DOUBLE) AS amount,
        CAST(date_diff('day', DATE '1970-01-01', TRY_CAST(TRY_CAST(NULLIF(TRIM(CAST({repayment_date} AS VARCHAR)), '') AS TIMESTAMP) AS DATE)) AS INTEGER) AS repay_day,
        CAST(date_diff('day', DATE '1970-01-01', TRY_CAST(TRY_CAST(NULLIF(TRIM(CAST({due_date} AS VARCHAR)), '') AS TIMESTAMP) AS DATE)) AS INTEGER) AS due_day
    FROM {source}
)
SELECT
    customer_id, txn_day, amount, repay_day, due_day,
    txn_date_raw, amount_raw, repayment_date_raw, due_date_raw, copy_no, row_hash
FROM typed
