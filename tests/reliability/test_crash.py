"""Crash durability: SIGKILL at random moments of each operation leaves the old or the new state, never between.

Short run: a few kills per operation in every ``pytest``. Long run (``--run-slow``): `LONG_KILLS` kills spread
over the operations, figures written by `knobs.record`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.reliability import knobs
from tests.reliability.crash import OPERATIONS, Bench, kill_many, prepare_bench
from tests.reliability.operations import MIGRATION
from tests.reliability.operations_heavy import INDEX_OUTCOMES, INDEX_SAVE

NAMES = sorted(OPERATIONS)
# PROMPTLIB_CRASH_OPERATIONS=render,index-save restricts the benches (and the long run) to those operations.
CHOSEN = [name for name in NAMES if name in knobs.CRASH_OPERATIONS] if knobs.CRASH_OPERATIONS else NAMES


@pytest.fixture(scope="module")
def benches(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict[str, Bench]:
    runs = 3 if knobs.long_mode(request.config) else 1
    return {name: prepare_bench(OPERATIONS[name], tmp_path_factory.mktemp(name), timing_runs=runs) for name in CHOSEN}


def test_every_operation_is_registered_with_distinct_states(benches: dict[str, Bench]) -> None:
    assert set(NAMES) >= {"bulk-add", "changes", "pack-import", "image-import", "migration", "backup"}
    for name, bench in benches.items():
        assert bench.duration > 0, name
        if name != "backup":  # a backup changes no row: old and new are the same state
            assert len(bench.states) >= 2, f"{name}: the operation changed nothing"
    assert len(benches["changes"].states) > 40  # each of the 50 changes is its own unit (a few change nothing)


@pytest.mark.parametrize("name", CHOSEN)
def test_killed_at_random_leaves_old_or_new_state(name: str, benches: dict[str, Bench], tmp_path: Path) -> None:
    tally = kill_many(benches[name], kills=knobs.SHORT_KILLS_PER_OPERATION, seed=knobs.SEED, workdir=tmp_path)
    assert tally.kills == knobs.SHORT_KILLS_PER_OPERATION


def test_kill_right_at_the_start_and_after_the_end(benches: dict[str, Bench], tmp_path: Path) -> None:
    from tests.reliability.crash import kill_once

    bench = benches[MIGRATION.name]
    assert kill_once(bench, tmp_path / "early", delay=0.0).state == 0
    late = kill_once(bench, tmp_path / "late", delay=bench.duration * 3)
    assert late.finished and late.state == len(bench.states) - 1


@pytest.mark.slow
def test_long_run_of_kills(benches: dict[str, Bench], tmp_path: Path) -> None:
    per_operation = -(-knobs.LONG_KILLS // len(CHOSEN))
    figures: dict[str, Any] = {}
    for name in CHOSEN:
        n = NAMES.index(name)  # the same seed for an operation whether or not others run
        tally = kill_many(benches[name], kills=per_operation, seed=knobs.SEED + n, workdir=tmp_path)
        figures[name] = tally.to_json()
        if name == INDEX_SAVE.name:
            figures[name]["index_left"] = dict(INDEX_OUTCOMES)  # per kind: old, new, or rebuilt (torn/corrupt)
    total = figures["total_kills"] = sum(f["kills"] for f in figures.values())
    knobs.record("crash", figures)
    assert total >= knobs.LONG_KILLS
