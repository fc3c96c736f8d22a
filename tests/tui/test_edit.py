"""Changing the library from the TUI: edit, rate, favourite, duplicate, delete, styles, collections, undo."""

from __future__ import annotations

from textual.widgets import Input, TextArea

from promptlib.library import Library
from promptlib.tui.app import PromptlibApp
from promptlib.tui.screens.confirm import ConfirmScreen
from promptlib.tui.screens.edit import EditScreen
from promptlib.tui.screens.library import LibraryScreen
from promptlib.tui.screens.pickers import CollectionScreen, StylePickerScreen

from .helpers import settle

SIZE = (120, 40)


def _notes(app: PromptlibApp) -> list[str]:
    return [n.message for n in app._notifications]


async def _select(pilot, app: PromptlibApp, entry_id: int) -> None:  # type: ignore[no-untyped-def]
    entries = app.library_screen.entry_list
    index = entries.cache.index_of(entry_id)
    assert index is not None
    entries.cursor = index
    await settle(pilot)


async def test_edit_modal_changes_the_prompt_in_the_library(app: PromptlibApp, tiny: Library) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, app, 2)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EditScreen)
        app.screen.query_one("#prompt", TextArea).load_text("castle on a hill at dusk, matte painting")
        app.screen.query_one("#steps", Input).value = "42"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, LibraryScreen)
        entry = tiny.get(2)
        assert entry.prompt == "castle on a hill at dusk, matte painting"
        assert entry.params["steps"] == 42
        assert entry.params["sampler"] == "Euler a"  # untouched fields stay
        assert entry.title == "Castle"
        assert "matte painting" in app.library_screen.detail.body_text


async def test_edit_modal_shows_validation_errors_inline(app: PromptlibApp, tiny: Library) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, app, 2)
        await pilot.press("e")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EditScreen)
        screen.query_one("#prompt", TextArea).load_text("   ")
        screen.query_one("#steps", Input).value = "many"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, EditScreen)  # still open
        assert "not a whole number" in screen.errors_shown["steps"]
        screen.query_one("#steps", Input).value = "0"
        await pilot.press("ctrl+s")
        await pilot.pause()
        errors = screen.errors_shown
        assert set(errors) == {"prompt"} and "prompt is empty" in errors["prompt"]
        screen.query_one("#prompt", TextArea).load_text("fine prompt")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "steps" in screen.errors_shown  # steps 0 is below the minimum of 1
        await pilot.press("escape")
        await settle(pilot)
        assert tiny.get(2).prompt == "castle on a hill at dawn"


async def test_rating_and_favourite_keys_write_to_the_library(app: PromptlibApp, tiny: Library) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, app, 2)
        await pilot.press("5")
        await settle(pilot)
        assert tiny.get(2).rating == 5
        await pilot.press("asterisk")
        await settle(pilot)
        assert tiny.get(2).favourite is True
        await pilot.press("F")
        await settle(pilot)
        assert tiny.get(2).favourite is False
        await pilot.press("minus")
        await settle(pilot)
        assert tiny.get(2).rating is None
        current = app.library_screen.entry_list.current
        assert current is not None and current.id == 2


async def test_undo_restores_rating_and_edits(app: PromptlibApp, tiny: Library) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, app, 1)
        await pilot.press("1")
        await settle(pilot)
        assert tiny.get(1).rating == 1
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EditScreen)
        app.screen.query_one("#title", Input).value = "Renamed"
        app.screen.query_one("#tags", Input).value = "new-tag"
        app.screen.query_one("#size", Input).value = ""
        await pilot.press("ctrl+s")
        await settle(pilot)
        edited = tiny.get(1)
        assert (edited.title, edited.tags, edited.params["width"]) == ("Renamed", ("new-tag",), None)
        await pilot.press("u")
        await settle(pilot)
        restored = tiny.get(1)
        assert restored.title == "Lighthouse"
        assert restored.tags == ("painting", "seascape")
        assert (restored.params["width"], restored.params["height"]) == (512, 768)
        assert restored.rating == 1
        await pilot.press("u")
        await settle(pilot)
        assert tiny.get(1).rating == 4
        await pilot.press("u")
        await settle(pilot)
        assert "nothing to undo" in _notes(app)


async def test_duplicate_then_undo_removes_the_copy(app: PromptlibApp, tiny: Library) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, app, 2)
        await pilot.press("d")
        await settle(pilot)
        assert tiny.count() == 5
        copy = tiny.get(5)
        assert copy.title == "Castle (copy)" and copy.prompt == "castle on a hill at dawn"
        current = app.library_screen.entry_list.current
        assert current is not None and current.id == 5  # the cursor follows the new copy
        await pilot.press("u")
        await settle(pilot)
        assert tiny.count() == 4


async def test_delete_asks_first_and_undo_adds_it_back(app: PromptlibApp, tiny: Library) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, app, 2)
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert tiny.count() == 4
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert tiny.count() == 3
        assert [e.id for e in tiny.entries()] == [4, 3, 1]
        await pilot.press("u")
        await settle(pilot)
        assert tiny.count() == 4
        back = tiny.get(2)  # back as it was, under its own id
        assert (back.prompt, back.title, back.tags) == ("castle on a hill at dawn", "Castle", ("landscape",))
        assert [e.id for e in tiny.entries()] == [4, 3, 2, 1]


async def test_apply_style_from_the_picker(app: PromptlibApp, tiny: Library) -> None:
    tiny.add_style("cinematic", "{prompt}, cinematic lighting", negative_prompt="cartoon")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, app, 3)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, StylePickerScreen)
        await pilot.press("enter")
        await settle(pilot)
        entry = tiny.get(3)
        assert entry.prompt == "portrait of a robot, studio light, cinematic lighting"
        assert entry.negative_prompt == "cartoon"
        await pilot.press("u")
        await settle(pilot)
        assert tiny.get(3).prompt == "portrait of a robot, studio light"


async def test_add_to_collection(app: PromptlibApp, tiny: Library) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, app, 3)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, CollectionScreen)
        await pilot.press(*"robots", "enter")
        await settle(pilot)
        assert tiny.collections() == [("robots", 1)]
        assert "robots" in app.library_screen.detail.body_text
        await pilot.press("u")
        await settle(pilot)
        assert tiny.collections() == [("robots", 0)]  # undo takes the entry back out


async def test_new_entry_from_the_edit_dialog(app: PromptlibApp, tiny: Library) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, EditScreen)
        app.screen.query_one("#prompt", TextArea).load_text("a brand new prompt")
        app.screen.query_one("#tags", Input).value = "fresh, new"
        app.screen.query_one("#size", Input).value = "640x480"
        await pilot.press("ctrl+s")
        await settle(pilot)
        entry = tiny.get(5)
        assert entry.prompt == "a brand new prompt"
        assert entry.tags == ("fresh", "new")
        assert (entry.params["width"], entry.params["height"]) == (640, 480)
