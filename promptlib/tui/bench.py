"""Timings of the TUI against a real library, for benchmark scripts: first interactive frame, keystroke to results.

Both run the app headless (Textual's test driver) at 120×40, so they measure promptlib and Textual, not a terminal.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

from promptlib.tui.app import PromptlibApp

SIZE = (120, 40)


async def _wait(condition: object, *, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():  # type: ignore[operator]
        if time.perf_counter() > deadline:
            raise TimeoutError("the TUI did not get there in time")
        await asyncio.sleep(0.001)


def measure_first_frame(library_path: str | os.PathLike[str], *, timeout: float = 120.0) -> float:
    """Seconds from creating the app to the first frame that shows real rows (library opened, counted, first
    page loaded and drawn)."""

    async def run() -> float:
        started = time.perf_counter()
        app = PromptlibApp(library_path)
        async with app.run_test(size=SIZE):
            entries = app.library_screen.entry_list
            await _wait(lambda: entries.first_rows_at is not None, timeout=timeout)
            assert entries.first_rows_at is not None
            return entries.first_rows_at - started

    return asyncio.run(run())


@dataclass(frozen=True)
class KeystrokeTiming:
    """Typing `query` one key at a time: from the last key press to its results in the list."""

    query: str
    matches: int
    seconds_to_results: float  # includes the search debounce
    database_seconds: float  # count + first page in the worker
    debounce_seconds: float


def measure_keystroke_to_results(
    library_path: str | os.PathLike[str], query: str = "lighthouse", *, timeout: float = 120.0
) -> KeystrokeTiming:
    """Type `query` into the search bar and time the last keystroke until its results are in the list."""
    from promptlib.tui.screens.library import SEARCH_DEBOUNCE_S

    async def run() -> KeystrokeTiming:
        app = PromptlibApp(library_path)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.library_screen
            entries = screen.entry_list
            await _wait(lambda: entries.first_rows_at is not None, timeout=timeout)
            await pilot.press("slash", *query[:-1])
            await _wait(lambda: not screen.busy, timeout=timeout)
            before = screen.results_shown_at
            started = time.perf_counter()
            await pilot.press(query[-1])
            await _wait(lambda: screen.results_shown_at != before and entries.cache.query == query, timeout=timeout)
            return KeystrokeTiming(
                query=query,
                matches=screen.count,
                seconds_to_results=screen.results_shown_at - started,
                database_seconds=screen.last_query_seconds,
                debounce_seconds=SEARCH_DEBOUNCE_S,
            )

    return asyncio.run(run())


def measure_page_down(
    library_path: str | os.PathLike[str], *, presses: int = 20, timeout: float = 120.0
) -> list[float]:
    """Seconds from each page-down (the list's action, called directly: the test driver's `press` adds its own
    idle waits) until every row then on screen is loaded and each visible line has been rendered."""

    async def run() -> list[float]:
        app = PromptlibApp(library_path)
        async with app.run_test(size=SIZE) as pilot:
            entries = app.library_screen.entry_list
            await _wait(lambda: entries.first_rows_at is not None, timeout=timeout)
            entries.focus()
            await pilot.pause()
            samples = []
            for _ in range(presses):
                started = time.perf_counter()
                entries.action_page_down()
                first = int(entries.scroll_y)
                await _wait(lambda f=first: not entries.cache.missing(f, f + entries.size.height), timeout=timeout)
                for y in range(entries.size.height):  # the list's own paint of every visible line
                    entries.render_line(y)
                samples.append(time.perf_counter() - started)
                await pilot.pause()
            return samples

    return asyncio.run(run())
