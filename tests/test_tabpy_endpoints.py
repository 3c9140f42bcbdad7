"""The TabPy endpoint functions in-process: same answers as the library, JSON-native, row rules."""

from __future__ import annotations

import json
import pickle

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from segmentation import Bundle, Segmenter
from segmentation.errors import InputError
from segmentation.tabpy import (
    ModelEndpoint,
    rfm_score,
    segment_action,
    segment_assign,
    segment_live,
    segment_name,
)


@pytest.fixture(scope="module")
def bundle(demo_run):
    return Bundle.load(demo_run / "model")


@pytest.fixture(scope="module")
def customers(demo_run):
    return pd.read_csv(demo_run / "customer_segments.csv", dtype={"customer_id": str})


def tableau_lists(frame: pd.DataFrame, columns) -> list[list]:
    """Columns as Tableau sends them: JSON lists, null for missing."""
    return json.loads(json.dumps([[None if pd.isna(v) else v for v in frame[c].tolist()] for c in columns]))


def test_model_endpoints_equal_the_library_row_for_row(bundle, customers):
    lists = tableau_lists(customers, bundle.features)
    assert customers[bundle.features].isna().any(axis=1).sum() > 0  # partly missing rows included
    expected = bundle.assign(customers)
    assert segment_assign(bundle, *lists) == expected["segment"].tolist() == customers["segment"].tolist()
    assert segment_name(bundle, *lists) == expected["segment_name"].tolist()
    assert segment_action(bundle, *lists) == expected["recommended_action"].tolist()


def test_answers_are_json_native(bundle, customers):
    lists = tableau_lists(customers.head(50), bundle.features)
    lists[0][3] = None
    for func, kind in ((segment_assign, int), (segment_name, str), (segment_action, str)):
        out = func(bundle, *lists)
        assert {type(v) for v in out} <= {kind, type(None)}
        json.dumps(out, allow_nan=False)
    live = segment_live(3, *lists)
    assert {type(v) for v in live} == {int}
    assert {type(v) for v in rfm_score(*lists[:3])} == {str, type(None)}


def test_bad_rows_get_null_and_the_rest_are_answered(bundle, customers, caplog):
    rows = customers.head(6).copy()
    lists = tableau_lists(rows, bundle.features)
    for values in lists:
        values[1] = None  # a padded mark: nothing at all
    lists[2][2] = "12,5"  # text is not a number
    lists[0][4] = True  # nor is a boolean
    lists[3][5] = None  # partly missing: filled with the training median, as the library does
    out = segment_assign(bundle, *lists)
    assert out[1] is None and out[2] is None and out[4] is None
    partly = rows.iloc[[5]][bundle.features].assign(**{bundle.features[3]: np.nan})
    assert out[5] == int(bundle.predict(partly)[0])
    assert [out[0], out[3]] == rows["segment"].iloc[[0, 3]].tolist()
    assert "3 of 6 rows answered null" in caplog.text and "'12,5'" in caplog.text


@pytest.mark.parametrize(
    ("lists", "message"),
    [
        ([[1.0]] * 5, r"segment_assign takes 6 lists \(txn_count, .*recency_days\), got 5"),
        ([[1.0, 2.0]] * 5 + [[1.0]], r"unequal length \(.*recency_days: 1\)"),
        ([[1.0]] * 5 + [3.0], r"argument 6 \(recency_days\) is a single float"),
    ],
)
def test_structural_problems_raise_naming_them(bundle, lists, message):
    with pytest.raises(InputError, match=message):
        segment_assign(bundle, *lists)


def test_empty_partition_gives_empty_answers(bundle):
    empty = [[] for _ in bundle.features]
    assert segment_assign(bundle, *empty) == [] == segment_name(bundle, *empty)
    assert segment_live(3, [], []) == [] == rfm_score([], [], [])


def test_live_clustering_is_the_library_segmenter(customers):
    sample = customers.sample(300, random_state=1)
    columns = ["txn_count", "avg_txn_amount", "avg_repayment_days"]
    lists = tableau_lists(sample, columns)
    expected = Segmenter(n_clusters=4).fit(sample[columns]).labels_.tolist()
    assert segment_live(4, *lists) == expected
    assert segment_live([4] * 300, *lists) == expected  # k as a Tableau parameter: one list
    auto = Segmenter().fit(sample[columns])
    assert segment_live(0, *lists) == auto.labels_.tolist()


def test_live_clustering_copes_with_tiny_partitions():
    assert segment_live(5, [10.0, 20.0], [1.0, 3.0]) in ([0, 1], [1, 0])
    assert segment_live(3, [7.0, 7.0, None], [1.0, 1.0, None]) == [0, 0, None]
    assert segment_live(0, [1.0, 2.0], [5.0, 5.0]) == [0, 0]  # auto needs 3 distinct rows
    assert segment_live(2, [1.0], [None]) == [0]  # a feature empty in every row is left out
    assert segment_live(4, [None, "x"], [None, 2.0]) == [None, None]


@pytest.mark.parametrize(
    ("k", "message"), [("3", "whole number"), (-1, "whole number"), ([2, 3], "one whole")]
)
def test_live_clustering_refuses_a_bad_k(k, message):
    with pytest.raises(InputError, match=message):
        segment_live(k, [1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="at least one list"):
        segment_live(3)


def test_rfm_scores_by_hand():
    recency = [1, 2, 3, 4, 5, None, 9]
    frequency = [10, 8, 6, 4, 2, 3, 2]
    monetary = [5.0, 5.0, 5.0, 5.0, 5.0, 1.0, "x"]
    # Six complete rows on recency/frequency, but the last has text money: five are scored.
    assert rfm_score(recency, frequency, monetary) == ["553", "443", "333", "223", "113", None, None]
    assert rfm_score([3], [1], [10]) == ["555"]  # a lone row is its own top quintile


def test_model_endpoint_pickles_as_a_path_and_loads_the_model_once(bundle, demo_run):
    endpoint = ModelEndpoint(segment_assign, demo_run / "model", bundle)
    blob = cloudpickle.dumps(endpoint)
    assert len(blob) < 2_000  # a reference and a path, not the fitted model
    loaded = pickle.loads(blob)
    assert loaded.bundle is not bundle and loaded.model_dir == str((demo_run / "model").resolve())
    row = [[20], [1500.0], [30000.0], [5.0], [0.0], [10]]
    assert loaded(*row) == segment_assign(bundle, *row)
    assert loaded.__doc__ == segment_assign.__doc__


def test_deployed_texts_have_no_percent_sign(bundle, demo_run):
    # TabPy writes each endpoint's description and docstring into a ConfigParser file, which
    # reads "%" as interpolation and refuses the deploy (found by the real-server test).
    from segmentation.tabpy.deploy import endpoint_table

    table = endpoint_table(demo_run / "model", bundle)
    assert "segment_explain" in table
    for name, (func, description) in table.items():
        assert "%" not in description and "%" not in (func.__doc__ or ""), name
