"""The run folder: what ``segmentation run`` writes, and :func:`open_run` to read it back.

Layout::

    customer_features.csv    one row per customer: id and every feature
    customer_segments.csv    the same with segment, segment_name, recommended_action
    segment_profiles.csv     the segment book (name, summary, plan, action, profile)
    feature_anova.csv        per-feature ANOVA across segments
    k_selection.csv          per k: the criteria, and why k won
    pca.csv                  the customers on the model's first two principal components
    segment_rfm_crosstab.csv segments x named RFM segments (data with RFM scores only)
    cleaning_report.json     rows in, used and set aside per rule
    elbow.png, silhouette.png
    segmentation.db          SQLite: the tables above (and the checked and rejected rows of a log)
    model/                   the bundle (see :mod:`segmentation.book.bundle`)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..book.bundle import Bundle
from ..errors import InputError
from ..options import FitOptions, LoadOptions
from .files import copy_rows_to_sqlite, write_sqlite, write_table
from .plots import plot_k_selection


def start_run(out_dir, log_rows=()) -> None:
    """Start ``out_dir`` (created if needed) with a new segmentation.db holding the checked rows
    of a log, as :meth:`Source.checked_rows` yields them (nothing for a customer table)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "segmentation.db"
    db.unlink(missing_ok=True)
    for table, columns, cursor in log_rows:
        copy_rows_to_sqlite(db, table, cursor, columns)


def write_run(out_dir, dataset, bundle: Bundle, segments: pd.DataFrame) -> dict[str, Path]:
    """Write a run's files into ``out_dir`` (after :func:`start_run`); returns name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "customer_features": write_table(dataset.customers, out / "customer_features.csv"),
        "customer_segments": write_table(segments, out / "customer_segments.csv"),
        "segment_profiles": write_table(bundle.segments, out / "segment_profiles.csv"),
        "feature_anova": write_table(bundle.anova, out / "feature_anova.csv"),
        "k_selection": write_table(pd.DataFrame(bundle.metadata["k_selection"]), out / "k_selection.csv"),
        "pca": write_table(projection_table(bundle, segments), out / "pca.csv"),
        "model": bundle.save(out / "model"),
    }
    (out / "segment_rfm_crosstab.csv").unlink(missing_ok=True)
    if bundle.rfm_crosstab is not None:
        files["rfm_crosstab"] = out / "segment_rfm_crosstab.csv"
        bundle.rfm_crosstab.to_csv(files["rfm_crosstab"])
    files["cleaning_report"] = out / "cleaning_report.json"
    files["cleaning_report"].write_text(json.dumps(dataset.report, indent=2, default=str))
    files.update(zip(("elbow", "silhouette"), plot_k_selection(bundle.metadata, out), strict=True))
    tables = {
        "customer_features": dataset.customers,
        "customer_segments": segments,
        "segment_profiles": bundle.segments,
    }
    if bundle.rfm_crosstab is not None:
        tables["segment_rfm_crosstab"] = bundle.rfm_crosstab.reset_index()
    files["database"] = write_sqlite(out / "segmentation.db", tables)
    return files


def projection_table(bundle: Bundle, scored: pd.DataFrame) -> pd.DataFrame:
    """customer_id, pc1, pc2, segment, segment_name: the customers on the model's first two
    principal components, for a scatter plot (pca.csv)."""
    P = bundle.project(scored)
    return pd.DataFrame(
        {
            "customer_id": scored["customer_id"],
            "pc1": P[:, 0],
            "pc2": P[:, 1] if P.shape[1] > 1 else 0.0,  # one feature: one component
            "segment": scored["segment"],
            "segment_name": scored["segment_name"],
        }
    )


@dataclass
class RunFolder:
    """A run folder read back: the model and the data it was fitted on, with its settings.

    Attributes
    ----------
    folder : Path
    bundle : Bundle
    customers : DataFrame
        customer_features.csv (ids as text), in the order the model was fitted on.
    load_options, fit_options
        How the run read its input and fitted the model: a refit at another k with
        ``fit_bundle(run.dataset, run.fit_options.replace(k=5))`` is ``segmentation run --k 5``.
    """

    folder: Path
    bundle: Bundle
    customers: pd.DataFrame

    @property
    def load_options(self) -> LoadOptions:
        return self.bundle.training_options

    @property
    def fit_options(self) -> FitOptions:
        return self.bundle.fit_options

    @property
    def dataset(self):
        """The run's customers as a :class:`~segmentation.shapes.Dataset` to refit on."""
        from ..shapes import Dataset

        meta = self.bundle.metadata
        return Dataset(
            self.customers,
            meta["feature_set"],
            self.bundle.features,
            log_features=list(meta["log_features"]),
            options=self.load_options,
        )


def open_run(folder: str | Path) -> RunFolder:
    """Read a ``segmentation run`` output folder (see the module docstring)."""
    folder = Path(folder)
    features = folder / "customer_features.csv"
    if not (folder / "model").is_dir() or not features.exists():
        raise InputError(f"{folder} is not a run folder: it needs model/ and customer_features.csv (from segmentation run)")
    bundle = Bundle.load(folder / "model")
    return RunFolder(folder, bundle, pd.read_csv(features, dtype={"customer_id": str}))

