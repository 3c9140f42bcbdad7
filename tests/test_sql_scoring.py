"""The generated scoring SQL gives Python's segment on every row, exact ties and near-ties
included, in DuckDB and in a real PostgreSQL server."""

from __future__ import annotations

import itertools

import duckdb
import numpy as np
import pandas as pd
import pytest

from segmentation import fit_bundle, load_dataset
from segmentation.io.database import Database
from segmentation.model.assignment import ScoringParameters
from segmentation.outputs.sql import scoring_sql


@pytest.fixture(scope="module")
def bundle_and_customers(demo_frame):
    dataset = load_dataset(demo_frame.drop(columns="group"))
    return fit_bundle(dataset, k=4), dataset.customers


def hand_made() -> ScoringParameters:
    """Round centroids in an unscaled space, so that many grid points tie exactly."""
    return ScoringParameters(
        features=("a", "b", "c"),
        medians=np.array([1.0, 0.0, 0.0]),
        logged=(False, False, True),
        means=np.zeros(3),
        scales=np.ones(3),
        centers=np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, -1.0, 0.0]]),
    )


def grid_rows() -> pd.DataFrame:
    """Every combination of dyadic values (exact in binary), with missing values mixed in."""
    values = [0.0, 0.5, 1.0, 1.5, 2.0, np.nan]
    rows = list(itertools.product(values, [-1.0, -0.5, 0.0, 0.5, 1.0, np.nan], [0.0, np.nan]))
    frame = pd.DataFrame(rows, columns=["a", "b", "c"])
    frame.insert(0, "customer_id", [f"g{i:04d}" for i in range(len(frame))])
    return frame


def near_tie_rows(params: ScoringParameters, n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Raw feature rows mapped from points on the bisector of two centroids (in the whitened
    space the centroids live in), then nudged by a few ulps: their two nearest distances
    differ only in the last bits."""
    rng = np.random.default_rng(seed)
    k, p = params.centers.shape
    rows = []
    for _ in range(n):
        a, b = rng.choice(k, 2, replace=False)
        ca, cb = params.centers[a], params.centers[b]
        normal = (cb - ca) / np.linalg.norm(cb - ca)
        step = rng.normal(size=p)
        step -= step.dot(normal) * normal  # stay on the bisector
        u = (ca + cb) / 2 + 0.1 * step  # in the centroids' space: back to the scaled space
        z = u if params.whitening is None else np.linalg.solve(params.whitening.T, u)
        y = z * params.scales + params.means
        x = np.where(params.logged, np.sign(y) * np.expm1(np.abs(y)), y)
        x = x + rng.integers(-3, 4, size=p) * np.spacing(x)
        rows.append(x)
    frame = pd.DataFrame(rows, columns=list(params.features))
    frame.insert(0, "customer_id", [f"t{i:05d}" for i in range(n)])
    return frame


def run_sql(url: str, frame: pd.DataFrame, params: ScoringParameters) -> np.ndarray:
    """Write ``frame`` as a table of the database at ``url``, run the SQL there, segments in frame order."""
    db = Database(url)
    db.replace_tables({"features_to_score": frame})
    with db.connect() as con:
        out = db.read(con, scoring_sql(params, "features_to_score"))
    return out.set_index("customer_id")["segment"].reindex(frame["customer_id"]).to_numpy()


def test_exact_ties_go_to_the_lowest_segment_in_sql_and_python(tmp_path):
    params, frame = hand_made(), grid_rows()
    d = params.distances(frame)
    nearest = np.sort(d, axis=1)
    assert (nearest[:, 0] == nearest[:, 1]).sum() >= 20  # the grid really holds exact ties
    expected = params.predict(frame)
    # lowest id among the minima, computed independently of argmin
    assert expected.tolist() == [int(np.flatnonzero(row == row.min())[0]) for row in d]
    got = run_sql(f"duckdb:///{tmp_path / 'ties.duckdb'}", frame, params)
    assert got.tolist() == expected.tolist()


def test_near_ties_agree_in_duckdb(tmp_path, bundle_and_customers):
    bundle, _ = bundle_and_customers
    frame = near_tie_rows(bundle.scoring)
    d = np.sort(bundle.scoring.distances(frame), axis=1)
    assert np.median((d[:, 1] - d[:, 0]) / d[:, 1]) < 1e-12  # they are near-ties indeed
    got = run_sql(f"duckdb:///{tmp_path / 'near.duckdb'}", frame, bundle.scoring)
    assert got.tolist() == bundle.predict(frame).tolist()


def test_python_assignment_matches_sklearn_away_from_ties(bundle_and_customers):
    bundle, customers = bundle_and_customers
    ours = bundle.predict(customers)
    sklearn = bundle.pipeline.predict(customers[bundle.features])
    d = np.sort(bundle.scoring.distances(customers), axis=1)
    clear = (d[:, 1] - d[:, 0]) > 1e-9 * d[:, 1]
    assert clear.mean() > 0.99
    assert (ours[clear] == sklearn[clear]).all()


def test_every_demo_customer_in_duckdb(bundle_and_customers):
    bundle, customers = bundle_and_customers
    con = duckdb.connect()
    con.register("customer_features", customers)
    got = con.execute(scoring_sql(bundle.scoring, "customer_features")).df()
    got = got.set_index("customer_id")["segment"].reindex(customers["customer_id"])
    assert got.tolist() == bundle.predict(customers).tolist()


def test_float_type_spelling(bundle_and_customers):
    bundle, customers = bundle_and_customers
    sql = scoring_sql(bundle.scoring, "customer_features", float_type="DOUBLE")
    assert "DOUBLE PRECISION" not in sql and "AS DOUBLE)" in sql
    con = duckdb.connect()
    con.register("customer_features", customers)
    got = con.execute(sql).df().set_index("customer_id")["segment"].reindex(customers["customer_id"])
    assert got.tolist() == bundle.predict(customers).tolist()


def test_sql_and_python_agree_on_postgresql(postgres, pg_db, bundle_and_customers):
    bundle, customers = bundle_and_customers
    url = postgres.url(pg_db)
    near = near_tie_rows(bundle.scoring, seed=1)
    for frame, params, expected in (
        (customers, bundle.scoring, bundle.predict(customers)),
        (near, bundle.scoring, bundle.predict(near)),
        (grid_rows(), hand_made(), hand_made().predict(grid_rows())),
    ):
        assert run_sql(url, frame, params).tolist() == expected.tolist()


def test_sql_is_plain_and_names_the_model(bundle_and_customers):
    bundle, _ = bundle_and_customers
    sql = scoring_sql(bundle.scoring, "analytics.customer_features")
    assert bundle.model_version in sql and "FROM analytics.customer_features" in sql
    assert "DOUBLE PRECISION" in sql and "LN(" in sql and ";" not in sql
    one = ScoringParameters(("a",), np.zeros(1), (False,), np.zeros(1), np.ones(1), np.zeros((1, 1)))
    assert "0 AS segment" in scoring_sql(one, "t")  # k=1: no CASE without WHEN
    quoted = ScoringParameters(("Total Spend",), np.zeros(1), (True,), np.zeros(1), np.ones(1), np.zeros((2, 1)))
    assert 'CAST("Total Spend" AS DOUBLE PRECISION)' in scoring_sql(quoted, "t")


def test_version_changes_with_any_number():
    a = hand_made()
    b = ScoringParameters(a.features, a.medians, a.logged, a.means, a.scales, a.centers + np.spacing(a.centers))
    assert a.version == hand_made().version != b.version
