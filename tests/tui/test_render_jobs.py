"""Render, verify and grid from the TUI with the tiny random-weight model: real jobs, stored results."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptlib.library import Library
from promptlib.tui.app import PromptlibApp
from promptlib.tui.jobs import DONE
from promptlib.tui.screens.help import TextScreen
from promptlib.tui.screens.render_dialog import GridDialog, RenderDialog

from .helpers import screen_text, settle

pytest.importorskip("diffusers")
SIZE = (150, 44)
ROBOT = 3  # the tiny library's entry without parameters: the tiny model's native 64×64


@pytest.fixture
def render_app(tiny: Library, lib_path: Path, tmp_path: Path) -> Iterator[PromptlibApp]:
    import torch

    config = (lib_path / "config.toml").read_text(encoding="utf-8")
    (lib_path / "config.toml").write_text(
        config.replace("[render]\n", '[render]\nmodel = "random:sd15-tiny"\n', 1), encoding="utf-8"
    )
    previous_cache, threads = os.environ.get("PROMPTLIB_CACHE_DIR"), torch.get_num_threads()
    os.environ["PROMPTLIB_CACHE_DIR"] = str(tmp_path / "cache")
    torch.set_num_threads(1)
    yield PromptlibApp(lib_path)
    torch.set_num_threads(threads)
    if previous_cache is None:
        os.environ.pop("PROMPTLIB_CACHE_DIR", None)
    else:
        os.environ["PROMPTLIB_CACHE_DIR"] = previous_cache


async def _select(pilot, app: PromptlibApp, entry_id: int) -> None:  # type: ignore[no-untyped-def]
    entries = app.library_screen.entry_list
    entries.cursor = next(i for i in range(entries.total) if (e := entries.cache.row(i)) and e.id == entry_id)
    await settle(pilot)


async def _job_done(pilot, app: PromptlibApp, count: int, timeout: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    jobs = app.library_screen.jobs
    while not (len(jobs.jobs) >= count and all(job.finished for job in jobs.jobs)):
        assert time.monotonic() < deadline, [job.status_line() for job in jobs.jobs]
        await pilot.pause(0.1)
    await settle(pilot)


async def test_render_then_verify_then_grid_from_the_keyboard(render_app: PromptlibApp, tiny: Library) -> None:
    app = render_app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, app, ROBOT)
        await pilot.press("r")
        assert isinstance(app.screen, RenderDialog)
        app.screen.query_one("#form-n").value = "2"  # type: ignore[attr-defined]
        app.screen.query_one("#form-steps").value = "2"  # type: ignore[attr-defined]
        app.screen.query_one("#form-seed").value = "11"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await _job_done(pilot, app, 1)
        render_job = app.library_screen.jobs.jobs[0]
        assert render_job.state == DONE and render_job.result is not None
        assert len(render_job.result.render_ids) == 2
        stored = tiny.get(ROBOT).renders
        assert {r.recipe["seed"] for r in stored} == {11, 12} and {r.recipe["steps"] for r in stored} == {2}
        assert "Renders (2)" in app.library_screen.detail.body_text  # shown without a restart

        await pilot.press("v")  # verify the latest render: the same environment gives the same pixels
        await _job_done(pilot, app, 2)
        verify_job = app.library_screen.jobs.jobs[1]
        assert verify_job.state == DONE and verify_job.result is not None
        assert "identical" in verify_job.result.summary
        app.library_screen.jobs_panel.list_view.index = 1
        app.library_screen.jobs_panel.list_view.focus()
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, TextScreen) and "identical" in screen_text(pilot)
        await pilot.press("escape")

        await _select(pilot, app, ROBOT)
        await pilot.press("g")
        assert isinstance(app.screen, GridDialog)
        app.screen.query_one("#form-x").value = "seed=1,2"  # type: ignore[attr-defined]
        app.screen.query_one("#form-y").value = "steps=1,2"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await _job_done(pilot, app, 3)
        grid_job = app.library_screen.jobs.jobs[2]
        assert grid_job.state == DONE and grid_job.result is not None
        assert len(grid_job.result.render_ids) == 4  # 2 seeds × 2 step counts, each cell a stored render
        assert len(tiny.get(ROBOT).renders) == 6


async def test_a_bad_grid_axis_is_refused_in_the_form(render_app: PromptlibApp) -> None:
    app = render_app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, app, ROBOT)
        await pilot.press("g")
        app.screen.query_one("#form-x").value = "nonsense"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, GridDialog)  # still open, with the parser's message
        assert app.library_screen.jobs.jobs == []
