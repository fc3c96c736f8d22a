"""The TUI's render, rerun, verify and grid jobs: thin adapters from `Library`'s render API to `jobs.Job`.

Each returns a `Job` whose function runs in the jobs worker with that worker's own `Library`; the renderer's
progress callback becomes `JobUpdate`s and the job's cancel event is passed straight through.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from promptlib.tui.jobs import Job, JobResult, JobUpdate
from promptlib.tui.screens.render_dialog import GridRequest, RenderRequest

if TYPE_CHECKING:
    from promptlib.library import Library

Report = Callable[[JobUpdate], None]


def _progress(report: Report) -> Callable[[Any], None]:
    """The renderer's progress object → JobUpdate (steps of the current batch, with it/s and images done)."""

    def callback(progress: Any) -> None:
        images = f"image {getattr(progress, 'images_done', 0)}/{getattr(progress, 'images_total', 0)}"
        report(
            JobUpdate(
                done=int(getattr(progress, "step", 0)),
                total=int(getattr(progress, "steps", 0)),
                rate=getattr(progress, "it_per_s", None),
                message=str(getattr(progress, "message", "") or images),
            )
        )

    return callback


def render_job(entry_ids: Sequence[int], request: RenderRequest) -> Job:
    ids = tuple(entry_ids)

    def run(lib: Library, report: Report, cancel: threading.Event) -> JobResult:
        renders = lib.render(
            list(ids),
            n=request.n,
            overrides=request.overrides,
            model=request.model,
            progress=_progress(report),
            cancel=cancel,
        )
        done = [r.id for r in renders]
        note = " (cancelled)" if cancel.is_set() else ""
        if renders.failed:  # the others rendered; the first reason says why these did not
            note += f"; {len(renders.failed)} not rendered: {renders.failed[0].error}"
        return JobResult(f"{len(done)} render{'s' if len(done) != 1 else ''} stored{note}", ids, tuple(done))

    what = f"#{ids[0]}" if len(ids) == 1 else f"{len(ids)} entries"
    return Job(f"render {what}: {request.describe()}", run)


def rerun_job(entry_id: int, render_id: int) -> Job:
    def run(lib: Library, report: Report, cancel: threading.Event) -> JobResult:
        render = lib.rerun(render_id, progress=_progress(report), cancel=cancel)
        return JobResult(f"stored as render #{render.id}", (entry_id,), (render.id,))

    return Job(f"rerun render #{render_id}", run)


def verify_job(entry_id: int, render_id: int) -> Job:
    def run(lib: Library, report: Report, cancel: threading.Event) -> JobResult:
        from promptlib.textsafe import safe_json

        verdict = lib.verify(render_id, progress=_progress(report), cancel=cancel)
        data = verdict.to_json()
        return JobResult(verdict.summary(), (entry_id,), (), detail=safe_json(data, indent=2))

    return Job(f"verify render #{render_id}", run)


def grid_job(entry_id: int, request: GridRequest) -> Job:
    def run(lib: Library, report: Report, cancel: threading.Event) -> JobResult:
        grid = lib.grid(entry_id, axes=list(request.axes), progress=_progress(report), cancel=cancel)
        cells = tuple(cell.id for cell in grid.renders)
        return JobResult(f"grid #{grid.id}: {len(cells)} cells, {grid.image_path}", (entry_id,), cells)

    return Job(f"grid #{entry_id}: {' × '.join(request.axes)}", run)


def check_axes(axes: Sequence[str]) -> None:
    """Raise ValueError (or a promptlib error) when an axis spec does not parse, or two set the same field."""
    from promptlib.render.grid import check_axes_apart, parse_axis

    check_axes_apart([parse_axis(spec) for spec in axes])
