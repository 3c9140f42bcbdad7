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
WITH texts AS (
    SELECT
        CAST({customer_id} AS STRING) AS customer_id_raw,
        CAST({amount} AS STRING) AS amount_raw,
        regexp_replace(CAST({amount} AS STRING), '{strip}', '') AS amount_stripped,
        *
    FROM {source}
),
typed AS (
    SELECT
        NULLIF(TRIM(regexp_replace(customer_id_raw, '\\p{{Cntrl}}', '')), '') AS customer_id,
        CASE WHEN customer_id_raw RLIKE '\\p{{Cntrl}}' THEN 1 ELSE 0 END AS id_cleaned,
        TRIM(CAST({txn_date} AS STRING)) AS txn_date_text,
        CAST({txn_date} AS STRING) AS txn_date_raw,
        amount_raw,
        -- as the other stagings: currency symbols and spaces stripped, comma-grouped thousands
        -- joined; NaN and inf (written so) and numbers beyond 1e15 are not amounts
        COALESCE(TRY_CAST(amount_raw AS DOUBLE), TRY_CAST(
            CASE WHEN amount_stripped RLIKE '{grouped}' THEN replace(amount_stripped, ',', '')
                 ELSE amount_stripped END AS DOUBLE)) AS amount_value,
        NULLIF(TRIM(CAST({repayment_date} AS STRING)), '') AS repayment_date_raw,
        NULLIF(TRIM(CAST({due_date} AS STRING)), '') AS due_date_raw,
        {copy_no} AS copy_no
    FROM texts
)
SELECT
    customer_id,
    CASE WHEN txn_date_text LIKE '____-%-%'
        THEN unix_date(CAST(TRY_CAST(txn_date_text AS TIMESTAMP_NTZ) AS DATE)) END AS txn_day,
    CASE WHEN abs(amount_value) < 1e15 THEN amount_value END AS amount,
    CASE WHEN repayment_date_raw LIKE '____-%-%'
        THEN unix_date(CAST(TRY_CAST(repayment_date_raw AS TIMESTAMP_NTZ) AS DATE)) END AS repay_day,
    CASE WHEN due_date_raw LIKE '____-%-%'
        THEN unix_date(CAST(TRY_CAST(due_date_raw AS TIMESTAMP_NTZ) AS DATE)) END AS due_day,
    txn_date_raw, amount_raw, repayment_date_raw, due_date_raw, copy_no,
    CASE WHEN abs(amount_value) < 1e15 THEN NULL
         WHEN isnan(amount_value) OR lower(amount_raw) LIKE '%inf%' THEN 'amount_not_finite'
         WHEN amount_value IS NOT NULL THEN 'amount_too_large' END AS amount_issue,
    id_cleaned
FROM typed
