"""Untrusted text (markup, escape sequences, C1 controls) shows literally everywhere and crashes nothing."""

from __future__ import annotations

from textual.widgets import Input, TextArea

from promptlib.library import Library
from promptlib.tui.app import PromptlibApp
from promptlib.tui.screens.edit import EditScreen

from .helpers import MARKUP_PROMPT, raw_segment_text, screen_text, settle

SIZE = (200, 40)
RAW_CONTROLS = ("\x1b", "\x07", "\x9b")


def _assert_no_raw_controls(pilot) -> None:  # type: ignore[no-untyped-def]
    raw = raw_segment_text(pilot)
    for char in RAW_CONTROLS:
        assert char not in raw, f"{char!r} reached the terminal"


async def test_markup_and_escapes_show_literally_in_list_and_detail(app: PromptlibApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.library_screen.entry_list.current is not None
        assert app.library_screen.entry_list.current.id == 4
        text = screen_text(pilot)
        assert "[red]not red[/red]" in text  # the title, in the list and the detail pane
        assert "[bold]not bold[/bold]" in text
        assert "[link=http://evil.example]click[/link] [/]" in text
        assert "\\x1b]0;pwned\\x07 \\x1b[2J \\x9b31m tail" in text
        assert "[/]\\x1b[31m" in text  # the negative prompt
        assert "[b]tag" in text
        _assert_no_raw_controls(pilot)


async def test_edit_modal_shows_escapes_and_keeps_untouched_fields(app: PromptlibApp, tiny: Library) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EditScreen)
        shown = screen.query_one("#prompt", TextArea).text
        assert "\\x1b]0;pwned\\x07" in shown and "\x1b" not in shown
        assert "[bold]not bold[/bold]" in screen_text(pilot)
        _assert_no_raw_controls(pilot)
        screen.query_one("#title", Input).value = "safe title"
        await pilot.press("ctrl+s")
        await settle(pilot)
        entry = tiny.get(4)
        assert entry.title == "safe title"
        assert entry.prompt == MARKUP_PROMPT  # not rewritten with the visible escapes


async def test_notifications_and_query_errors_with_markup_do_not_crash(app: PromptlibApp) -> None:
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("3")  # notifies "rated #4 [red]not red[/red] 3"
        await settle(pilot)
        assert any("[red]not red[/red]" in n.message for n in app._notifications)
        await pilot.press("slash", *'"[bold]oops[/]')
        await settle(pilot)
        error = app.library_screen.search_bar.error_text
        assert "unclosed quote" in error and "[bold]oops[/]" in error
        assert "[bold]oops[/]" in screen_text(pilot)
        _assert_no_raw_controls(pilot)


async def test_escape_sequences_in_a_query_are_shown_escaped(app: PromptlibApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.library_screen
        screen.search_bar.input.value = 'bad:"\x1b[2J'
        await settle(pilot)
        assert "\x1b" not in screen.search_bar.error_text
        assert "\\x1b" in screen.search_bar.error_text
        _assert_no_raw_controls(pilot)


async def test_sidebar_lists_untrusted_tag_names_literally(app: PromptlibApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert (
            'tag:"[b]tag"' in app.library_screen.sidebar.clauses or "tag:[b]tag" in app.library_screen.sidebar.clauses
        )
        assert "[b]tag" in screen_text(pilot)


async def test_pasted_escape_sequences_are_escaped_in_inputs(app: PromptlibApp) -> None:
    from textual import events

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        search = app.library_screen.search_bar.input
        search.post_message(events.Paste("castle\x1b]0;x\x07"))
        await settle(pilot)
        assert search.value == "castle\\x1b]0;x\\x07"
        search.value = ""
        await settle(pilot)
        await pilot.press("escape", "e")
        await pilot.pause()
        area = app.screen.query_one("#notes", TextArea)
        area.focus()
        area.post_message(events.Paste("line\n\x9b2J"))
        await pilot.pause()
        assert "\\x9b2J" in area.text and "\x9b" not in area.text
        _assert_no_raw_controls(pilot)
