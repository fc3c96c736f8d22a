"""Two processes writing at once: nothing lost, no "database is locked" reaching the user."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from promptlib.library import Library

N = 150


def _writer(folder: str, name: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        with Library.open(folder) as lib:
            for n in range(N):
                entry = lib.add(f"{name} prompt {n}", tags=[name])
                if n % 10 == 0:
                    lib.edit(entry.id, params={"steps": n + 1})
                    lib.search(f"{name} tag:{name}")
        queue.put(None)
    except Exception as exc:  # report, do not hang the parent
        queue.put(f"{type(exc).__name__}: {exc}")


def test_two_writers_lose_nothing_and_never_see_a_lock_error(tmp_path: Path) -> None:
    folder = tmp_path / "lib"
    Library.open(folder).close()
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(folder), name, queue)) for name in ("cli", "tui")]
    for proc in procs:
        proc.start()
    errors = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    assert errors == [None, None]
    with Library.open(folder) as lib:
        assert lib.count() == 2 * N
        assert len(lib.search("tag:cli", limit=1000).hits) == N
        assert lib.check() == []
