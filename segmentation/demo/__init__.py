"""Seeded synthetic data of every shape the workbench reads, drawn from known behaviour groups
(same seed, same data; ``with_groups=True`` adds each customer's latent ``group``)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..errors import InputError
from .shapes import demo_creditcard, demo_ecommerce, demo_purchases
from .transactions import GROUPS, MAX_CUSTOMERS, MIN_CUSTOMERS, demo_transactions

#: Shape -> generator(n_customers, seed).
DEMOS = {
    "transactions": demo_transactions,
    "purchases": demo_purchases,
    "ecommerce": demo_ecommerce,
    "creditcard": demo_creditcard,
}


def write_demo(path: str | Path, n_customers: int = 5_000, seed: int = 0, shape: str = "transactions") -> Path:
    """Write demo data of ``shape`` to CSV (or Parquet, by the file's suffix) and return the path."""
    if shape not in DEMOS:
        raise InputError(f"unknown demo shape {shape!r}; use {', '.join(DEMOS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = DEMOS[shape](n_customers, seed)
    dates = [c for c in frame.columns if str(frame[c].dtype).startswith("datetime")]
    columns = "*" + (f" REPLACE ({', '.join(f'CAST({c} AS DATE) AS {c}' for c in dates)})" if dates else "")
    fmt = "FORMAT PARQUET" if path.suffix.lower() == ".parquet" else "FORMAT CSV, HEADER"
    target = "'" + str(path).replace("'", "''") + "'"
    con = duckdb.connect()
    con.register("demo", frame)
    # DuckDB writes millions of rows in seconds where pandas.to_csv takes a minute.
    con.execute(f"COPY (SELECT {columns} FROM demo) TO {target} ({fmt})")
    return path


__all__ = [
    "DEMOS",
    "GROUPS",
    "MAX_CUSTOMERS",
    "MIN_CUSTOMERS",
    "demo_creditcard",
    "demo_ecommerce",
    "demo_purchases",
    "demo_transactions",
    "write_demo",
]
