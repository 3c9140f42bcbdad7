"""The cleaning report: every rule applied on the way from the input to the model, with counts.

One format for every feature set. A rule either sets rows aside (they are not used; the counts
add up: ``rows_in = rows_used + rows set aside``, each row counted under the first rule it
breaks) or changes values in place and keeps the row (imputed, capped, treated as missing), or
only notes something odd but real. The input file itself is never modified.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError

SET_ASIDE = "set aside"


@dataclass
class CleaningRule:
    """One rule applied to the data.

    Attributes
    ----------
    reason : str
        Machine-readable code, e.g. ``duplicate_row``, ``missing_value``, ``frequency_above_1``.
    column : str or None
        The column at fault (None for whole-row rules).
    n_rows : int
        Rows (or customers, see ``unit``) the rule touched.
    example : str
        One example value, so the user can find the rows.
    message : str
        The one line shown to the user.
    action : str
        ``"set aside"`` (row not used), or what was done to the value and the row kept:
        ``"imputed"``, ``"capped"``, ``"treated as missing"``, ``"kept"``.
    unit : str
        ``"rows"`` of the input, or ``"customers"`` for rules applied after aggregation.
    """

    reason: str
    column: str | None
    n_rows: int
    example: str
    message: str
    action: str = SET_ASIDE
    unit: str = "rows"


@dataclass
class CleaningReport:
    """Rows in, used and set aside per reason, and every other rule applied, with counts."""

    feature_set: str
    rows_in: int
    rules: list[CleaningRule] = field(default_factory=list)
    customers: int = 0
    details: dict = field(default_factory=dict)

    @property
    def set_aside(self) -> list[CleaningRule]:
        return [r for r in self.rules if r.action == SET_ASIDE and r.unit == "rows"]

    @property
    def rows_set_aside(self) -> int:
        return sum(r.n_rows for r in self.set_aside)

    @property
    def rows_used(self) -> int:
        return self.rows_in - self.rows_set_aside

    def add(self, rule: CleaningRule | None) -> None:
        if rule is not None and rule.n_rows > 0:
            self.rules.append(rule)

    def check_share(self, max_share: float) -> None:
        """Stop when more than ``max_share`` of the rows were set aside (or none is left)."""
        if not self.set_aside:
            return
        first = max(self.set_aside, key=lambda r: r.n_rows)
        if self.rows_used == 0:
            # The first copy of a row is never a duplicate: another rule made every row unusable.
            cause = next((r for r in self.set_aside if r.reason != "duplicate_row"), first)
            others = "".join(f"; {r.message}" for r in self.set_aside if r is not cause)
            raise InputError(f"no usable rows: {cause.message}{others}")
        if self.rows_set_aside > max_share * self.rows_in:
            raise InputError(
                f"{first.message}; {self.rows_set_aside / self.rows_in:.0%} of rows are unusable, "
                f"more than the {max_share:.0%} allowed (--max-rejected)"
            )

    def to_dict(self) -> dict:
        rules = [asdict(r) for r in self.rules]
        by_reason: dict[str, int] = {}
        for r in self.set_aside:
            by_reason[r.reason] = by_reason.get(r.reason, 0) + r.n_rows
        return {
            "feature_set": self.feature_set,
            "rows_in": self.rows_in,
            "rows_used": self.rows_used,
            "rows_set_aside": self.rows_set_aside,
            "set_aside_by_reason": by_reason,
            "customers": self.customers,
            "rules": rules,
            **self.details,
        }

    def lines(self) -> list[str]:
        """What the CLI shows: one line per rule."""
        return [
            (f"set aside {r.message}" if r.action == SET_ASIDE else f"{r.action}: {r.message}")
            for r in self.rules
        ]


def share_text(n: int, total: int, unit: str = "rows") -> str:
    return f"{n:,} of {total:,} {unit}"


def cap_percentiles(
    frame: pd.DataFrame,
    columns: list[str],
    percentile: float | None,
    unit: str = "rows",
    bounds: dict[str, tuple[float, float]] | None = None,
) -> tuple[pd.DataFrame, list[CleaningRule], dict[str, list[float]]]:
    """Clip each column to its [100 - p, p] percentiles, or to given ``bounds``.

    Parameters
    ----------
    frame : DataFrame
    columns : list of str
        Numeric columns to cap.
    percentile : float or None
        Upper percentile, e.g. 99 caps above the 99th and below the 1st percentile.
    unit : str
        What a row of ``frame`` is, for the report.
    bounds : dict, optional
        Column -> (low, high) to cap to instead of this data's percentiles: a saved model's,
        so that scoring new data caps it exactly as the training data was.

    Returns
    -------
    capped : DataFrame
    rules : list of CleaningRule
        One per column that changed.
    bounds : dict
        Column -> [low, high] used, for the model to keep.
    """
    if bounds is None and not 50 < percentile < 100:
        raise InputError(f"--cap-outliers must be between 50 and 100 (a percentile), got {percentile}")
    what = "the model's caps" if bounds is not None else f"{100 - percentile:g}th-{percentile:g}th percentiles"
    out = frame.copy()
    rules, used = [], {}
    for name in columns:
        x = out[name].astype(float)
        if bounds is not None:
            if name not in bounds:
                continue
            lo, hi = bounds[name]
        else:
            lo, hi = np.nanpercentile(x, [100 - percentile, percentile])
        used[name] = [float(lo), float(hi)]
        changed = (x < lo) | (x > hi)
        if changed.any():
            out[name] = x.clip(lo, hi)
            rules.append(
                CleaningRule(
                    reason="outlier_capped",
                    column=name,
                    n_rows=int(changed.sum()),
                    example=f"{x[changed].iloc[0]:g}",
                    message=(
                        f"{name}: {share_text(int(changed.sum()), len(x), unit)} outside the "
                        f"{what}, capped to [{lo:,.4g}, {hi:,.4g}]"
                    ),
                    action="capped",
                    unit=unit,
                )
            )
    return out, rules, used
