"""What every feature set shares: the options, the Dataset it returns, and the last cleaning
steps (choose the model's features, drop constant ones, report missing values, cap outliers)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..errors import InputError
from ..options import LoadOptions
from .cleaning import SET_ASIDE, CleaningReport, CleaningRule, cap_percentiles, share_text

#: The roles a column can play in summaries of the segments (the dashboard's KPI cards and
#: panels): ``amount`` money per transaction, ``count`` transactions per customer, ``total``
#: money per customer, ``mean`` a feature whose average is telling, ``share`` a share (0-1)
#: averaged, ``box`` the feature whose spread per segment is shown, ``x``/``y`` the scatter's
#: axes (default: amount, else total, against count).
PANEL_ROLES = ("amount", "count", "total", "mean", "share", "box", "x", "y")


@dataclass(frozen=True)
class Panel:
    """A column in a panel role, with the words a reader sees for it."""

    column: str
    label: str
    unit: str = "number"  # money, count, days, share or number: how its values are written


@dataclass
class Dataset:
    """Customers ready to segment: one row each, an id and numeric features.

    Attributes
    ----------
    customers : DataFrame
        ``customer_id`` (text, exactly as in the input) and the features; maybe label
        columns such as ``rfm_segment``.
    feature_set : str
    model_features : list of str
        The features the model clusters on; the other numeric columns are profiled.
    report : dict
        The cleaning report (:meth:`CleaningReport.to_dict`), written to cleaning_report.json.
    notices : list of str
        Lines for the user: the feature set and why, each cleaning rule, columns left out.
    log_features : "auto" or list of str
        Features the model log-transforms.
    reason : str
        Why this feature set (detected from which columns, or forced).
    options : LoadOptions
        How it was read, with the model's features and any outlier caps filled in: the model
        keeps it, so that scoring new data reads it the same way.
    """

    customers: pd.DataFrame
    feature_set: str
    model_features: list[str]
    report: dict = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    log_features: object = "auto"
    reason: str = ""
    options: LoadOptions = field(default_factory=LoadOptions)


class FeatureSet:
    """A data shape: how it is detected, read, cleaned, and what the model uses.

    Subclasses set ``name``, ``title``, ``model_features`` (defaults, in order) and
    ``log_features`` and implement :meth:`detect` and :meth:`load`. Names and actions come from
    ``segmentation/rules/<name>.yaml``.
    """

    name = ""
    title = ""
    model_features: tuple[str, ...] = ()
    log_features: object = "auto"
    #: role (see :data:`PANEL_ROLES`) -> the column that plays it and its label
    panels: dict[str, Panel] = {}

    def detect(self, columns: list[str], mapping: dict | None) -> str | None:
        """Why ``columns`` have this shape, or None when they do not."""
        raise NotImplementedError

    def load(self, source, options: LoadOptions) -> Dataset:
        """Read and clean ``source`` (a :class:`~segmentation.io.sources.Source`) into a
        :class:`Dataset`."""
        raise NotImplementedError

    def default_features(self, customers: pd.DataFrame) -> list[str]:
        """The model's features when the user names none: the declared ones present."""
        return [f for f in self.model_features if f in customers]

    def headline(self, dataset: Dataset) -> str:
        return f"{self.title}, {len(dataset.model_features)} features"

    def panel_columns(self, columns, model_features: list[str]) -> dict[str, Panel]:
        """The panel roles of this shape that ``columns`` can fill (see :data:`PANEL_ROLES`).

        The scatter's axes default to amount (else total) against count; a shape with none of
        them (any table) plots its first two model features, and shows the spread of its first.
        """
        present = set(columns)
        roles = {role: p for role, p in self.panels.items() if p.column in present}
        x = roles.get("amount") or roles.get("total")
        if x and "count" in roles:
            roles.setdefault("x", x)
            roles.setdefault("y", roles["count"])
        usable = [f for f in model_features if f in present]
        if "x" not in roles and len(usable) >= 2:
            roles["x"], roles["y"] = Panel(usable[0], usable[0]), Panel(usable[1], usable[1])
        if "box" not in roles and usable:
            roles["box"] = Panel(usable[0], usable[0])
        return roles

    def finish(
        self,
        customers: pd.DataFrame,
        report: CleaningReport,
        options: LoadOptions,
        notices: list[str],
        unit: str,
        chosen: list[str] | None = None,
    ) -> Dataset:
        """Choose the model's features and apply the cleaning rules every shape shares.

        ``unit`` says what a row of ``customers`` is in the report: ``"rows"`` of the input
        (customer tables) or ``"customers"`` aggregated from transactions. ``chosen``: the
        model's features when the caller already resolved them.
        """
        numeric = [c for c in customers.columns if c != "customer_id" and pd.api.types.is_numeric_dtype(customers[c])]
        if chosen is None:
            chosen = check_features(list(options.features), numeric) if options.features else self.default_features(customers)
        if not chosen:
            raise InputError(f"no numeric column to segment on; found {', '.join(customers.columns[1:])}")
        # (one customer is constant on everything; the model says "too few" for that)
        constant = [c for c in chosen if customers[c].nunique(dropna=True) <= 1] if len(customers) > 1 else []
        if constant and len(constant) == len(chosen):
            raise InputError(f"every feature is constant ({', '.join(constant)}): nothing to segment on")
        for name in constant:
            notices.append(f"{name}: the same value for every customer, left out of the model")
        chosen = [c for c in chosen if c not in constant]

        empty = customers[chosen].isna().all(axis=1)
        if unit == "rows" and empty.any():
            report.add(
                CleaningRule(
                    reason="no_values",
                    column=None,
                    n_rows=int(empty.sum()),
                    example=str(customers.loc[empty, "customer_id"].iloc[0]),
                    message=f"{share_text(int(empty.sum()), report.rows_in)} have no value in any model feature",
                )
            )
            customers = customers[~empty].reset_index(drop=True)
        for name in chosen:
            missing = customers[name].isna()
            if missing.any():
                median = customers[name].median()
                report.add(
                    CleaningRule(
                        reason="missing_value",
                        column=name,
                        n_rows=int(missing.sum()),
                        example=str(customers.loc[missing, "customer_id"].iloc[0]),
                        message=(
                            f"{name}: {share_text(int(missing.sum()), len(customers), unit)} have no value; "
                            f"the model uses the median ({median:,.4g})"
                        ),
                        action="imputed",
                        unit=unit,
                    )
                )
        caps = None
        if options.caps or options.cap_outliers:
            percentile = None if options.caps else float(options.cap_outliers)
            customers, capped, caps = cap_percentiles(customers, chosen, percentile, unit, options.caps)
            for rule in capped:
                report.add(rule)
            report.details["caps"] = caps
        report.customers = len(customers)
        report.check_share(options.max_rejected_share)
        log = self.log_features if self.log_features == "auto" else [f for f in self.log_features if f in chosen]
        return Dataset(
            customers.reset_index(drop=True),
            self.name,
            chosen,
            report.to_dict(),
            notices + report.lines(),
            log,
            options=options.replace(features=chosen, caps=caps),
        )


def check_features(wanted: list[str], available: list[str]) -> list[str]:
    """``wanted`` when every name is available, else :class:`InputError` naming the first not."""
    missing = [f for f in wanted if f not in available]
    if missing:
        raise InputError(f"no feature named {missing[0]!r}; available: {', '.join(available)}")
    return list(wanted)


def set_aside_rule(reason: str, column: str | None, rows: pd.Series, total: int, what: str, example=None) -> CleaningRule:
    """A "set aside" rule for the ``rows`` (a boolean mask) of an input of ``total`` rows."""
    n = int(rows.sum())
    return CleaningRule(
        reason=reason,
        column=column,
        n_rows=n,
        example="" if example is None else str(example),
        message=f"{share_text(n, total)}: {what}" + ("" if example is None else f", e.g. {str(example)!r}"),
        action=SET_ASIDE,
    )
