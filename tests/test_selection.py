"""Choosing k: the vote, its ties, a split vote, and the close-call sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.model import Segmenter
from segmentation.selection import choose_k, close_call_text, compare_labels, runner_up


def table(**columns) -> pd.DataFrame:
    out = pd.DataFrame({"k": [2, 3, 4, 5], "inertia": [100.0, 50.0, 30.0, 25.0], **columns})
    out["eligible"] = True
    return out


def test_compare_labels_names_merged_and_split_segments():
    four = np.repeat([0, 1, 2, 3], 25)
    three = np.repeat([0, 1, 0, 2], 25)  # 0 and 2 together
    assert compare_labels(four, three) == {"merge": [[0, 2]], "split": []}
    assert compare_labels(three, four) == {"merge": [], "split": [0]}
    # a few customers changing sides do not change the answer
    noisy = three.copy()
    noisy[:3] = 2
    assert compare_labels(four, noisy) == {"merge": [[0, 2]], "split": []}
    # HDBSCAN's noise is in no segment
    assert compare_labels(np.r_[four, -1], np.r_[three, 1]) == {"merge": [[0, 2]], "split": []}


def test_close_call_sentence_in_plain_words():
    close = {"k": 3, "merge": [[1, 3]], "split": []}
    assert close_call_text(4, close) == "4 segments; 3 was close: it would merge segment 1 and segment 3"
    names = {1: "Late repayers", 3: "Rare large borrowers"}
    assert close_call_text(4, close, names) == (
        "4 segments; 3 was close: it would merge Late repayers and Rare large borrowers"
    )
    assert close_call_text(4, {"k": 5, "merge": [], "split": [2]}) == "4 segments; 5 was close: it would split segment 2"
    assert close_call_text(2, {"k": 3, "merge": [], "split": []}).endswith("regroup the same customers differently")
