"""The TabPy endpoints: Tableau's argument lists in, one JSON-native value per row out.

Tableau sends one list per argument, one element per mark (``SUM([txn_count])`` for every
customer in the partition); each function returns a list just as long holding only ``int``,
``str`` or ``None``, because numpy scalars and NaN do not survive TabPy's JSON.

Rows and missing values, the same rule in every endpoint:

- a value that is not a number (text, true/false) gives that row null;
- a row with no value at all (a mark Tableau padded in) gives null;
- a row with some values missing is answered the way the library answers it: the model fills
  a missing feature with its training median, so the customer gets the segment the dashboard
  and the CLI give (``rfm_score`` has nothing to fill with and gives null);
- the other rows are answered, and the rows answered null are counted in the server log.

A structural problem (wrong number of lists, lists of unequal length, a single value where a
list belongs) raises :class:`~segmentation.errors.InputError` naming it: TabPy's ``/query``
reply and log carry the message.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..book.bundle import Bundle
from ..errors import InputError
from ..model.estimator import fit_partition
from ..shapes.rfm import rfm_scores

log = logging.getLogger(__name__)

_PLAIN_TYPES = {int, float, type(None)}


def segment_assign(bundle: Bundle, *features) -> list:
    """Segment id of each row, from the saved model.

    Deployed as ``segment_assign(*features)`` (a :class:`ModelEndpoint` holding the bundle).

    Parameters
    ----------
    bundle : Bundle
        The saved model, loaded with :meth:`Bundle.load`.
    *features : lists of numbers
        One list per model feature, in ``bundle.features`` order (``model/metadata.json``).

    Returns
    -------
    list of int or None
        :meth:`Bundle.predict` of each row; None for rows that cannot be answered.
    """
    frame, usable = _table("segment_assign", features, bundle.features)
    return _answer(usable, bundle.predict(frame[usable]).tolist() if usable.any() else [])


def segment_name(bundle: Bundle, *features) -> list:
    """Name of each row's segment (:meth:`Bundle.assign`); arguments as :func:`segment_assign`."""
    return _assigned("segment_name", bundle, features, "segment_name")


def segment_action(bundle: Bundle, *features) -> list:
    """Recommended action of each row's segment; arguments as :func:`segment_assign`."""
    return _assigned("segment_action", bundle, features, "recommended_action")


def segment_explain(bundle: Bundle, *features) -> list:
    """Per row, its segment and what would move it, in one short line (:meth:`Bundle.explain`):
    ``"2 Late-paying borrowers; to move to 0 Frequent borrowers: lower avg_repayment_days from
    40 days to 12 days"``.

    Arguments as :func:`segment_assign`. Each row is searched on its own (about 15 ms a row):
    meant for a customer's detail sheet or a few hundred marks, not a whole book at once.
    (No percent sign in this text: TabPy keeps docstrings in a config file that reads it as
    interpolation, and refuses the deploy.)
    """
    frame, usable = _table("segment_explain", features, bundle.features)
    return _answer(usable, [_explained(bundle, row) for row in frame[usable].to_dict("records")])


def _explained(bundle: Bundle, row: dict) -> str | None:
    try:
        return bundle.explain(row).text
    except InputError as exc:  # a row the model cannot read: null for it, not a failed call
        log.warning("segment_explain: row answered null: %s", exc)
        return None


def segment_live(k, *features) -> list:
    """Cluster the rows sent with the library's :class:`Segmenter` (same preprocessing).

    Parameters
    ----------
    k : int or list of int
        Number of segments, 0 for automatic; a list (a Tableau parameter passed as an
        argument) must hold one value.
    *features : lists of numbers
        Any numeric fields, one list each.

    Returns
    -------
    list of int or None
        Segment per row, 0 the largest; k as :func:`segmentation.model.estimator.fit_partition`
        chooses it for the rows sent.
    """
    if not features:
        raise InputError("segment_live takes k and at least one list of feature values")
    k = _whole_number(k)
    names = [f"feature {i}" for i in range(1, len(features) + 1)]
    frame, usable = _table("segment_live", features, names)
    model = fit_partition(frame[usable], k)
    if not hasattr(model, "labels_"):
        return _answer(usable, [])
    if k and model.n_clusters_ < k:
        log.warning("segment_live: k=%d asked, only %d distinct rows: k=%d used", k, model.n_clusters_, model.n_clusters_)
    log.info("segment_live: %s on %d rows", model.k_reason_, int(usable.sum()))
    return _answer(usable, model.labels_.tolist())


def rfm_score(recency, frequency, monetary) -> list:
    """RFM score (``"545"``: the library's R, F, M quintiles 1-5, 5 best) among the rows sent."""
    frame, usable = _table("rfm_score", (recency, frequency, monetary), ["recency", "frequency", "monetary"])
    complete = usable & frame.notna().all(axis=1).to_numpy()
    if (usable & ~complete).any():
        log.warning(
            "rfm_score: %d rows miss one of the three values: answered null", (usable & ~complete).sum()
        )
    if not complete.any():
        return _answer(complete, [])
    digits = rfm_scores(frame[complete]).astype(str)
    return _answer(complete, (digits["r_score"] + digits["f_score"] + digits["m_score"]).tolist())


class ModelEndpoint:
    """A model endpoint as deployed to TabPy: ``func(bundle, *lists)`` over a bundle folder.

    ``Client.deploy`` pickles it as the function's name and the folder's path only.
    Unpickling, which the server does once when it loads the endpoint, loads the bundle with
    :meth:`Bundle.load` (skops, version-checked), so the model stays in the server's memory
    and every call reuses it.

    Parameters
    ----------
    func : callable
        One of :func:`segment_assign`, :func:`segment_name`, :func:`segment_action`,
        :func:`segment_explain`.
    model_dir : str or Path
        The bundle folder, as the server sees it.
    bundle : Bundle, optional
        The bundle already loaded from ``model_dir`` (spares loading it again).
    """

    def __init__(self, func, model_dir, bundle: Bundle | None = None):
        self.func = func
        self.model_dir = str(Path(model_dir).resolve())
        self.bundle = bundle or Bundle.load(self.model_dir)
        self.__doc__ = func.__doc__  # what TabPy lists as the endpoint's docstring

    def __call__(self, *lists) -> list:
        return self.func(self.bundle, *lists)

    def __reduce__(self):
        return (ModelEndpoint, (self.func, self.model_dir))


# -- turning Tableau's lists into a table ---------------------------------------------------


def _assigned(endpoint: str, bundle: Bundle, features, column: str) -> list:
    frame, usable = _table(endpoint, features, bundle.features)
    return _answer(usable, bundle.assign(frame[usable])[column].tolist() if usable.any() else [])


def _answer(usable: np.ndarray, values: list) -> list:
    """``values`` (one per usable row) spread over all rows, None for the others."""
    out = np.full(len(usable), None, dtype=object)
    out[usable] = values
    return out.tolist()


def _table(endpoint: str, lists, names: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The lists as a float frame (NaN for null) and a mask of the rows that can be answered."""
    _check_shape(endpoint, lists, names)
    n = len(lists[0])
    columns, not_number, problems = {}, np.zeros(n, dtype=bool), []
    for name, values in zip(names, lists, strict=True):
        columns[name], bad = _floats(values)
        if bad.any():
            example = values[int(np.argmax(bad))]
            problems.append(f"{name} is not a number in {bad.sum():,} rows (e.g. {example!r})")
            not_number |= bad
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n))
    empty = frame.isna().all(axis=1).to_numpy() & ~not_number
    if empty.any():
        problems.append(f"{empty.sum():,} rows have no value at all")
    usable = ~(not_number | empty)
    if problems:
        log.warning("%s: %d of %d rows answered null: %s", endpoint, n - usable.sum(), n, "; ".join(problems))
    return frame, usable


def _check_shape(endpoint: str, lists, names: list[str]) -> None:
    if len(lists) != len(names):
        raise InputError(
            f"{endpoint} takes {len(names)} lists ({', '.join(names)}), got {len(lists)}; "
            "pass them in this order"
        )
    for i, (name, values) in enumerate(zip(names, lists, strict=True), start=1):
        if not isinstance(values, list | tuple):
            raise InputError(
                f"{endpoint}: argument {i} ({name}) is a single {type(values).__name__} "
                f"({str(values)[:40]!r}), not a list: pass the field, e.g. _arg{i}"
            )
    lengths = [len(v) for v in lists]
    if len(set(lengths)) > 1:
        sizes = ", ".join(f"{name}: {size:,}" for name, size in zip(names, lengths, strict=True))
        raise InputError(
            f"{endpoint}: lists of unequal length ({sizes}); Tableau sends one value per mark in each"
        )


def _floats(values) -> tuple[np.ndarray, np.ndarray]:
    """Values as floats (NaN for null) and a mask of the values that are not numbers (text,
    true/false, infinity, an integer too large for a float such as 10**400)."""
    if set(map(type, values)) <= _PLAIN_TYPES:  # the usual case, converted in one step
        try:
            x = np.array(values, dtype=float)
            return x, np.isinf(x)
        except OverflowError:
            pass
    x = np.full(len(values), np.nan)
    bad = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if type(v) in (int, float):
            try:
                x[i] = v
            except OverflowError:
                bad[i] = True
        elif v is not None:
            bad[i] = True
    return x, bad | np.isinf(x)


def _whole_number(k) -> int:
    values = k if isinstance(k, list | tuple) else [k]
    given = {v for v in values if v is not None}
    if len(given) != 1:
        raise InputError(
            f"segment_live: k must be one whole number (0 for automatic), got {sorted(given, key=str)[:3]}"
        )
    (value,) = given
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int or value < 0:
        raise InputError(f"segment_live: k must be a whole number, 0 for automatic; got {value!r}")
    return value
