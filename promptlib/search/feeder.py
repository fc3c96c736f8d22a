"""Feeding image files to the embedder: worker processes decode straight into shared memory, one copy to the GPU.

The embedder's CPU half (`Preprocess.load_rows`: decode, or for plain PNGs on a GPU only inflate) runs in worker
processes. Each worker owns tasks of a few dozen files and writes every result into an *arena*, a block of shared
memory the main process made once and, on CUDA, registered as pinned memory. The main process then copies the
arena's used bytes to the device in one asynchronous transfer and cuts the batch's tensors out of that copy there.

What this saves over a `torch.utils.data.DataLoader` (what embedded files until 2026-11): no batch is pickled, no
new shared-memory segment is mapped and faulted in per batch, and no pin-memory thread copies each batch again
(0.79 MB per 512² PNG at thousands of files a second). The main process only waits, transfers and launches.

Robustness, because the files come from strangers: a file that cannot be read is reported with a one-line reason,
not raised. A worker that dies (a decoder crash, the OOM killer) or spends more than a minute on one file (it is
killed) is replaced: the file it was decoding is reported as failed and its other files are given out again.
Closing the iterator early (an exception, Ctrl-C, `break`) stops the workers and frees the memory.

Results arrive in completion order, not input order (each comes with its positions). Everything a worker needs
is light and picklable (numpy, Pillow, imagecodecs): torch is only used in the main process.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlib.errors import LibraryError
from promptlib.search import png_rows
from promptlib.search.png_rows import NoRoom, PngRows
from promptlib.search.preprocess import Grouped, Preprocess, collate, load_file

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

log = logging.getLogger(__name__)

TASK_FILES = 64  # files per task: one transfer and one model batch each (or the batch size, when smaller)
FILE_BYTES = 1 << 20  # an arena holds TASK_FILES of these: a 512² RGB PNG's rows are 0.79 MB
IN_FLIGHT = 2  # tasks queued per worker, so that none waits while the main process transfers
MAX_SHARED_BYTES = 3 << 30  # arenas in all: 34 of 64 MB for 16 workers and a 224-pixel model
POLL_S = 0.5  # how often the main process checks that its workers are alive and not stuck
FILE_TIMEOUT_S = 60.0  # a file still decoding after this long has hung its worker: the worker is killed
STARTUP_DEATHS = 3  # per worker: workers dying outside any task this often, with no answer between, end the run
# the most bytes one PNG's rows take (`png_rows.read_rows`: at most MAX_PIXELS RGBA pixels, a filter byte a row)
ROWS_BYTES = 4 * png_rows.MAX_PIXELS + png_rows.MAX_SIDE

Batch = tuple[list[int], Grouped, list[tuple[int, str]]]


@dataclass(frozen=True)
class Item:
    """One decoded file in an arena: `nbytes` at `offset`, uint8 of `shape`. `layout` is (width, channels) for PNG
    rows still filtered (`PngRows`), None for pixels."""

    position: int
    offset: int
    shape: tuple[int, ...]
    layout: tuple[int, int] | None

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape)


@dataclass
class Done:
    """A worker's answer to one task: what it wrote, what failed, and the positions it had no room for."""

    task: int
    items: list[Item] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    leftover: list[int] = field(default_factory=list)


# --- the worker side ---------------------------------------------------------------------------------------------


class _Arena:
    """A worker's writer into one arena, front to back."""

    def __init__(self, buffer: memoryview) -> None:
        self.buffer = buffer
        self.used = 0

    def take(self, nbytes: int) -> memoryview:
        if self.used + nbytes > len(self.buffer):
            raise NoRoom
        view = self.buffer[self.used : self.used + nbytes]
        self.used += nbytes
        return view


class _Watch:
    """What each worker is doing, in shared memory: its task and the file it is decoding (-1: none), and since when
    (`time.monotonic`, one clock for all processes). The main process reads it to blame the right file when a
    worker dies, and to kill a worker stuck on one file."""

    def __init__(self, ctx: Any, workers: int) -> None:
        self.cells = ctx.RawArray("d", 3 * workers)
        for n in range(workers):
            self.set(n, -1, -1)

    def set(self, n: int, task: int, position: int) -> None:
        # the time first: a reader that catches a half-written entry sees a recent time, never an old one beside
        # a new file (which could get a worker killed as stuck)
        self.cells[3 * n : 3 * n + 3] = [time.monotonic(), float(task), float(position)]

    def get(self, n: int) -> tuple[int, int, float]:
        since, task, position = self.cells[3 * n : 3 * n + 3]
        return int(task), int(position), since


def _place(arena: _Arena, position: int, path: str, prep: Preprocess) -> tuple[Item | None, str]:
    """One file into `arena`: its `Item`, or None and the reason it failed. Raises `NoRoom` (the arena as it was)."""
    import numpy as np

    start = arena.used
    try:
        result, error = load_file(path, prep, alloc=arena.take)
        if not isinstance(result, PngRows):
            # `read_rows` may have inflated rows into the arena before giving the file to the full decoder
            arena.used = start
        if result is None:
            return None, error
        if isinstance(result, PngRows):  # inflated into the arena already, at `start`
            return Item(position, start, tuple(result.data.shape), (result.width, result.channels)), ""
        view = arena.take(result.nbytes)
        np.frombuffer(view, dtype=np.uint8).reshape(result.shape)[...] = result
        return Item(position, start, tuple(result.shape), None), ""
    except NoRoom:
        arena.used = start
        raise


def _run_task(
    arena: _Arena, task: int, positions: list[int], files: list[str], prep: Preprocess, watch: _Watch, n: int
) -> Done:
    """Decode `files` (at `positions` in the caller's list) into `arena`, front to back."""
    done = Done(task)
    for k, position in enumerate(positions):
        watch.set(n, task, position)
        try:
            item, error = _place(arena, position, files[k], prep)
        except NoRoom:
            if k or arena.used:  # the rest goes back as a task of its own, into an empty arena
                done.leftover = positions[k:]
                break
            item, error = None, f"{Path(files[k]).name} is too large to embed"
            if prep.raw_png:  # a PNG's full-size rows may not fit alone where its shrunk pixels do
                with contextlib.suppress(NoRoom):
                    item, error = _place(arena, position, files[k], replace(prep, raw_png=False))
        if item is None:
            done.failed.append((position, error))
        else:
            done.items.append(item)
    return done


def _worker(
    n: int,
    watch: _Watch,
    tasks: Any,
    results: Any,
    arenas: list[SharedMemory],
    prep: Preprocess,
) -> None:  # pragma: no cover - runs in a child process (covered through Feeder's tests)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle: it stops the workers
    _exit_with_parent()
    while True:
        message = tasks.get()
        if message is None:
            return
        task, slot, positions, files = message
        done = _run_task(_Arena(_buffer(arenas[slot])), task, positions, files, prep, watch, n)
        watch.set(n, -1, -1)
        results.send(done)  # this worker's own pipe: a worker that dies can block no other


def _exit_with_parent() -> None:  # pragma: no cover - runs in a child process
    """End this worker when the main process ends without closing it (SIGKILL, the OOM killer): otherwise it waits
    for tasks forever, holding the arenas (and the fork server and resource tracker that would free them) alive."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # returns when the main process is gone (its end of our start-up pipe closes)
        os._exit(0)

    threading.Thread(target=watch, name="promptlib-embed-parent", daemon=True).start()


# --- the main process side ---------------------------------------------------------------------------------------


@dataclass
class _Task:
    task: int
    slot: int
    worker: int
    positions: list[int]


class Feeder:
    """Batches of (positions embedded, `Grouped` tensors on `device`, [(position, reason)] not embedded) for
    `paths`, decoded by `workers` processes (at least one) into shared-memory arenas.

    Use it as an iterator, once; it cleans up when exhausted or closed (``with`` or ``close()``)."""

    def __init__(
        self,
        paths: Sequence[str],
        prep: Preprocess,
        *,
        device: Any,
        workers: int,
        task_files: int = TASK_FILES,
        arena_bytes: int | None = None,
        in_flight: int = IN_FLIGHT,
        file_timeout: float = FILE_TIMEOUT_S,
    ) -> None:
        import torch

        self.paths = list(paths)
        self.prep = prep
        self.device = device
        count = max(1, len(self.paths))
        # a few files are spread over the workers in smaller tasks, and no worker starts without a task
        self.task_files = max(1, min(task_files, -(-count // max(1, workers))))
        tasks = -(-count // self.task_files)
        self.workers = max(1, min(workers, tasks))
        self.in_flight = max(1, in_flight)
        self.file_timeout = file_timeout
        height, width = prep.size
        largest = max(FILE_BYTES, 4 * height * width * 3)  # a shrunk image is under 2x the model's size each way
        # at least one PNG's rows, whatever the task's size: a task of one file (few files, or batch_size 1) would
        # otherwise have no room for a 512x768 PNG's rows (1.18 MB)
        self.arena_bytes = arena_bytes or max(self.task_files * largest, ROWS_BYTES)
        # shared (and on CUDA pinned) memory stays under MAX_SHARED_BYTES, but every worker keeps a task
        fit = max(self.workers + 1, MAX_SHARED_BYTES // self.arena_bytes)
        self.slots = max(1, min(tasks, self.workers * self.in_flight + 2, fit))
        self._cuda = torch.device(device).type == "cuda"
        self._ctx = _context()
        self._arenas: list[SharedMemory] = []
        self._host: list[Any] = []  # a uint8 tensor over each arena (registered as pinned memory on CUDA)
        self._registered: list[int] = []
        self._procs: list[BaseProcess | None] = []
        self._queues: list[Any] = []
        self._results: list[Any] = []  # the reading end of each worker's pipe (None once it broke)
        self._watch: _Watch | None = None
        self._closed = False
        self._idle_deaths = 0  # workers dead outside any task since the last answer: they die as they start

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def __enter__(self) -> Feeder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        for _ in range(self.slots):
            self._arenas.append(SharedMemory(create=True, size=self.arena_bytes))
            self._reserve(self._arenas[-1])
            self._map(self._arenas[-1])
        self._watch = _Watch(self._ctx, self.workers)
        for n in range(self.workers):
            self._queues.append(self._ctx.Queue())
            self._procs.append(None)
            self._results.append(None)
            self._spawn(n)

    def _reserve(self, arena: SharedMemory) -> None:
        """Allocate the arena's memory now: a shared-memory file is created sparse, and a worker writing into a
        page that /dev/shm has no room for dies of SIGBUS (Docker gives containers 64 MB unless told otherwise)."""
        fd = getattr(arena, "_fd", -1)
        if fd < 0 or not hasattr(os, "posix_fallocate"):
            return
        try:
            os.posix_fallocate(fd, 0, self.arena_bytes)
        except OSError as exc:
            total = self.slots * self.arena_bytes >> 20
            raise LibraryError(
                f"not enough shared memory for the embedding workers ({total:,} MB in /dev/shm: {exc.strerror}):"
                " free some, give the container more (docker run --shm-size=4g), or set [embedding] workers lower"
            ) from exc

    def _map(self, arena: SharedMemory) -> None:
        """A uint8 tensor over `arena` into `_host` (kept nowhere else, so that `close` can unmap the arena even when
        an exception's traceback holds this frame), pinned on CUDA."""
        import numpy as np
        import torch

        host = torch.from_numpy(np.frombuffer(_buffer(arena), dtype=np.uint8))
        if self._cuda and _pin(host, self.device):
            self._registered.append(host.data_ptr())
        self._host.append(host)

    def _spawn(self, n: int) -> None:
        assert self._watch is not None
        self._watch.set(n, -1, -1)
        if self._results[n] is not None:
            self._results[n].close()
        reader, writer = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=_worker,
            args=(n, self._watch, self._queues[n], writer, self._arenas, self.prep),
            name=f"promptlib-embed-{n}",
            daemon=True,
        )
        try:
            process.start()
        finally:
            writer.close()  # the worker has its own copy: when it dies, reading gives EOF here
        self._results[n] = reader
        self._procs[n] = process

    def close(self) -> None:
        """Stop the workers and free the shared memory (safe to call twice; the memory is freed even when stopping
        the workers is interrupted)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._stop_workers()
        finally:
            try:
                if self._registered:
                    import torch

                    with torch.cuda.device(self.device):
                        torch.cuda.synchronize(self.device)  # no transfer may still read an arena
                        for ptr in self._registered:
                            torch.cuda.cudart().cudaHostUnregister(ptr)
            finally:
                self._registered.clear()
                self._host.clear()
                for arena in self._arenas:
                    with contextlib.suppress(BufferError):  # a caller still holds a view: the memory goes with it
                        arena.close()
                    with contextlib.suppress(FileNotFoundError):
                        arena.unlink()
                self._arenas.clear()

    def _stop_workers(self) -> None:
        processes = [p for p in self._procs if p is not None]
        try:
            for q in self._queues:
                with contextlib.suppress(OSError, ValueError):
                    q.put(None)
            deadline = time.monotonic() + 2
            for process in processes:
                process.join(timeout=max(0.0, deadline - time.monotonic()))
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()
            for process in processes:
                process.join(timeout=2)
            for q in self._queues:
                q.close()
                q.cancel_join_thread()
            for reader in self._results:
                if reader is not None:
                    reader.close()

    # -- the loop ----------------------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Batch]:
        if not self.paths:
            return
        try:
            self._start()
            yield from self._loop()
        finally:
            self.close()

    def _loop(self) -> Iterator[Batch]:
        import torch

        pending: deque[list[int]] = deque(
            list(range(start, min(start + self.task_files, len(self.paths))))
            for start in range(0, len(self.paths), self.task_files)
        )
        free = list(range(self.slots))
        cooling: deque[tuple[int, Any]] = deque()  # (slot, CUDA event of the transfer out of it)
        running: dict[int, _Task] = {}
        load = [0] * self.workers
        next_id = 0
        checked = time.monotonic()
        while pending or running:
            while cooling and (not free or cooling[0][1].query()):
                slot, event = cooling.popleft()
                event.synchronize()
                free.append(slot)
            while pending and free:
                worker = min(range(self.workers), key=load.__getitem__)
                if load[worker] >= self.in_flight:
                    break
                positions = pending.popleft()
                running[next_id] = _Task(next_id, free.pop(), worker, positions)
                files = [self.paths[p] for p in positions]  # sent with each task: a worker starts light
                self._queues[worker].put((next_id, running[next_id].slot, positions, files))
                load[worker] += 1
                next_id += 1
            answers = self._receive()
            if time.monotonic() - checked >= POLL_S:
                checked = time.monotonic()
                lost = self._replace_dead(running, pending, free, load)
                if lost:
                    yield [], [], lost
            for done in answers:
                task = running.pop(done.task, None)
                if task is None:  # the answer of a worker declared dead meanwhile: its files were given out again
                    continue
                self._idle_deaths = 0
                load[task.worker] -= 1
                if done.leftover:
                    pending.appendleft(done.leftover)
                groups = self._groups(task.slot, done.items)
                if self._cuda:
                    event = torch.cuda.Event()
                    event.record(torch.cuda.current_stream(self.device))  # the transfer's stream, not cuda:0's
                    cooling.append((task.slot, event))
                else:
                    free.append(task.slot)
                yield [item.position for item in done.items], groups, done.failed

    def _receive(self) -> list[Done]:
        """The answers the workers have sent, after waiting up to `POLL_S` for one. A pipe that breaks (its worker
        died, perhaps in the middle of an answer) is closed; the health check then replaces the worker."""
        from multiprocessing.connection import wait

        readers = [r for r in self._results if r is not None]
        answers: list[Done] = []
        ready: list[Any] = wait(readers, timeout=POLL_S) if readers else []
        for reader in ready:
            try:
                answers.append(reader.recv())
            except Exception:  # EOF, or half a message from a worker that died while sending
                n = self._results.index(reader)
                self._results[n] = None
                reader.close()
                process = self._procs[n]
                if process is not None and process.is_alive():
                    process.kill()  # its pipe is unusable: a replacement gets a new one
                    process.join(timeout=5)
        if not readers:
            time.sleep(POLL_S)
        return answers

    def _groups(self, slot: int, items: list[Item]) -> Grouped:
        """The arena's items as tensors on the device, stacked per shape and kind (like `group_by_size`)."""
        import torch

        if not items:
            return []
        used = max(item.offset + item.nbytes for item in items)
        host = self._host[slot][:used]
        # CUDA: one transfer, asynchronous from pinned memory; CPU: a copy, the arena is written again at once
        data = host.to(self.device, non_blocking=True) if self._cuda else host.clone()
        by_kind: dict[tuple[Any, ...], list[int]] = {}
        for n, item in enumerate(items):
            by_kind.setdefault((item.shape, item.layout), []).append(n)
        groups: Grouped = []
        for (shape, layout), rows in by_kind.items():
            first, size = items[rows[0]].offset, items[rows[0]].nbytes
            if all(items[n].offset == first + k * size for k, n in enumerate(rows)):  # back to back: a view
                stacked = data[first : first + len(rows) * size].view(len(rows), *shape)
            else:
                stacked = torch.stack([data[items[n].offset : items[n].offset + size].view(shape) for n in rows])
            groups.append((rows, stacked, layout))
        return groups

    def _replace_dead(
        self, running: dict[int, _Task], pending: deque[list[int]], free: list[int], load: list[int]
    ) -> list[tuple[int, str]]:
        """Workers that died, or hung on one file for `file_timeout` seconds (they are killed), are replaced and
        their tasks given out again. The file a worker was decoding is the culprit: it is reported as failed, and
        the rest of its task goes back whole."""
        assert self._watch is not None
        failed: list[tuple[int, str]] = []
        now = time.monotonic()
        for n, process in enumerate(self._procs):
            if process is None:
                continue
            fatal_task, culprit, since = self._watch.get(n)
            if process.is_alive():
                if culprit < 0 or now - since < self.file_timeout:
                    continue
                process.kill()
                process.join(timeout=5)
                why = f"took longer than {self.file_timeout:g} s to decode"
            else:
                code = process.exitcode
                how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                why = f"crashed the image decoder ({how})"
                if culprit < 0:  # dead outside any file: as it started, or between tasks
                    self._idle_deaths += 1
                    if self._idle_deaths >= STARTUP_DEATHS * self.workers:  # replacing them would loop forever
                        raise LibraryError(
                            f"embedding worker processes exit as they start ({how}): a script that embeds images"
                            ' must run its code under `if __name__ == "__main__":` (the workers import the main'
                            " module)"
                        )
            for task_id in sorted((t for t, task in running.items() if task.worker == n), reverse=True):
                task = running.pop(task_id)
                free.append(task.slot)
                rest = task.positions
                if task_id == fatal_task and culprit in rest:
                    name = Path(self.paths[culprit]).name
                    failed.append((culprit, f"{name} {why}"))
                    log.warning("embedding: %s %s; its worker was replaced", name, why)
                    rest = [p for p in rest if p != culprit]
                if rest:  # queued behind it, or finished with its answer lost: given out again
                    pending.appendleft(rest)
            load[n] = 0
            self._queues[n].close()
            self._queues[n].cancel_join_thread()
            self._queues[n] = self._ctx.Queue()  # the old queue may hold tasks the dead worker never read
            self._spawn(n)
        return failed


# What a worker imports, loaded once into the fork server so that each worker starts in milliseconds. Each child
# of a fork server also imports the parent's main script (for the CLI, a light one); "__main__" here would have the
# server do it once instead, but Python up to 3.13 ignores that entry (its fork server never receives the path)
PRELOAD = [
    "__main__",
    "promptlib.search.feeder",
    "numpy",
    "PIL.Image",
    "PIL.PngImagePlugin",
    "PIL.JpegImagePlugin",
    "imagecodecs",
]


def _context() -> Any:
    """Workers start from a fork server (Python 3.14's default on Linux): forking this process instead, where CUDA
    and torch have started threads, can deadlock a child; spawning a fresh interpreter per worker is slower. Where
    there is no fork server (Windows), they are spawned."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def _buffer(arena: SharedMemory) -> memoryview:
    buffer = arena.buf
    if buffer is None:  # closed: only after `Feeder.close`
        raise ValueError(f"shared memory {arena.name} is closed")
    return buffer


def _pin(host: Any, device: Any) -> bool:
    """Register `host` (a CPU tensor over shared memory) as pinned memory, so transfers from it to `device` are
    asynchronous DMA; False (pageable transfers, slower) where CUDA refuses."""
    import torch

    try:
        with torch.cuda.device(device):
            code = torch.cuda.cudart().cudaHostRegister(host.data_ptr(), host.numel(), 0)
    except (AttributeError, RuntimeError) as exc:
        log.debug("cannot pin the embedding arenas: %s", exc)
        return False
    if int(code) != 0:
        log.debug("cannot pin the embedding arenas: CUDA error %s", code)
        return False
    return True


def feed(paths: Sequence[str], prep: Preprocess, *, device: Any, workers: int, batch_size: int) -> Iterator[Batch]:
    """Batches for `Embedder.iter_files`: from a `Feeder` with `workers` processes, or decoded in this process
    when `workers` is 0 (one file, or asked for)."""
    if workers > 0:
        yield from Feeder(paths, prep, device=device, workers=workers, task_files=min(batch_size, TASK_FILES))
        return
    for start in range(0, len(paths), batch_size):
        batch = [(i, *load_file(paths[i], prep)) for i in range(start, min(start + batch_size, len(paths)))]
        yield collate(batch)
