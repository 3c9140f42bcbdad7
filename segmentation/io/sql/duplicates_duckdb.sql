-- Exact duplicate rows (DuckDB): number the copies among the rows whose hash of every source
-- column repeats. Rows with different hashes differ, so only those few rows are compared (on
-- their values too, against a hash collision): the result of ROW_NUMBER() over every column
-- (as the SQLite and PostgreSQL staging compute it) at a fraction of its cost at 10M rows.
UPDATE staged SET copy_no = numbered.copy_no
FROM (
    SELECT
        rowid AS rid,
        ROW_NUMBER() OVER (
            PARTITION BY row_hash, customer_id, txn_date_raw, amount_raw, repayment_date_raw, due_date_raw
        ) AS copy_no
    FROM staged
    WHERE row_hash IN (SELECT row_hash FROM staged GROUP BY row_hash HAVING COUNT(*) > 1)
) AS numbered
WHERE staged.rowid = numbered.rid AND numbered.copy_no > 1
