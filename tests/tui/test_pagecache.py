"""The pure parts of the TUI: the page cache behind the virtual list, and display / query helpers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from promptlib.entries import Entry
from promptlib.search.dsl import Filter, parse
from promptlib.tui.format import dsl_filter, one_line, parameters, stars
from promptlib.tui.pagecache import PageCache


def _entry(entry_id: int) -> Entry:
    return Entry(entry_id, "", f"p{entry_id}", "", "", None, False, (), {}, {}, None, None, None)


def _page(start: int, size: int) -> list[Entry]:
    return [_entry(i) for i in range(start, start + size)]


def test_rows_of_an_old_generation_are_dropped() -> None:
    cache = PageCache(page_size=10)
    old = cache.reset(total=100, query="", sort="new")
    request = cache.request(3)
    cache.reset(total=50, query="castle", sort="new")
    assert cache.store(old, request.page, _page(30, 10)) is False
    assert cache.row(35) is None and cache.pages_loaded == 0


def test_missing_names_only_pages_not_loaded_or_pending() -> None:
    cache = PageCache(page_size=10)
    cache.reset(total=95, query="", sort="new", first_page=_page(0, 10))
    assert cache.missing(0, 25) == [1, 2]
    cache.request(1)
    assert cache.missing(0, 25) == [2]
    assert cache.missing(90, 200) == [9]  # clamped to the total


def test_a_short_page_shrinks_the_total() -> None:
    cache = PageCache(page_size=10)
    generation = cache.reset(total=1000, query="common", sort="score")
    cache.store(generation, 2, _page(20, 4))  # a ranking window ended at row 24
    assert cache.total == 24
    assert cache.row(23) is not None and cache.row(24) is None


def test_least_recently_used_pages_are_evicted() -> None:
    cache = PageCache(page_size=10, max_pages=3)
    generation = cache.reset(total=1000, query="", sort="new")
    for page in range(3):
        cache.store(generation, page, _page(page * 10, 10))
    assert cache.row(5) is not None  # page 0 is now the most recently used
    cache.store(generation, 3, _page(30, 10))
    assert cache.is_loaded(0) and not cache.is_loaded(1)
    assert cache.loaded_pages == 3 and cache.pages_loaded == 4
    assert cache.index_of(35) == 35 and cache.index_of(15) is None


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=40))
def test_dsl_filter_round_trips_through_the_parser(value: str) -> None:
    query = parse(dsl_filter("tag", value))
    assert query.clauses and query.clauses[0].node == Filter("tag", value)


def test_display_helpers_escape_and_format() -> None:
    assert one_line("a\nb\tc\x1b[2J\x9b") == "a b c\\x1b[2J\\x9b"
    assert stars(3) == "★★★☆☆" and stars(None) == "     "
    shown = dict(parameters({"steps": 30, "cfg_scale": 7.5, "width": 512, "height": 768, "extra": {"hires": True}}))
    assert shown == {"steps": "30", "CFG": "7.5", "size": "512×768", "hires": "true"}
