"""Browsing: the list, search, sort, filters, the detail pane, help and quitting."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptlib.library import Library
from promptlib.tui.app import PromptlibApp
from promptlib.tui.screens.help import KeysHelpScreen, QueryHelpScreen
from promptlib.tui.screens.library import LibraryScreen
from promptlib.tui.widgets.entry_list import EntryList

from .helpers import screen_text, settle

SIZE = (120, 40)


def _ids(app: PromptlibApp) -> list[int]:
    entries = app.library_screen.entry_list
    return [e.id for i in range(entries.total) if (e := entries.cache.row(i)) is not None]


async def test_list_shows_entries_newest_first(app: PromptlibApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert _ids(app) == [4, 3, 2, 1]
        text = screen_text(pilot)
        assert "Lighthouse" in text
        assert "castle on a hill at dawn" in text
        assert "4 entries" in text


async def test_typing_in_search_filters_the_list(app: PromptlibApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"castle")
        await settle(pilot)
        assert _ids(app) == [2]
        assert app.library_screen.count == 1
        assert "1 entry" in screen_text(pilot)


async def test_malformed_query_shows_the_error_and_keeps_the_list(
    app: PromptlibApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    import promptlib.tui.screens.library as library_screen

    # Typing is slower than the debounce under the test driver; only the finished query should run.
    monkeypatch.setattr(library_screen, "SEARCH_DEBOUNCE_S", 1.0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"steps:abc")
        await settle(pilot)
        screen = app.library_screen
        assert "steps:abc is not a number" in screen.search_bar.error_text
        assert "steps:abc is not a number" in screen_text(pilot)
        assert _ids(app) == [4, 3, 2, 1]  # the previous result stays
        for _ in range(3):
            await pilot.press("backspace")
        await pilot.press(*"20")
        await settle(pilot)
        assert screen.search_bar.error_text == ""
        assert _ids(app) == [2]


async def test_sort_key_cycles_through_the_orders(app: PromptlibApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.library_screen
        seen = []
        for _ in range(5):
            await pilot.press("s")
            await settle(pilot)
            seen.append((screen.sort, _ids(app)))
        assert [s for s, _ in seen] == ["old", "rating", "title", "score", "new"]
        assert seen[0][1] == [1, 2, 3, 4]
        assert seen[1][1][:2] == [1, 3]  # rated 4, then rated 2
        assert seen[2][1][:2] == [4, 2]  # "[red]…" sorts before "Castle"; untitled last
        assert seen[2][1][-1] == 3
        assert "sort: new" in screen_text(pilot)


async def test_sidebar_filter_adds_a_query_filter(app: PromptlibApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.library_screen
        await pilot.press("f")
        await settle(pilot)
        assert screen.sidebar.has_class("visible")
        clauses = screen.sidebar.clauses
        assert "fav:yes" in clauses and "tag:landscape" in clauses and 'sampler:"DPM++ 2M"' in clauses
        option_list = screen.sidebar.query_one("#filter-options")
        # choose "tag:landscape" by moving the highlight to it and pressing enter
        from textual.widgets import OptionList

        assert isinstance(option_list, OptionList)
        target = next(k for k, v in screen.sidebar._clauses.items() if v == "tag:landscape")
        option_list.highlighted = option_list.get_option_index(target)
        await pilot.press("enter")
        await settle(pilot)
        assert screen.query_text == "tag:landscape"
        assert _ids(app) == [2]
        await pilot.press("f")
        assert not screen.sidebar.has_class("visible")


async def test_detail_pane_shows_the_selected_entrys_parameters(app: PromptlibApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("end")
        await settle(pilot)
        detail = app.library_screen.detail
        assert detail.entry is not None and detail.entry.id == 1
        body = detail.body_text
        for expected in ("steps", "30", "CFG", "DPM++ 2M", "karras", "1234", "512×768", "painting, seascape"):
            assert expected in body
        assert "blurry, low quality" in body
        assert "first try" in body
        assert "sampler" in screen_text(pilot)


async def test_help_screen_opens_and_closes(app: PromptlibApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, KeysHelpScreen)
        text = screen_text(pilot)
        assert "Duplicate" in text and "ctrl+p" in text
        await pilot.press("escape")
        assert isinstance(app.screen, LibraryScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, KeysHelpScreen)


async def test_question_mark_in_the_search_bar_opens_query_help(app: PromptlibApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", "question_mark")
        assert isinstance(app.screen, QueryHelpScreen)
        assert 'sampler:"Euler a"' in screen_text(pilot)
        await pilot.press("escape")
        assert app.library_screen.query_text == ""


async def test_ctrl_q_exits(app: PromptlibApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.return_code is None
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code == 0  # set by App.exit()
    assert not app.is_running


async def test_theme_key_toggles_light_and_dark(app: PromptlibApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        dark = app.current_theme.dark
        await pilot.press("t")
        assert app.current_theme.dark is not dark


async def test_clicking_a_row_selects_it_and_the_header_cycles_the_sort(app: PromptlibApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        entries = app.library_screen.entry_list
        await pilot.click(EntryList, offset=(10, 3))  # header line, then rows 4, 3, 2
        await settle(pilot)
        assert entries.cursor == 2 and entries.current is not None and entries.current.id == 2
        assert app.library_screen.detail.entry is not None and app.library_screen.detail.entry.id == 2
        await pilot.click(EntryList, offset=(10, 0))
        await settle(pilot)
        assert app.library_screen.sort == "old"
        assert _ids(app) == [1, 2, 3, 4]


async def test_virtual_list_fetches_only_the_pages_it_shows(tmp_path: Path) -> None:
    path = tmp_path / "big"
    lib = Library.open(path)
    lib.add_many(lib.prepare_entry(f"prompt number {n} of a big library", tags=[f"t{n % 7}"]) for n in range(20_000))
    lib.close()
    app = PromptlibApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        entries = app.library_screen.entry_list
        assert entries.total == 20_000
        assert entries.cache.pages_loaded == 1
        visible = entries._rows_visible
        for _ in range(5):
            await pilot.press("pagedown")
        await settle(pilot)
        assert entries.cursor == 5 * visible
        assert entries.current is not None and entries.current.id == 20_000 - 5 * visible
        assert f"prompt number {20_000 - 5 * visible - 1} " in screen_text(pilot)
        assert entries.cache.pages_loaded <= 4  # of 200 pages
        await pilot.press("end")
        await settle(pilot)
        assert entries.current is not None and entries.current.id == 1
        assert entries.cache.pages_loaded <= 6
        assert entries.cache.loaded_pages <= 6
        assert "prompt number 0 " in screen_text(pilot)
