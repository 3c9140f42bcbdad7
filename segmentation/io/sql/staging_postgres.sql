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
-- {copy_no}: 1, or ROW_NUMBER() over all source columns: a row with copy_no > 1 repeats an
-- earlier row exactly (set aside by checks.sql).
SET datestyle TO 'ISO, YMD';
-- Room to group a million customers in memory (this session only; the default is 4MB).
SET work_mem TO '256MB';

-- Single-expression SQL functions: the planner inlines them, so they cost no function calls.
-- Overloads pick the path by column type: date, timestamp and numeric columns need no parsing
-- (fast); text is checked and parsed (about 4 microseconds a value).
CREATE FUNCTION pg_temp.valid_day(y integer, m integer, d integer) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN y < 1 OR m NOT BETWEEN 1 AND 12 OR d < 1 THEN NULL
        WHEN d > EXTRACT(DAY FROM make_date(y, m, 1) + INTERVAL '1 month - 1 day') THEN NULL
        ELSE make_date(y, m, d) - DATE '1970-01-01'
    END
$$;

-- One pattern check; the parts are then cut with plain string functions (a regex each would
-- cost as much again). The day is the first one or two characters of the third part.
CREATE FUNCTION pg_temp.iso_day(value text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN TRIM(value) ~ '^[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}([ T]([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]+)?)?)?([+-][0-9]{{2}}(:?[0-9]{{2}})?)?$'
        THEN pg_temp.valid_day(
            CAST(split_part(TRIM(value), '-', 1) AS integer),
            CAST(split_part(TRIM(value), '-', 2) AS integer),
            CAST(rtrim(left(split_part(TRIM(value), '-', 3), 2), ' T+') AS integer))
    END
$$;
CREATE FUNCTION pg_temp.day_number(value date) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT value - DATE '1970-01-01'
$$;
CREATE FUNCTION pg_temp.day_number(value timestamp) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CAST(value AS date) - DATE '1970-01-01'
$$;
-- timestamptz: the date in the session's time zone, as its text would show it.
CREATE FUNCTION pg_temp.day_number(value timestamptz) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT CAST(value AS date) - DATE '1970-01-01'
$$;

-- An amount as a double: NaN for the words nan and inf (and a typed NaN or infinity), Infinity
-- for a number too large for a double; the staging below turns both into a reason to set the
-- row aside. CASE, not AND, orders the checks (PostgreSQL may evaluate AND's operands in any
-- order); a huge value gives Infinity, not an error.
CREATE FUNCTION pg_temp.amount_value(value numeric) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN value IN ('NaN', 'Infinity', '-Infinity') THEN CAST('NaN' AS double precision)
        WHEN abs(value) < 1e300 THEN CAST(value AS double precision)
        ELSE CAST('Infinity' AS double precision)
    END
$$;
CREATE FUNCTION pg_temp.amount_value(value double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN value IN ('NaN', 'Infinity', '-Infinity') THEN CAST('NaN' AS double precision) ELSE value END
$$;
-- A text once cleaned (pg_temp.number_text): digits with an optional point and exponent.
CREATE FUNCTION pg_temp.amount_of_text(value text) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN value ~* '^[+-]?(nan|inf|infinity)$' THEN CAST('NaN' AS double precision)
        WHEN value ~ '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{{1,5}})?$'
        THEN pg_temp.amount_value(CAST(value AS numeric))
        WHEN value ~ '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)[eE][+]?[0-9]{{6,}}$' THEN CAST('Infinity' AS double precision)
    END
$$;

-- io/parsing.py: pg_temp.number_text(text), the cleaning of an amount's text (currency,
-- thousands and decimal separators), pg_temp.day_number(text) and pg_temp.amount_value(text).
{functions}
-- A number in a date column (20240105) is no date: through text, it is rejected like elsewhere.
CREATE FUNCTION pg_temp.day_number(value numeric) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT pg_temp.day_number(CAST(value AS text))
$$;

-- The CTE keeps each column's own type (a missing column is a NULL, read as text), so the
-- overloads above choose the fast path for typed columns.
CREATE TEMP TABLE staged AS
WITH typed AS (
    SELECT
        CAST({customer_id} AS text) AS customer_id_raw,
        {txn_date} AS txn_date_value,
        {amount} AS amount_value,
        {repayment_date} AS repayment_date_value,
        {due_date} AS due_date_value,
        CAST({txn_date} AS text) AS txn_date_raw,
        CAST({amount} AS text) AS amount_raw,
        NULLIF(TRIM(CAST({repayment_date} AS text)), '') AS repayment_date_raw,
        NULLIF(TRIM(CAST({due_date} AS text)), '') AS due_date_raw,
        {copy_no} AS copy_no
    FROM {source}
)
, valued AS (
    SELECT
        typed.*,
        pg_temp.amount_value(amount_value) AS amount_double,
        customer_id_raw ~ '[[:cntrl:]]' AS has_control
    FROM typed
)
SELECT
    CASE WHEN has_control THEN NULLIF(TRIM(regexp_replace(customer_id_raw, '[[:cntrl:]]', '', 'g')), '')
         ELSE NULLIF(TRIM(customer_id_raw), '') END AS customer_id,
    pg_temp.day_number(txn_date_value) AS txn_day,
    CASE WHEN amount_double <> 'NaN' AND abs(amount_double) < 1e15 THEN amount_double END AS amount,
    pg_temp.day_number(repayment_date_value) AS repay_day,
    pg_temp.day_number(due_date_value) AS due_day,
    txn_date_raw, amount_raw, repayment_date_raw, due_date_raw, copy_no,
    CASE WHEN amount_double = 'NaN' THEN 'amount_not_finite'
         WHEN abs(amount_double) >= 1e15 THEN 'amount_too_large' END AS amount_issue,
    CASE WHEN has_control THEN 1 ELSE 0 END AS id_cleaned
FROM valued;

ANALYZE staged;
