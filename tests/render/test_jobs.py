"""The render queue: batching compatible jobs, the writer thread, and Ctrl-C / cancel safety."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest

from promptlib.recipe import Recipe
from promptlib.render.jobs import BackgroundWriter, RenderJob, compatibility_key, plan_batches
from promptlib.render.renderer import ImageResult, RenderOptions


def _job(entry: int, **fields: Any) -> RenderJob:
    values: dict[str, Any] = {"model": "m", "sampler": "Euler", "steps": 20, "cfg_scale": 7.0, "width": 512}
    values["height"] = 512
    return RenderJob(entry, Recipe(prompt=f"p{entry}", seed=entry, **(values | fields)))


def test_plan_batches_groups_compatible_jobs_in_order() -> None:
    jobs = [
        _job(1),
        _job(2, width=768),
        _job(3),
        _job(4, sampler="DPM++ 2M"),
        _job(5),
        _job(6, model="other"),
        _job(7),
        _job(8, width=768),
    ]
    batches = plan_batches(jobs, batch_size=3)
    assert [[j.entry_id for j in b] for b in batches] == [[1, 3, 5], [7], [2, 8], [4], [6]]
    for batch in batches:
        assert len({compatibility_key(j.recipe) for j in batch}) == 1
    assert sorted(j.entry_id for b in batches for j in b) == list(range(1, 9))


def test_padded_rerun_jobs_get_a_batch_of_their_own() -> None:
    padded = RenderJob(9, _job(9).recipe, pad_to=4, slot=2)
    batches = plan_batches([_job(1), padded, _job(2)], batch_size=8)
    assert [[j.entry_id for j in b] for b in batches] == [[1, 2], [9]]


def test_the_queue_hands_each_batch_the_next_batch_of_the_same_model_to_encode_ahead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    from promptlib.render import jobs as jobs_module

    seen: list[tuple[list[int | None], list[int | None]]] = []

    def fake_render_batch(prepared: Any, recipes: list[Recipe], **kwargs: Any) -> list[ImageResult]:
        seen.append(([r.seed for r in recipes], [r.seed for r in kwargs["ahead"]]))
        pixels = np.zeros((8, 8, 3), dtype=np.uint8)
        tags = kwargs["tags"]
        return [ImageResult(r, pixels, i, len(recipes), tag=tags[i]) for i, r in enumerate(recipes)]

    monkeypatch.setattr(jobs_module, "render_batch", fake_render_batch)
    queue = [_job(1), _job(2), _job(3), _job(4, width=768), _job(5, model="other")]
    outcome = jobs_module.run_queue(
        queue, batch_size=2, prepare_for=lambda recipe: None, store=lambda results: [r.tag for r in results]
    )
    assert len(outcome.stored) == 5
    # another size is still the same pipeline; another model is not (it may not even load)
    assert seen == [([1, 2], [3]), ([3], [4]), ([4], []), ([5], [])]


def _result(n: int) -> ImageResult:
    import numpy as np

    return ImageResult(Recipe(seed=n), np.zeros((8, 8, 3), dtype=np.uint8), 0, 1, tag=n)


def test_writer_stores_everything_submitted_before_close_even_when_slow() -> None:
    seen: list[int] = []

    def store(results: list[ImageResult]) -> list[int]:
        time.sleep(0.02)
        seen.extend(r.tag for r in results)
        return [r.tag for r in results]

    writer = BackgroundWriter(store, max_pending=2)
    for n in range(6):
        writer.submit([_result(n)])
    assert writer.close() == [0, 1, 2, 3, 4, 5]
    assert seen == [0, 1, 2, 3, 4, 5]


def test_writer_error_stops_storing_and_is_raised() -> None:
    def store(results: list[ImageResult]) -> list[int]:
        if results[0].tag == 1:
            raise OSError("disk full")
        return [r.tag for r in results]

    writer = BackgroundWriter(store)
    writer.submit([_result(0)])
    writer.submit([_result(1)])
    writer.submit([_result(2)])
    with pytest.raises(OSError, match="disk full"):
        writer.close()
    assert writer.stored == [0]


def test_ctrl_c_keeps_finished_renders_and_writes_nothing_partial(render_lib: Any, library_files: Any) -> None:
    """A real SIGINT in the middle of the third batch: the two finished batches are stored, nothing else."""

    def progress(p: Any) -> None:
        if p.stage == "denoising" and p.job == 3 and p.step == 2:
            signal.raise_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            render_lib.render(1, n=8, options=RenderOptions(batch_size=2), progress=progress)
    finally:
        signal.signal(signal.SIGINT, previous)
    rows = render_lib.db.execute("SELECT id, image_path, json_extract(recipe, '$.seed') FROM renders ORDER BY id")
    assert len(rows) == 4  # batches 1 and 2 of four
    assert [r[2] for r in rows] == [7, 8, 9, 10]
    on_disk, referenced = library_files(render_lib)
    assert on_disk == referenced  # no orphan file, no row without its file
    assert not render_lib.images.tmp.exists() or not any(render_lib.images.tmp.iterdir())
    assert render_lib.check() == []


def test_cancel_event_returns_what_is_stored(render_lib: Any) -> None:
    cancel = threading.Event()
    events: list[Any] = []

    def progress(p: Any) -> None:
        events.append(p)
        if p.stage == "storing" and p.job == 1:
            cancel.set()

    run = render_lib.render(1, n=6, options=RenderOptions(batch_size=2), progress=progress, cancel=cancel)
    assert run.cancelled
    assert len(run) == 2 and run.images_total == 6
    assert render_lib.db.execute("SELECT count(*) FROM renders")[0][0] == 2
    assert events[-1].stage == "done" and events[-1].images_stored == 2


def test_progress_reports_jobs_steps_and_images(render_lib: Any) -> None:
    events: list[Any] = []
    render_lib.render(1, n=3, options=RenderOptions(batch_size=2), progress=events.append)
    steps = [(p.job, p.step, p.steps) for p in events if p.stage == "denoising"]
    assert steps == [(1, 1, 3), (1, 2, 3), (1, 3, 3), (2, 1, 3), (2, 2, 3), (2, 3, 3)]
    assert {p.jobs for p in events if p.stage == "denoising"} == {2}
    assert events[-1].images_done == 3 and events[-1].images_stored == 3
