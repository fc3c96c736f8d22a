"""`EntryList`: a virtual list of entries that stays instant at a million rows.

It never holds the whole result. The list's height is the query's count; `render_line` asks the `PageCache` for
the rows on screen, and pages that are missing are fetched (about 100 rows each) by a thread worker through the
`fetch` function the screen supplies. Line 0 is a fixed column header; line ``y`` shows row ``scroll_y + y - 1``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from promptlib.entries import Entry
from promptlib.errors import PromptlibError
from promptlib.tui.format import fav_mark, one_line, stars
from promptlib.tui.pagecache import PageCache, PageRequest

PageFetcher = Callable[[PageRequest], list[Entry]]


@dataclass(frozen=True)
class Column:
    name: str
    title: str
    width: int
    right: bool = False


def layout(width: int) -> list[Column]:
    """Column widths for a list `width` cells wide: the prompt takes what the others leave."""
    avail = width - 16  # id, stars and favourite columns with their gaps
    title_w, tags_w = next(
        (t, g)
        for minimum, t, g in ((90, 24, 22), (60, 20, 16), (40, 14, 12), (25, 12, 0), (0, 0, 0))
        if avail >= minimum
    )
    columns = [Column("id", "id", 7, right=True)]
    if title_w:
        columns.append(Column("title", "title", title_w))
    prompt_w = avail - (title_w + 1 if title_w else 0) - (tags_w + 1 if tags_w else 0) - 1
    columns.append(Column("prompt", "prompt", max(8, prompt_w)))
    if tags_w:
        columns.append(Column("tags", "tags", tags_w))
    return [*columns, Column("rating", "stars", 5), Column("fav", "♥", 1)]


def _cell_text(entry: Entry, column: str) -> str:
    if column == "id":
        return str(entry.id)
    if column == "title":
        return one_line(entry.title)
    if column == "prompt":
        return one_line(entry.prompt)
    if column == "tags":
        return one_line(", ".join(entry.tags))
    if column == "rating":
        return stars(entry.rating)
    return fav_mark(entry.favourite)


class EntryList(ScrollView, can_focus=True):
    """Rows of entries for the current query, loaded page by page as they scroll into view."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "select", "Edit", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "entry-list--header",
        "entry-list--cursor",
        "entry-list--id",
        "entry-list--stars",
        "entry-list--fav",
        "entry-list--tags",
        "entry-list--loading",
    }

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    @dataclass
    class Highlighted(Message):
        """The row under the cursor changed (or its page arrived)."""

        index: int
        entry: Entry

    @dataclass
    class Chosen(Message):
        """Enter on a row."""

        index: int
        entry: Entry

    @dataclass
    class PageLoaded(Message):
        bubble: ClassVar[bool] = False
        request: PageRequest
        rows: list[Entry]

    @dataclass
    class PageFailed(Message):
        request: PageRequest
        error: str

    @dataclass
    class HeaderClicked(Message):
        """A click on the column header (the screen cycles the sort)."""

    def __init__(self, fetch: PageFetcher, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._fetch = fetch
        self.cache = PageCache()
        self.first_rows_at: float | None = None  # when rows (not placeholders) were first drawn
        self.ready = False  # set by the first `reset`

    # --- data -------------------------------------------------------------------------------------------------

    @property
    def total(self) -> int:
        return self.cache.total

    @property
    def current(self) -> Entry | None:
        """The entry under the cursor, if its page is loaded."""
        return self.cache.row(self.cursor)

    def reset(self, *, total: int, query: str, sort: str, first_page: list[Entry], keep_position: bool = False) -> None:
        """Show a new result (or a reloaded one): swap the data in one step, so there is no empty frame."""
        self.cache.reset(total=total, query=query, sort=sort, first_page=first_page)
        self.ready = True
        self._update_virtual_size()
        if keep_position:
            self.cursor = max(0, min(self.cursor, self.total - 1))
        else:
            self.scroll_to(y=0, animate=False, immediate=True)
            self.cursor = 0
        self.refresh()

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, self.total + 1)

    @property
    def _rows_visible(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _ensure_pages(self) -> None:
        """Fetch the pages that the rows on screen need, dropping fetches for rows scrolled away."""
        if not self.ready or not self.total:
            return
        first = round(self.scroll_y)
        needed = self.cache.missing(first, first + self._rows_visible)
        if not needed:
            return
        self.cache.forget_pending()  # the running fetch (if any) is cancelled by the exclusive worker below
        needed = self.cache.missing(first, first + self._rows_visible)
        self._fetch_pages([self.cache.request(page) for page in needed])

    @work(thread=True, exclusive=True, group="entry-pages")
    def _fetch_pages(self, requests: list[PageRequest]) -> None:
        worker = get_current_worker()
        for request in requests:
            if worker.is_cancelled:
                return
            try:
                rows = self._fetch(request)
            except PromptlibError as exc:
                self.post_message(self.PageFailed(request, str(exc)))
                return
            except Exception as exc:  # never let a database hiccup take the UI down
                self.post_message(self.PageFailed(request, f"could not load entries: {exc}"))
                return
            self.post_message(self.PageLoaded(request, rows))

    def on_entry_list_page_loaded(self, message: PageLoaded) -> None:
        request = message.request
        before = self.total
        if not self.cache.store(request.generation, request.page, message.rows):
            return
        if self.total != before:
            self._update_virtual_size()
        self.refresh()
        if self.cache.page_of(self.cursor) == request.page:
            self._announce()
        self._ensure_pages()

    def on_entry_list_page_failed(self, message: PageFailed) -> None:
        self.cache.pending.discard(message.request.page)

    # --- cursor and scrolling -----------------------------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, self.total - 1)) if self.total else 0

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        self._announce()

    def _announce(self) -> None:
        entry = self.current
        if entry is not None:
            self.post_message(self.Highlighted(self.cursor, entry))

    def _scroll_to_cursor(self) -> None:
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + self._rows_visible:
            self.scroll_to(y=self.cursor - self._rows_visible + 1, animate=False, immediate=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._ensure_pages()

    def on_resize(self, event: events.Resize) -> None:
        self._update_virtual_size()
        self._ensure_pages()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_page_down(self) -> None:
        step = self._rows_visible
        self.scroll_to(y=round(self.scroll_y) + step, animate=False, immediate=True)
        self.cursor += step

    def action_page_up(self) -> None:
        step = self._rows_visible
        self.scroll_to(y=max(0, round(self.scroll_y) - step), animate=False, immediate=True)
        self.cursor -= step

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = self.total - 1

    def action_select(self) -> None:
        entry = self.current
        if entry is not None:
            self.post_message(self.Chosen(self.cursor, entry))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            self.post_message(self.HeaderClicked())
            return
        index = round(self.scroll_y) + offset.y - 1
        if 0 <= index < self.total:
            self.cursor = index
            if event.chain == 2:
                self.action_select()

    # --- drawing ------------------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            return self._strip(self._header(width), width, base)
        index = round(self.scroll_y) + y - 1
        if index >= self.total or not self.ready:
            return Strip.blank(width, base)
        entry = self.cache.row(index)
        if entry is None:
            page = self.cache.page_of(index)
            if page not in self.cache.pending:
                self.call_later(self._ensure_pages)
            text = Text(" " * 8 + "…", style=self.get_component_rich_style("entry-list--loading"))
            return self._strip(text, width, base)
        if self.first_rows_at is None:
            self.first_rows_at = time.perf_counter()
        row_style = self.get_component_rich_style("entry-list--cursor") if index == self.cursor else Style()
        return self._strip(self._row(entry, width, row_style), width, base)

    def _strip(self, text: Text, width: int, base: Style) -> Strip:
        strip = Strip(text.render(self.app.console))
        return strip.crop_extend(0, width, base).apply_style(base)

    def _header(self, width: int) -> Text:
        text = Text(style=self.get_component_rich_style("entry-list--header"), no_wrap=True, end="")
        for column in layout(width):
            cell = column.title.rjust(column.width) if column.right else column.title
            part = Text(cell)
            part.truncate(column.width, overflow="ellipsis", pad=True)
            text.append_text(part)
            text.append(" ")
        return text

    def _row(self, entry: Entry, width: int, row_style: Style) -> Text:
        styles = {
            "id": self.get_component_rich_style("entry-list--id"),
            "rating": self.get_component_rich_style("entry-list--stars"),
            "fav": self.get_component_rich_style("entry-list--fav"),
            "tags": self.get_component_rich_style("entry-list--tags"),
        }
        text = Text(style=row_style, no_wrap=True, end="")
        for column in layout(width):
            value = _cell_text(entry, column.name)
            cell = Text(value.rjust(column.width) if column.right else value, style=styles.get(column.name, ""))
            cell.truncate(column.width, overflow="ellipsis", pad=True)
            text.append_text(cell)
            text.append(" ")
        return text
