"""Helpers for the TUI tests: the tiny fixed library, waiting for the app to go idle, reading the screen."""

from __future__ import annotations

import asyncio
import io

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from promptlib.library import Library
from promptlib.tui.app import PromptlibApp

MARKUP_PROMPT = "[bold]not bold[/bold] [link=http://evil.example]click[/link] [/] \x1b]0;pwned\x07 \x1b[2J \x9b31m tail"
MARKUP_TITLE = "[red]not red[/red]"


def fill_tiny(lib: Library) -> None:
    """Four entries with fixed content (ids 1-4), one of them full of markup and escape sequences."""
    lib.add(
        "a lighthouse in fog, oil painting",
        title="Lighthouse",
        negative_prompt="blurry, low quality",
        tags=["seascape", "painting"],
        params={
            "steps": 30,
            "cfg_scale": 7.0,
            "sampler": "DPM++ 2M",
            "schedule": "karras",
            "seed": 1234,
            "width": 512,
            "height": 768,
        },
        rating=4,
        favourite=True,
        notes="first try",
    )
    lib.add("castle on a hill at dawn", title="Castle", tags=["landscape"], params={"steps": 20, "sampler": "Euler a"})
    lib.add("portrait of a robot, studio light", tags=["portrait", "scifi"], rating=2)
    lib.add(MARKUP_PROMPT, title=MARKUP_TITLE, negative_prompt="[/]\x1b[31m", tags=["[b]tag"])


async def settle(pilot: Pilot[None], *, timeout: float = 10.0) -> None:
    """Wait until the library is open and no debounce timer, worker or queued write is outstanding."""
    app = pilot.app
    assert isinstance(app, PromptlibApp)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet = 0
    while loop.time() < deadline:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.library_screen
        idle = (screen.access is not None or app.access is None) and not screen.busy
        quiet = quiet + 1 if idle else 0
        if quiet >= 2:
            return
        await asyncio.sleep(0.03)
    raise AssertionError("the app did not settle")


def freeze_cursors(pilot: Pilot[None]) -> None:
    """No blinking cursors in snapshots."""
    for widget in pilot.app.screen.query("Input, TextArea"):
        if isinstance(widget, Input | TextArea):
            widget.cursor_blink = False


def screen_text(pilot: Pilot[None]) -> str:
    """The characters on screen now (escape sequences in the content would show up here verbatim)."""
    app = pilot.app
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), force_terminal=True, color_system=None, record=True
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def raw_segment_text(pilot: Pilot[None]) -> str:
    """The text of every segment the compositor would send to the terminal for the current screen."""
    update = pilot.app.screen._compositor.render_update(full=True)
    console = Console(width=pilot.app.size[0], file=io.StringIO(), color_system=None, force_terminal=True)
    return "".join(segment.text for segment in console.render(update) if not segment.control)
