"""Messages the TUI's thread workers post back to the UI thread (dataclasses, as Textual's own messages are)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from promptlib.entries import Entry, RenderInfo, StyleInfo
from promptlib.tui.access import LibraryAccess
from promptlib.tui.operations import Outcome


@dataclass
class LibraryOpened(Message):
    access: LibraryAccess


@dataclass
class LibraryFailed(Message):
    error: str


@dataclass
class QueryLoaded(Message):
    """The count and first page for a query: the list switches to them at once (no blank frame in between)."""

    ticket: int
    query: str
    sort: str
    total: int
    first_page: list[Entry]
    seconds: float
    keep_position: bool


@dataclass
class QueryFailed(Message):
    """A malformed query (or a failed search): the message goes under the search bar, the list stays."""

    ticket: int
    query: str
    error: str


@dataclass
class DetailLoaded(Message):
    entry: Entry
    render_paths: list[str]
    image_path: str | None  # the first render's file when it exists


@dataclass
class DetailFailed(Message):
    entry_id: int
    error: str


@dataclass
class FacetsLoaded(Message):
    """What the filter sidebar lists: top tags, packs and samplers with counts, and library totals."""

    tags: list[tuple[str, int]]
    packs: list[tuple[str, int]]
    samplers: list[tuple[str, int]]
    totals: dict[str, Any]
    models: list[tuple[str, int]]
    collections: list[tuple[str, int]]


@dataclass
class WriteDone(Message):
    outcome: Outcome
    is_undo: bool


@dataclass
class WriteFailed(Message):
    error: str


@dataclass
class WriterIdle(Message):
    """The write worker drained its queue."""


@dataclass
class StylesLoaded(Message):
    entry_id: int
    styles: list[StyleInfo]


@dataclass
class CollectionsLoaded(Message):
    entry_id: int
    collections: list[tuple[str, int]]


@dataclass
class CompareLoaded(Message):
    """Two renders (with their file paths) to show side by side."""

    left: tuple[RenderInfo, str]
    right: tuple[RenderInfo, str]


@dataclass
class IndexDetected(Message):
    """The library has a semantic index: searches become hybrid."""
