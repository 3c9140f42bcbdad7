-- Stage transactions read with types (DuckDB's typed CSV reader: dates as TIMESTAMP, amounts as
-- DOUBLE): the fast path for a clean file, one scan that parses each value once.
-- The columns are those of staging_duckdb.sql. The raw texts are not kept: the runner uses
-- this staging only when it sets no row aside and cleans no id (otherwise the file is staged
-- again from text, which names every bad value as written), so no row needs them.
-- {source}: the typed relation; {row_hash}: a hash of every column (0 when duplicates are kept).
CREATE OR REPLACE TEMP TABLE staged AS
SELECT
    CASE WHEN regexp_matches({customer_id}, '[[:cntrl:]]')
         THEN NULLIF(TRIM(regexp_replace({customer_id}, '[[:cntrl:]]', '', 'g')), '')
         ELSE NULLIF(TRIM({customer_id}), '') END AS customer_id,
    CAST(date_diff('day', DATE '1970-01-01', CAST({txn_date} AS DATE)) AS INTEGER) AS txn_day,
    CASE WHEN isfinite({amount}) AND abs({amount}) < 1e15 THEN {amount} END AS amount,
    CAST(date_diff('day', DATE '1970-01-01', CAST({repayment_date} AS DATE)) AS INTEGER) AS repay_day,
    CAST(date_diff('day', DATE '1970-01-01', CAST({due_date} AS DATE)) AS INTEGER) AS due_day,
    CAST(NULL AS VARCHAR) AS txn_date_raw,
    CAST(NULL AS VARCHAR) AS amount_raw,
    CAST(NULL AS VARCHAR) AS repayment_date_raw,
    CAST(NULL AS VARCHAR) AS due_date_raw,
    1 AS copy_no,
    {row_hash} AS row_hash,
    CASE WHEN isfinite({amount}) AND abs({amount}) < 1e15 THEN NULL ELSE 'amount_not_finite' END AS amount_issue,
    CASE WHEN regexp_matches({customer_id}, '[[:cntrl:]]') THEN 1 ELSE 0 END AS id_cleaned
FROM {source}
