-- Portable (DuckDB, SQLite, PostgreSQL): one row per customer of a purchase log (no repayments),
-- with RFM quintile scores. Day numbers are integers (days since 1970-01-01).
--
-- recency_days    days from the last purchase to the reference day
-- frequency       purchases
-- monetary        money spent in total
-- avg_order_value monetary / frequency
-- tenure_days     days from the first purchase to the reference day
-- r/f/m_score     quintile scores 1-5: ceil(5 * average rank / N), the rank counted from the
--                 worst value (longest ago, fewest purchases, least money), N = all customers;
--                 equal values share the average of their ranks, hence a score; 5 is best.
--                 With a2 = twice the average rank = 2 * RANK() + (ties - 1), the score is
--                 1 + the number of j in 1..4 with 5 * a2 > j * 2N: integer-only arithmetic,
--                 the same in every dialect.
-- {as_of_day}: the reference day (default: the last purchase day in the data).
WITH purchases AS (
    SELECT customer_id, amount, txn_day
    FROM checked
    WHERE reject_reason IS NULL
),
per_customer AS (
    SELECT
        customer_id,
        {as_of_day} - MAX(txn_day) AS recency_days,
        COUNT(*) AS frequency,
        SUM(amount) AS monetary,
        AVG(amount) AS avg_order_value,
        {as_of_day} - MIN(txn_day) AS tenure_days
    FROM purchases
    GROUP BY customer_id
),
ranked AS (
    SELECT
        per_customer.*,
        2 * COUNT(*) OVER () AS n2,
        5 * (2 * RANK() OVER (ORDER BY recency_days DESC) + COUNT(*) OVER (PARTITION BY recency_days) - 1) AS r5,
        5 * (2 * RANK() OVER (ORDER BY frequency) + COUNT(*) OVER (PARTITION BY frequency) - 1) AS f5,
        5 * (2 * RANK() OVER (ORDER BY monetary) + COUNT(*) OVER (PARTITION BY monetary) - 1) AS m5
    FROM per_customer
)
SELECT
    customer_id, recency_days, frequency, monetary, avg_order_value, tenure_days,
    1 + CASE WHEN r5 > n2 THEN 1 ELSE 0 END + CASE WHEN r5 > 2 * n2 THEN 1 ELSE 0 END
      + CASE WHEN r5 > 3 * n2 THEN 1 ELSE 0 END + CASE WHEN r5 > 4 * n2 THEN 1 ELSE 0 END AS r_score,
    1 + CASE WHEN f5 > n2 THEN 1 ELSE 0 END + CASE WHEN f5 > 2 * n2 THEN 1 ELSE 0 END
      + CASE WHEN f5 > 3 * n2 THEN 1 ELSE 0 END + CASE WHEN f5 > 4 * n2 THEN 1 ELSE 0 END AS f_score,
    1 + CASE WHEN m5 > n2 THEN 1 ELSE 0 END + CASE WHEN m5 > 2 * n2 THEN 1 ELSE 0 END
      + CASE WHEN m5 > 3 * n2 THEN 1 ELSE 0 END + CASE WHEN m5 > 4 * n2 THEN 1 ELSE 0 END AS m_score
FROM ranked
ORDER BY customer_id
