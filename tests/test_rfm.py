"""RFM scores (SQL and pandas) and named RFM segments, checked against hand-computed cases."""

from __future__ import annotations

import datetime as dt
import itertools

import pandas as pd
import pytest

from segmentation.errors import InputError
from segmentation.io.sources import purchase_features
from segmentation.shapes.rfm import RfmTable, fm_score, quintile_score, rfm_scores

AS_OF = dt.date(2024, 12, 31)
# customer: [(days before AS_OF, amount), ...]. By hand (N = 5 distinct values, so the score
# is the rank counted from the worst: ceil(5 * rank / 5) = rank):
#   recency   D 300, C 100, E 30, B 10, A 1        -> R: D 1, C 2, E 3, B 4, A 5
#   frequency D 1, C 2, E 3, A 4, B 5              -> F: D 1, C 2, E 3, A 4, B 5
#   monetary  D 20, C 50, E 150, A 600, B 1000     -> M: D 1, C 2, E 3, A 4, B 5
#   fm = (F + M + 1) // 2                          -> A 4, B 5, C 2, D 1, E 3
#   named (rules/rfm_segments.yaml grid)           -> A r5 fm4 Champions, B r4 fm5 Loyal,
#        C r2 fm2 Hibernating, D r1 fm1 Lost, E r3 fm3 Need Attention
PURCHASES = {
    "A": [(1, 100), (30, 200), (120, 100), (213, 200)],
    "B": [(10, 200), (40, 200), (71, 200), (101, 200), (132, 200)],
    "C": [(100, 20), (150, 30)],
    "D": [(300, 20)],
    "E": [(30, 100), (45, 25), (60, 25)],
}
EXPECTED = pd.DataFrame(
    {
        "customer_id": ["A", "B", "C", "D", "E"],
        "recency_days": [1, 10, 100, 300, 30],
        "frequency": [4, 5, 2, 1, 3],
        "monetary": [600.0, 1000.0, 50.0, 20.0, 150.0],
        "avg_order_value": [150.0, 200.0, 25.0, 20.0, 50.0],
        "tenure_days": [213, 132, 150, 300, 60],
        "r_score": [5, 4, 2, 1, 3],
        "f_score": [4, 5, 2, 1, 3],
        "m_score": [4, 5, 2, 1, 3],
    }
)
NAMES = {"A": "Champions", "B": "Loyal", "C": "Hibernating", "D": "Lost", "E": "Need Attention"}
ALL_NAMES = {
    "Champions",
    "Loyal",
    "Potential Loyalists",
    "New",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose",
    "Hibernating",
    "Lost",
}


def purchase_log() -> pd.DataFrame:
    rows = [
        (cid, (AS_OF - dt.timedelta(days=ago)).isoformat(), amount)
        for cid, purchases in PURCHASES.items()
        for ago, amount in purchases
    ]
    return pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_purchase_features_and_scores_by_hand(tmp_path, engine):
    path = tmp_path / "orders.csv"
    purchase_log().to_csv(path, index=False)
    features, report = purchase_features(path, engine=engine, as_of=AS_OF.isoformat())
    pd.testing.assert_frame_equal(features, EXPECTED)
    assert report.rows_in == report.rows_used == 15 and report.customers == 5


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_tied_customers_share_the_score_of_their_average_rank(tmp_path, engine):
    # frequency 1, 1, 1, 2, 3, 3 (N = 6): the three one-time buyers hold ranks 1-3, average 2:
    # ceil(5 * 2 / 6) = 2; the next rank 4: ceil(20 / 6) = 4; the last two ranks 5-6, average
    # 5.5: ceil(27.5 / 6) = 5. All spent 10 a purchase and bought last on the same day: every
    # customer ties on recency (average rank 3.5: ceil(17.5 / 6) = 3).
    counts = {"p": 1, "q": 1, "r": 1, "s": 2, "t": 3, "u": 3}
    rows = [(c, "2024-12-01", 10) for c, n in counts.items() for _ in range(n)]
    path = tmp_path / "ties.csv"
    pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"]).assign(
        order_id=range(len(rows))
    ).to_csv(path, index=False)
    features, _ = purchase_features(path, engine=engine)
    assert features["f_score"].tolist() == [2, 2, 2, 4, 5, 5]
    assert features["m_score"].tolist() == [2, 2, 2, 4, 5, 5]  # spend follows the count here
    assert features["r_score"].tolist() == [3] * 6
    pd.testing.assert_frame_equal(rfm_scores(features), features[["r_score", "f_score", "m_score"]])


def test_sql_scores_equal_the_library_rule_on_demo_data(tmp_path):
    from segmentation.demo import demo_purchases

    path = tmp_path / "orders.csv"
    demo_purchases(800, seed=9).to_csv(path, index=False)
    features, _ = purchase_features(path)
    assert features["f_score"].value_counts().size == 5  # many ties on frequency, still 1-5
    pd.testing.assert_frame_equal(rfm_scores(features), features[["r_score", "f_score", "m_score"]])


def test_pandas_scores_match_the_sql():
    scores = rfm_scores(EXPECTED.drop(columns=["r_score", "f_score", "m_score"]))
    pd.testing.assert_frame_equal(scores, EXPECTED[["r_score", "f_score", "m_score"]])
    assert rfm_scores(EXPECTED[["customer_id", "frequency"]]) is None  # no recency, no scores


def test_named_segments_by_hand():
    names = RfmTable.load().name(EXPECTED["r_score"], EXPECTED["f_score"], EXPECTED["m_score"])
    assert dict(zip(EXPECTED["customer_id"], names, strict=True)) == NAMES
    assert fm_score([4, 5, 1, 1, 3], [4, 5, 2, 1, 3]).tolist() == [4, 5, 2, 1, 3]


def test_quintiles_and_ties():
    assert quintile_score(range(10, 101, 10)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # three equal values hold ranks 2-4, average 3: ceil(5 * 3 / 4) = 4; the 1 ceil(5 / 4) = 2
    assert quintile_score([5, 5, 5, 1]).tolist() == [4, 4, 4, 2]
    assert quintile_score([7, 7, 7]).tolist() == [4, 4, 4]  # average rank 2: ceil(10 / 3)
    # ranks 3, 1, 2 from the worst (the longest ago): ceil(5 * rank / 3)
    assert quintile_score([3, 300, 30], higher_is_better=False).tolist() == [5, 2, 4]
    # a missing value gets the middle score and does not count: N = 2 here
    assert quintile_score([1.0, None, 3.0]).tolist() == [3, 3, 5]


@pytest.mark.parametrize(
    ("r", "f", "m", "name"),
    [
        (5, 5, 5, "Champions"),
        (5, 4, 3, "Champions"),  # fm = 4
        (5, 1, 1, "New"),
        (5, 1, 2, "Potential Loyalists"),  # fm = 2
        (4, 1, 1, "Promising"),
        (4, 3, 3, "Potential Loyalists"),
        (4, 5, 4, "Loyal"),
        (3, 4, 4, "Loyal"),
        (3, 3, 3, "Need Attention"),
        (3, 1, 2, "About to Sleep"),
        (2, 5, 5, "Can't Lose"),
        (1, 5, 4, "Can't Lose"),  # fm = 5
        (2, 3, 4, "At Risk"),
        (1, 4, 3, "At Risk"),
        (2, 1, 1, "Hibernating"),
        (1, 2, 2, "Hibernating"),
        (1, 1, 1, "Lost"),
    ],
)
def test_score_to_segment_grid(r, f, m, name):
    assert RfmTable.load().name([r], [f], [m]).tolist() == [name]


def test_every_score_has_exactly_one_of_the_eleven_names():
    combos = list(itertools.product(range(1, 6), repeat=3))
    r, f, m = (list(x) for x in zip(*combos, strict=True))
    names = RfmTable.load().name(r, f, m)
    assert set(names) == ALL_NAMES


def test_the_table_is_an_editable_data_file(tmp_path):
    custom = tmp_path / "rfm.yaml"
    custom.write_text(
        "segments:\n"
        "  - {name: Best, r: [4, 5], f: [4, 5]}\n"
        "  - {name: Big spenders, m: [5, 5]}\n"
    )
    names = RfmTable.load(custom).name([5, 1, 3], [5, 1, 1], [1, 5, 1])
    assert names.tolist() == ["Best", "Big spenders", "Unclassified"]
    custom.write_text("segments:\n  - {name: Odd, r: 3}\n")
    with pytest.raises(InputError, match=r"Odd: r must be \[low, high\], got 3"):
        RfmTable.load(custom)
    custom.write_text("nothing: here\n")
    with pytest.raises(InputError, match="has no 'segments' list"):
        RfmTable.load(custom)
