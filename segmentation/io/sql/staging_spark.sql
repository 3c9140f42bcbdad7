-- Stage raw transactions for the feature SQL (Spark SQL dialect; identifiers in double quotes,
-- as the session sets spark.sql.ansi.doubleQuotedIdentifiers). Runs inside Spark: the staged
-- rows are cached there (memory, then the executors' disks) and never reach the driver.
-- Text becomes a day number or a number with TRY_CAST, so one bad value gives a counted,
-- rejected row instead of a failed job. A date is read as written (a time and a UTC offset
-- may follow, the offset is ignored, as DuckDB's and PostgreSQL's staging do): TIMESTAMP_NTZ
-- ignores the session's time zone. Spark alone would also read '2024' and '2024-01' as dates:
-- the LIKE keeps only text that starts with a four-digit year and has a month and a day.
-- Day numbers are days since 1970-01-01 (unix_date).
-- {source}: the temp view over the user's files or table.
-- {due_date}: the due-date column expression, or NULL when there is none.
-- {copy_no}: 1, or ROW_NUMBER() over all source columns: a row with copy_no > 1 repeats an
-- earlier row exactly (set aside by checks.sql).
UNCACHE TABLE IF EXISTS staged;
DROP VIEW IF EXISTS staged;
CACHE TABLE staged AS
WITH typed AS (
    SELECT
        NULLIF(TRIM(CAST({customer_id} AS STRING)), '') AS customer_id,
        TRIM(CAST({txn_date} AS STRING)) AS txn_date_text,
        CAST({txn_date} AS STRING) AS txn_date_raw,
        CAST({amount} AS STRING) AS amount_raw,
        TRY_CAST({amount} AS DOUBLE) AS amount,
        NULLIF(TRIM(CAST({repayment_date} AS STRING)), '') AS repayment_date_raw,
        NULLIF(TRIM(CAST({due_date} AS STRING)), '') AS due_date_raw,
        {copy_no} AS copy_no
    FROM {source}
)
SELECT
    customer_id,
    CASE WHEN txn_date_text LIKE '____-%-%'
        THEN unix_date(CAST(TRY_CAST(txn_date_text AS TIMESTAMP_NTZ) AS DATE)) END AS txn_day,
    amount,
    CASE WHEN repayment_date_raw LIKE '____-%-%'
        THEN unix_date(CAST(TRY_CAST(repayment_date_raw AS TIMESTAMP_NTZ) AS DATE)) END AS repay_day,
    CASE WHEN due_date_raw LIKE '____-%-%'
        THEN unix_date(CAST(TRY_CAST(due_date_raw AS TIMESTAMP_NTZ) AS DATE)) END AS due_day,
    txn_date_raw, amount_raw, repayment_date_raw, due_date_raw, copy_no
FROM typed
