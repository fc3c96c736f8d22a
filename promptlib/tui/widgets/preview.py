"""Image preview through textual-image when it is installed; a plain note otherwise.

textual-image asks the terminal what graphics it supports when first imported, which is only possible before
Textual takes over the terminal: `prepare_image_support()` runs before the app starts. Inside tmux (which does not
pass sixel or kitty graphics through by default) and off a terminal, half-block cells are used.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from typing import Any

from textual.widget import Widget


@cache
def image_widget_class() -> Any:
    """The textual-image widget class to use, or None when textual-image is not installed."""
    try:
        from textual_image import widget as image_widgets
    except Exception:  # not installed, or the terminal query failed: fall back to the note
        return None
    stdout = sys.__stdout__
    if os.environ.get("TMUX") or stdout is None or not stdout.isatty():
        return image_widgets.HalfcellImage
    return image_widgets.Image


def prepare_image_support() -> bool:
    """Import textual-image (if installed) while the terminal can still be queried; True when previews work."""
    return image_widget_class() is not None


def make_preview(path: str, *, classes: str = "preview-image") -> Widget | None:
    """A widget showing the image at `path`, or None when previews are unavailable."""
    cls = image_widget_class()
    if cls is None:
        return None
    widget: Widget = cls(path, classes=classes)
    return widget
