"""Segment history and migration: the ``segment_history`` a database keeps (a row whenever a
customer's segment is set or changes), how many customers moved from each segment to each
other between two scorings, as a table and as a Sankey figure (a pure function the dashboard
can show).

The input is the ``segment_history`` table (customer_id, segment, segment_name, scored_at,
model_version): one row per customer per scoring in which their segment was set or changed.
A customer's segment at a time is their latest row at or before it.
"""

from __future__ import annotations

import pandas as pd

HISTORY_COLUMNS = ["customer_id", "segment", "segment_name", "scored_at", "model_version"]
MIGRATION_COLUMNS = [
    "from_segment",
    "from_name",
    "to_segment",
    "to_name",
    "customers",
    "from_scored_at",
    "to_scored_at",
    "model_version",
]
NEW = "New customers"


def _clean(history: pd.DataFrame, model_version: str | None) -> pd.DataFrame:
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise ValueError(f"history lacks column(s) {', '.join(missing)}")
    h = history[HISTORY_COLUMNS].copy()
    h["scored_at"] = pd.to_datetime(h["scored_at"])
    if h.empty:
        return h
    if model_version is None:
        # Segment ids of different models are not comparable: use the latest model's rows.
        model_version = h.loc[h["scored_at"].idxmax(), "model_version"]
    return h[h["model_version"] == model_version]


def scorings(history: pd.DataFrame, model_version: str | None = None) -> list[pd.Timestamp]:
    """Times at which the model (default: the latest one) scored, oldest first."""
    return sorted(_clean(history, model_version)["scored_at"].unique())


def segment_state(history: pd.DataFrame, at=None, model_version: str | None = None) -> pd.DataFrame:
    """Each customer's segment (and name) at time ``at`` (default: now), by customer_id."""
    h = _clean(history, model_version)
    if at is not None:
        h = h[h["scored_at"] <= pd.Timestamp(at)]
    latest = h.sort_values(["customer_id", "scored_at"], kind="stable").groupby("customer_id").tail(1)
    return latest.set_index("customer_id")[["segment", "segment_name"]]


def migration_table(
    history: pd.DataFrame, before=None, after=None, model_version: str | None = None
) -> pd.DataFrame:
    """Customers moving from each segment to each other between two scorings.

    Parameters
    ----------
    history : DataFrame
        The segment_history table.
    before, after : timestamp, optional
        The two scorings compared; default the last two of the model. With only one scoring,
        every customer comes from "New customers".
    model_version : str, optional
        Which model's scorings (default the latest model's).

    Returns
    -------
    DataFrame
        One row per (from, to) pair with customers > 0, staying included: from_segment (<NA>
        for customers new since ``before``), from_name, to_segment, to_name, customers,
        from_scored_at, to_scored_at, model_version.
    """
    h = _clean(history, model_version)
    times = sorted(h["scored_at"].unique())
    if not times:
        return pd.DataFrame(columns=MIGRATION_COLUMNS)
    after = pd.Timestamp(after) if after is not None else times[-1]
    if before is None:
        earlier = [t for t in times if t < after]
        before = earlier[-1] if earlier else None
    old = segment_state(h, before) if before is not None else segment_state(h.iloc[:0])
    new = segment_state(h, after)
    pairs = new.join(old, how="left", suffixes=("_to", "_from"))
    table = (
        pairs.assign(
            from_segment=pairs["segment_from"].astype("Int64"),
            from_name=pairs["segment_name_from"].fillna(NEW),
            to_segment=pairs["segment_to"].astype("Int64"),
            to_name=pairs["segment_name_to"],
        )
        .groupby(["from_segment", "from_name", "to_segment", "to_name"], dropna=False)
        .size()
        .rename("customers")
        .reset_index()
        .sort_values(["from_segment", "to_segment"], na_position="first", ignore_index=True)
    )
    table["from_scored_at"] = pd.Timestamp(before) if before is not None else pd.NaT
    table["to_scored_at"] = pd.Timestamp(after)
    table["model_version"] = h["model_version"].iloc[0] if len(h) else None
    return table[MIGRATION_COLUMNS]


def segment_sizes(history: pd.DataFrame, model_version: str | None = None) -> pd.DataFrame:
    """Customers in each segment after each scoring (of the model, default the latest).

    Returns
    -------
    DataFrame
        scored_at, segment, segment_name, customers: one row per scoring and segment, oldest
        first (a segment with nobody at a scoring has no row).
    """
    h = _clean(history, model_version)
    frames = []
    for at in sorted(h["scored_at"].unique()):
        state = segment_state(h, at)
        counts = state.groupby(["segment", "segment_name"]).size().rename("customers").reset_index()
        frames.append(counts.assign(scored_at=pd.Timestamp(at)))
    if not frames:
        return pd.DataFrame(columns=["scored_at", "segment", "segment_name", "customers"])
    return pd.concat(frames, ignore_index=True)[["scored_at", "segment", "segment_name", "customers"]]


def movers(history: pd.DataFrame, before, after, from_segment=None, to_segment=None,
           model_version: str | None = None) -> pd.DataFrame:
    """The customers behind one flow of :func:`migration_table`: in ``from_segment`` at
    ``before`` and in ``to_segment`` at ``after`` (None: any segment; ``before`` None: the
    customers new since the first scoring).

    Returns
    -------
    DataFrame
        customer_id, from_segment (<NA> for a new customer), from_name, to_segment, to_name,
        sorted by customer_id.
    """
    h = _clean(history, model_version)
    old = segment_state(h, before) if before is not None else segment_state(h.iloc[:0])
    new = segment_state(h, after)
    pairs = new.join(old, how="left", suffixes=("_to", "_from"))
    out = pd.DataFrame(
        {
            "customer_id": pairs.index.astype(str),
            "from_segment": pairs["segment_from"].astype("Int64").to_numpy(),
            "from_name": pairs["segment_name_from"].fillna(NEW).to_numpy(),
            "to_segment": pairs["segment_to"].astype("Int64").to_numpy(),
            "to_name": pairs["segment_name_to"].to_numpy(),
        }
    )
    if from_segment is not None:
        out = out[out["from_segment"] == int(from_segment)]
    if to_segment is not None:
        out = out[out["to_segment"] == int(to_segment)]
    return out.sort_values("customer_id", ignore_index=True)


def read_history(url: str) -> pd.DataFrame:
    """The ``segment_history`` table of the database at ``url`` (PostgreSQL, SQLite, DuckDB);
    empty when it has none."""
    from .. import shapes  # noqa: F401  (first: io.database alone meets the io <-> shapes import cycle)
    from ..io.database import Database

    db = Database(url)
    with db.connect() as con:
        if not db.has_table(con, HISTORY_TABLE):
            return pd.DataFrame(columns=HISTORY_COLUMNS)
        frame = db.read(con, f"SELECT {', '.join(HISTORY_COLUMNS)} FROM {HISTORY_TABLE}")
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame


def migration_sankey(table: pd.DataFrame, title: str | None = None):
    """A Sankey figure of a :func:`migration_table`: segments before on the left, after on the right.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go
    from plotly.colors import hex_to_rgb, qualitative

    def nodes(ids, names):
        return [(None if pd.isna(i) else int(i), n) for i, n in zip(ids, names, strict=True)]

    def color(seg, alpha=1.0):
        rgb = (158, 158, 158) if seg is None else hex_to_rgb(qualitative.Plotly[seg % len(qualitative.Plotly)])
        return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha})"

    starts = nodes(table["from_segment"], table["from_name"])
    ends = nodes(table["to_segment"], table["to_name"])
    left, right = list(dict.fromkeys(starts)), list(dict.fromkeys(ends))
    labels = [name if seg is None else f"{seg} {name}" for seg, name in left + right]
    if title is None and len(table):
        start, end = table["from_scored_at"].iloc[0], table["to_scored_at"].iloc[0]
        since = "first scoring" if pd.isna(start) else f"{pd.Timestamp(start):%Y-%m-%d %H:%M}"
        title = f"Segment migration: {since} to {pd.Timestamp(end):%Y-%m-%d %H:%M} (UTC)"
    fig = go.Figure(
        go.Sankey(
            arrangement="fixed",
            node={"label": labels, "color": [color(seg) for seg, _ in left + right], "pad": 12, "thickness": 16},
            link={
                "source": [left.index(n) for n in starts],
                "target": [len(left) + right.index(n) for n in ends],
                "value": table["customers"].astype(int).tolist(),
                # Customers who stayed take their segment's colour; movers are grey.
                "color": [
                    color(a[0], 0.45) if a[0] == b[0] else "rgba(120,120,120,0.35)"
                    for a, b in zip(starts, ends, strict=True)
                ],
                "hovertemplate": "%{source.label} to %{target.label}: %{value:,} customers<extra></extra>",
            },
        )
    )
    fig.update_layout(title=title, font={"size": 12}, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


HISTORY_TABLE = "segment_history"
MIGRATION_TABLE = "segment_migration"


def now() -> pd.Timestamp:
    """UTC now, to the microsecond (what every database keeps)."""
    return pd.Timestamp.now(tz="UTC").tz_localize(None).floor("us")


def record_scoring(db, con, assigned: pd.DataFrame, model_version: str, scored_at) -> pd.DataFrame:
    """Append to segment_history the customers whose segment is new or changed, and replace
    segment_migration, in the transaction of ``con`` (a connection of the
    :class:`~segmentation.io.database.Database` ``db``). Returns the appended rows."""
    if db.has_table(con, HISTORY_TABLE):
        cols = ", ".join(HISTORY_COLUMNS)
        version = model_version.replace("'", "''")
        history = db.read(con, f"SELECT {cols} FROM {HISTORY_TABLE} WHERE model_version = '{version}'")
    else:
        history = pd.DataFrame(columns=HISTORY_COLUMNS)
    current = segment_state(history, model_version=model_version)["segment"]
    before = assigned["customer_id"].map(current)
    changed = assigned[before.isna() | (before != assigned["segment"])]
    rows = pd.DataFrame(
        {
            "customer_id": changed["customer_id"].astype(str),
            "segment": changed["segment"].astype("int64"),
            "segment_name": changed["segment_name"].astype(str),
            "scored_at": pd.Series(pd.Timestamp(scored_at), index=changed.index, dtype="datetime64[us]"),
            "model_version": model_version,
        }
    )
    db.append(con, HISTORY_TABLE, rows)
    migration = migration_table(pd.concat([history, rows], ignore_index=True), model_version=model_version)
    db.swap_in(con, {MIGRATION_TABLE: migration})
    return rows
