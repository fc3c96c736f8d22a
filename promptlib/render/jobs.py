"""The render queue: jobs grouped into batches of compatible recipes, rendered in order, stored by a writer thread.

Compatible means the same model, VAE, LoRAs, dtype, size, scheduler, steps and CFG (`compatibility_key`): those
share one pipeline and one denoising loop. Batches of one model run back to back so a pack render loads each model
once. Storing (PNG encoding, hashing, the file and its row) happens on `BackgroundWriter`'s thread while the GPU
renders the next batch. On cancel, Ctrl-C or an error the writer first finishes storing every image already
rendered, so finished renders are kept and nothing half-written is.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from promptlib.errors import PromptlibError
from promptlib.recipe import Recipe
from promptlib.render.renderer import ImageResult, Prepared, RenderCancelled, render_batch
from promptlib.render.results import RenderProgress

T = TypeVar("T")
ProgressCallback = Callable[[RenderProgress], None]


@dataclass(frozen=True)
class RenderJob:
    """One image to render for an entry. ``pad_to``/``slot`` re-create a batch geometry (exact reruns): the job is
    rendered at index ``slot`` of a batch of ``pad_to`` copies of itself."""

    entry_id: int
    recipe: Recipe
    grid_cell: tuple[int, int, int] | None = None
    pad_to: int = 1
    slot: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


def compatibility_key(recipe: Recipe) -> tuple[Any, ...]:
    """Recipes with equal keys can share a batch."""
    extra = recipe.extra
    return (
        recipe.model,
        recipe.vae,
        tuple((lora.name, lora.weight) for lora in recipe.loras),
        extra.get("dtype"),
        recipe.width,
        recipe.height,
        recipe.sampler,
        recipe.schedule,
        repr(extra.get("scheduler")),
        recipe.steps,
        recipe.cfg_scale,
    )


def model_key(recipe: Recipe) -> tuple[Any, ...]:
    """The part of the key that picks a pipeline (batches sharing it run back to back)."""
    return compatibility_key(recipe)[:4]


def plan_batches(jobs: Sequence[RenderJob], batch_size: int) -> list[list[RenderJob]]:
    """Group `jobs` into batches of at most `batch_size` compatible jobs, keeping first-appearance order within a
    model and running each model's batches together. A padded job (``pad_to`` > 1) always gets a batch of its own."""
    by_model: dict[tuple[Any, ...], dict[tuple[Any, ...], list[RenderJob]]] = {}
    singles: list[list[RenderJob]] = []
    for job in jobs:
        if job.pad_to > 1:
            singles.append([job])
            continue
        key = compatibility_key(job.recipe)
        by_model.setdefault(key[:4], {}).setdefault(key, []).append(job)
    batches: list[list[RenderJob]] = []
    for groups in by_model.values():
        for group in groups.values():
            batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    return batches + singles


class BackgroundWriter(Generic[T]):
    """Runs `store` on finished images in a thread, in submission order; `close()` drains it.

    At most `max_pending` batches wait (back-pressure keeps memory bounded). An error in `store` stops further
    storing and is re-raised by the next `submit` or by `close`."""

    def __init__(self, store: Callable[[list[ImageResult]], list[T]], *, max_pending: int = 4) -> None:
        self._store = store
        self._queue: queue.Queue[list[ImageResult] | None] = queue.Queue(maxsize=max_pending)
        self._lock = threading.Lock()
        self._stored: list[T] = []
        self._error: BaseException | None = None
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._run, name="promptlib-render-writer", daemon=False)
        self._thread.start()

    @property
    def stored(self) -> list[T]:
        with self._lock:
            return list(self._stored)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._stored)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._abandon.is_set():
                return
            if self._error is not None:
                continue
            try:
                done = self._store(item)
            except BaseException as exc:  # handed to the rendering thread
                self._error = exc
                continue
            with self._lock:
                self._stored += done

    def submit(self, results: list[ImageResult]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(results)

    def close(self) -> list[T]:
        """Store everything submitted, stop the thread, re-raise a store error; returns what was stored.

        A second Ctrl-C while draining stops after the image being stored (it is complete or absent)."""
        self._queue.put(None)
        try:
            self._thread.join()
        except KeyboardInterrupt:
            self._abandon.set()
            self._thread.join()
            raise
        if self._error is not None:
            raise self._error
        return self.stored


@dataclass
class QueueOutcome(Generic[T]):
    stored: list[T]
    cancelled: bool
    images_total: int
    seconds: float


Failures = list[tuple[int, PromptlibError]]  # (entry id, why its image could not be rendered)


def run_queue(
    jobs: Sequence[RenderJob],
    *,
    batch_size: int,
    prepare_for: Callable[[Recipe], Prepared],
    store: Callable[[list[ImageResult]], list[T]],
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    failures: Failures | None = None,
) -> QueueOutcome[T]:
    """Render `jobs` in batches and store them through a writer thread.

    `prepare_for` gives the prepared pipeline for a recipe (loading or reusing it). Returns what was stored and
    whether the run was cancelled. Ctrl-C (KeyboardInterrupt) propagates after finished images are stored. With a
    `failures` list, a batch that cannot be prepared or rendered (a missing LoRA, an embedding that does not fit)
    adds its jobs there with the error and the queue goes on; without one the error propagates."""
    batches = plan_batches(jobs, batch_size)
    total = len(jobs)
    started = time.perf_counter()
    writer: BackgroundWriter[T] = BackgroundWriter(store)
    done = 0
    cancelled = False

    def emit(job: int, step: int, steps: int, its: float, stage: str, message: str = "") -> None:
        if progress is not None:
            progress(RenderProgress(job, len(batches), step, steps, done, total, writer.count, its, stage, message))

    def record_failure(job: int, batch: list[RenderJob], exc: PromptlibError) -> None:
        """A batch that could not be prepared or rendered: its images join `failures`, or, with no list to collect
        them in, the error is raised."""
        if failures is None:
            raise exc
        failures.extend((item.entry_id, exc) for item in batch)
        emit(job, 0, 0, 0.0, "failed", str(exc))

    try:
        for number, batch in enumerate(batches, start=1):
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            emit(number, 0, 0, 0.0, "loading", f"{len(batch)} image(s), {batch[0].recipe.model or 'model'}")
            try:
                prepared = prepare_for(batch[0].recipe)
            except PromptlibError as exc:
                record_failure(number, batch, exc)
                continue
            recipes = [job.recipe for job in batch]
            tags: list[Any] = list(batch)
            if batch[0].pad_to > 1:  # exact rerun: the original batch geometry, other slots are copies
                recipes = [batch[0].recipe] * batch[0].pad_to
                tags = [batch[0] if i == batch[0].slot else None for i in range(batch[0].pad_to)]
            step_started = time.perf_counter()

            def on_step(step: int, steps: int, number: int = number, t0: float = step_started) -> None:
                elapsed = time.perf_counter() - t0
                emit(number, step, steps, step / elapsed if elapsed > 0 else 0.0, "denoising")

            following = batches[number] if number < len(batches) else []
            ahead = [job.recipe for job in following if model_key(job.recipe) == model_key(batch[0].recipe)]
            try:
                results = render_batch(prepared, recipes, on_step=on_step, cancel=cancel, tags=tags, ahead=ahead)
            except RenderCancelled:
                cancelled = True
                break
            except PromptlibError as exc:
                record_failure(number, batch, exc)
                continue
            results = [r for r in results if r.tag is not None]
            done += len(results)
            emit(number, 0, 0, 0.0, "storing")
            writer.submit(results)
    finally:
        # Runs on success, cancel, Ctrl-C and errors alike: every finished image is stored before returning.
        stored = writer.close()
    emit(len(batches), 0, 0, 0.0, "done")
    return QueueOutcome(stored, cancelled, total, time.perf_counter() - started)
