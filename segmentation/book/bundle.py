"""The model bundle: a fitted model and everything derived from it, saved as one folder.

Every surface (CLI, dashboard, TabPy, exports) loads a bundle and calls :meth:`Bundle.assign`,
so a customer gets the same segment, name and action everywhere.

Folder layout::

    model.skops      the fitted sklearn Pipeline (skops: loading runs no code)
    projection.skops 2-D PCA of the model's scaled space, for plots (:meth:`Bundle.project`)
    metadata.json    features in input order, feature set, k and per-k metrics, versions, ...
    segments.csv     the segment book: profile, name, summary and action per segment
    anova.csv        per-feature ANOVA across segments
    rfm_crosstab.csv customers per segment and named RFM segment (only when the data has RFM)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import platform
import zipfile
import zlib
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio

from ..errors import BundleError, InputError
from ..model import Segmenter, as_feature_frame
from ..model.assignment import ScoringParameters
from ..model.selection import close_call_text
from ..options import FitOptions, LoadOptions
from ..shapes.rfm import RfmTable
from .naming import Rules, describe_segments
from .profiles import anova_table, crosstab, profile_table

FORMAT_VERSION = 1
# Types skops may instantiate beyond its own defaults; anything else in a file is refused.
# The last two are the k-d tree of the nearest-neighbour step that assigns HDBSCAN segments;
# Whitening is the k-means metric step (models saved before it have none).
# Log1pColumns under both paths: models saved before the package layout had it in
# segmentation.model (which still exports it).
TRUSTED_TYPES = [
    "segmentation.model.Log1pColumns",
    "segmentation.model.estimator.Log1pColumns",
    "segmentation.model.estimator.Whitening",
    "numpy.dtype",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
]
OPTIONAL_FILES = {"projection": "projection.skops", "rfm_crosstab": "rfm_crosstab.csv"}
# Packages whose major.minor must match between the saving and the loading environment
# (here and on a TabPy server, which also needs this package itself).
PINNED = ("scikit-learn", "numpy", "skops")
#: What a server that runs a saved model's endpoints must also match (TabPy runs this package).
SERVER_PINNED = ("python", *PINNED, "segmentation")
ASSIGNED_COLUMNS = ["segment", "segment_name", "recommended_action"]


def versions() -> dict[str, str]:
    """Versions that matter for loading a model, of this environment."""
    out = {"python": platform.python_version()}
    for name in ("segmentation", "scikit-learn", "numpy", "pandas", "scipy", "skops", "duckdb"):
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


@dataclass
class Bundle:
    """A fitted segmentation model with its segment book.

    Attributes
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Imputer, log transform, scaler, KMeans; ``predict`` gives segment ids.
    metadata : dict
        At least ``features`` (model input order), ``feature_set``, ``k``, ``k_selection``.
    segments : DataFrame
        One row per segment: segment, segment_name, summary, recommended action and profile.
    anova : DataFrame
        Per-feature F and p across segments.
    projection : PCA or None
        Two principal components of the scaled features (see :meth:`project`).
    rfm_crosstab : DataFrame or None
        Customers per segment (rows) and named RFM segment (columns), when the data has RFM.
    """

    pipeline: object
    metadata: dict
    segments: pd.DataFrame
    anova: pd.DataFrame
    projection: object = None
    rfm_crosstab: pd.DataFrame | None = None

    @property
    def features(self) -> list[str]:
        return list(self.metadata["features"])

    @classmethod
    def from_model(
        cls,
        model: Segmenter,
        customers: pd.DataFrame,
        *,
        feature_set: str,
        rules: Rules,
        load_options: LoadOptions | None = None,
        fit_options: FitOptions | None = None,
        settings: dict | None = None,
    ) -> Bundle:
        """Build the bundle of a fitted ``model`` from its training ``customers``.

        ``customers`` holds customer_id and every feature to profile (the model's and any
        other numeric feature), in the same row order the model was fitted on.
        ``load_options`` and ``fit_options``: how the data was read and the model fitted,
        saved whole so that new data is read, and a refit made, the same way. ``settings``:
        facts of the training data (its reference day, columns, ...), saved for the record.
        """
        load_options = load_options or LoadOptions()
        features = list(model.feature_names_in_)
        numeric = customers.drop(columns=["customer_id"]).select_dtypes("number")
        profiles = profile_table(numeric, model.labels_, model.log_features_)
        described = describe_segments(profiles, features, rules)
        segments = described.merge(profiles, on="segment")
        table = model.k_selection_.replace({np.nan: None})
        reason = model.k_reason_
        close = getattr(model, "k_close_", None)
        if close:
            # The close call in the words of the segment book: names instead of ids.
            names = {int(s): f"{n} ({s})" for s, n in zip(segments["segment"], segments["segment_name"], strict=True)}
            plain, named = (close_call_text(model.n_clusters_, close, m) for m in (None, names))
            reason = reason.replace(plain, named)
            table["close_call"] = table["close_call"].replace(plain, named)
        rfm = None
        if "rfm_segment" in customers:
            order = [r["name"] for r in RfmTable.load(load_options.rfm_rules).segments]
            rfm = crosstab(model.labels_, customers["rfm_segment"], segments, order)
        meta = {
            "format_version": FORMAT_VERSION,
            "feature_set": feature_set,
            "features": features,
            "profile_features": list(numeric.columns),
            "log_features": list(model.log_features_),
            "algorithm": model.algorithm_,
            "k": int(model.n_clusters_),
            "noise_customers": int((model.labels_ < 0).sum()),
            "k_requested": model.n_clusters if model.n_clusters == "auto" else int(model.n_clusters),
            "k_reason": reason,
            "k_close": close,
            "k_preferences": model.k_preferences_,
            "k_selection": table.to_dict(orient="records"),
            "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in model.get_params().items()},
            "training_rows": int(len(customers)),
            "feature_ranges": feature_ranges(customers[features]),
            "projection_explained_variance": (
                [] if model.projection_ is None else [float(v) for v in model.projection_.explained_variance_ratio_]
            ),
            "rules": rules.source,
            "load_options": load_options.to_dict(),
            "fit_options": (fit_options or FitOptions()).to_dict(),
            "settings": settings or {},
            "versions": versions(),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        return cls(
            model.pipeline_, meta, segments, anova_table(numeric, model.labels_), model.projection_, rfm
        )

    # -- using it ------------------------------------------------------------------------

    @property
    def has_centroids(self) -> bool:
        """Whether segments are nearest centroids (k-means), which SQL can compute."""
        return "kmeans" in self.pipeline.named_steps

    @cached_property
    def scoring(self) -> ScoringParameters:
        """The fitted numbers the assignment uses (also what `segmentation sql` compiles)."""
        if not self.has_centroids:
            raise InputError(
                f"scoring as SQL needs a k-means model; this one uses {self.metadata.get('algorithm')} "
                "(refit with --algorithm kmeans)"
            )
        return ScoringParameters.from_pipeline(self.pipeline, self.features)

    @cached_property
    def model_version(self) -> str:
        """Short hash of the assignment: recorded with every scoring."""
        if self.has_centroids:
            return self.scoring.version
        # No closed-form parameters to hash: the saved model's identity stands for them.
        keys = ("algorithm", "features", "k", "training_rows", "created")
        ident = json.dumps({k: self.metadata.get(k) for k in keys}, sort_keys=True, default=str)
        return hashlib.sha256(ident.encode()).hexdigest()[:12]

    def predict(self, X) -> np.ndarray:
        """Segment id per row of ``X`` (frame with the model's features, or array in order).

        For k-means, the pipeline's preprocessing and nearest centroid computed with the
        arithmetic of :mod:`segmentation.model.assignment`, so that the generated SQL gives the same
        segment on every row (the pipeline's own predict may differ from it only on exact
        near-ties); other algorithms use the pipeline's predict.
        """
        frame = as_feature_frame(X, self.features)
        if self.has_centroids:
            return self.scoring.predict(frame)
        return self.pipeline.predict(frame).astype(np.int64)

    def project(self, customers: pd.DataFrame, n_components: int = 2) -> np.ndarray:
        """Customers on the first principal components of the model's scaled space.

        The PCA fitted on the training customers and saved with the model, so the same
        customer lands on the same point whichever subset is plotted; a bundle saved without
        one (or asked for more components) fits a PCA on ``customers``.
        """
        scaled = self.pipeline[:-1].transform(as_feature_frame(customers, self.features))
        if self.projection is not None and n_components <= self.projection.n_components_:
            return self.projection.transform(scaled)[:, :n_components]
        from sklearn.decomposition import PCA

        return PCA(min(n_components, scaled.shape[1]), random_state=0).fit_transform(scaled)

    @property
    def training_options(self) -> LoadOptions:
        """How the training data was read (its features and outlier caps filled in)."""
        saved = self.metadata.get("load_options")
        if saved is None:  # a bundle saved before the options were kept whole
            settings = self.metadata.get("settings", {})
            keys = ("late_after_days", "keep_duplicate_rows", "caps")
            saved = {k: settings[k] for k in keys if settings.get(k) is not None}
        return LoadOptions.from_dict({**saved, "features": self.features})

    @property
    def fit_options(self) -> FitOptions:
        """How the model was fitted (k, guardrails, algorithm, rules, seed)."""
        return FitOptions.from_dict(self.metadata.get("fit_options") or {})

    def load_options(self, options: LoadOptions | None = None, **overrides) -> LoadOptions:
        """The options that read new data as the training data was read
        (:meth:`LoadOptions.for_new_data`), with a user's ``options`` (their non-default
        values) and ``overrides`` (where not None) on top."""
        out = self.training_options.for_new_data()
        if out.rfm_rules and not Path(out.rfm_rules).is_file():
            out = dataclasses.replace(out, rfm_rules=None)  # the training machine's own table: use the built-in one
        if options is not None:
            default = LoadOptions()
            out = out.replace(**{k: v for k, v in options.to_dict().items() if v != getattr(default, k)})
        return out.replace(**overrides)

    def explain(self, row):
        """One customer's segment, name, action, distance to each segment's centre and the
        smallest change of one or two features that moves them to the nearest other segment
        (:func:`segmentation.book.explain.explain`); ``row``: feature -> value."""
        from .explain import explain

        return explain(self, row)

    def assign(self, customers: pd.DataFrame) -> pd.DataFrame:
        """``customers`` with segment, segment_name and recommended_action added."""
        out = customers.drop(columns=[c for c in ASSIGNED_COLUMNS if c in customers.columns])
        seg = self.predict(out)
        book = self.segments.set_index("segment")
        out = out.assign(segment=seg)
        out["segment_name"] = book["segment_name"].reindex(seg).to_numpy()
        out["recommended_action"] = book["recommended_action"].reindex(seg).to_numpy()
        return out

    # -- files ---------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write the bundle into ``folder`` (created if needed) and return it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        sio.dump(self.pipeline, folder / "model.skops")
        (folder / "metadata.json").write_text(json.dumps(self.metadata, indent=2, default=_json_default))
        self.segments.to_csv(folder / "segments.csv", index=False)
        self.anova.to_csv(folder / "anova.csv", index=False)
        for name in OPTIONAL_FILES.values():
            (folder / name).unlink(missing_ok=True)  # a stale file from an earlier model
        if self.projection is not None:
            sio.dump(self.projection, folder / OPTIONAL_FILES["projection"])
        if self.rfm_crosstab is not None:
            self.rfm_crosstab.to_csv(folder / OPTIONAL_FILES["rfm_crosstab"])
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Bundle:
        """Read a bundle; :class:`BundleError` when it is missing, damaged or incompatible."""
        folder = Path(folder)
        needed = ["model.skops", "metadata.json", "segments.csv", "anova.csv"]
        missing = [n for n in needed if not (folder / n).exists()]
        if missing:
            raise BundleError(f"{folder} is not a model folder: missing {', '.join(missing)}")
        try:
            meta = json.loads((folder / "metadata.json").read_text())
        except json.JSONDecodeError as exc:
            raise BundleError(f"{folder / 'metadata.json'} is not valid JSON: {exc}") from None
        check_compatible(meta, folder)
        pipeline = _load_skops(folder / "model.skops")
        segments = pd.read_csv(folder / "segments.csv")
        anova = pd.read_csv(folder / "anova.csv")
        projection = rfm = None
        if (folder / OPTIONAL_FILES["projection"]).exists():
            projection = _load_skops(folder / OPTIONAL_FILES["projection"])
        if (folder / OPTIONAL_FILES["rfm_crosstab"]).exists():
            rfm = pd.read_csv(folder / OPTIONAL_FILES["rfm_crosstab"], index_col=0)
        return cls(pipeline, meta, segments, anova, projection, rfm)


def feature_ranges(features: pd.DataFrame) -> dict[str, dict]:
    """Per feature its training min, median and max, and whether every value is a whole
    number (a count): the form's hints and the bounds of what-would-move-them."""
    out = {}
    for name in features.columns:
        values = features[name].dropna().astype(float)
        if values.empty:
            continue
        out[name] = {"min": float(values.min()), "median": float(values.median()), "max": float(values.max()),
                     "whole": bool((values == values.round()).all())}
    return out


def _load_skops(path: Path):
    """Load a skops file, refusing any type outside :data:`TRUSTED_TYPES` and skops' defaults."""
    try:
        untrusted = set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES)
    except NOT_AN_ARCHIVE as exc:  # a renamed pickle, a truncated copy, any other file
        raise BundleError(f"{path} is not a skops model file ({_reason(exc)}): copy the model folder again or refit") from None
    if untrusted:
        raise BundleError(f"{path} holds types this version does not trust: {', '.join(sorted(untrusted))}")
    try:
        return sio.load(path, trusted=TRUSTED_TYPES)
    except NOT_AN_ARCHIVE as exc:  # a readable directory over damaged members
        raise BundleError(f"{path} is not a skops model file ({_reason(exc)}): copy the model folder again or refit") from None


#: What reading a file that is not a whole skops archive raises (zipfile, zlib, json, skops' schema).
NOT_AN_ARCHIVE = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError, OSError)


def _reason(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__


def check_compatible(meta: dict, folder: Path | str = "model") -> None:
    """Refuse a bundle saved by versions whose models may not load or predict the same."""
    if meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{folder}: bundle format {meta.get('format_version')!r}, this version reads "
            f"{FORMAT_VERSION}; refit with `segmentation fit`"
        )
    for name, saved, here in version_mismatches(meta.get("versions", {}), versions()):
        raise BundleError(
            f"{folder} was saved with {name} {saved}, this environment has {here}: "
            f"install {name}=={saved} or refit the model"
        )


def version_mismatches(saved: dict, found: dict, names=PINNED) -> list[tuple[str, str | None, str | None]]:
    """(name, saved version, found version) of each package in ``names`` whose major.minor
    differs between the environment that saved a model and one that loads it (found None:
    not installed there)."""
    return [(n, saved.get(n), found.get(n)) for n in names if _minor(saved.get(n)) != _minor(found.get(n))]


def _minor(version: str | None) -> tuple[str, ...]:
    return tuple((version or "?").split(".")[:2])


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise InputError(f"cannot write {type(value).__name__} to metadata.json")
