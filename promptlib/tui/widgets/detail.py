"""The detail pane: everything about the entry under the cursor, and a preview of its first render."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from promptlib.entries import Entry
from promptlib.textsafe import safe_text
from promptlib.tui.format import fav_mark, one_line, parameters, render_line, source_text, stars, timestamp
from promptlib.tui.widgets.preview import make_preview

LABEL_WIDTH = 12
MAX_THUMBS = 6  # renders after the first, shown small under the preview


def _section(text: Text, title: str) -> None:
    if text:
        text.append("\n\n")
    text.append(title, style="bold underline")
    text.append("\n")


def _row(text: Text, label: str, value: str) -> None:
    text.append(f"{label:<{LABEL_WIDTH}}", style="dim")
    text.append(value)
    text.append("\n")


def describe(entry: Entry, *, render_paths: list[str]) -> Text:
    """The detail text of an entry. Every untrusted string is escaped (safe_text / one_line), none is markup."""
    text = Text()
    text.append(f"#{entry.id}", style="bold")
    if entry.title:
        text.append("  ")
        text.append(one_line(entry.title), style="bold")
    text.append("\n")
    rating = "unrated" if entry.rating is None else f"{stars(entry.rating)} {entry.rating}/5"
    text.append(rating, style="yellow" if entry.rating is not None else "dim")
    if entry.favourite:
        text.append(f"  {fav_mark(True)} favourite", style="red")
    _section(text, "Prompt")
    text.append(safe_text(entry.prompt))
    _section(text, "Negative prompt")
    text.append(safe_text(entry.negative_prompt) if entry.negative_prompt else "—")
    _section(text, "Parameters")
    params = parameters(entry.params)
    for label, value in params:
        _row(text, label, value)
    if not params:
        text.append("none recorded\n", style="dim")
    text.rstrip()
    _section(text, "Library")
    _row(text, "tags", one_line(", ".join(entry.tags)) or "—")
    _row(text, "source", source_text(entry))
    _row(text, "collections", one_line(", ".join(entry.collections)) or "—")
    _row(text, "added", timestamp(entry.created_at) or "—")
    _row(text, "updated", timestamp(entry.updated_at) or "—")
    text.rstrip()
    if entry.notes:
        _section(text, "Notes")
        text.append(safe_text(entry.notes))
    _section(text, f"Renders ({len(entry.renders)})")
    for render, path in zip(entry.renders, render_paths, strict=False):
        text.append(render_line(render, path) + "\n")
    if not entry.renders:
        text.append("none yet", style="dim")
    text.rstrip()
    return text


class DetailPane(VerticalScroll):
    """Shows one entry; `show()` replaces the content, `show_message()` shows a note instead."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entry: Entry | None = None
        self._text = Text()
        self._preview_path: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("No entry selected", style="dim"), id="detail-body")
        yield Vertical(id="detail-preview")
        yield Horizontal(id="detail-thumbs")

    def show(self, entry: Entry, *, render_paths: list[str], image_path: str | None) -> None:
        self.entry = entry
        self._text = describe(entry, render_paths=render_paths)
        self.query_one("#detail-body", Static).update(self._text)
        self._show_preview(image_path if entry.renders else None, has_renders=bool(entry.renders))
        self._show_thumbs(render_paths[1 : 1 + MAX_THUMBS])

    def _show_thumbs(self, paths: list[str]) -> None:
        from pathlib import Path

        box = self.query_one("#detail-thumbs", Horizontal)
        if [getattr(w, "thumb_path", None) for w in box.children] == paths:
            return
        box.remove_children()
        for path in paths:
            widget = make_preview(path, classes="thumb") if Path(path).is_file() else None
            if widget is None:
                widget = Static(Text("missing" if not Path(path).is_file() else "", style="dim"), classes="thumb")
            widget.thumb_path = path  # type: ignore[attr-defined]
            box.mount(widget)

    def show_message(self, message: str) -> None:
        self.entry = None
        self._text = Text(one_line(message), style="dim")
        self.query_one("#detail-body", Static).update(self._text)
        self._show_preview(None, has_renders=False)
        self._show_thumbs([])

    def _show_preview(self, path: str | None, *, has_renders: bool) -> None:
        if path == self._preview_path and path is not None:
            return
        self._preview_path = path
        box = self.query_one("#detail-preview", Vertical)
        box.remove_children()
        if not has_renders:
            return
        if path is None:
            box.mount(Static(Text("preview unavailable: the image file is missing", style="dim")))
            return
        widget = make_preview(path)
        if widget is None:
            note = "preview unavailable (install textual-image to see renders here)"
            box.mount(Static(Text(note, style="dim"), classes="preview-note"))
        else:
            box.mount(widget)

    @property
    def body_text(self) -> str:
        """The plain text shown (for tests and accessibility)."""
        return self._text.plain
