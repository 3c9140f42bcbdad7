"""Segment profiles: sizes, means and medians in original units, z-scores, ANOVA per feature."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats


def zscores(features: pd.DataFrame, labels, log_features=()) -> pd.DataFrame:
    """Mean z-score of each segment on each feature (segments as rows).

    Features in ``log_features`` are log-transformed first and missing values take the
    median, as in the model, so that for the model's own features these are the centroids in
    the space the clusters were found in.
    """
    z = {}
    for name in features.columns:
        x = features[name].astype(float)
        if name in log_features:
            x = np.sign(x) * np.log1p(np.abs(x))
        x = x.fillna(x.median())
        std = x.std(ddof=0)
        z[name] = (x - x.mean()) / std if std > 0 else x * 0.0
    return pd.DataFrame(z).groupby(np.asarray(labels)).mean().rename_axis("segment")


def profile_table(features: pd.DataFrame, labels, log_features=()) -> pd.DataFrame:
    """One row per segment: size, share, and per feature ``<f>_mean``, ``<f>_median``, ``<f>_z``."""
    labels = np.asarray(labels)
    grouped = features.groupby(labels)
    out = pd.DataFrame({"size": grouped.size()})
    out["share"] = out["size"] / len(features)
    means, medians = grouped.mean(), grouped.median()
    z = zscores(features, labels, log_features)
    for name in features.columns:
        out[f"{name}_mean"] = means[name]
        out[f"{name}_median"] = medians[name]
        out[f"{name}_z"] = z[name]
    out.index.name = "segment"
    return out.reset_index()


def anova_table(features: pd.DataFrame, labels) -> pd.DataFrame:
    """One-way ANOVA of each feature across segments, like Tableau's "Describe Clusters".

    Columns: feature, f_statistic, p_value, then the mean of each segment (``mean_<id>``).
    Sorted by F, the features that separate segments most first.
    """
    labels = np.asarray(labels)
    segments = np.unique(labels)
    rows = []
    for name in features.columns:
        x = features[name].astype(float)
        groups = [x[labels == s].dropna().to_numpy() for s in segments]
        groups = [g for g in groups if len(g)]
        f_stat, p_value = np.nan, np.nan
        if len(groups) > 1 and sum(map(len, groups)) > len(groups):
            with warnings.catch_warnings():
                # Constant features give a nan F with a warning; nan is the honest answer.
                warnings.simplefilter("ignore")
                f_stat, p_value = stats.f_oneway(*groups)
        row = {"feature": name, "f_statistic": float(f_stat), "p_value": float(p_value)}
        row.update({f"mean_{s}": float(x[labels == s].mean()) for s in segments})
        rows.append(row)
    return (
        pd.DataFrame(rows)
        .sort_values("f_statistic", ascending=False, na_position="last")
        .reset_index(drop=True)
    )


def crosstab(labels, groups, segments: pd.DataFrame, order: list[str] | None = None) -> pd.DataFrame:
    """Customers per segment (rows, with its name) and per group (columns, e.g. the named RFM
    segments, in ``order`` when given, else largest first), with row and column totals."""
    table = pd.crosstab(
        pd.Series(np.asarray(labels), name="segment"), pd.Series(np.asarray(groups), name=None)
    )
    columns = [c for c in (order or []) if c in table] or list(table.sum().sort_values(ascending=False).index)
    table = table[columns + [c for c in table if c not in columns]]
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum()
    names = segments.set_index("segment")["segment_name"]
    table.insert(0, "segment_name", [names.get(i, "all segments") for i in table.index])
    table.columns.name = None
    return table
