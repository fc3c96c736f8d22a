"""The TUI's handle on a `Library`: one lock, so thread workers never use the shared SQLite connection at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from promptlib.library import Library


class LibraryAccess:
    """A `Library` that thread workers borrow one at a time with ``with access.use() as lib:``."""

    def __init__(self, library: Library, *, owned: bool) -> None:
        self._library = library
        self._lock = threading.Lock()
        self.owned = owned  # opened by the app, so closed by it
        self.path = library.path

    @contextmanager
    def use(self) -> Iterator[Library]:
        with self._lock:
            yield self._library

    def close(self) -> None:
        if self.owned:
            with self._lock:
                self._library.close()

    def validate_entry(self, fields: dict[str, Any]) -> None:
        """Check entry fields the way `Library.add` / `Library.edit` would, without writing (no database work,
        so no lock). Raises ValidationError."""
        self._library.prepare_entry(**fields)
