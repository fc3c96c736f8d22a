"""Snapshot tests (pytest-textual-snapshot): the main screen, an entry's detail, and the edit dialog.

The library is the fixed tiny one; timestamps are frozen and cursors do not blink. Regenerate the SVGs with
``pytest --snapshot-update tests/tui`` after an intended change, and look at them before committing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from promptlib.library import Library
from promptlib.tui.app import PromptlibApp

from .helpers import freeze_cursors, settle

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("promptlib.tui.widgets.detail.timestamp", lambda value: "2025-01-01 12:00 UTC")


def _before(*keys: str) -> Callable[[Pilot[None]], Any]:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        freeze_cursors(pilot)

    return run_before


def test_main_screen(snap_compare: Any, tiny: Library, lib_path: Path) -> None:
    assert snap_compare(PromptlibApp(lib_path), terminal_size=SIZE, run_before=_before())


def test_entry_detail(snap_compare: Any, tiny: Library, lib_path: Path) -> None:
    assert snap_compare(PromptlibApp(lib_path), terminal_size=SIZE, run_before=_before("end"))


def test_edit_dialog(snap_compare: Any, tiny: Library, lib_path: Path) -> None:
    assert snap_compare(PromptlibApp(lib_path), terminal_size=SIZE, run_before=_before("end", "e"))


def test_filter_sidebar(snap_compare: Any, tiny: Library, lib_path: Path) -> None:
    assert snap_compare(PromptlibApp(lib_path), terminal_size=SIZE, run_before=_before("f"))
