"""Native packs: lossless export → import round trips, zips, and hostile archives."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from promptlib.errors import FormatError, UnsafeInputError
from promptlib.library import Library
from promptlib.packs.native import PackSource, safe_member_name
from promptlib.seeds import seed_pack_path
from tests.test_library import png_bytes


def _snapshot(lib: Library) -> list[tuple[object, ...]]:
    return sorted(
        (e.title, e.prompt, e.negative_prompt, e.notes, e.tags, e.rating, e.favourite,
         json.dumps(e.params, sort_keys=True), tuple(r.image_sha256 for r in e.renders))
        for e in lib.get_many([e.id for e in lib.entries(limit=10_000)])
    )  # fmt: skip


@pytest.mark.parametrize("suffix", ["", ".zip"])
def test_seed_pack_round_trips_losslessly(tmp_path: Path, suffix: str) -> None:
    with Library.open(tmp_path / "a") as a:
        a.import_pack(seed_pack_path())
        target = a.export(tmp_path / f"out{suffix}", name="again", license="CC0-1.0")
        expected, styles = _snapshot(a), [s.to_json() | {"id": 0, "pack": None} for s in a.styles()]
    with Library.open(tmp_path / "b") as b:
        report = b.import_path(target)
        assert report.errors == [] and report.added == len(expected)
        assert _snapshot(b) == expected
        assert [s.to_json() | {"id": 0, "pack": None} for s in b.styles()] == styles


def test_pack_with_images_round_trips_and_reimport_adds_nothing(tmp_path: Path) -> None:
    with Library.open(tmp_path / "a") as a:
        entry = a.add("red square", tags=["shapes"], params={"seed": 1, "steps": 20}, rating=4)
        a.add_image(entry.id, png_bytes((255, 0, 0)))
        a.add_image(entry.id, png_bytes((0, 0, 255), (8, 8)))
        target = a.export(tmp_path / "shapes.zip", name="shapes", include_images=True)
        expected = _snapshot(a)
    with Library.open(tmp_path / "b") as b:
        first = b.import_path(target)
        assert first.images_added == 2 and first.errors == []
        assert _snapshot(b) == expected
        again = b.import_path(target)
        assert (again.added, again.skipped, again.images_added) == (0, 1, 0)
        assert b.stats()["renders"] == 2


def _zip(path: Path, members: dict[str, bytes], *, manifest: dict[str, object] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pack.json", json.dumps(manifest or {"schema": "promptlib-pack/1", "name": "evil"}))
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize("name", ["../escape.json", "/etc/passwd", "a\\..\\b.json", "C:/x.json", "a/../../b"])
def test_unsafe_member_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafeInputError):
        safe_member_name(name)


def test_a_manifest_pointing_outside_the_pack_is_reported_and_the_rest_imported(lib: Library, tmp_path: Path) -> None:
    good = json.dumps({"entries": [{"prompt": "kept"}]}).encode()
    manifest = {"schema": "promptlib-pack/1", "name": "evil", "files": ["../../secret.json", "good.json"]}
    report = lib.import_path(_zip(tmp_path / "p.zip", {"good.json": good}, manifest=manifest))
    assert report.added == 1 and any("unsafe path" in e for e in report.errors)


def test_zip_bombs_and_sha_mismatches_are_refused(lib: Library, tmp_path: Path) -> None:
    bomb = _zip(tmp_path / "bomb.zip", {"big.json": b"[" + b" " * 50_000_000 + b"]"},
                manifest={"schema": "promptlib-pack/1", "name": "b", "files": ["big.json"]})  # fmt: skip
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED):
        pass
    with PackSource(bomb) as source, pytest.raises(UnsafeInputError):
        source.read("big.json", limit=1_000_000)
    entry = {"prompt": "x", "images": [{"path": "i.png", "sha256": "0" * 64}]}
    mismatch = _zip(tmp_path / "m.zip", {"e.json": json.dumps({"entries": [entry]}).encode(), "i.png": png_bytes()},
                    manifest={"schema": "promptlib-pack/1", "name": "m", "files": ["e.json"]})  # fmt: skip
    report = lib.import_path(mismatch)
    assert report.added == 1 and report.images_added == 0
    assert any("does not match" in e for e in report.errors)


def test_bad_manifests_give_one_line_errors(lib: Library, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "pack.json").write_text('{"schema": "promptlib-pack/1", "name": "x", "entries": [{"prompt": ""}]}')
    with pytest.raises(FormatError, match=r"entries\.0\.prompt"):
        lib.import_path(folder)
    (folder / "pack.json").write_text('{"schema": "promptlib-pack/1", "name": NaN}')
    with pytest.raises(FormatError, match="not valid JSON"):
        lib.import_path(folder)
    assert lib.count() == 0


def test_symlink_escaping_a_pack_folder_is_refused(lib: Library, tmp_path: Path) -> None:
    (tmp_path / "secret.json").write_text('{"entries": [{"prompt": "stolen"}]}')
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / "link.json").symlink_to(tmp_path / "secret.json")
    (folder / "pack.json").write_text('{"schema": "promptlib-pack/1", "name": "s", "files": ["link.json"]}')
    report = lib.import_path(folder)
    assert report.added == 0 and any("outside the pack" in e for e in report.errors)


def test_foreign_files_import_by_content_idempotently(lib: Library, tmp_path: Path) -> None:
    csv = tmp_path / "whatever.txt"
    csv.write_bytes('\ufeffname,prompt,negative_prompt\nnoir,"film noir {prompt}",color\n'.encode())
    jsonl = tmp_path / "prompts.data"
    jsonl.write_text('{"prompt": "a cat", "tags": "pets, cute", "steps": 20}\nnot json\n{"prompt": "a dog"}\n')
    first = lib.import_path(csv)
    assert (first.format, first.styles_added) == ("a1111_styles", 1)
    assert lib.style("noir").apply("a cat") == ("film noir a cat", "color")
    second = lib.import_path(jsonl)
    assert (second.format, second.added, len(second.errors)) == ("jsonl", 2, 1)
    cat = lib.search("cat").hits[0].entry
    assert cat.tags == ("cute", "pets") and cat.params["steps"] == 20 and cat.source["format"] == "jsonl"
    assert lib.import_path(jsonl).added == 0
    with pytest.raises(FormatError):
        lib.import_path(tmp_path / "whatever.txt", fmt="nonsense")


def test_collections_travel_with_a_pack(tmp_path: Path) -> None:
    with Library.open(tmp_path / "from") as source:
        fox = source.add("a red fox").id
        owl = source.add("an owl").id
        source.collect("moodboard", [owl, fox])
        source.collect("birds", [owl])
        source.export(tmp_path / "pack.zip", name="shared")
    with Library.open(tmp_path / "to") as target:
        summary = target.import_paths([tmp_path / "pack.zip"])
        assert summary.imported == 2
        assert sorted(target.collections()) == [("birds", 1), ("moodboard", 2)]
        assert {e.prompt: e.collections for e in target.entries()} == {
            "a red fox": ("moodboard",),
            "an owl": ("birds", "moodboard"),
        }


def test_the_published_pack_schema_is_the_one_the_code_checks() -> None:
    from promptlib.packs.schema import PackManifest

    published = json.loads((Path(__file__).resolve().parents[1] / "docs" / "pack-schema.json").read_text())
    assert published == PackManifest.model_json_schema(by_alias=True)  # regenerate: promptlib pack-schema > docs/…
