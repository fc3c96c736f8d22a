"""Seeds run to 2**64 - 1 (ComfyUI allows them) while SQLite's integers stop at 2**63 - 1: such seeds are stored
negative and must come back, be edited, be searched and be imported as themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptlib.library import Library

SEEDS = [5, 1234567890123456789, 2**63 - 1, 2**63, 2**64 - 1]


@pytest.fixture
def seeded(lib: Library) -> dict[int, int]:
    return {seed: lib.add(f"a fox, seed {seed}", params={"seed": seed, "steps": 20}).id for seed in SEEDS}


def test_every_seed_comes_back_as_itself(lib: Library, seeded: dict[int, int]) -> None:
    assert {seed: lib.get(entry).params["seed"] for seed, entry in seeded.items()} == {s: s for s in SEEDS}
    with lib.db.lock:  # and is stored as SQLite can hold it
        stored = dict(lib.db.conn.execute("SELECT prompt_id, seed FROM recipes").fetchall())
    assert stored[seeded[2**64 - 1]] == -1 and stored[seeded[2**63]] == -(2**63) and stored[seeded[5]] == 5


def test_an_edit_keeps_or_sets_a_large_seed(lib: Library, seeded: dict[int, int]) -> None:
    entry = seeded[2**64 - 1]
    assert lib.edit(entry, params={"steps": 30}).params["seed"] == 2**64 - 1  # other fields: the seed stays
    assert lib.edit(entry, params={"seed": 2**63 + 7}).params["seed"] == 2**63 + 7
    assert lib.edit(seeded[5], params={"seed": 2**64 - 2}).params["seed"] == 2**64 - 2


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("seed:18446744073709551615", [2**64 - 1]),
        ("seed:9223372036854775808", [2**63]),
        ("seed:1234567890123456789", [1234567890123456789]),  # past a float's 53 bits: found exactly
        ("seed:>9223372036854775806", [2**63 - 1, 2**63, 2**64 - 1]),
        ("seed:>=9223372036854775808", [2**63, 2**64 - 1]),
        ("seed:<100", [5]),
        ("seed:<18446744073709551615", [5, 1234567890123456789, 2**63 - 1, 2**63]),
        ("seed:9223372036854775807-9223372036854775808", [2**63 - 1, 2**63]),
        ("seed:>=0", SEEDS),
        ("seed:>99999999999999999999999", []),
    ],
)
def test_seed_filters_see_every_seed_as_itself(
    lib: Library, seeded: dict[int, int], query: str, expected: list[int]
) -> None:
    found = {e.id for e in lib.entries(query=query)}
    assert found == {seeded[s] for s in expected}


def test_an_import_with_a_large_seed_keeps_it_and_the_rest(lib: Library, tmp_path: Path) -> None:
    lines = [{"prompt": "a heron", "seed": 2**64 - 1}, {"prompt": "a crane", "seed": 3}]
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    report = lib.import_path(path)
    assert report.added == 2
    assert sorted(lib.get(i).params["seed"] for i in report.ids) == [3, 2**64 - 1]
