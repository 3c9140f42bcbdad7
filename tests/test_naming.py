"""Names, summaries and actions come from the centroid and the editable rule table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from segmentation.book.naming import Rules, describe_segments
from segmentation.errors import InputError


def profile(rows):
    """A profile table from {segment: {feature: (mean, z)}}."""
    out = []
    for seg, values in rows.items():
        row = {"segment": seg, "share": 0.25}
        for f, (mean, z) in values.items():
            row.update({f"{f}_mean": mean, f"{f}_median": mean, f"{f}_z": z})
        out.append(row)
    return pd.DataFrame(out)


def test_names_and_actions_follow_the_strongest_traits():
    p = profile(
        {
            0: {"txn_count": (22, 1.4), "avg_repayment_days": (5, -1.1), "late_share": (0.0, -0.6)},
            1: {"txn_count": (2, -0.2), "avg_repayment_days": (60, 0.9), "late_share": (0.8, 1.7)},
            2: {"txn_count": (8, 0.1), "avg_repayment_days": (20, 0.1), "late_share": (0.1, 0.2)},
        }
    )
    out = describe_segments(p, ["txn_count", "avg_repayment_days", "late_share"], Rules.load()).set_index(
        "segment"
    )
    assert out.loc[0, "segment_name"] == "Frequent, fast-repaying borrowers"
    assert out.loc[0, "summary"].startswith("Borrows often (22 loans); repays fast (5 days)")
    assert out.loc[0, "plan"].startswith("Loyalty plan")
    assert out.loc[1, "segment_name"] == "Late-paying, slow-repaying borrowers"
    assert out.loc[1, "plan"].startswith("Repayment support plan")
    assert out.loc[2, "segment_name"] == "Mainstream borrowers"
    assert out.loc[2, "plan"].startswith("Standard plan")
    for col in ("channel", "timing", "message"):
        assert out[col].str.len().min() > 0


def test_names_are_unique_when_traits_collide():
    p = profile(
        {
            0: {"txn_count": (22, 1.4), "avg_txn_amount": (900, -1.0), "recency_days": (5, -0.7)},
            1: {"txn_count": (20, 1.3), "avg_txn_amount": (800, -0.9), "recency_days": (90, 0.6)},
        }
    )
    names = describe_segments(p, ["txn_count", "avg_txn_amount", "recency_days"], Rules.load())[
        "segment_name"
    ]
    assert names.is_unique
    assert names.tolist() == [
        "Frequent, small-loan, active borrowers",
        "Frequent, small-loan, lapsed borrowers",
    ]


def test_only_model_features_name_a_segment():
    p = profile({0: {"txn_count": (22, 1.4), "tenure_days": (30, -2.0)}})
    out = describe_segments(p, ["txn_count"], Rules.load())
    assert out.loc[0, "segment_name"] == "Frequent borrowers"
    assert out.loc[0, "summary"].startswith(
        "New customer (30 days); borrows often (22 loans)"
    )  # still described


def test_a_summary_says_a_word_once():
    """Loans and loans a year both read "borrows often": the stronger says it, the third
    phrase is the next trait, not the same one again."""
    p = profile({0: {"loans_per_year": (24, 1.6), "txn_count": (21, 1.2), "avg_repayment_days": (4, -1.1),
                     "late_share": (0.0, -0.6)}})
    out = describe_segments(p, ["loans_per_year", "avg_repayment_days", "late_share"], Rules.load())
    assert out.loc[0, "segment_name"] == "Frequent, fast-repaying borrowers"
    assert out.loc[0, "summary"] == (
        "Borrows often (24 loans a year); repays fast (4 days); late on only 0% of loans (25% of customers)."
    )


def test_edited_rule_table_changes_the_action(tmp_path):
    text = Path(Rules.load().source).read_text()
    custom = tmp_path / "rules.yaml"
    custom.write_text(text.replace("Loyalty plan - automatic limit increase", "Gold card upgrade"))
    p = profile({0: {"txn_count": (22, 1.4), "late_share": (0.0, -0.8)}})
    out = describe_segments(p, ["txn_count", "late_share"], Rules.load(custom))
    assert out.loc[0, "plan"].startswith("Gold card upgrade")


def test_table_rules_name_any_column():
    p = profile({0: {"Annual Income (k$)": (90, 1.2)}, 1: {"Annual Income (k$)": (20, -1.2)}})
    out = describe_segments(p, ["Annual Income (k$)"], Rules.load(feature_set="table"))
    assert out["segment_name"].tolist() == [
        "High Annual Income (k$) customers",
        "Low Annual Income (k$) customers",
    ]


def test_broken_rule_tables_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("threshold: [unclosed\n")
    with pytest.raises(InputError, match="bad.yaml is not valid YAML"):
        Rules.load(bad)
    bad.write_text("actions:\n  - when: {}\n    plan: x\n")
    with pytest.raises(InputError, match="an action has no 'channel'"):
        Rules.load(bad)
    with pytest.raises(InputError, match="rule table not found"):
        Rules.load(tmp_path / "nope.yaml")
