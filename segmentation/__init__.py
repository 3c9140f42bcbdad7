"""Customer segmentation: transactions, purchases or a customer table in, named segments with actions out.

The public API::

    from segmentation import load_dataset, fit_bundle, Bundle, Segmenter, run
"""

from .bundle import Bundle
from .errors import BundleError, InputError
from .features import purchase_features, reference_features, transaction_features
from .model import Segmenter
from .pipeline import Dataset, fit_bundle, load_dataset, run

__all__ = [
    "Bundle",
    "BundleError",
    "Dataset",
    "InputError",
    "Segmenter",
    "fit_bundle",
    "load_dataset",
    "purchase_features",
    "reference_features",
    "run",
    "transaction_features",
]
__version__ = "0.1.0"
