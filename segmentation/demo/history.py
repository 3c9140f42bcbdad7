"""A demo segment history: the demo transactions scored with a saved model as they stood at the
end of each of several weeks, recorded as `segmentation score` records them
(``segment_history``, ``segment_migration``), so that the dashboard's movement view has
something to show on the demo data.

Week by week the data is cut at that week's end: loans made later are not there yet, and a
repayment made later is not yet made (the loan is still open, and late once its due day has
passed). Customers then move between segments as they would in a weekly scoring job: late
payers who repay, active borrowers who lapse.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError


def write_demo_history(transactions, model_dir, url: str, scorings: int = 8, every_weeks: int = 2) -> pd.DataFrame:
    """Score ``transactions`` as they stood every ``every_weeks`` weeks, ``scorings`` times, the
    last at the data's last day, with the model in ``model_dir``, and record each scoring in the
    database at ``url`` (as `segmentation score` does: a history row when a segment is set or
    changes, so a scoring that changes nobody leaves no row).

    Parameters
    ----------
    transactions : path or DataFrame
        Demo transactions (customer_id, txn_date, amount, repayment_date[, due_date]).
    model_dir : path or Bundle
        The saved model (not refitted).
    url : str
        Where segment_history and segment_migration are written (SQLite, DuckDB, PostgreSQL);
        an earlier history of the same model there is replaced.
    scorings, every_weeks : int
        How many scorings, and the weeks between two.

    Returns
    -------
    DataFrame
        The history written (customer_id, segment, segment_name, scored_at, model_version).
    """
    from ..book.bundle import Bundle
    from ..io.database import Database
    from ..jobs import load_dataset
    from ..outputs.migration import HISTORY_TABLE, MIGRATION_TABLE, record_scoring

    if not 2 <= scorings <= 52 or not 1 <= every_weeks <= 12:
        raise InputError(f"scorings must be from 2 to 52 and every_weeks from 1 to 12, got {scorings} and {every_weeks}")
    frame = transactions if isinstance(transactions, pd.DataFrame) else _read(Path(transactions))
    for column in ("txn_date", "repayment_date", "due_date"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    bundle = model_dir if isinstance(model_dir, Bundle) else Bundle.load(model_dir)
    end = max(frame["txn_date"].max(), frame["repayment_date"].max())
    ends = [end - pd.Timedelta(weeks=every_weeks * i) for i in range(scorings - 1, -1, -1)]
    db = Database(url)
    with db.connect(create=True) as con:
        for table in (HISTORY_TABLE, MIGRATION_TABLE):
            if db.has_table(con, table):
                db.execute(con, f"DROP TABLE {table}")
    for at in ends:
        seen = frame[frame["txn_date"] <= at].copy()
        seen.loc[seen["repayment_date"] > at, "repayment_date"] = pd.NaT
        options = bundle.load_options(as_of=at.strftime("%Y-%m-%d"))
        assigned = bundle.assign(load_dataset(seen, options).customers)
        with db.connect(create=True) as con:
            record_scoring(db, con, assigned, bundle.model_version, at)
    with db.connect() as con:
        return db.read(con, f"SELECT * FROM {HISTORY_TABLE}")


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"customer_id": str})
