"""The jobs: read an input into customers, fit a model, run the whole pipeline into a folder
(and a database), score new data with a saved model. The only orchestration of the package;
the CLI, the dashboard and TabPy call these functions.

The model, the bundle and the outputs are imported by the jobs that use them, so that reading
features (``segmentation features``) never loads scikit-learn, skops or matplotlib.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from . import shapes
from .errors import InputError
from .io.sources import open_source
from .options import FitOptions, LoadOptions
from .shapes import Dataset

if TYPE_CHECKING:
    from .book.bundle import Bundle
    from .io.database import Database

__all__ = [
    "Dataset", "InputFacts", "RunResult", "ScoreResult", "fit_bundle", "inspect_input", "load_dataset", "publish",
    "run", "score",
]


def load_dataset(source, options: LoadOptions | None = None, **changes) -> Dataset:
    """Read ``source`` into customers with features, cleaned and reported.

    Parameters
    ----------
    source : str, Path, DataFrame or Source
        CSV (any delimiter, with or without a BOM), Parquet, XLSX or JSON file, a frame, or a
        :class:`~segmentation.io.database.DatabaseSource` (where the feature SQL then runs).
    options : LoadOptions, optional
        How to read it (default: the defaults, shape detected from the columns).
    **changes
        Fields of :class:`LoadOptions` to set on top of ``options`` (None leaves one as is).

    Returns
    -------
    Dataset
        ``notices`` starts with the feature set chosen and why, then every cleaning rule;
        ``options`` is how it was read, for the model to keep.
    """
    options = (options or LoadOptions()).replace(**changes)
    with open_source(source, options) as src:
        if options.feature_set == "auto":
            chosen, reason = shapes.detect(src.columns(), options.mapping)
            reason = f"detected: {reason}"
        else:
            chosen, reason = shapes.get(options.feature_set), "set with --feature-set"
        dataset = chosen.load(src, options)
    dataset.reason = reason
    dataset.notices[:0] = [f"feature set: {chosen.name} ({chosen.headline(dataset)}); {reason}", *src.notices]
    return dataset


@dataclass
class InputFacts:
    """What an input holds, as :func:`load_dataset` would read it (for a page that lets the user
    check the shape and pick columns before fitting)."""

    columns: list[str]
    rows: int
    feature_set: str
    title: str
    reason: str
    roles: dict[str, str | None]
    numeric: list[str]
    preview: pd.DataFrame
    notices: list[str] = field(default_factory=list)


def inspect_input(source, options: LoadOptions | None = None, preview_rows: int = 5) -> InputFacts:
    """The columns, row count, detected shape (and why), the log roles the columns match and the
    columns the table rules read as numbers, with the first rows, of ``source``."""
    from .io.columns import match_roles
    from .io.parsing import check_style
    from .shapes.table import numeric_columns

    options = options or LoadOptions()
    check_style(options.date_format, options.decimal, options.thousands)  # as the fit would, before a preview
    with open_source(source, options) as src:
        columns = src.columns()
        if options.feature_set == "auto":
            shape, reason = shapes.detect(columns, options.mapping)
        else:
            shape, reason = shapes.get(options.feature_set), "set with --feature-set"
        frame = src.frame()
        if frame.empty:
            raise InputError(f"{src} has no rows (only a header?)")
    frame.columns = [str(c) for c in frame.columns]
    return InputFacts(
        columns=columns,
        rows=len(frame),
        feature_set=shape.name,
        title=shape.title,
        reason=reason,
        roles=match_roles(columns, options.mapping),
        numeric=numeric_columns(frame, options.mapping),
        preview=frame.head(preview_rows),
        notices=list(src.notices),
    )


def fit_bundle(dataset: Dataset, options: FitOptions | None = None, *, progress=False,
               **changes) -> Bundle:
    """Fit a :class:`Segmenter` on ``dataset`` and wrap it with its segment book.

    ``options`` (or keyword ``changes`` to them): k, guardrails, algorithm, rules, seed; the
    rule table defaults to the dataset's shape's. ``progress``: as :meth:`Segmenter.fit`'s.
    """
    from .book.bundle import Bundle
    from .book.naming import Rules
    from .model import Segmenter

    options = (options or FitOptions()).replace(**changes)
    model = Segmenter(
        n_clusters=options.k,
        k_range=options.k_range,
        algorithm=options.algorithm,
        log_features=dataset.log_features,
        min_segment_share=options.min_segment_share,
        max_segments=options.max_segments,
        n_stability=options.n_stability,
        random_state=options.random_state,
    ).fit(dataset.customers[dataset.model_features], progress=progress)
    keys = ("as_of", "columns", "id_column", "engine")
    settings = {k: v for k, v in dataset.report.items() if k in keys}
    return Bundle.from_model(
        model,
        dataset.customers,
        feature_set=dataset.feature_set,
        rules=Rules.load(options.rules_path, dataset.feature_set),
        load_options=dataset.options,
        fit_options=options,
        settings={**settings, "feature_set_reason": dataset.reason},
    )


@dataclass
class RunResult:
    """What `run` produced."""

    out_dir: Path
    bundle: Bundle
    segments: pd.DataFrame
    dataset: Dataset
    files: dict[str, Path]
    tables: object = None  # SparkTables: every customer scored and written where the data is


def run(
    source,
    out_dir: str | Path,
    load: LoadOptions | None = None,
    fit: FitOptions | None = None,
    *,
    transactions_table: bool = True,
    publish_to: str | None = None,
    progress: bool | None = False,
    say=None,
) -> RunResult:
    """Everything from one input into ``out_dir`` (see :func:`~segmentation.outputs.run_folder.write_run`).

    ``publish_to``: also write the result tables to the database at this URL (see :func:`publish`;
    ``say`` is told when that waits for another job's write).
    """
    from tqdm.auto import tqdm

    from .outputs.migration import now
    from .outputs.run_folder import start_run, write_run

    steps = tqdm(total=3, desc="segmentation", disable=None if progress is None else not progress, leave=False)
    steps.set_postfix_str("features")
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(open_source(source, load))
        dataset = load_dataset(src, load)
        # The checked rows of a log live in the source's engine: copied out now.
        start_run(out_dir, src.checked_rows() if transactions_table else ())
        if not src.assigns_in_place:
            # Nothing more is read from it: no database transaction or staged rows held during the fit.
            stack.close()
        steps.update()
        steps.set_postfix_str("fitting")
        bundle = fit_bundle(dataset, fit, progress=progress)
        steps.update()
        steps.set_postfix_str("writing")
        segments = bundle.assign(dataset.customers)
        files = write_run(out_dir, dataset, bundle, segments)
        # A Spark source assigns every customer inside Spark and writes the tables there.
        tables = src.score_where_it_is(bundle, now(), Path(out_dir) / "tables") if src.assigns_in_place else None
    steps.update()
    steps.close()
    if publish_to is not None:
        publish(dataset.customers, segments, bundle, publish_to, say=say)
    return RunResult(Path(out_dir), bundle, segments, dataset, files, tables)


def publish(customers: pd.DataFrame, segments: pd.DataFrame, bundle: Bundle, url: str | None, *,
            say=None) -> Database:
    """Write a run's customer_features, customer_segments and segment_profiles to the database
    at ``url`` (replacing them), and record the segments in segment_history, in one transaction
    (one job's write at a time per database; ``say`` is told when it waits)."""
    from .io.database import Database
    from .outputs.migration import now, record_scoring

    db = Database(url)
    with db.connect(create=True, write=True, say=say) as con:
        db.swap_in(
            con,
            {"customer_features": customers, "customer_segments": segments, "segment_profiles": bundle.segments},
        )
        record_scoring(db, con, segments, bundle.model_version, now())
    return db


@dataclass
class ScoreResult:
    """What `score` did."""

    database: Database
    model_version: str
    customers: int
    changed: pd.DataFrame
    migration: pd.DataFrame
    report: dict = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    tables: object = None  # SparkTables when the customers were scored inside Spark

    @property
    def n_changed(self) -> int:
        """Customers whose segment is new or changed (rows appended to segment_history)."""
        return self.tables.changed if self.tables is not None else len(self.changed)

    @property
    def where(self) -> str:
        """Where the tables were updated."""
        return f"{self.tables.folder}/" if self.tables is not None else str(self.database)


def score(source, model_dir, options: LoadOptions | None = None, *, out_url: str | None = None,
          say=None) -> ScoreResult:
    """Re-aggregate the customers with new rows in ``source`` and assign them with a saved model.

    The input is read as the model's training data was (:meth:`Bundle.load_options`: its
    features, late-after days, duplicate rows, outlier caps), so the same data gets the same
    features and segments as in the run that fitted the model.

    Parameters
    ----------
    source : DatabaseSource or SparkSource
        The transactions (or, for a customer-table model, the customer table). A Spark
        source scores every customer inside Spark and writes the tables beside the model
        folder (``tables/`` next to ``model/``, where ``run`` wrote them) unless it names
        its own; ``changed`` is then empty (the rows stay in Spark; ``n_changed`` counts them).
    model_dir : path
        The model bundle folder; the model is not refitted.
    options : LoadOptions, optional
        A user's options over the model's (``since``: only customers with a row on or after
        that day; ``as_of``, ``max_rejected_share``, ``mapping``, ...).
    out_url : str, optional
        Where the tables are (default: the source's database).
    say : callable, optional
        Told (one line) when the write waits for another job writing to the same database;
        default a log warning. Jobs started together write one after the other, so the keyed
        replacement of rows never duplicates a customer.
    """
    from .book.bundle import Bundle
    from .io.database import Database
    from .outputs.migration import HISTORY_COLUMNS, MIGRATION_TABLE, now, record_scoring

    bundle = Bundle.load(model_dir)
    if getattr(source, "assigns_in_place", False):
        with source:
            dataset = load_dataset(source, bundle.load_options(options))
            tables = source.score_where_it_is(bundle, now(), Path(model_dir).resolve().parent / "tables")
        empty = pd.DataFrame(columns=HISTORY_COLUMNS)
        return ScoreResult(
            None, bundle.model_version, tables.customers, empty, tables.migration, dataset.report, dataset.notices,
            tables,
        )
    dataset = load_dataset(source, bundle.load_options(options))
    customers, report = dataset.customers, dataset.report
    # A model fitted before a feature column existed (loans_per_year) writes the columns its
    # run wrote: the tables that run made refuse any others, and a daily score must not fail.
    known = bundle.metadata.get("profile_features")
    if known is not None:
        customers = customers.drop(columns=[
            c for c in customers.columns[1:] if c not in known and pd.api.types.is_numeric_dtype(customers[c])
        ])
    db = Database(out_url) if out_url else source.database
    version = bundle.model_version
    if customers.empty:
        return ScoreResult(
            db, version, 0, pd.DataFrame(columns=HISTORY_COLUMNS), pd.DataFrame(), report, dataset.notices
        )
    assigned = bundle.assign(customers)
    with db.connect(create=True, write=True, say=say) as con:
        db.upsert(con, "customer_features", customers)
        db.upsert(con, "customer_segments", assigned)
        changed = record_scoring(db, con, assigned, version, now())
        migration = db.read(con, f"SELECT * FROM {MIGRATION_TABLE}")
    return ScoreResult(db, version, len(assigned), changed, migration, report, dataset.notices)
