"""Customer segmentation: transactions, purchases or a customer table in, named segments with actions out.

The public API::

    from segmentation import LoadOptions, FitOptions, load_dataset, fit_bundle, run, score, open_run

Names are imported on first use, so that ``import segmentation`` (and the CLI's ``--help``)
does not load scikit-learn, skops or matplotlib until a model is fitted, loaded or drawn.
"""

from __future__ import annotations

import importlib

from .errors import BundleError, InputError
from .options import FitOptions, LoadOptions

# name -> module that defines it
_LAZY = {
    "Bundle": ".book.bundle",
    "Dataset": ".shapes",
    "RunFolder": ".outputs.run_folder",
    "Segmenter": ".model",
    "fit_bundle": ".jobs",
    "inspect_input": ".jobs",
    "load_dataset": ".jobs",
    "open_run": ".outputs.run_folder",
    "publish": ".jobs",
    "run": ".jobs",
    "score": ".jobs",
    "purchase_features": ".io.sources",
    "transaction_features": ".io.sources",
}

__all__ = ["BundleError", "FitOptions", "InputError", "LoadOptions", *_LAZY]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'segmentation' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
