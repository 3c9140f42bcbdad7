"""RFM: quintile scores 1-5 for recency, frequency and monetary value, and named RFM segments.

The score rule and the score-to-segment table are documented in
``segmentation/rules/rfm_segments.yaml``, the editable data file the names come from. For a
purchase log the scores are computed in SQL (``sql/purchase_features.sql``); the functions
here are the same rule in pandas (for customer tables that carry recency, orders and spend,
for the dashboard's RFM plot, and as a reference for the SQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..book.naming import RULES_DIR
from ..errors import InputError

RFM_RULES = RULES_DIR / "rfm_segments.yaml"
SCORE_COLUMNS = ("r_score", "f_score", "m_score")
UNCLASSIFIED = "Unclassified"


# Columns that play each RFM role, first match wins: a purchase log's, an e-commerce table's,
# and for microfinance transactions the loan count and total borrowed.
_ROLES = {
    "r": ("recency_days", "recency"),
    "f": ("txn_count", "frequency", "number_of_orders", "purchase_frequency"),
    "m": ("total_amount", "monetary", "total_spent"),
}


def quintile_score(values, higher_is_better: bool = True) -> pd.Series:
    """Quintile score 1-5: ``ceil(5 * average rank / N)``, ranks counted from the worst value.

    Equal values share the average of their ranks, so always a score. With
    ``higher_is_better=False`` (recency in days) a smaller value is better. Missing values get
    the middle score 3 and do not count in N. Computed with integers (twice the average rank
    is a whole number), exactly as the SQL does.
    """
    x = pd.Series(values, dtype=float)
    n2 = 2 * max(int(x.notna().sum()), 1)
    twice_rank = 2 * x.rank(method="average", ascending=higher_is_better)
    return (-((-5 * twice_rank) // n2)).clip(1, 5).fillna(3).astype(int)


def rfm_scores(frame: pd.DataFrame) -> pd.DataFrame | None:
    """r_score (recent is 5), f_score and m_score of each row, from the frame's recency,
    frequency and monetary columns (see ``_ROLES``); None when one of them is missing.

    Scores the frame already has (a purchase log's, computed by the same rule in SQL, or an
    e-commerce table's own, which its ``rfm_segment`` was named from) are used as they are.
    """
    if set(SCORE_COLUMNS) <= set(frame.columns):
        given = frame[list(SCORE_COLUMNS)].apply(pd.to_numeric, errors="coerce")
        if given.notna().all().all() and given.isin(range(1, 6)).all().all():
            return given.astype(int)
    cols = {}
    for role, names in _ROLES.items():
        found = next((n for n in names if n in frame.columns and frame[n].notna().any()), None)
        if found is None:
            return None
        cols[role] = found
    return pd.DataFrame(
        {
            "r_score": quintile_score(frame[cols["r"]], higher_is_better=False),
            "f_score": quintile_score(frame[cols["f"]]),
            "m_score": quintile_score(frame[cols["m"]]),
        },
        index=frame.index,
    )


def fm_score(f_score, m_score) -> np.ndarray:
    """F and M averaged and rounded half up: (f + m + 1) // 2."""
    return (np.asarray(f_score, dtype=int) + np.asarray(m_score, dtype=int) + 1) // 2


@dataclass
class RfmTable:
    """The score-to-segment rules: first match wins."""

    segments: list[dict]
    source: str

    @classmethod
    def load(cls, path: str | Path | None = None) -> RfmTable:
        path = Path(path) if path else RFM_RULES
        if not path.exists():
            raise InputError(f"RFM rule table not found: {path}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise InputError(f"RFM rule table {path.name} is not valid YAML: {str(exc).splitlines()[0]}") from None
        segments = data.get("segments") if isinstance(data, dict) else None
        if not segments:
            raise InputError(f"RFM rule table {path.name} has no 'segments' list")
        for rule in segments:
            if not isinstance(rule, dict) or "name" not in rule:
                raise InputError(f"RFM rule table {path.name}: every segment needs a 'name'")
            for key in ("r", "f", "m", "fm"):
                bounds = rule.get(key)
                if bounds is not None and (not isinstance(bounds, list) or len(bounds) != 2):
                    raise InputError(
                        f"RFM rule table {path.name}: {rule['name']}: {key} must be [low, high], got {bounds!r}"
                    )
        return cls(segments, str(path))

    def name(self, r_score, f_score, m_score) -> pd.Series:
        """Named RFM segment of each customer (``Unclassified`` where no rule matches)."""
        scores = {
            "r": np.asarray(r_score, dtype=int),
            "f": np.asarray(f_score, dtype=int),
            "m": np.asarray(m_score, dtype=int),
        }
        scores["fm"] = fm_score(scores["f"], scores["m"])
        out = np.full(len(scores["r"]), UNCLASSIFIED, dtype=object)
        open_ = np.ones(len(out), dtype=bool)
        for rule in self.segments:
            hit = open_.copy()
            for key, values in scores.items():
                if rule.get(key) is not None:
                    lo, hi = rule[key]
                    hit &= (values >= lo) & (values <= hi)
            out[hit] = rule["name"]
            open_ &= ~hit
        return pd.Series(out, name="rfm_segment")
