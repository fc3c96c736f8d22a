"""Concurrency beyond tests/test_concurrency.py: the TUI's write path and the CLI writing at once with a long
reader, the WAL checkpointed afterwards, racing migrations, and ``doctor --fix`` while an import runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from promptlib.library import Library
from promptlib.store.db import WAL_SIZE_LIMIT
from tests.reliability import concurrency, knobs
from tests.reliability.crash import check_files, forkserver
from tests.reliability.operations import make_old_library, seed_library

CTX = forkserver()


def _collect(queue: Any, count: int, *, timeout: float) -> dict[str, dict[str, Any]]:
    results = [queue.get(timeout=timeout) for _ in range(count)]
    return {r["who"]: r for r in results}


def _verify_owned(lib: Library, report: dict[str, Any]) -> None:
    """Every change a writer saw succeed is in the library, exactly."""
    own = {int(k): v for k, v in report["own"].items()}
    entries = {e.id: e for e in lib.get_many(sorted(own), with_renders=False)}
    assert set(entries) == set(own), f"{report['who']}: entries lost: {sorted(set(own) - set(entries))[:10]}"
    for entry_id, want in own.items():
        got = entries[entry_id]
        assert got.prompt == want["prompt"] and list(got.tags) == want["tags"], (entry_id, got.prompt, got.tags)
        assert (got.title, got.rating, got.favourite) == (want["title"], want["rating"], want["favourite"]), entry_id
        assert got.params.get("steps") == want["steps"], entry_id
        assert sorted(got.collections) == sorted(want["collections"]), entry_id


def run_writers(folder: Path, changes: int, scratch: Path, *, hold: float) -> dict[str, dict[str, Any]]:
    """Both writers and the reader at once, while this process keeps the library open (as a TUI left open would:
    the last close, which would checkpoint and remove the WAL, never comes)."""
    with Library.open(folder) as kept_open:
        results = _run_writers(folder, changes, scratch, hold=hold)
        results["wal"] = _wal_after(kept_open)
    return results


def _wal_after(lib: Library) -> dict[str, Any]:
    """With the other processes gone, nothing blocks a full checkpoint; the next write resets the WAL and
    truncates the file to the size limit."""
    wal = lib.path / "library.db-wal"
    before = wal.stat().st_size
    busy, log, done = lib.db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    lib.add("a write after the run")
    return {"busy": busy, "log": log, "checkpointed": done, "bytes_before": before, "bytes_after": wal.stat().st_size}


def _run_writers(folder: Path, changes: int, scratch: Path, *, hold: float) -> dict[str, dict[str, Any]]:
    queue, stop = CTX.Queue(), CTX.Event()
    reader = CTX.Process(target=concurrency.long_reader, args=(str(folder), hold, queue, stop))
    writers = [
        CTX.Process(target=concurrency.tui_writer, args=(str(folder), changes, knobs.SEED, queue)),
        CTX.Process(target=concurrency.cli_writer, args=(str(folder), changes, knobs.SEED + 1, str(scratch), queue)),
    ]
    reader.start()
    for proc in writers:
        proc.start()
    timeout = 120 + changes * 0.2
    results = _collect(queue, 2, timeout=timeout)
    stop.set()
    results.update(_collect(queue, 1, timeout=60))
    for proc in [*writers, reader]:
        proc.join(30)
        assert proc.exitcode == 0
    return results


def check_run(folder: Path, results: dict[str, dict[str, Any]], changes: int) -> dict[str, Any]:
    for who in ("tui", "cli", "reader"):
        assert results[who]["errors"] == [], f"{who}: {results[who]['errors'][:5]}"
    reader = results["reader"]
    assert reader["transactions"] >= 2 and reader["counts"][-1] > reader["counts"][0]  # it read during the writes
    wal = results["wal"]
    assert wal["busy"] == 0 and wal["log"] == wal["checkpointed"], wal  # nothing left holding the WAL
    assert wal["bytes_after"] <= WAL_SIZE_LIMIT, wal
    with Library.open(folder) as lib:
        for who in ("tui", "cli"):
            _verify_owned(lib, results[who])
        shared = {e.id: set(e.tags) for e in lib.get_many(list(concurrency.SHARED_IDS), with_renders=False)}
        for who in ("tui", "cli"):
            wanted = set(results[who]["shared_tags"])
            have = set().union(*shared.values())
            assert wanted <= have, f"{who}: shared tags lost: {sorted(wanted - have)[:10]}"
        batches = results["cli"]["batches"]
        for k in batches:
            assert lib.count(f'"cli batch {k} line"') == concurrency.BATCH
        seeded = 201  # the seed entries and the write after the run
        expected = seeded + len(results["tui"]["own"]) + len(results["cli"]["own"]) + concurrency.BATCH * len(batches)
        assert lib.count() == expected
        assert lib.check() == []
        # With this process still holding the library open (as a TUI would), nothing blocks a full checkpoint.
        conn = sqlite3.connect(folder / "library.db")
        busy, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        conn.close()
        assert busy == 0 and log == done, (busy, log, done)
    wal_file = folder / "library.db-wal"
    assert not wal_file.exists() or wal_file.stat().st_size == 0  # the last close checkpoints and removes the WAL
    return {
        "changes_per_writer": changes,
        "tui_seconds": round(results["tui"]["elapsed"], 1),
        "cli_seconds": round(results["cli"]["elapsed"], 1),
        "reader_transactions": reader["transactions"],
        "reader_reads": reader["reads"],
        "wal_max_bytes_during_run": reader["wal_max_bytes"],
        "wal_bytes_at_end_of_run": wal["bytes_before"],
        "wal_bytes_after_next_write": wal["bytes_after"],
        "entries_at_end": expected,
    }


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "lib"
    seed_library(folder, entries=200)
    return folder


def test_tui_and_cli_writing_with_a_long_reader_lose_nothing(library: Path, tmp_path: Path) -> None:
    changes = knobs.SHORT_CHANGES
    results = run_writers(library, changes, tmp_path, hold=0.3)
    check_run(library, results, changes)


@pytest.mark.slow
def test_long_run_two_writers_ten_thousand_changes_each(library: Path, tmp_path: Path) -> None:
    results = run_writers(library, knobs.LONG_CHANGES, tmp_path, hold=2.0)
    knobs.record("concurrency", check_run(library, results, knobs.LONG_CHANGES))


def _race_migration(folder: Path, processes: int) -> list[dict[str, Any]]:
    queue = CTX.Queue()
    procs = [CTX.Process(target=concurrency.opener, args=(str(folder), queue)) for _ in range(processes)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    return results


def _check_migrated_once(folder: Path, results: list[dict[str, Any]], entries: int) -> None:
    assert all("error" not in r for r in results), results
    assert sum(r["backup"] is not None for r in results) == 1  # exactly one process migrated
    assert [r["count"] for r in results] == [entries] * len(results)
    assert len(list((folder / "backups").iterdir())) == 1
    with Library.open(folder) as lib:
        assert lib.check() == []
        assert lib.db.execute("SELECT count(*) FROM library_meta WHERE key = 'library_id'")[0][0] == 1


def test_four_processes_opening_an_old_library_migrate_it_once(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    make_old_library(folder, entries=300, images=2)
    _check_migrated_once(folder, _race_migration(folder, 4), 300)


@pytest.mark.slow
def test_long_run_racing_migrations(tmp_path: Path) -> None:
    for round_ in range(knobs.LONG_MIGRATION_ROUNDS):
        folder = tmp_path / f"old{round_}"
        make_old_library(folder, entries=300, images=2)
        _check_migrated_once(folder, _race_migration(folder, 4), 300)
    knobs.record("migration_race", {"rounds": knobs.LONG_MIGRATION_ROUNDS, "processes_per_round": 4})


def test_doctor_fix_and_other_opens_during_an_import_break_nothing(tmp_path: Path) -> None:
    """``doctor --fix`` (orphan removal) and CLI-like opens (temp sweeping) run while images are being imported:
    the import never fails and no row is left pointing at a deleted file."""
    folder = tmp_path / "lib"
    seed_library(folder, entries=20)
    queue, stop = CTX.Queue(), CTX.Event()
    importer = CTX.Process(target=concurrency.image_importer, args=(str(folder), 12, str(tmp_path), queue))
    others = [
        CTX.Process(target=concurrency.doctor_fixer, args=(str(folder), queue, stop)),
        CTX.Process(target=concurrency.reopener, args=(str(folder), queue, stop)),
    ]
    for proc in others:
        proc.start()
    importer.start()
    first = queue.get(timeout=180)
    stop.set()
    results = {r["who"]: r for r in [first, queue.get(timeout=60), queue.get(timeout=60)]}
    for proc in (importer, *others):
        proc.join(30)
    for who in ("importer", "doctor", "reopener"):
        assert results[who]["errors"] == [], f"{who}: {results[who]['errors'][:3]}"
    assert results["doctor"]["runs"] > 5 and results["reopener"]["runs"] > 5
    check_files(folder)  # every render row's file is there and matches its sha256
    with Library.open(folder) as lib:
        assert lib.stats()["renders"] == 12 * 8
