"""The CLI through its real entry point: every command, --json shapes, one-line errors and exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import typer

from promptlib.cli.app import app
from tests.conftest import REPO, CliResult

Cli = Callable[..., CliResult]
ENTRY_KEYS = {"id", "title", "prompt", "negative_prompt", "tags", "rating", "params", "source", "renders"}
PARAM_KEYS = {"model", "model_hash", "vae", "sampler", "schedule", "steps", "cfg_scale", "seed", "width", "height",
              "clip_skip", "loras"}  # fmt: skip


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [(*prefix, c.name or c.callback.__name__) for c in group.registered_commands]  # type: ignore[union-attr]
    for sub in group.registered_groups:
        assert sub.typer_instance is not None and sub.name
        out += _commands(sub.typer_instance, (*prefix, sub.name))
    return out


@pytest.mark.parametrize("command", _commands(app), ids=" ".join)
def test_every_command_has_help_text(cli: Cli, command: tuple[str, ...]) -> None:
    result = cli(*command, "--help")
    assert result.code == 0, result.err
    assert len(result.out.strip().splitlines()) > 3


def test_add_show_search_json_shapes(cli: Cli) -> None:
    cli("init", "--empty")
    added = cli("add", "a lighthouse in fog", "-n", "people", "--tag", "sea", "--steps", "30", "--sampler",
                "DPM++ 2M Karras", "--size", "512x768", "-p", "denoise=0.5", "--json").json()  # fmt: skip
    assert set(added) >= ENTRY_KEYS and set(added["params"]) >= PARAM_KEYS
    assert added["params"]["schedule"] == "karras" and added["params"]["extra"] == {"denoise": 0.5}
    shown = cli("show", str(added["id"]), "--json").json()
    assert shown == added
    hits = cli("search", "lighthouse tag:sea", "--json").json()
    assert [h["id"] for h in hits] == [added["id"]] and "score" in hits[0]
    assert cli("search", "nothing-like-this", "--json").json() == []
    stats = cli("stats", "--json").json()
    assert stats["prompts"] == 1 and stats["styles"] == 0 and stats["renders"] == 0


def test_edit_tag_rate_fav_list_rm(cli: Cli) -> None:
    cli("init", "--empty")
    pid = str(cli("add", "red fox", "--json").json()["id"])
    assert cli("edit", pid, "--steps", "40", "--title", "Fox", "--json").json()["params"]["steps"] == 40
    assert cli("tag", pid, "--add", "animals", "--json").json() == {pid: ["animals"]}
    assert cli("rate", "4", pid).code == 0
    assert cli("fav", pid).code == 0
    listed = cli("list", "fav:yes", "--json").json()
    assert [(e["id"], e["rating"], e["favourite"], e["title"]) for e in listed] == [(int(pid), 4, True, "Fox")]
    assert cli("tags", "--json").json() == [{"tag": "animals", "count": 1}]
    assert cli("rm", pid, "--yes").code == 0
    assert cli("list", "--json").json() == []


def test_rm_asks_first_even_without_a_terminal_and_names_missing_ids(cli: Cli) -> None:
    cli("init", "--empty")
    pid = str(cli("add", "red fox", "--json").json()["id"])
    assert cli("rm", pid, stdin="").code == 1  # no answer: nothing deleted
    assert cli("rm", pid, stdin="n\n").code == 1
    assert cli("show", pid).code == 0
    missing = cli("rm", pid, "99999", "--yes")
    assert missing.code == 4 and "no prompt with id 99999" in missing.err
    assert cli("show", pid).code == 0  # nothing deleted when one id is wrong
    assert cli("rm", pid, stdin="y\n").code == 0
    assert cli("show", pid).code == 4


def test_prompt_from_stdin(cli: Cli) -> None:
    cli("init", "--empty")
    assert cli("add", "-", "--json", stdin="from a pipe\n").json()["prompt"] == "from a pipe"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("show", "999"), 4, "no prompt with id 999"),
        (("search", "steps:abc"), 2, "steps:abc is not a number"),
        (("search", "bogus:field"), 2, "unknown field 'bogus:'"),
        (("add", ""), 2, "prompt is empty"),
        (("add", "x", "--size", "big"), 2, "WIDTHxHEIGHT"),
        (("rate", "9", "1"), 2, "outside 0-5"),
    ],
)
def test_errors_are_one_line_with_a_non_zero_exit_and_no_traceback(
    cli: Cli, args: tuple[str, ...], code: int, message: str
) -> None:
    cli("init", "--empty")
    result = cli(*args)
    assert result.code == code
    assert message in " ".join(result.err.split())
    assert "Traceback" not in result.err


def test_missing_library_is_reported(cli: Cli) -> None:
    result = cli("search", "x")
    assert result.code == 1 and "no promptlib library" in result.err and "promptlib init" in result.err


def test_untrusted_text_is_shown_escaped_never_as_markup_or_escapes(cli: Cli) -> None:
    cli("init", "--empty")
    evil = "[bold red]boom[/] \x1b]0;owned\x07 \x1b[2J \x9b31m [link=http://x]y[/link]"
    pid = str(cli("add", evil, "--title", "[/]", "--json").json()["id"])
    for args in (("show", pid), ("search", "boom"), ("list",)):
        out = cli(*args).out
        assert "\x1b]" not in out and "\x1b[2J" not in out and "\x9b" not in out and "\x07" not in out
        assert "\\x1b]0;owned\\x07" in out or "\\x1b]0;owned" in out
        assert "[bold red]boom[/]" in out
    assert "\\u009b" in cli("show", pid, "--json").out


def test_db_backup_and_check(cli: Cli, tmp_path: object) -> None:
    cli("init", "--empty")
    backup = cli("db", "backup", "--json").json()["backup"]
    assert re.search(r"backups/library-.*\.db$", backup)
    assert cli("db", "check", "--json").json() == {"ok": True, "problems": []}
    assert cli("db", "upgrade").code == 0
    folder = f"{tmp_path}/not-yet-made/"  # a trailing separator names a folder, even one that does not exist yet
    inside = Path(cli("db", "backup", folder, "--json").json()["backup"])
    assert inside.parent == Path(folder) and inside.is_file()
    named = f"{tmp_path}/one.db"
    assert cli("db", "backup", named).code == 0
    again = cli("db", "backup", named)
    assert again.code != 0 and "already exists" in again.err  # a named file is never overwritten


def test_styles_and_collections_commands(cli: Cli) -> None:
    cli("init", "--empty")
    pid = str(cli("add", "a fox", "--json").json()["id"])
    assert cli("styles", "add", "noir", "film noir still of {prompt}", "-n", "color").code == 0
    assert cli("styles", "apply", "noir", pid, "--json").json()["prompt"] == "film noir still of a fox"
    assert [s["name"] for s in cli("styles", "list", "--json").json()] == ["noir"]
    assert cli("collect", "board", pid).code == 0
    assert cli("collections", "--json").json() == [{"name": "board", "count": 1}]


def test_search_default_limit_comes_from_config_toml(cli: Cli, tmp_path: Path) -> None:
    cli("init", "--empty")
    for n in range(4):
        cli("add", f"lighthouse number {n}")
    assert len(cli("search", "lighthouse", "--json").json()) == 4
    config = tmp_path / "cli-lib" / "config.toml"
    config.write_text(config.read_text().replace("default_limit = 20", "default_limit = 2"))
    assert len(cli("search", "lighthouse", "--json").json()) == 2
    assert len(cli("search", "lighthouse", "-k", "3", "--json").json()) == 3


def test_format_names_work_with_hyphens_or_underscores_and_unknown_ones_are_usage_errors(
    cli: Cli, tmp_path: Path
) -> None:
    cli("init", "--empty")
    styles = tmp_path / "styles.csv"
    styles.write_text('name,prompt,negative_prompt\nnoir,"film noir {prompt}",color\n')
    assert cli("import", str(styles), "-f", "a1111-styles", "--json").json()["styles_imported"] == 1
    assert cli("export", str(tmp_path / "out.csv"), "--format", "a1111_styles").code == 0
    assert "noir" in (tmp_path / "out.csv").read_text()
    wrong = cli("import", str(styles), "-f", "nope")
    assert wrong.code == 2 and "unknown format 'nope'" in wrong.err


def test_list_json_shows_each_entrys_renders(cli: Cli, tmp_path: Path) -> None:
    import io

    from PIL import Image, PngImagePlugin

    cli("init", "--empty")
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a red kite\nSteps: 20, Seed: 5, Size: 8x8")
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
    (tmp_path / "kite.png").write_bytes(buf.getvalue())
    assert cli("import", str(tmp_path / "kite.png")).code == 0
    listed = cli("list", "--json").json()
    assert len(listed) == 1 and len(listed[0]["renders"]) == 1
    assert listed[0]["renders"] == cli("show", str(listed[0]["id"]), "--json").json()["renders"]


def test_export_never_writes_over_a_file_or_into_a_full_folder_without_force(cli: Cli, tmp_path: Path) -> None:
    cli("init", "--empty")
    cli("add", "a fox")
    precious = tmp_path / "important.txt"
    precious.write_text("keep me\n")
    refused = cli("export", str(precious), "--format", "jsonl")
    assert refused.code == 2 and precious.read_text() == "keep me\n"
    said = f"error: {precious}: the file exists; choose another target or pass --force"  # not the Python argument
    assert " ".join(refused.err.split()) == said
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.md").write_text("mine\n")
    assert "folder is not empty" in cli("export", str(busy)).err and sorted(p.name for p in busy.iterdir()) == [
        "notes.md"
    ]
    assert cli("export", str(precious), "--format", "jsonl", "--force").code == 0
    assert '"a fox"' in precious.read_text()
    assert cli("export", str(tmp_path / "new-folder")).code == 0  # a new or empty folder is fine


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add",), "Missing argument 'PROMPT'. (see 'promptlib add -h')"),
        (("search", "--jsn", "x"), "No such option: --jsn (Possible options: --json)"),
        (("nosuch",), "No such command 'nosuch'. (see 'promptlib -h')"),
        (("show", "x"), "Invalid value for 'ENTRY_ID'"),
    ],
)
def test_usage_errors_are_one_line_naming_the_problem_and_the_help(
    cli: Cli, args: tuple[str, ...], message: str
) -> None:
    result = cli(*args)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_a_query_that_starts_with_a_dash_is_explained_and_works_after_double_dash(cli: Cli) -> None:
    cli("init", "--empty")
    cli("add", "a foggy harbour", "--tag", "sea")
    keep = cli("add", "a sunny meadow", "--json").json()["id"]
    refused = cli("search", "-foggy")
    assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1
    assert "goes after '--'" in refused.err and "promptlib search -- -tag:nsfw" in refused.err
    found = cli("search", "--json", "--", "-foggy")
    assert found.code == 0 and [hit["id"] for hit in found.json()] == [keep]


def test_a_declined_confirmation_says_aborted(cli: Cli) -> None:
    cli("init", "--empty")
    pid = cli("add", "x", "--json").json()["id"]
    result = cli("rm", str(pid), stdin="n\n")
    assert result.code == 1 and result.err.strip().splitlines()[-1] == "aborted"


def test_overview_json(cli: Cli) -> None:
    cli("init", "--empty")
    ids = [cli("add", f"prompt {k}", "--json").json()["id"] for k in range(3)]
    data = cli("overview", "--json").json()
    assert data["stats"]["prompts"] == 3
    assert [e["id"] for e in data["newest"]] == ids[::-1]


def test_an_unknown_sampler_is_stored_with_a_warning_that_suggests_the_known_name(cli: Cli) -> None:
    cli("init", "--empty")
    typo = cli("add", "a fox", "--sampler", "Eular a", "--json")
    assert typo.code == 0 and typo.json()["params"]["sampler"] == "Eular a"  # kept: other tools have other samplers
    assert "warning: stored, but sampler 'Eular a'" in typo.err and "did you mean 'Euler a'?" in typo.err
    known = cli("add", "a fox", "--sampler", "DPM++ 2M Karras")
    assert known.code == 0 and "warning" not in known.err


@pytest.mark.parametrize("group", [(), ("index",), ("db",)])
def test_a_command_group_without_a_command_prints_its_help(cli: Cli, group: tuple[str, ...]) -> None:
    result = cli(*group)
    assert result.out.startswith(f"Usage: promptlib {' '.join(group)}".rstrip() + " [OPTIONS] COMMAND")
    assert "Commands" in result.out and result.err == ""


@pytest.mark.parametrize("argv", [("-m", "promptlib", "--help"), ("-m", "promptlib", "add")])
def test_the_program_is_named_promptlib_even_when_run_with_python_m(argv: tuple[str, ...], tmp_path: Path) -> None:
    # click names the program after `python -m ...` unless told otherwise (under `python -m pytest` too)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env["PROMPTLIB_HOME"] = str(tmp_path / "lib")
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert "python -m" not in output and "__main__" not in output
    assert "Usage: promptlib [OPTIONS]" in output or "(see 'promptlib add -h')" in output


@pytest.mark.parametrize(("value", "shown"), [('"abc"', "'abc'"), ("-5", "-5")])
def test_a_bad_number_in_config_toml_names_the_key(cli: Cli, tmp_path: Path, value: str, shown: str) -> None:
    cli("init", "--empty")
    config = tmp_path / "cli-lib" / "config.toml"
    config.write_text(config.read_text().replace("default_limit = 20", f"default_limit = {value}"))
    result = cli("search", "x")
    assert result.code == 1 and len(result.err.strip().splitlines()) == 1
    assert f"search.default_limit must be a whole number of at least 1, not {shown}" in result.err


def test_export_to_a_folder_that_cannot_exist_is_one_line(cli: Cli, tmp_path: Path) -> None:
    cli("init", "--empty")
    cli("add", "x")
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli("export", str(blocker / "inside" / "out.zip"))
    assert result.code == 1 and result.err.strip().startswith(f"error: cannot write {blocker / 'inside' / 'out.zip'}")
    assert len(result.err.strip().splitlines()) == 1


def test_an_export_whose_query_matches_nothing_says_so(cli: Cli, tmp_path: Path) -> None:
    cli("init", "--empty")
    cli("add", "a red fox", "--tag", "animals")
    empty = cli("export", str(tmp_path / "none.jsonl"), "--format", "jsonl", "--query", "tag:birds")
    assert empty.code == 0 and "no entry matches 'tag:birds': the export holds no entries" in empty.err
    some = cli("export", str(tmp_path / "foxes.jsonl"), "--format", "jsonl", "--query", "tag:animals")
    assert some.code == 0 and "no entry matches" not in some.err
    assert (tmp_path / "foxes.jsonl").read_text().count("a red fox") == 1


def test_dup_of_an_untitled_entry_is_shown_like_the_original(cli: Cli) -> None:
    cli("init", "--empty")
    untitled = cli("add", "a misty forest at dawn", "--json").json()["id"]
    titled = cli("add", "a red fox", "--title", "Fox", "--json").json()["id"]
    copy = cli("dup", str(untitled), "--json").json()
    assert copy["title"] == "" and copy["source"]["duplicate_of"] == untitled
    assert cli("dup", str(titled), "--json").json()["title"] == "Fox (copy)"
    table = cli("list").out
    assert table.count("(copy)") == 1 and "Fox (copy)" in table  # only the titled copy says so
    assert table.count("a misty forest at dawn") == 2


def test_rate_and_fav_say_what_they_did(cli: Cli) -> None:
    cli("init", "--empty")
    pid = str(cli("add", "x", "--json").json()["id"])
    assert "1 entry rated 4 stars" in cli("rate", "4", pid, pid).err  # an id given twice counts once
    assert "1 entry rating cleared" in cli("rate", "none", pid).err
    assert "1 entry no longer marked as favourite" in cli("fav", pid, "--off").err


def test_rm_rate_fav_json_print_what_they_did(cli: Cli) -> None:
    cli("init", "--empty")
    a, b = (cli("add", f"p{k}", "--json").json()["id"] for k in range(2))
    assert cli("rate", "4", str(b), f"{a},{b}", "--json").json() == {"ids": [a, b], "rating": 4}
    assert cli("rate", "none", str(a), "--json").json() == {"ids": [a], "rating": None}
    assert cli("fav", str(a), str(b), "--json").json() == {"ids": [a, b], "favourite": True}
    assert cli("fav", str(b), "--off", "--json").json() == {"ids": [b], "favourite": False}
    listed = cli("list", "--json").json()
    assert {e["id"]: (e["rating"], e["favourite"]) for e in listed} == {a: (None, True), b: (4, False)}
    asked = cli("rm", str(b), "--json", stdin="y\n")  # the question goes to stderr: stdout stays JSON
    assert asked.json() == {"removed": [b]} and "Delete 1 entry?" in asked.err
    missing = cli("rm", str(a), "99999", "--yes", "--json")
    assert missing.code == 4 and missing.out == "" and "no prompt with id 99999" in missing.err
    assert cli("rm", str(a), str(a), "--yes", "--json").json() == {"removed": [a]}
    assert cli("list", "--json").json() == []


def test_collect_json_lists_only_the_ids_that_changed(cli: Cli) -> None:
    cli("init", "--empty")
    a, b, c = (cli("add", f"p{k}", "--json").json()["id"] for k in range(3))
    added = cli("collect", "board", str(a), str(b), "--json").json()
    assert added == {"collection": "board", "added": [a, b], "count": 2}
    again = cli("collect", "board", f"{b},{c}", "--json").json()
    assert again == {"collection": "board", "added": [c], "count": 3}  # b was in it already
    taken = cli("collect", "Board", str(a), "99", "--remove", "--json").json()
    assert taken == {"collection": "board", "removed": [a]}  # found ignoring case, named as stored; 99 was never in
    assert cli("collections", "--json").json() == [{"name": "board", "count": 2}]
    human = cli("collect", "board", str(a))
    assert human.out == "" and "board: 3 entries" in human.err
    again = cli("collect", "BOARD", str(b), "--json").json()  # adding finds it ignoring case too
    assert again == {"collection": "board", "added": [], "count": 3}
    assert cli("collections", "--json").json() == [{"name": "board", "count": 3}]


def test_collect_remove_and_delete_print_the_collection_name_as_stored(cli: Cli) -> None:
    cli("init", "--empty")
    a, b = (str(cli("add", f"p{k}", "--json").json()["id"]) for k in range(2))
    assert cli("collect", " Mood Board ", a, b, "--json").json()["collection"] == "Mood Board"
    assert cli("collect", "mood board", a, "--remove", "--json").json() == {
        "collection": "Mood Board",
        "removed": [int(a)],
    }
    assert "Mood Board: removed 1" in cli("collect", "MOOD BOARD", b, "--remove").err
    assert cli("collections", "--delete", "mood BOARD", "--json").json() == {"deleted": "Mood Board", "count": 0}


def test_collections_delete_keeps_the_entries_and_names_an_unknown_collection(cli: Cli) -> None:
    cli("init", "--empty")
    ids = [str(cli("add", f"p{k}", "--json").json()["id"]) for k in range(2)]
    cli("collect", "board", *ids)
    cli("collect", "other", ids[0])
    assert cli("collections", "--delete", "BOARD", "--json").json() == {"deleted": "board", "count": 2}
    assert cli("collections", "--json").json() == [{"name": "other", "count": 1}]
    assert [e["id"] for e in cli("list", "--json").json()] == [int(i) for i in reversed(ids)]
    assert cli("show", ids[0], "--json").json()["collections"] == ["other"]
    human = cli("collections", "--delete", "other")
    assert human.code == 0 and "deleted collection other (1 entry kept in the library)" in human.err
    unknown = cli("collections", "--delete", "nope")
    assert unknown.code == 4 and unknown.err.strip() == "error: no collection named 'nope'"


def test_importing_only_missing_paths_is_one_line(cli: Cli, tmp_path: Path) -> None:
    cli("init", "--empty")
    result = cli("import", str(tmp_path / "nowhere.png"))
    assert result.code == 4 and result.err.strip() == f"error: {tmp_path / 'nowhere.png'}: no such file or folder"


def test_id_lists_take_spaces_or_commas_everywhere(cli: Cli) -> None:
    cli("init", "--empty")
    ids = [str(cli("add", f"p{k}", "--json").json()["id"]) for k in range(3)]
    tagged = cli("tag", f"{ids[0]},{ids[1]}", ids[2], "--add", "x", "--json").json()
    assert sorted(tagged) == sorted(ids)
    bad = cli("rate", "3", f"{ids[0]},zero")
    assert bad.code == 2 and "'zero' is not an entry id" in bad.err
    assert cli("rm", ",".join(ids), "--yes").code == 0
    assert cli("list", "--json").json() == []


def test_imported_files_record_their_absolute_path(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("init", "--empty")
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "a heron"}\n')
    monkeypatch.chdir(tmp_path)
    entry_id = cli("import", "prompts.jsonl", "--json").json()["ids"][0]
    assert cli("show", str(entry_id), "--json").json()["source"]["path"] == str(tmp_path / "prompts.jsonl")


def test_a_single_file_export_into_a_folder_is_refused_and_leaves_nothing(cli: Cli, tmp_path: Path) -> None:
    cli("init", "--empty")
    cli("add", "x")
    folder = tmp_path / "out"
    folder.mkdir()
    result = cli("export", str(folder), "--format", "jsonl")
    assert result.code == 2 and "is a folder: jsonl is written to a file" in result.err
    assert list(tmp_path.glob("out*")) == [folder] and not any(folder.iterdir())


def test_config_numbers_written_as_text_still_work(cli: Cli, tmp_path: Path) -> None:
    cli("init", "--empty")
    for k in range(3):
        cli("add", f"heron {k}")
    config = tmp_path / "cli-lib" / "config.toml"
    config.write_text(config.read_text().replace("default_limit = 20", 'default_limit = "2"'))
    assert len(cli("search", "heron", "--json").json()) == 2


def test_importing_the_librarys_own_files_is_refused(cli: Cli, tmp_path: Path) -> None:
    cli("init", "--empty")
    images = tmp_path / "cli-lib" / "images"
    images.mkdir(exist_ok=True)
    result = cli("import", str(images), "--json")
    assert result.json()["imported"] == 0
    assert "is inside the library" in result.json()["failed"][0]["reason"]


def test_a_limit_or_offset_beyond_sqlites_integers_means_all_rather_than_crashing(cli: Cli) -> None:
    cli("init", "--empty")
    ids = [cli("add", f"kestrel {k}", "--json").json()["id"] for k in range(2)]
    huge = str(10**20)
    for command in ("list", "search"):
        assert [e["id"] for e in cli(command, "kestrel", "--limit", huge, "--sort", "old", "--json").json()] == ids
        skipped = cli(command, "kestrel", "--offset", huge, "--json")
        assert skipped.code == 0 and skipped.json() == [], skipped.err


def test_an_entry_id_past_sqlites_integers_is_not_found_rather_than_a_crash(cli: Cli) -> None:
    cli("init", "--empty")
    huge = str(10**20)
    result = cli("render", huge, "--model", "random:sd15-tiny")
    assert result.code == 4 and f"no prompt with id {huge}" in result.err


def test_an_export_pack_name_the_manifest_refuses_is_one_line_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    cli("init", "--empty")
    cli("add", "x")
    target = tmp_path / "out.zip"
    slash = cli("export", str(target), "--name", "mine/../x")
    assert (
        slash.code == 2
        and slash.err.strip() == "error: pack name 'mine/../x' must not contain '/', '\\' or control characters"
    )
    long = cli("export", str(target), "--license", "x" * 300)
    assert long.code == 2 and long.err.strip() == "error: pack license: String should have at most 200 characters"
    assert not target.exists()


def test_an_empty_library_path_is_refused_instead_of_opening_the_default_library(cli: Cli) -> None:
    cli("init", "--empty")
    result = cli("-L", "", "list", "--json")
    assert result.code == 2 and result.out == ""
    assert "'--library' / '-L' (or $PROMPTLIB_HOME): needs a folder, not an empty path" in result.err


def test_models_says_a_folder_given_as_a_file_is_not_a_folder(cli: Cli, tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"x")
    as_file = cli("models", "--folder", str(checkpoint), "--json")
    assert as_file.code == 0 and f"model folder {checkpoint} is not a folder" in as_file.err
    missing = cli("models", "--folder", str(tmp_path / "nope"), "--json")
    assert f"model folder {tmp_path / 'nope'} does not exist" in missing.err


def test_rm_json_asks_on_stderr_and_keeps_stdout_to_the_json(cli: Cli) -> None:
    cli("init", "--empty")
    first, second = (str(cli("add", f"x {k}", "--json").json()["id"]) for k in range(2))
    declined = cli("rm", first, "--json", stdin="n\n")
    assert declined.code == 1 and declined.out == "" and "Delete 1 entry? [y/N]" in declined.err
    assert cli("rm", first, "--json", stdin="").out == ""  # no answer at all: nothing deleted, nothing printed
    done = cli("rm", first, second, "--json", stdin="yes\n")
    assert done.code == 0 and done.out.startswith("{") and done.json() == {"removed": [int(first), int(second)]}


def test_exit_codes_partly_done_is_1_and_id_commands_are_all_or_nothing(cli: Cli, tmp_path: Path) -> None:
    """docs/JSON.md's rule: 0 done, 1 partly done (the document lists what failed), 4 something named does not
    exist. `import` with one bad file used to exit 0 while `render` with one failure exited 1."""
    cli("init", "--empty")
    good, bad = tmp_path / "ok.jsonl", tmp_path / "bad.bin"
    good.write_text('{"prompt": "a heron"}\n{"prompt": "a crane"}\n', encoding="utf-8")
    bad.write_bytes(b"\x00\x01 not a format")
    partly = cli("import", str(good), str(bad))
    assert partly.code == 1 and "2 imported" in partly.err and "1 failed" in partly.err
    assert cli("import", str(good)).code == 0  # only duplicates: done, nothing failed
    assert cli("import", str(bad)).code == 1  # nothing imported: problems found
    a, b = (str(e["id"]) for e in cli("list", "--json").json())
    cli("collect", "board", a)
    for args in (
        ("tag", a, "99", "--add", "x"),
        ("rate", "5", a, "99"),
        ("fav", a, "99"),
        ("collect", "board", b, "99"),
        ("rm", a, "99", "--yes"),
    ):
        result = cli(*args)
        assert result.code == 4 and result.err.strip() == "error: no prompt with id 99", args
    entry = cli("show", a, "--json").json()
    assert entry["tags"] == [] and entry["rating"] is None and not entry["favourite"]  # nothing changed
    assert cli("collections", "--json").json() == [{"name": "board", "count": 1}]
    removed = cli("collect", "board", a, "99", "--remove", "--json")  # ends as asked: 99 was never in it
    assert removed.code == 0 and removed.json()["removed"] == [int(a)]
