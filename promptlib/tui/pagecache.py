"""The page cache behind the virtual entry list: rows are asked for by index and loaded a page at a time.

Nothing here touches the database or Textual. The list asks `row(index)`; a miss names the page to fetch; the
fetched rows come back through `store()` tagged with the generation they were asked for, so rows of an old query
or sort order are dropped. `pages_loaded` counts every page stored, which the tests and benchmarks read.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from promptlib.entries import Entry

PAGE_SIZE = 100
MAX_PAGES = 64  # ~6,400 rows in memory whatever the library's size


@dataclass(frozen=True)
class PageRequest:
    """Rows `offset`..`offset+limit` of the list for `query` in `sort` order, asked for by `generation`."""

    generation: int
    page: int
    offset: int
    limit: int
    query: str
    sort: str


class PageCache:
    """Pages of entries for one (query, sort) at a time, least recently used pages evicted."""

    def __init__(self, *, page_size: int = PAGE_SIZE, max_pages: int = MAX_PAGES) -> None:
        self.page_size = page_size
        self.max_pages = max_pages
        self.generation = 0
        self.total = 0
        self.query = ""
        self.sort = "new"
        self.pending: set[int] = set()
        self.pages_loaded = 0  # pages stored over the cache's life (instrumentation)
        self.page_log: list[int] = []  # page numbers stored in the current generation, in order
        self._pages: OrderedDict[int, list[Entry]] = OrderedDict()

    def reset(self, *, total: int, query: str, sort: str, first_page: list[Entry] | None = None) -> int:
        """Start a new generation (new query, sort or data); returns it. `first_page` is page 0 if already loaded."""
        self.generation += 1
        self.total, self.query, self.sort = total, query, sort
        self.pending.clear()
        self.page_log = []
        self._pages.clear()
        if first_page is not None:
            self.store(self.generation, 0, first_page)
        return self.generation

    def page_of(self, index: int) -> int:
        return index // self.page_size

    def row(self, index: int) -> Entry | None:
        """The entry at `index`, or None when its page is not loaded (or `index` is out of range)."""
        if not 0 <= index < self.total:
            return None
        rows = self._pages.get(self.page_of(index))
        if rows is None:
            return None
        self._pages.move_to_end(self.page_of(index))
        offset = index % self.page_size
        return rows[offset] if offset < len(rows) else None

    def is_loaded(self, page: int) -> bool:
        return page in self._pages

    def missing(self, first: int, last: int) -> list[int]:
        """Pages covering indexes `first`..`last` (inclusive) that are neither loaded nor already asked for."""
        last = min(last, self.total - 1)
        if last < first or first < 0:
            return []
        pages = range(self.page_of(first), self.page_of(last) + 1)
        return [p for p in pages if p not in self._pages and p not in self.pending]

    def request(self, page: int) -> PageRequest:
        """Mark `page` as asked for and describe the fetch."""
        self.pending.add(page)
        return PageRequest(
            generation=self.generation,
            page=page,
            offset=page * self.page_size,
            limit=self.page_size,
            query=self.query,
            sort=self.sort,
        )

    def forget_pending(self) -> None:
        """Fetches that were cancelled: their pages may be asked for again."""
        self.pending.clear()

    def store(self, generation: int, page: int, rows: list[Entry]) -> bool:
        """Keep a fetched page; False (and nothing stored) when it belongs to an older generation.

        A short page before the known end means the result ended early (a ranking window was reached, or rows
        were deleted meanwhile): the total shrinks to match.
        """
        if generation != self.generation:
            return False
        self.pending.discard(page)
        self._pages[page] = rows
        self._pages.move_to_end(page)
        self.pages_loaded += 1
        self.page_log.append(page)
        end = page * self.page_size + len(rows)
        if len(rows) < self.page_size and end < self.total:
            self.total = end
        while len(self._pages) > self.max_pages:
            self._pages.popitem(last=False)
        return True

    def index_of(self, entry_id: int) -> int | None:
        """The index of a loaded entry, or None when it is not in a loaded page."""
        for page, rows in self._pages.items():
            for offset, entry in enumerate(rows):
                if entry.id == entry_id:
                    return page * self.page_size + offset
        return None

    @property
    def loaded_pages(self) -> int:
        return len(self._pages)
