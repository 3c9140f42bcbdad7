"""The bundle: saved with skops, loaded with identical predictions, refused when incompatible."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segmentation import fit_bundle, load_dataset
from segmentation.book.bundle import Bundle
from segmentation.errors import BundleError


@pytest.fixture(scope="module")
def bundle_and_data(demo_frame):
    dataset = load_dataset(demo_frame.drop(columns="group"))
    return fit_bundle(dataset), dataset


def test_round_trip_gives_identical_assignments(tmp_path, bundle_and_data):
    bundle, dataset = bundle_and_data
    bundle.save(tmp_path / "model")
    loaded = Bundle.load(tmp_path / "model")
    assert loaded.features == bundle.features
    a = bundle.assign(dataset.customers)
    b = loaded.assign(dataset.customers)
    assert a.equals(b)
    assert loaded.segments["segment_name"].tolist() == bundle.segments["segment_name"].tolist()


def test_metadata_has_what_other_surfaces_need(tmp_path, bundle_and_data):
    bundle, dataset = bundle_and_data
    bundle.save(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "metadata.json").read_text())
    assert meta["features"] == dataset.model_features
    assert meta["feature_set"] == "transactions"
    assert meta["k"] == len(bundle.segments) and len(meta["k_selection"]) == 9
    assert meta["training_rows"] == len(dataset.customers)
    assert {"scikit-learn", "numpy", "skops", "python", "segmentation"} <= set(meta["versions"])
    assert meta["created"].endswith("+00:00")


def test_assign_adds_name_and_action_of_each_segment(bundle_and_data):
    bundle, dataset = bundle_and_data
    out = bundle.assign(dataset.customers)
    book = bundle.segments.set_index("segment")
    for row in out.sample(20, random_state=0).itertuples():
        assert row.segment_name == book.loc[row.segment, "segment_name"]
        assert row.recommended_action == book.loc[row.segment, "recommended_action"]
    assert out["segment"].dtype == np.int64


def test_incompatible_versions_are_refused(tmp_path, bundle_and_data):
    bundle, _ = bundle_and_data
    folder = bundle.save(tmp_path / "model")
    meta = json.loads((folder / "metadata.json").read_text())
    meta["versions"]["scikit-learn"] = "0.24.2"
    (folder / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"saved with scikit-learn 0.24.2, this environment has 1\."):
        Bundle.load(folder)


def test_missing_or_foreign_folder_is_refused(tmp_path):
    with pytest.raises(BundleError, match="not a model folder: missing model.skops, metadata.json"):
        Bundle.load(tmp_path)


def test_untrusted_types_in_the_model_file_are_refused(tmp_path, bundle_and_data):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    bundle, _ = bundle_and_data
    folder = bundle.save(tmp_path / "model")
    sio.dump(FunctionTransformer(func=json.loads), folder / "model.skops")
    with pytest.raises(BundleError, match="types this version does not trust: json.loads"):
        Bundle.load(folder)


@pytest.mark.parametrize("damage", ["pickle", "truncated", "text"])
def test_a_model_file_that_is_not_a_skops_archive_is_one_line(tmp_path, bundle_and_data, damage):
    import pickle

    bundle, _ = bundle_and_data
    folder = bundle.save(tmp_path / "model")
    path = folder / "model.skops"
    if damage == "pickle":  # a pickle renamed to model.skops
        path.write_bytes(pickle.dumps(bundle.pipeline))
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_text("not a model\n")
    with pytest.raises(BundleError, match=r"model\.skops is not a skops model file") as info:
        Bundle.load(folder)
    assert "\n" not in str(info.value)


def test_a_damaged_model_file_exits_2_in_the_cli(tmp_path, bundle_and_data, demo_csv):
    import subprocess
    import sys

    bundle, _ = bundle_and_data
    folder = bundle.save(tmp_path / "model")
    (folder / "model.skops").write_bytes((folder / "model.skops").read_bytes()[:100])
    proc = subprocess.run(
        [sys.executable, "-m", "segmentation", "assign", str(demo_csv), "--model", str(folder),
         "--out", str(tmp_path / "a.csv")],
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "model.skops is not a skops model file" in proc.stderr
