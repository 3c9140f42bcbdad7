"""Live segmentation in Tableau through TabPy.

- :mod:`.endpoints`: segment_assign, segment_name, segment_action, segment_explain, segment_live, rfm_score;
- :mod:`.deploy`: check a server's versions, then deploy them (``python -m segmentation.tabpy deploy``);
- :mod:`.server`: start TabPy with them deployed (``python -m segmentation.tabpy serve``).
"""

from .endpoints import (
    ModelEndpoint,
    rfm_score,
    segment_action,
    segment_assign,
    segment_explain,
    segment_live,
    segment_name,
)

__all__ = [
    "ModelEndpoint", "rfm_score", "segment_action", "segment_assign", "segment_explain", "segment_live", "segment_name",
]
