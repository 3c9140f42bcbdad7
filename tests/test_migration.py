"""Migration between scorings: the table from segment_history, and the Sankey figure."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from segmentation.outputs.migration import migration_sankey, migration_table, scorings, segment_state

T1, T2, T3 = (pd.Timestamp(f"2026-11-{d:02d} 02:00") for d in (1, 2, 3))
NAMES = {0: "Frequent", 1: "Lapsed", 2: "Late"}


def history() -> pd.DataFrame:
    rows = [(c, 0, T1, "v1") for c in "abcd"] + [(c, 1, T1, "v1") for c in "ef"]
    rows += [("a", 2, T2, "v1"), ("b", 1, T2, "v1"), ("g", 0, T2, "v1")]  # two move, one new
    rows += [("a", 0, T3, "v1")]  # a comes back
    rows += [(c, 5, T1 - pd.Timedelta(days=30), "v0") for c in "abcdefg"]  # an older model
    frame = pd.DataFrame(rows, columns=["customer_id", "segment", "scored_at", "model_version"])
    frame.insert(2, "segment_name", frame["segment"].map(NAMES).fillna("old"))
    return frame


def flows(table: pd.DataFrame) -> dict:
    return {
        (None if pd.isna(f) else int(f), int(t)): int(n)
        for f, t, n in zip(table["from_segment"], table["to_segment"], table["customers"], strict=True)
    }


def test_state_at_a_time_is_the_latest_row_before_it():
    h = history()
    assert scorings(h) == [T1, T2, T3]  # the latest model's scorings only
    assert segment_state(h, T2)["segment"].to_dict() == {"a": 2, "b": 1, "c": 0, "d": 0, "e": 1, "f": 1, "g": 0}
    assert segment_state(h)["segment"]["a"] == 0


def test_migration_between_the_last_two_scorings_by_default():
    table = migration_table(history())
    assert flows(table) == {(0, 0): 3, (1, 1): 3, (2, 0): 1}
    assert set(table["from_scored_at"]) == {T2} and set(table["to_scored_at"]) == {T3}
    assert table["customers"].sum() == 7


def test_migration_between_chosen_scorings_counts_new_customers():
    table = migration_table(history(), before=T1, after=T2)
    assert flows(table) == {(0, 0): 2, (0, 2): 1, (0, 1): 1, (1, 1): 2, (None, 0): 1}
    new = table[table["from_segment"].isna()]
    assert new["from_name"].tolist() == ["New customers"] and new["to_name"].tolist() == ["Frequent"]


def test_first_scoring_comes_entirely_from_new_customers():
    table = migration_table(history(), after=T1)
    assert flows(table) == {(None, 0): 4, (None, 1): 2}


def test_older_model_is_separate():
    table = migration_table(history(), model_version="v0")
    assert flows(table) == {(None, 5): 7} and set(table["model_version"]) == {"v0"}


def test_sankey_figure_shows_every_flow():
    table = migration_table(history(), before=T1, after=T2)
    fig = migration_sankey(table)
    assert isinstance(fig, go.Figure)
    sankey = fig.data[0]
    labels = list(sankey.node.label)
    assert labels[0] == "New customers" and "0 Frequent" in labels and "2 Late" in labels
    links = {
        (labels[s], labels[t]): v
        for s, t, v in zip(sankey.link.source, sankey.link.target, sankey.link.value, strict=True)
    }
    assert links[("0 Frequent", "2 Late")] == 1 and links[("New customers", "0 Frequent")] == 1
    assert sum(links.values()) == 7
    assert "2026-11-01 02:00 to 2026-11-02 02:00" in fig.layout.title.text


def test_empty_history_gives_an_empty_table():
    empty = history().iloc[:0]
    assert migration_table(empty).empty
