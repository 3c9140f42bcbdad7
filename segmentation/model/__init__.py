"""The model: the estimator (it owns every rule for choosing k), its algorithms, the k
selection and the assignment arithmetic that the SQL scoring mirrors."""

from .estimator import Log1pColumns, Segmenter, as_feature_frame

__all__ = ["Log1pColumns", "Segmenter", "as_feature_frame"]
