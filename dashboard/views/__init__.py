"""The dashboard's views. Each view module is one tab and owns its layout and its callbacks:
``TAB_ID``, ``LABEL``, ``layout(settings)`` and ``register(app, store, settings)``.

A new view is one new module here, added to ``VIEWS``. ``frame`` is the page around the tabs.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import frame, model, movement, overview, score, upload

#: The tabs, in order.
VIEWS = (overview, model, score, movement, upload)


@dataclass(frozen=True)
class Settings:
    """What views are built with."""

    max_upload_mb: int = 50
    manager: object = None  # the background-callback manager (fits run there, with progress)


def page(settings: Settings):
    """The whole page: the frame around one tab per view."""
    return frame.layout([(v.TAB_ID, v.LABEL, v.layout(settings)) for v in VIEWS])


def register(app, store, settings: Settings) -> None:
    """Attach the frame's and every view's callbacks to ``app``."""
    for module in (frame, *VIEWS):
        module.register(app, store, settings)
