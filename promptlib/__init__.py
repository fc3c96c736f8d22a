"""promptlib: a local-first prompt library and gallery for Stable Diffusion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from promptlib.library import Library

__all__ = ["Library", "__version__"]


def __getattr__(name: str) -> Any:
    # `from promptlib import Library` without paying for the store's imports on `promptlib --help`.
    if name == "Library":
        from promptlib.library import Library

        return Library
    raise AttributeError(name)
