-- Stage raw transactions for the feature SQL (DuckDB dialect).
-- Reads every column as text and converts it here so that one bad value becomes a counted,
-- rejected row instead of a failed read. Dates become integer day numbers (days since
-- 1970-01-01) so that the feature SQL needs only portable integer arithmetic.
-- First the macros seg_day(text) and seg_number(text) (io/parsing.py: they follow the date
-- format and the decimal and thousands separators).
-- {source}: a DuckDB relation (read_csv(...), read_parquet(...), a table).
-- {due_date}: the due-date column expression, or NULL when there is none.
-- {copy_no}: 1 here; duplicates_duckdb.sql then numbers the copies of a row (copy_no > 1:
-- it repeats an earlier row exactly, set aside by checks.sql), using
-- {row_hash}: a 64-bit hash of every source column (0 when duplicates are kept).
-- An amount is NULL unless finite and below 1e15; amount_issue says why a number is not one
-- (NaN or inf written as such, or too large to add up). Ids lose control characters (a NUL
-- byte would otherwise make a second customer); id_cleaned counts them.
{functions}
CREATE OR REPLACE TEMP TABLE staged AS
WITH typed AS (
    SELECT
        CAST({customer_id} AS VARCHAR) AS customer_id_raw,
        CAST({txn_date} AS VARCHAR) AS txn_date_raw,
        CAST({amount} AS VARCHAR) AS amount_raw,
        {copy_no} AS copy_no,
        {row_hash} AS row_hash,
        NULLIF(TRIM(CAST({repayment_date} AS VARCHAR)), '') AS repayment_date_raw,
        NULLIF(TRIM(CAST({due_date} AS VARCHAR)), '') AS due_date_raw,
        seg_day(CAST({txn_date} AS VARCHAR)) AS txn_day,
        seg_number(CAST({amount} AS VARCHAR)) AS amount_value,
        seg_day(NULLIF(TRIM(CAST({repayment_date} AS VARCHAR)), '')) AS repay_day,
        seg_day(NULLIF(TRIM(CAST({due_date} AS VARCHAR)), '')) AS due_day,
        regexp_matches(CAST({customer_id} AS VARCHAR), '[[:cntrl:]]') AS has_control
    FROM {source}
)
SELECT
    CASE WHEN has_control THEN NULLIF(TRIM(regexp_replace(customer_id_raw, '[[:cntrl:]]', '', 'g')), '')
         ELSE NULLIF(TRIM(customer_id_raw), '') END AS customer_id,
    txn_day,
    CASE WHEN isfinite(amount_value) AND abs(amount_value) < 1e15 THEN amount_value END AS amount,
    repay_day, due_day,
    txn_date_raw, amount_raw, repayment_date_raw, due_date_raw, copy_no, row_hash,
    CASE WHEN isfinite(amount_value) AND abs(amount_value) < 1e15 THEN NULL
         WHEN isnan(amount_value) OR contains(lower(amount_raw), 'inf') THEN 'amount_not_finite'
         WHEN amount_value IS NOT NULL THEN 'amount_too_large' END AS amount_issue,
    CASE WHEN has_control THEN 1 ELSE 0 END AS id_cleaned
FROM typed
