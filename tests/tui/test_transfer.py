"""Import and export dialogs, the command palette, and the image preview."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from textual.widgets import Checkbox, Input

from promptlib.library import Library
from promptlib.tui.app import PromptlibApp
from promptlib.tui.screens.library import LibraryScreen
from promptlib.tui.screens.transfer import ExportScreen, ImportScreen

from .helpers import screen_text, settle

SIZE = (120, 40)


async def test_import_dialog_imports_and_shows_the_report(app: PromptlibApp, tiny: Library, tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("a harbour at night, [bold]neon[/bold]\na desert caravan\n", encoding="utf-8")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ImportScreen)
        screen.query_one("#import-path", Input).value = str(tmp_path / "missing.csv")
        await pilot.press("enter")
        await settle(pilot)
        assert screen.error is not None and "no such file" in screen.error
        assert "missing.csv" in screen_text(pilot)
        screen.query_one("#import-path", Input).value = str(source)
        await pilot.press("enter")
        await settle(pilot)
        assert screen.report is not None and screen.report.added == 2
        assert "added 2" in screen_text(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, LibraryScreen)
        assert tiny.count() == 6
        assert app.library_screen.count == 6
        await pilot.press("f")
        await settle(pilot)
        assert "pack:prompts" in app.library_screen.sidebar.clauses


async def test_export_dialog_writes_a_pack_that_imports_back(app: PromptlibApp, tiny: Library, tmp_path: Path) -> None:
    target = tmp_path / "out.zip"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ExportScreen)
        screen.query_one("#export-target", Input).value = str(target)
        screen.query_one("#export-name", Input).value = "mine"
        screen.query_one("#export-query", Input).value = "tag:landscape"
        await pilot.click("#export")
        await settle(pilot)
        assert screen.written == str(target)
        assert target.is_file()
        await pilot.press("escape")
    other = Library.open(tmp_path / "other")
    report = other.import_path(target)
    assert report.added == 1 and other.entries()[0].prompt == "castle on a hill at dawn"
    other.close()


async def test_export_dialog_asks_before_writing_over_a_file(app: PromptlibApp, tiny: Library, tmp_path: Path) -> None:
    target = tmp_path / "out.zip"
    target.write_bytes(b"keep me")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ExportScreen)
        screen.query_one("#export-target", Input).value = str(target)
        screen.query_one("#export-name", Input).value = "mine"
        await pilot.click("#export")
        await settle(pilot)
        assert screen.written is None and target.read_bytes() == b"keep me"
        assert "Overwrite or choose another target" in screen_text(pilot)
        screen.query_one("#export-overwrite", Checkbox).value = True
        await pilot.click("#export")
        await settle(pilot)
        assert screen.written == str(target) and target.read_bytes().startswith(b"PK")


async def test_command_palette_runs_library_commands(app: PromptlibApp, tiny: Library) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"duplic")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert tiny.count() == 5
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"toggle th")
        await pilot.pause(0.3)
        dark = app.current_theme.dark
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_theme.dark is not dark


@pytest.mark.filterwarnings("ignore::DeprecationWarning:textual_image.*")
async def test_detail_lists_renders_and_previews_the_first(app: PromptlibApp, tiny: Library) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 96), (200, 30, 30)).save(buffer, format="PNG")
    render = tiny.add_image(1, buffer.getvalue())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        entries = app.library_screen.entry_list
        entries.cursor = entries.total - 1
        await settle(pilot)
        body = app.library_screen.detail.body_text
        assert "Renders (1)" in body
        assert "64×96 PNG" in body and render.image_path in body
        preview = app.library_screen.detail.query_one("#detail-preview")
        assert len(preview.children) == 1
        from promptlib.tui.widgets.preview import image_widget_class

        if image_widget_class() is None:
            assert "preview unavailable" in screen_text(pilot)
        else:
            assert isinstance(preview.children[0], image_widget_class())
