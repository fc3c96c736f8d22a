"""The jobs panel (progress, cancel, details), compare, and the render / grid forms' validation."""

from __future__ import annotations

import io
import threading
import time

import pytest
from PIL import Image

from promptlib.library import Library
from promptlib.recipe import Recipe
from promptlib.tui.app import PromptlibApp
from promptlib.tui.jobs import CANCELLED, DONE, FAILED, Job, JobResult, JobUpdate
from promptlib.tui.screens.compare import CompareScreen, recipe_rows
from promptlib.tui.screens.help import TextScreen
from promptlib.tui.screens.render_dialog import RenderRequest, parse_render_form

from .helpers import screen_text, settle

SIZE = (140, 44)


def _png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(out, format="PNG")
    return out.getvalue()


async def _wait(pilot, condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


async def test_a_job_reports_progress_and_its_result_in_the_panel(app: PromptlibApp) -> None:
    seen_library: list[str] = []

    def run(lib: Library, report, cancel: threading.Event) -> JobResult:  # type: ignore[no-untyped-def]
        seen_library.append(str(lib.path))
        for step in range(1, 4):
            report(JobUpdate(step, 3, rate=10.0))
        return JobResult("3 steps done", entry_ids=(1,))

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.library_screen
        job = screen.jobs.submit(Job("count to three", run))
        await _wait(pilot, lambda: job.finished)
        await pilot.pause(0.1)
        assert job.state == DONE
        assert seen_library == [str(app.library_screen.access.path)]  # type: ignore[union-attr]
        assert screen.jobs_panel.has_class("visible") is False  # submit() from code does not open the panel
        await pilot.press("J")
        await pilot.pause(0.1)
        text = screen_text(pilot)
        assert "count to three" in text and "3 steps done" in text


async def test_cancel_stops_the_running_job_and_drops_the_queued_one(app: PromptlibApp) -> None:
    started = threading.Event()

    def slow(lib: Library, report, cancel: threading.Event) -> JobResult:  # type: ignore[no-untyped-def]
        started.set()
        for step in range(200):
            if cancel.is_set():
                return JobResult("stopped early")
            report(JobUpdate(step, 200))
            time.sleep(0.01)
        return JobResult("finished")

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.library_screen
        first = screen.jobs.submit(Job("slow one", slow))
        second = screen.jobs.submit(Job("queued one", slow))
        await pilot.press("J")
        await _wait(pilot, started.is_set)
        screen.jobs.cancel(second)
        assert second.state == CANCELLED
        screen.jobs_panel.list_view.index = 0
        await pilot.press("x")  # cancels the highlighted (running) job
        await _wait(pilot, lambda: first.finished)
        assert first.state == CANCELLED
        await pilot.pause(0.1)
        assert "cancelled" in screen_text(pilot)


async def test_a_failing_job_is_shown_not_raised(app: PromptlibApp) -> None:
    def broken(lib: Library, report, cancel: threading.Event) -> JobResult:  # type: ignore[no-untyped-def]
        raise RuntimeError("no GPU here\nsecond line")

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        job = app.library_screen.jobs.submit(Job("doomed", broken))
        await _wait(pilot, lambda: job.finished)
        assert job.state == FAILED and job.error == "RuntimeError: no GPU here"
        await pilot.press("J")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, TextScreen)
        assert "no GPU here" in screen_text(pilot)


async def test_compare_shows_two_renders_with_their_differences(app: PromptlibApp, tiny: Library) -> None:
    recipe: dict[str, object] = {"prompt": "a lighthouse in fog", "steps": 30, "sampler": "DPM++ 2M", "seed": 1}
    first = tiny.add_image(1, _png((200, 10, 10)), recipe=Recipe(**recipe))
    second = tiny.add_image(1, _png((10, 10, 200)), recipe=Recipe(**{**recipe, "seed": 2, "steps": 20}))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.library_screen
        screen.entry_list.cursor = next(
            i
            for i in range(screen.entry_list.total)
            if screen.entry_list.cache.row(i).id == 1  # type: ignore[union-attr]
        )
        await settle(pilot)
        await pilot.press("C")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        assert {app.screen.left[0].id, app.screen.right[0].id} == {first.id, second.id}
        assert sorted(app.screen.differing_fields) == ["seed", "steps"]
        text = screen_text(pilot)
        assert f"render #{first.id}" in text and f"render #{second.id}" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen)


def test_recipe_rows_mark_only_the_fields_that_differ() -> None:
    rows = recipe_rows({"seed": 1, "steps": 20, "model": "a"}, {"seed": 1, "steps": 30, "vae": "x"})
    assert {key: differs for key, _, _, differs in rows} == {"model": True, "steps": True, "seed": False, "vae": True}


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"n": "0"}, "images"),
        ({"steps": "abc"}, "steps"),
        ({"cfg": "seven"}, "CFG"),
        ({"size": "500x500"}, "multiples of 8"),
        ({"seed": "12a"}, "seed"),
    ],
)
def test_the_render_form_names_the_bad_field(form: dict[str, str], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_render_form(form)


def test_the_render_form_turns_text_into_overrides() -> None:
    request = parse_render_form(
        {"n": "4", "seed": "random", "sampler": "Euler a", "steps": "12", "cfg": "6.5", "size": "512x768", "model": ""}
    )
    assert request == RenderRequest(
        n=4,
        overrides={"seed": "random", "sampler": "Euler a", "steps": 12, "cfg_scale": 6.5, "width": 512, "height": 768},
    )
