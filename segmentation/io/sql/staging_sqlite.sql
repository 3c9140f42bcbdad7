-- Stage raw transactions for the feature SQL (SQLite dialect).
-- The dialect switch: day numbers come from julianday() instead of date_diff(); a value that
-- is not a date gives NULL in both. {source} is a table of text columns; {copy_no} as in
-- staging_duckdb.sql. The seg_* functions are Python's (io/parsing.py, registered on the
-- connection): the same rules as the DuckDB macros. A plain number skips them.
-- amount_plain: 1 when amounts are read with a decimal point and no set thousands separator
-- and the text is a plain number; the day numbers come from julianday(), or from seg_day for
-- a --date-format.
CREATE TEMP TABLE staged AS
WITH typed AS (
    SELECT
        CAST({customer_id} AS TEXT) AS customer_id_raw,
        CAST({txn_date} AS TEXT) AS txn_date_raw,
        CAST({amount} AS TEXT) AS amount_raw,
        {copy_no} AS copy_no,
        NULLIF(TRIM(CAST({repayment_date} AS TEXT)), '') AS repayment_date_raw,
        NULLIF(TRIM(CAST({due_date} AS TEXT)), '') AS due_date_raw
    FROM {source}
),
plain AS (
    SELECT typed.*,
        {plain} AND TRIM(amount_raw) GLOB '*[0-9]*' AND TRIM(amount_raw) NOT GLOB '*[^0-9eE.+-]*'
            AND abs(CAST(TRIM(amount_raw) AS REAL)) < 1e15 AS amount_plain,
        -- Not printable ASCII (a NUL byte ends a text for GLOB, not for the byte length)
        customer_id_raw GLOB '*[^ -~]*' OR length(CAST(customer_id_raw AS BLOB)) <> length(customer_id_raw) AS odd_id
    FROM typed
)
SELECT
    CASE WHEN odd_id THEN seg_id(customer_id_raw) ELSE NULLIF(TRIM(customer_id_raw), '') END AS customer_id,
    {txn_day} AS txn_day,
    CASE WHEN amount_plain THEN CAST(TRIM(amount_raw) AS REAL) ELSE seg_amount(amount_raw) END AS amount,
    {repay_day} AS repay_day,
    {due_day} AS due_day,
    txn_date_raw, amount_raw, repayment_date_raw, due_date_raw, copy_no,
    CASE WHEN amount_plain THEN NULL ELSE seg_amount_issue(amount_raw) END AS amount_issue,
    CASE WHEN odd_id THEN seg_has_control(customer_id_raw) ELSE 0 END AS id_cleaned
FROM plain
