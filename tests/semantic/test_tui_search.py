"""The TUI's search with a semantic index: hybrid by default, results ranked by what the images show."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from promptlib.tui.app import PromptlibApp

from .helpers import TinyModel, add_drawn, open_library

SIZE = (140, 40)


def test_hybrid_search_in_the_tui_finds_images_by_what_they_show(
    tmp_path: Path, tiny_clip: TinyModel, torch_one_thread: None
) -> None:
    folder = tmp_path / "lib"
    rng = random.Random(3)
    with open_library(folder, tiny_clip) as lib:
        reds = [add_drawn(lib, ("circle", "red", "black"), rng, prompt="untitled study")[0] for _ in range(3)]
        for _ in range(3):
            add_drawn(lib, ("square", "blue", "white"), rng, prompt="untitled study")
        lib.build_index()

    async def run() -> None:
        from tests.tui.helpers import settle

        app = PromptlibApp(folder)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, timeout=30)
            screen = app.library_screen
            deadline = asyncio.get_running_loop().time() + 20
            while screen.search_mode != "hybrid":  # the index is detected in a worker
                assert asyncio.get_running_loop().time() < deadline, "hybrid mode was not switched on"
                await pilot.pause(0.05)
            await pilot.press("slash")
            await pilot.press(*"a red circle on black")
            await settle(pilot, timeout=30)
            # no prompt says "red" or "circle": the ranking comes from the images
            top = [screen.entry_list.cache.row(i) for i in range(3)]
            assert {entry.id for entry in top if entry is not None} == set(reds)
            await pilot.press("ctrl+o")  # hybrid → semantic
            await settle(pilot, timeout=30)
            assert screen.search_mode == "semantic"
            await pilot.press("ctrl+o")  # → lexical: the words match no prompt
            await settle(pilot, timeout=30)
            assert screen.search_mode == "lexical" and screen.count == 0

    asyncio.run(run())
