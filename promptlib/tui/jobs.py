"""Background jobs of the TUI (renders, reruns, verifies, grids): a queue run one job at a time in a thread worker.

A job is a function ``run(library, report, cancel) -> summary``. It gets its own `Library` (a second SQLite
connection to the same folder, opened in the worker thread), so a render that takes minutes never holds the lock
the browsing workers share; WAL and ``BEGIN IMMEDIATE`` keep the two connections safe. ``report`` takes a
`JobUpdate` and is throttled here; ``cancel`` is set by the user and checked by the job between steps.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textual.dom import DOMNode
from textual.message import Message

from promptlib.errors import PromptlibError

if TYPE_CHECKING:
    from promptlib.library import Library

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
UPDATE_INTERVAL_S = 0.1  # at most ten progress messages a second reach the UI


@dataclass(frozen=True)
class JobUpdate:
    """Progress of the running job: `done` of `total` units (steps or images), a rate and a short note."""

    done: int
    total: int
    rate: float | None = None  # units per second (it/s for steps)
    unit: str = "it"
    message: str = ""


@dataclass(frozen=True)
class JobResult:
    """What a finished job says, and the entries and renders it touched (so the UI can refresh them)."""

    summary: str
    entry_ids: tuple[int, ...] = ()
    render_ids: tuple[int, ...] = ()
    detail: str = ""  # a longer text (a verify report), shown on request


JobFn = Callable[["Library", Callable[[JobUpdate], None], threading.Event], JobResult]
_ids = itertools.count(1)


@dataclass
class Job:
    title: str
    run: JobFn
    id: int = field(default_factory=lambda: next(_ids))
    state: str = QUEUED
    progress: JobUpdate = field(default_factory=lambda: JobUpdate(0, 0))
    result: JobResult | None = None
    error: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def status_line(self) -> str:
        """One line for the jobs panel: what it is doing or how it ended."""
        if self.state == QUEUED:
            return "queued"
        if self.state == RUNNING:
            p = self.progress
            parts = [f"{p.done}/{p.total} {p.unit}" if p.total else "starting"]
            if p.rate:
                parts.append(f"{p.rate:.2f} {p.unit}/s")
            if p.message:
                parts.append(p.message)
            return " · ".join(parts)
        if self.state == DONE and self.result is not None:
            took = (self.finished_at or 0) - (self.started_at or 0)
            return f"{self.result.summary} ({took:.1f} s)"
        if self.state == FAILED:
            return f"failed: {self.error}"
        return "cancelled"


class JobChanged(Message):
    """A job was queued, made progress, or finished."""

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job


class JobQueue:
    """Jobs run in order, one at a time, each in the same thread worker with a library of its own."""

    def __init__(self, owner: DOMNode, library_path: Path | None = None) -> None:
        self._owner = owner
        self.library_path = library_path
        self.jobs: list[Job] = []
        self._pending: deque[Job] = deque()
        self._lock = threading.Lock()
        self._running = False

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._running or bool(self._pending)

    def submit(self, job: Job) -> Job:
        with self._lock:
            self.jobs.append(job)
            self._pending.append(job)
        self._owner.post_message(JobChanged(job))
        self._start()
        return job

    def cancel(self, job: Job) -> None:
        """Stop a running job at its next step, or drop a queued one."""
        job.cancel.set()
        with self._lock:
            if job.state == QUEUED:
                job.state = CANCELLED
                if job in self._pending:
                    self._pending.remove(job)
        self._owner.post_message(JobChanged(job))

    def cancel_all(self) -> None:
        for job in list(self.jobs):
            if not job.finished:
                self.cancel(job)

    def _start(self) -> None:
        with self._lock:
            if self._running or not self._pending or self.library_path is None:
                return
            self._running = True
        self._owner.run_worker(self._drain, thread=True, group="jobs", name="jobs")

    def _drain(self) -> None:
        from promptlib.library import Library

        library: Library | None = None
        try:
            while True:
                with self._lock:
                    if not self._pending:
                        self._running = False
                        return
                    job = self._pending.popleft()
                if library is None:
                    try:
                        assert self.library_path is not None
                        library = Library.open(self.library_path, create=False)
                    except Exception as exc:  # the job says why; the UI carries on
                        self._finish(job, FAILED, error=str(exc))
                        continue
                self._run_one(library, job)
        finally:
            if library is not None:
                library.close()

    def _run_one(self, library: Library, job: Job) -> None:
        job.state = RUNNING
        job.started_at = time.perf_counter()
        self._owner.post_message(JobChanged(job))
        last = 0.0

        def report(update: JobUpdate) -> None:
            nonlocal last
            job.progress = update
            now = time.perf_counter()
            if now - last >= UPDATE_INTERVAL_S or update.done >= update.total > 0:
                last = now
                self._owner.post_message(JobChanged(job))

        try:
            result = job.run(library, report, job.cancel)
        except PromptlibError as exc:  # a hint names the option as the CLI spells it (`promptlib render --…`)
            self._finish(job, CANCELLED if job.cancel.is_set() else FAILED, error=exc.cli_message())
            return
        except Exception as exc:  # a job's failure is shown in its row, never raised into the UI
            self._finish(job, FAILED, error=f"{type(exc).__name__}: {exc}")
            return
        self._finish(job, CANCELLED if job.cancel.is_set() and not result.render_ids else DONE, result=result)

    def _finish(self, job: Job, state: str, *, error: str = "", result: JobResult | None = None) -> None:
        job.state = state
        job.error = error.splitlines()[0] if error else ""
        job.result = result
        job.finished_at = time.perf_counter()
        self._owner.post_message(JobChanged(job))
