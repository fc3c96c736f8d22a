"""The SIGKILL crash harness: run an operation in a child process, kill it at a random moment, check what is left.

An `Operation` is registered by name with three functions: `prepare` builds the starting library (and any input
files), `run` performs the operation on a library and *yields after each unit it commits*, and `snapshot` turns a
library into a comparable `State` (by default the database content, read with plain ``sqlite3`` so that opening
the library does not change what is looked at). A calibration run in this process records the state before, after
each unit and at the end; those are the only states a killed run may leave behind ("the old one or the new one,
never in between", at the granularity of the operation's units).

After each kill `verify` checks the invariants every operation shares:

- ``PRAGMA integrity_check`` is ``ok`` before the next open, and `Library.check` (integrity, foreign keys, FTS,
  schema revision) finds nothing after it;
- the state is one of the calibrated states;
- no temp file outlives the next open (``images/.tmp``, ``*.tmp`` backups);
- every render row's image file exists and matches its sha256;
- the only drift is unreferenced image files (files first, then rows), which ``doctor --fix`` removes, after
  which nothing is unreferenced and the doctor finds nothing;
- optionally, running the operation again reaches the final state (imports are idempotent).

Render and index-save operations are registered in `tests.reliability.operations_heavy` (the index-save snapshot
adds the saved index manifests to the database state).
"""

from __future__ import annotations

import hashlib
import importlib
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VOLATILE_COLUMNS = frozenset({"created_at", "updated_at", "imported_at", "added_at"})
TEMP_SUFFIXES = (".tmp", ".part")
# Columns whose values differ between equal libraries: tag ids follow set order (string hashing is per process),
# library_meta holds a random id and a creation time.
NORMALISED = {
    "tags": ["name"],
    "prompt_tags": ["prompt_id", "(SELECT name FROM tags WHERE tags.id = tag_id)"],
    "library_meta": ["key"],
}


@dataclass(frozen=True)
class State:
    """A library's content, reduced to a digest plus row counts (for readable failure messages)."""

    digest: str
    counts: tuple[tuple[str, int], ...]

    def describe(self) -> str:
        return ", ".join(f"{name}={n}" for name, n in self.counts if n)


def db_state(library: Path, *, volatile: frozenset[str] = VOLATILE_COLUMNS) -> State:
    """The content of every table except FTS shadow tables and `volatile` columns (see `NORMALISED`)."""
    conn = sqlite3.connect(library / "library.db")
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " AND name NOT LIKE 'prompts_fts%' ORDER BY name"
            )
        ]
        digest = hashlib.sha256()
        counts = []
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] not in volatile]
            columns = NORMALISED.get(table, columns)
            rows = sorted(map(repr, conn.execute(f"SELECT {', '.join(columns)} FROM {table}")))
            digest.update(repr((table, columns, rows)).encode())
            counts.append((table, len(rows)))
    finally:
        conn.close()
    return State(digest.hexdigest(), tuple(counts))


Prepare = Callable[[Path, Path], None]
Run = Callable[[Path, Path], Iterator[None]]


@dataclass(frozen=True)
class Operation:
    """One operation the harness kills: see the module docstring."""

    name: str
    prepare: Prepare  # (library, inputs): build the starting library (closed afterwards) and its input files
    run: Run  # (library, inputs): do the operation, yielding after each committed unit
    snapshot: Callable[[Path], State] = db_state
    completes_on_open: bool = False  # the next open finishes the operation (a migration)
    rerun_completes: bool = False  # running it again after a crash reaches the final state
    extra_check: Callable[[Path, Path], None] | None = None  # (library, inputs) after the common checks
    doctor_allows: frozenset[str] = frozenset()  # doctor findings besides orphans a crash may leave (extra_check)
    module: str = ""  # where it is registered, so a child process can find it


OPERATIONS: dict[str, Operation] = {}


def register(operation: Operation, *, module: str) -> Operation:
    """Add an operation to the registry (`module` is imported by the child process to find it)."""
    op = Operation(**{**operation.__dict__, "module": module})
    OPERATIONS[op.name] = op
    return op


def _child(module: str, name: str, library: str, inputs: str) -> None:
    importlib.import_module(module)
    op = OPERATIONS[name]
    for _ in op.run(Path(library), Path(inputs)):
        pass


# Imported once by the fork server, so that kills land in the operation rather than in module imports.
PRELOAD = [
    "promptlib.library",
    "promptlib.importing",
    "promptlib.store.models",
    "promptlib.cli.app",
    "promptlib.tui.operations",
    "alembic.command",
    "alembic.config",
    "tests.reliability.operations",
    "tests.reliability.concurrency",
    "torch",
    "faiss",
    "open_clip",
    "promptlib.render.service",
    "promptlib.search.semantic",
    "tests.reliability.operations_heavy",
]
_context: Any = None


def forkserver() -> Any:
    """A forkserver context: children fork from a clean, pre-imported server, not from the test process (so they
    start in milliseconds, and a kill lands in the operation rather than in module imports)."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


@dataclass
class Bench:
    """An operation made ready to kill: its template library, inputs and the states a run passes through."""

    op: Operation
    root: Path
    template: Path
    inputs: Path
    states: list[State]
    duration: float  # seconds over which kills are spread (see `retime`)
    timings: list[float] = field(default_factory=list)  # recent uninterrupted child runs

    @property
    def final(self) -> State:
        return self.states[-1]


def _copy(template: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(template, target, symlinks=True)
    return target


def _checkpoint(library: Path) -> None:
    conn = sqlite3.connect(library / "library.db")
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _start(bench: Bench, library: Path) -> Any:
    proc = forkserver().Process(target=_child, args=(bench.op.module, bench.op.name, str(library), str(bench.inputs)))
    proc.start()
    return proc


def prepare_bench(op: Operation, root: Path, *, timing_runs: int = 3) -> Bench:
    """Build the template, run the operation once in this process to record its states, then time a child run."""
    template, inputs = root / "template", root / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    op.prepare(template, inputs)
    _checkpoint(template)
    calibration = _copy(template, root / "calibration")
    states = [op.snapshot(calibration)]
    started = time.perf_counter()
    for _ in op.run(calibration, inputs):
        state = op.snapshot(calibration)
        if state != states[-1]:
            states.append(state)
    elapsed = time.perf_counter() - started
    state = op.snapshot(calibration)
    if state != states[-1]:
        states.append(state)
    shutil.rmtree(calibration)
    bench = Bench(op, root, template, inputs, states, duration=elapsed)
    warm = forkserver().Process(target=time.sleep, args=(0,))  # start the fork server outside the timing
    warm.start()
    warm.join()
    for _ in range(timing_runs):
        retime(bench)
    return bench


def retime(bench: Bench) -> float:
    """Time an uninterrupted child run (and check it ends in the final state); kills are spread over the median of
    the last three such runs, so that they follow the machine's load."""
    library = _copy(bench.template, bench.root / "timing")
    started = time.perf_counter()
    proc = _start(bench, library)
    proc.join(120)
    assert proc.exitcode == 0, f"{bench.op.name}: an uninterrupted run failed (exit code {proc.exitcode})"
    elapsed = time.perf_counter() - started
    assert bench.op.snapshot(library) == bench.final, f"{bench.op.name}: a child run ends in another state"
    shutil.rmtree(library)
    bench.timings = [*bench.timings[-2:], elapsed]
    bench.duration = sorted(bench.timings)[len(bench.timings) // 2] * 1.1
    return elapsed


@dataclass(frozen=True)
class Outcome:
    """What one kill left behind."""

    op: str
    delay: float
    finished: bool  # the child had already exited when the kill came
    state: int  # index of the state it left, into Bench.states
    temp_files: int  # temp files found before the next open (all gone after it)
    orphans: int  # unreferenced image files the crash left (doctor --fix removed them)


def temp_files(library: Path) -> list[Path]:
    """Files a write in progress leaves: the image store's temp folder and ``*.tmp`` / ``*.part`` names."""
    found = []
    for folder, _dirs, files in os.walk(library):
        for name in files:
            path = Path(folder) / name
            if name.endswith(TEMP_SUFFIXES) or path.parent.name == ".tmp":
                found.append(path)
    return sorted(found)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_files(library: Path) -> set[str]:
    """Assert every render's and grid's file exists and matches its sha256; returns the unreferenced image files."""
    conn = sqlite3.connect(library / "library.db")
    try:
        rows = conn.execute("SELECT image_sha256, image_path, linked FROM renders").fetchall()
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'grids'").fetchone():
            rows += conn.execute("SELECT image_sha256, image_path, 0 FROM grids").fetchall()
    finally:
        conn.close()
    referenced = set()
    for sha, rel, linked in rows:
        path = Path(rel) if linked else library / rel
        assert path.is_file(), f"render row points to a missing file {rel}"
        assert _sha256(path) == sha, f"{rel} does not match its sha256"
        if not linked:
            referenced.add(rel)
    stored = set()
    images = library / "images"
    for folder, dirs, files in os.walk(images):
        dirs[:] = [d for d in dirs if d != ".tmp"]
        for name in files:
            rel = (Path(folder) / name).relative_to(library).as_posix()
            parts = rel.split("/")
            assert len(parts) == 4 and name.startswith(parts[1] + parts[2]), f"stray file in images/: {rel}"
            stored.add(rel)
    return stored - referenced


def verify(bench: Bench, library: Path) -> tuple[int, int, int]:
    """Check a killed run's library (see the module docstring); returns (state index, temp files, orphans)."""
    from promptlib.library import Library

    op = bench.op
    leftovers = temp_files(library)
    conn = sqlite3.connect(library / "library.db")  # the first open after the crash recovers the WAL
    try:
        assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
    finally:
        conn.close()
    before = op.snapshot(library)
    assert before in bench.states, f"{op.name}: in-between state ({before.describe()})"
    index = bench.states.index(before)
    with Library.open(library, create=False) as lib:
        after = op.snapshot(library)
        expected = bench.final if op.completes_on_open else before
        assert after == expected, f"{op.name}: opening changed the state ({after.describe()})"
        assert temp_files(library) == [], f"{op.name}: temp files outlived the next open"
        assert lib.check() == []
        orphans = check_files(library)
        findings = lib.doctor()
        assert {f.kind for f in findings} <= {"orphan-file"} | op.doctor_allows, [f.to_json() for f in findings]
        assert {f.path for f in findings if f.kind == "orphan-file"} == orphans
        if orphans:
            past = time.time() - 24 * 3600  # as if the doctor ran a day later (recent files may be in flight)
            for rel in orphans:
                os.utime(library / rel, (past, past))
            lib.doctor(fix=True)
            assert lib.doctor(deep=True) == []
            assert check_files(library) == set()
    if op.extra_check is not None:
        op.extra_check(library, bench.inputs)
    if op.rerun_completes:
        for _ in op.run(library, bench.inputs):
            pass
        assert op.snapshot(library) == bench.final, f"{op.name}: running it again did not complete it"
    return index, len(leftovers), len(orphans)


def kill_once(bench: Bench, library: Path, *, delay: float) -> Outcome:
    """Copy the template, start the operation in a child, SIGKILL it after `delay` seconds, verify."""
    _copy(bench.template, library)
    proc = _start(bench, library)
    time.sleep(delay)
    finished = proc.exitcode is not None
    if not finished:
        os.kill(proc.pid, signal.SIGKILL)
    proc.join(60)
    assert proc.exitcode in (0, -signal.SIGKILL), f"{bench.op.name}: child failed with exit code {proc.exitcode}"
    state, temps, orphans = verify(bench, library)
    shutil.rmtree(library)
    return Outcome(bench.op.name, delay, proc.exitcode == 0 and finished, state, temps, orphans)


@dataclass
class Tally:
    """Figures for a run of kills over one operation."""

    op: str
    units: int  # states a run passes through, minus one
    duration: float
    kills: int = 0
    finished_first: int = 0
    states: Counter[str] = field(default_factory=Counter)  # "old", "new", "unit 3", ...
    temp_files: int = 0
    orphans: int = 0

    def add(self, outcome: Outcome) -> None:
        self.kills += 1
        self.finished_first += outcome.finished
        last = self.units
        self.states["old" if outcome.state == 0 else "new" if outcome.state == last else "after a unit"] += 1
        self.temp_files += outcome.temp_files
        self.orphans += outcome.orphans

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.op,
            "kills": self.kills,
            "units": self.units,
            "uninterrupted_s": round(self.duration, 3),  # median of the last timed runs
            "child_finished_before_kill": self.finished_first,
            "states_left": dict(self.states),
            "temp_files_swept_on_open": self.temp_files,
            "orphan_files_removed_by_doctor": self.orphans,
        }


def kill_many(bench: Bench, *, kills: int, seed: int, workdir: Path) -> Tally:
    """`kills` runs killed at uniformly random moments over the operation's duration."""
    rng = random.Random(seed)
    tally = Tally(bench.op.name, len(bench.states) - 1, bench.duration)
    for n in range(kills):
        if n and n % 10 == 0:
            retime(bench)
        delay = rng.uniform(0.0, bench.duration)
        try:
            tally.add(kill_once(bench, workdir / f"run{n % 2}", delay=delay))
        except AssertionError as exc:
            raise AssertionError(f"{bench.op.name}, kill {n} at {delay:.4f}s (seed {seed}): {exc}") from exc
    tally.duration = bench.duration / 1.1
    return tally
