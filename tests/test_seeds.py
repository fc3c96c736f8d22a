"""The starter pack: every seed file imports, and it holds what the brief promises."""

from __future__ import annotations

import json

from promptlib.library import Library
from promptlib.packs.native import PackSource, load_pack
from promptlib.packs.schema import PackFile
from promptlib.seeds import seed_pack_path


def test_every_seed_file_validates_and_is_listed_in_the_manifest() -> None:
    root = seed_pack_path()
    manifest = json.loads((root / "pack.json").read_text(encoding="utf-8"))
    on_disk = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.json") if p.name != "pack.json")
    assert sorted(manifest["files"]) == on_disk
    for name in on_disk:
        PackFile.model_validate_json((root / name).read_text(encoding="utf-8"))
    assert manifest["license"] == "CC0-1.0"


def test_seed_pack_content_meets_the_brief() -> None:
    with PackSource(seed_pack_path()) as source:
        pack = load_pack(source)
    assert pack.errors == []
    assert len(pack.entries) >= 200
    assert len({e.tags[0] for e in pack.entries}) >= 12
    assert all(e.negative_prompt and e.tags and e.params.steps and e.params.sampler for e in pack.entries)
    assert len(pack.styles) >= 30
    assert all(s.prompt.count("{prompt}") == 1 for s in pack.styles)


def test_init_imports_the_seed_pack_once(lib: Library) -> None:
    first = lib.import_pack(seed_pack_path())
    again = lib.import_pack(seed_pack_path())
    assert first.errors == [] and first.added >= 200 and first.styles_added >= 30
    assert (again.added, again.styles_added) == (0, 0)
    assert again.skipped == first.added and again.styles_skipped == first.styles_added
    stats = lib.stats()
    assert stats["prompts"] == first.added and stats["packs"] == 1
    assert lib.search("lighthouse").hits  # searchable right away
    assert lib.entries(query="pack:promptlib-starter tag:portrait", limit=5)
