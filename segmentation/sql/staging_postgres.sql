-- Stage raw transactions for the feature SQL (PostgreSQL dialect); runs inside the server, so
-- only one row per customer ever leaves it.
-- PostgreSQL has no TRY_CAST: text becomes a date or a number only after a pattern check (and
-- a calendar check: no 2024-02-30), so one bad value gives NULL and a counted, rejected row
-- instead of a failed statement. Dates are ISO: YYYY-MM-DD (1- or 2-digit month and day),
-- optionally a valid time and a UTC offset, the date taken as written. Date and timestamp
-- columns print that way under DateStyle ISO, set here for this session.
-- Day numbers are days since 1970-01-01.
-- {source}: a relation (the temp view over the user's table or query).
-- {due_date}: the due-date column expression, or NULL when there is none.
SET datestyle TO 'ISO, YMD';

-- Single-expression SQL functions: the planner inlines them, so they cost no function calls.
CREATE FUNCTION pg_temp.valid_day(y integer, m integer, d integer) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN y < 1 OR m NOT BETWEEN 1 AND 12 OR d < 1 THEN NULL
        WHEN d > EXTRACT(DAY FROM make_date(y, m, 1) + INTERVAL '1 month - 1 day') THEN NULL
        ELSE make_date(y, m, d) - DATE '1970-01-01'
    END
$$;

CREATE FUNCTION pg_temp.day_number(value text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN TRIM(value) ~ '^[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}([ T]([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]+)?)?)?([+-][0-9]{{2}}(:?[0-9]{{2}})?)?$'
        THEN pg_temp.valid_day(
            CAST(split_part(TRIM(value), '-', 1) AS integer),
            CAST(split_part(TRIM(value), '-', 2) AS integer),
            CAST(substring(split_part(TRIM(value), '-', 3) FROM '^[0-9]+') AS integer))
    END
$$;

-- A number: digits with an optional point and exponent. CASE, not AND, orders the checks
-- (PostgreSQL may evaluate AND's operands in any order); a huge value gives NULL, not an error.
CREATE FUNCTION pg_temp.amount_number(value text) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN TRIM(value) ~ '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{{1,3}})?$'
        THEN CASE WHEN abs(CAST(TRIM(value) AS numeric)) < 1e300 THEN CAST(TRIM(value) AS double precision) END
    END
$$;

CREATE TEMP TABLE staged AS
WITH typed AS (
    SELECT
        NULLIF(TRIM(CAST({customer_id} AS text)), '') AS customer_id,
        CAST({txn_date} AS text) AS txn_date_raw,
        CAST({amount} AS text) AS amount_raw,
        NULLIF(TRIM(CAST({repayment_date} AS text)), '') AS repayment_date_raw,
        NULLIF(TRIM(CAST({due_date} AS text)), '') AS due_date_raw
    FROM {source}
)
SELECT
    customer_id,
    pg_temp.day_number(txn_date_raw) AS txn_day,
    pg_temp.amount_number(amount_raw) AS amount,
    pg_temp.day_number(repayment_date_raw) AS repay_day,
    pg_temp.day_number(due_date_raw) AS due_day,
    txn_date_raw, amount_raw, repayment_date_raw, due_date_raw
FROM typed;

ANALYZE staged;
