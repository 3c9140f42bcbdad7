-- Portable: rows set aside per reason, with one example each (the smallest, so it is stable).
SELECT reject_reason, COUNT(*) AS n_rows, MIN(reject_example) AS example
FROM checked
WHERE reject_reason IS NOT NULL
GROUP BY reject_reason
ORDER BY n_rows DESC, reject_reason
