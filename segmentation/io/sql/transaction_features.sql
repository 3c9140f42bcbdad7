-- Portable (DuckDB, SQLite, PostgreSQL): one row per customer from the checked transactions.
-- Day numbers are integers (days since 1970-01-01), so differences are whole calendar days.
-- Ratios and averages are DOUBLE PRECISION in every engine (PostgreSQL would use slow NUMERIC).
--
-- A loan's due day is its due_date when the data has one, else txn_date + {late_after_days}.
-- "Late": repaid after the due day, or still open with the due day before the reference day.
-- late_share = late loans / loans whose outcome is known (repaid, or open and past due);
-- NULL when no loan of the customer is known yet.
-- loans_per_year = loans / (tenure in years), a customer of under {tenure_floor_days} days' tenure
-- counted as {tenure_floor_days} days (a first loan yesterday is not 365 loans a year). The same floating-point steps as
-- reference_features (count / (days / 365)), so every engine gives the same bits. A CASE, not
-- GREATEST: SQLite has none.
-- {as_of_day}: the reference day (default: the last txn or repayment day in the data).
WITH loans AS (
    SELECT
        customer_id, amount, txn_day, repay_day,
        COALESCE(due_day, txn_day + {late_after_days}) AS due
    FROM checked
    WHERE reject_reason IS NULL
)
SELECT
    customer_id,
    COUNT(*) AS txn_count,
    AVG(amount) AS avg_txn_amount,
    SUM(amount) AS total_amount,
    MAX(amount) AS max_amount,
    AVG(CASE WHEN repay_day IS NOT NULL THEN CAST(repay_day - txn_day AS DOUBLE PRECISION) END) AS avg_repayment_days,
    CAST(SUM(CASE
            WHEN repay_day IS NOT NULL AND repay_day > due THEN 1
            WHEN repay_day IS NULL AND {as_of_day} > due THEN 1
            ELSE 0
        END) AS DOUBLE PRECISION)
        / NULLIF(SUM(CASE WHEN repay_day IS NOT NULL OR {as_of_day} > due THEN 1 ELSE 0 END), 0)
        AS late_share,
    SUM(CASE WHEN repay_day IS NULL THEN 1 ELSE 0 END) AS open_loans,
    {as_of_day} - MAX(txn_day) AS recency_days,
    {as_of_day} - MIN(txn_day) AS tenure_days,
    CAST(COUNT(*) AS DOUBLE PRECISION)
        / (CAST(CASE
                WHEN {as_of_day} - MIN(txn_day) < {tenure_floor_days} THEN {tenure_floor_days}
                ELSE {as_of_day} - MIN(txn_day)
            END AS DOUBLE PRECISION) / 365)
        AS loans_per_year
FROM loans
GROUP BY customer_id
ORDER BY customer_id
