"""``promptlib doctor``: the facts it reports (schema version, WAL size), a WAL too large to leave, and checks
other modules register (how the semantic index and the renderer will add stale-index and model-hash findings)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from promptlib.library import Library
from promptlib.store import doctor as doc
from promptlib.store import migrate
from tests.conftest import CliResult
from tests.reliability.operations import png


def test_facts_report_schema_sizes_and_images(lib: Library) -> None:
    lib.add_image(lib.add("with an image").id, png(1))
    facts = lib.doctor_facts()
    assert (facts.schema, facts.head) == (migrate.HEAD_REVISION, migrate.HEAD_REVISION)
    assert facts.db_bytes == lib.db_path.stat().st_size and facts.wal_bytes > 0  # the open library has a WAL
    assert (facts.image_files, facts.renders) == (1, 1)
    assert f"schema {migrate.HEAD_REVISION} (current)" in facts.describe()


def test_an_oversized_wal_is_reported_and_checkpointed_by_fix(lib: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doc, "WAL_WARN_BYTES", 64 * 1024)
    reader = sqlite3.connect(lib.db_path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM prompts").fetchone()  # a reader holds the WAL from being reset
    lib.add_many(lib.prepare_entry(f"wal filler {n} " + "x" * 500) for n in range(400))
    reader.execute("COMMIT")
    reader.close()
    assert lib.doctor_facts().wal_bytes > 64 * 1024
    assert [f.kind for f in lib.doctor()] == ["wal-size"]
    assert [f.kind for f in lib.doctor(fix=True)] == ["wal-size"]
    assert lib.doctor_facts().wal_bytes == 0 and lib.doctor() == []


@pytest.fixture
def registered() -> Iterator[list[Any]]:
    calls: list[Any] = []

    def find(lib: Library) -> list[doc.Finding]:
        stale = (lib.path / "index" / "stale").exists()
        return [doc.Finding("stale-index", "the semantic index is older than the library", fixable=True)] * stale

    def fix(lib: Library, findings: list[doc.Finding]) -> None:
        calls.append([f.kind for f in findings])
        (lib.path / "index" / "stale").unlink()

    doc.register_check(doc.Check("test-index", {"stale-index": "the index needs a rebuild"}, find, fix))
    yield calls
    del doc.CHECKS["test-index"]
    del doc.KINDS["stale-index"]


def test_a_registered_check_is_found_reported_and_fixed(lib: Library, registered: list[Any]) -> None:
    assert lib.doctor() == []
    (lib.path / "index" / "stale").write_text("")
    assert [f.kind for f in lib.doctor()] == ["stale-index"] and registered == []
    lib.doctor(fix=True)
    assert registered == [["stale-index"]] and lib.doctor() == []
    assert "stale-index" in doc.KINDS


def test_doctor_cli_prints_the_facts(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    assert cli("init", "--empty").code == 0
    text = cli("doctor")
    assert text.code == 0 and f"schema {migrate.HEAD_REVISION} (current)" in text.err and "write-ahead log" in text.err
    report = cli("doctor", "--json").json()
    assert report["ok"] and report["facts"]["schema"] == migrate.HEAD_REVISION
    assert set(report["facts"]) == {"schema", "schema_head", "db_bytes", "wal_bytes", "image_files", "renders"}


def test_every_built_in_finding_kind_is_documented(lib: Library) -> None:
    lib.add_image(lib.add("x").id, png(2))
    lib.images.put(png(3), ext="png")  # an orphan
    lib.images.tmp.mkdir(parents=True, exist_ok=True)
    (lib.images.tmp / "half.part").write_bytes(b"half")
    for render in lib.get(1).renders:
        lib.image_path(render).unlink()
    kinds = {f.kind for f in lib.doctor(deep=True)}
    assert kinds == {"missing-image", "orphan-file", "temp-file"} and kinds <= set(doc.KINDS)


def test_grid_images_are_not_orphans(lib: Library) -> None:
    entry = lib.add("a grid of renders")
    stored = lib.images.put(png(4), ext="png")
    lib.db.execute(
        "INSERT INTO grids(prompt_id, spec, image_sha256, image_path, width, height, created_at)"
        " VALUES (?, '{}', ?, ?, 24, 16, '2026-11-25 00:00:00.000000')",
        (entry.id, stored.sha256, stored.relpath),
    )
    assert lib.doctor(fix=True) == []
    assert lib.images.path(stored.relpath).exists()
    lib.images.path(stored.relpath).unlink()
    assert [(f.kind, f.detail.split()[0]) for f in lib.doctor()] == [("missing-image", "grid")]
