"""The ``--json`` outputs are the scripting contract (docs/JSON.md): each command's keys, exactly.

The render commands are checked in tests/render/test_json_contract_render.py and the semantic index commands in
tests/semantic/test_json_contract_index.py (they need the tiny models those folders build).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from promptlib.library import Library
from promptlib.store.migrate import HEAD_REVISION
from tests import json_shapes as shape
from tests.conftest import REPO, CliResult
from tests.json_shapes import assert_shape, keys

Cli = Callable[..., CliResult]


def _ok(result: CliResult) -> object:
    assert result.code == 0, result.err
    return result.json()


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "cli-lib"  # the library the `cli` fixture's commands use


def test_init_prints_the_library_and_what_the_starter_pack_import_did(cli: Cli) -> None:
    data = _ok(cli("init", "--json"))
    assert_shape(data, shape.INIT)
    assert isinstance(data, dict)
    assert_shape(data["import"], shape.INIT_IMPORT)
    assert data["import"]["imported"] > 200 and data["import"]["duplicates"] == 0
    again = _ok(cli("init", "--json"))
    assert isinstance(again, dict) and again["import"]["imported"] == 0
    assert again["import"]["duplicates"] == data["import"]["imported"]  # what import --json calls duplicates
    assert _ok(cli("init", "--empty", "--json")) == {"library": data["library"], "import": None}


def test_every_command_that_prints_an_entry_prints_the_same_shape(cli: Cli, home: Path) -> None:
    cli("init", "--empty")
    added = _ok(cli("add", "a red fox", "--tag", "animals", "--steps", "20", "--json"))
    assert isinstance(added, dict)
    pid = str(added["id"])
    with Library.open(home) as lib:
        render = lib.add_image(int(pid), _png())
    cli("styles", "add", "ink", "ink drawing of {prompt}")
    entries = {
        "add": added,
        "show": _ok(cli("show", pid, "--json")),
        "edit": _ok(cli("edit", pid, "--title", "Fox", "--json")),
        "dup": _ok(cli("dup", pid, "--json")),
        "styles apply": _ok(cli("styles", "apply", "ink", pid, "--json")),
    }
    listed = _ok(cli("list", "--json"))
    overview = _ok(cli("overview", "--json"))
    assert isinstance(listed, list) and isinstance(overview, dict)
    assert_shape(overview, shape.OVERVIEW)
    assert_shape(overview["stats"], shape.STATS)
    for n, entry in enumerate([*listed, *overview["newest"]]):
        entries[f"list/overview {n}"] = entry
    for command, entry in entries.items():
        assert keys(entry) == shape.ENTRY and keys(entry["params"]) == shape.PARAMS, command
    shown = entries["show"]
    assert isinstance(shown, dict) and len(shown["renders"]) == 1
    assert_shape(shown["renders"][0], shape.RENDER)
    image_path = shown["renders"][0]["image_path"]
    assert Path(image_path).is_absolute() and Path(image_path) == home / render.image_path  # not relative to it
    assert Path(image_path).read_bytes() == _png()


def test_search_hits_are_entries_with_scores_and_a_render_id(cli: Cli) -> None:
    cli("init", "--empty")
    cli("add", "a lighthouse in fog")
    hits = _ok(cli("search", "lighthouse", "--json"))
    assert isinstance(hits, list) and len(hits) == 1
    assert_shape(hits[0], shape.SEARCH_HIT)
    assert hits[0]["render_id"] is None and set(hits[0]["scores"]) == {"lexical"}


def test_commands_that_change_entries_print_what_they_did(cli: Cli) -> None:
    cli("init", "--empty")
    a, b = (str(cli("add", f"p{k}", "--json").json()["id"]) for k in range(2))
    tagged = _ok(cli("tag", a, b, "--add", "sea", "--json"))
    assert tagged == {a: ["sea"], b: ["sea"]}  # keyed by the ids, as text
    tags = _ok(cli("tags", "--json"))
    assert isinstance(tags, list)
    assert_shape(tags[0], shape.TAG_ROW)
    assert_shape(_ok(cli("rate", "4", a, "--json")), shape.RATE)
    assert_shape(_ok(cli("fav", a, "--json")), shape.FAV)
    assert_shape(_ok(cli("collect", "Board", a, b, "--json")), shape.COLLECT_ADDED)
    assert_shape(_ok(cli("collect", "board", b, "--remove", "--json")), shape.COLLECT_REMOVED)
    rows = _ok(cli("collections", "--json"))
    assert isinstance(rows, list)
    assert_shape(rows[0], shape.COLLECTION_ROW)
    assert_shape(_ok(cli("collections", "--delete", "board", "--json")), shape.COLLECTION_DELETED)
    assert_shape(_ok(cli("rm", b, "--yes", "--json")), shape.RM)


def test_styles_stats_and_db_commands(cli: Cli, tmp_path: Path) -> None:
    cli("init", "--empty")
    added = _ok(cli("styles", "add", "ink", "ink drawing of {prompt}", "-n", "photo", "--json"))
    assert_shape(added, shape.STYLE)
    listed = _ok(cli("styles", "list", "--json"))
    assert isinstance(listed, list) and listed == [added]  # what add printed is what was stored
    assert_shape(_ok(cli("styles", "show", "ink", "--json")), shape.STYLE)
    assert_shape(_ok(cli("stats", "--json")), shape.STATS)
    assert_shape(_ok(cli("db", "backup", str(tmp_path / "copy.db"), "--json")), shape.DB_BACKUP)
    assert_shape(_ok(cli("db", "check", "--json")), shape.DB_CHECK)
    current = _ok(cli("db", "upgrade", "--json"))
    assert_shape(current, shape.DB_UPGRADE)
    assert current == {"upgraded": False, "from_schema": HEAD_REVISION, "to_schema": HEAD_REVISION, "backup": None}


def test_db_upgrade_prints_the_revisions_and_the_backup_of_an_old_library(cli: Cli, home: Path) -> None:
    from tests.test_migrations import _make_old_library

    _make_old_library(home, revision="0001")
    data = _ok(cli("db", "upgrade", "--json"))
    assert_shape(data, shape.DB_UPGRADE)
    assert isinstance(data, dict) and (data["upgraded"], data["from_schema"], data["to_schema"]) == (
        True,
        "0001",
        HEAD_REVISION,
    )
    assert Path(data["backup"]).is_file() and Path(data["backup"]).parent == home / "backups"
    assert _ok(cli("db", "upgrade", "--json"))["upgraded"] is False  # type: ignore[index]
    said = cli("db", "upgrade")
    assert said.code == 0 and f"schema {HEAD_REVISION} is current: nothing to upgrade" in said.err


def test_export_prints_the_path_format_and_what_the_file_holds(cli: Cli, home: Path, tmp_path: Path) -> None:
    cli("init", "--empty")
    fox = cli("add", "a red fox", "--tag", "animals", "--json").json()["id"]
    cli("add", "a lighthouse", "--tag", "sea")
    cli("styles", "add", "ink", "ink drawing of {prompt}")
    with Library.open(home) as lib:
        lib.add_image(fox, _png())
    pack = _ok(cli("export", str(tmp_path / "all.zip"), "--images", "--json"))
    assert_shape(pack, shape.EXPORT)
    assert pack == {"path": str(tmp_path / "all.zip"), "format": "pack", "exported": 2, "styles_exported": 1,
                    "images_exported": 1}  # fmt: skip
    lines = _ok(cli("export", str(tmp_path / "fox.jsonl"), "-f", "jsonl", "--query", "tag:animals", "--json"))
    assert isinstance(lines, dict) and (lines["format"], lines["exported"], lines["styles_exported"]) == ("jsonl", 1, 0)
    assert len((tmp_path / "fox.jsonl").read_text().splitlines()) == lines["exported"]
    styles = _ok(cli("export", str(tmp_path / "styles.csv"), "-f", "a1111_styles", "--json"))
    assert isinstance(styles, dict) and (styles["format"], styles["exported"], styles["styles_exported"]) == (
        "a1111-styles",
        0,
        1,
    )
    refused = cli("export", str(tmp_path / "fox.jsonl"), "-f", "jsonl", "--json")  # the file exists: no --force
    assert refused.code == 2 and refused.out == "" and len(refused.err.strip().splitlines()) == 1
    said = cli("export", str(tmp_path / "again.zip"), "--query", "tag:sea")
    assert said.code == 0 and said.out == "" and f"wrote {tmp_path / 'again.zip'}: 1 entry, 1 style" in said.err


def test_doctor_prints_facts_and_findings(cli: Cli, home: Path) -> None:
    cli("init", "--empty")
    pid = cli("add", "x", "--json").json()["id"]
    with Library.open(home) as lib:
        lib.image_path(lib.add_image(pid, _png())).unlink()  # a missing image: one finding
    result = cli("doctor", "--json")
    assert result.code == 1
    data = result.json()
    assert_shape(data, shape.DOCTOR)
    assert_shape(data["facts"], shape.DOCTOR_FACTS)
    assert [f["kind"] for f in data["findings"]] == ["missing-image"]
    assert_shape(data["findings"][0], shape.FINDING)


def test_import_prints_counts_and_failed_files_with_reasons(cli: Cli, tmp_path: Path) -> None:
    cli("init", "--empty")
    styles = tmp_path / "styles.csv"
    styles.write_text('name,prompt,negative_prompt\nink,"ink drawing of {prompt}",photo\n', encoding="utf-8")
    broken = tmp_path / "broken.bin"
    broken.write_bytes(b"\x00\x01 not a format")
    result = cli("import", str(styles), str(broken), "--json")
    assert result.code == 1, result.err  # partly done: the document still lists what was imported and what failed
    data = result.json()
    assert_shape(data, shape.IMPORT)
    assert isinstance(data, dict) and data["styles_imported"] == 1 and len(data["failed"]) == 1
    assert_shape(data["failed"][0], shape.FAILED_FILE)


def test_models_and_schedulers_rows(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "models" / "tiny"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    models = _ok(cli("models", "--folder", str(tmp_path / "models"), "--json"))
    assert isinstance(models, list) and [m["name"] for m in models] == ["tiny"]
    assert_shape(models[0], shape.MODEL)
    rows = _ok(cli("schedulers", "--json"))
    assert isinstance(rows, list) and len(rows) > 10
    for row in rows:
        assert_shape(row, shape.SCHEDULER)


def test_every_key_of_every_shape_is_named_in_docs_json_md() -> None:
    text = (REPO / "docs" / "JSON.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([a-z_0-9]+)`", text))
    missing = {name: sorted(keys - named) for name, keys in shape.SHAPES.items() if keys - named}
    assert not missing, f"keys docs/JSON.md does not name: {missing}"
