"""Exports in every format read back through the importers; spreadsheet cells cannot become formulas."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from promptlib.errors import ValidationError
from promptlib.library import Library
from promptlib.packs.exporting import neutralize_cell


@pytest.fixture
def source(lib: Library) -> Library:
    lib.add(
        "a lighthouse, in fog",
        negative_prompt="people",
        tags=["sea"],
        title="Light",
        params={"steps": 30, "cfg_scale": 6.5, "sampler": "Euler a", "seed": 7, "width": 512, "height": 768},
    )
    lib.add('quote "this", and: that', params={"sampler": "DPM++ 2M Karras", "steps": 20})
    lib.add_style("noir", "film noir still of {prompt}, high contrast", negative_prompt="color")
    lib.add_style("=cmd|' /C calc'!A0", "+1", negative_prompt="@SUM(A1)")
    return lib  # fmt: skip


@pytest.mark.parametrize("fmt", ["a1111-styles", "fooocus-styles", "invokeai-presets"])
def test_style_formats_round_trip(source: Library, tmp_path: Path, fmt: str) -> None:
    out = source.export(tmp_path / "styles.out", fmt=fmt)
    with Library.open(tmp_path / "other") as other:
        report = other.import_path(out)
        assert report.errors == []
        noir = other.style("noir")
        assert (noir.prompt, noir.negative_prompt) == ("film noir still of {prompt}, high contrast", "color")
        names = {s.name for s in other.styles()}
    expected = "'=cmd|' /C calc'!A0" if fmt == "a1111-styles" else "=cmd|' /C calc'!A0"
    assert expected in names


@pytest.mark.parametrize("fmt", ["jsonl", "prompts-from-file"])
def test_entry_formats_round_trip_text_and_params(source: Library, tmp_path: Path, fmt: str) -> None:
    out = source.export(tmp_path / "entries.out", fmt=fmt)
    with Library.open(tmp_path / "other") as other:
        report = other.import_path(out)
        assert report.added == 2 and report.errors == []
        got = {e.prompt: e.params for e in other.entries()}
    assert set(got) == {"a lighthouse, in fog", 'quote "this", and: that'}
    light = got["a lighthouse, in fog"]
    assert (light["steps"], light["cfg_scale"], light["sampler"], light["seed"]) == (30, 6.5, "Euler a", 7)
    quoted = got['quote "this", and: that']
    assert (quoted["sampler"], quoted["schedule"]) == ("DPM++ 2M", "karras")


def test_csv_export_has_every_entry_and_neutralised_formulas(source: Library, tmp_path: Path) -> None:
    source.add('=HYPERLINK("http://evil")', title="@me", notes="-2+3")
    out = source.export(tmp_path / "all.csv", fmt="csv")
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 3
    evil = rows[-1]
    assert evil["prompt"].startswith("'=") and evil["title"] == "'@me" and evil["notes"] == "'-2+3"
    assert rows[0]["steps"] == "30" and rows[0]["tags"] == "sea"


def test_neutralize_cell_leaves_ordinary_text_alone() -> None:
    assert neutralize_cell("a cat") == "a cat"
    assert [neutralize_cell(x) for x in ("=1", "+1", "-1", "@x", "\tx")] == ["'=1", "'+1", "'-1", "'@x", "'\tx"]


def test_unknown_format_and_query_filtering(source: Library, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown export format"):
        source.export(tmp_path / "x", fmt="docx")
    out = source.export(tmp_path / "sea.jsonl", fmt="jsonl", query="tag:sea")
    assert len(out.read_text().splitlines()) == 1


def test_an_existing_target_is_refused_naming_the_python_argument(source: Library, tmp_path: Path) -> None:
    target = tmp_path / "kept.jsonl"
    target.write_text("mine\n")
    with pytest.raises(ValidationError) as info:
        source.export(target, fmt="jsonl")
    assert str(info.value) == f"{target}: the file exists; choose another target or pass overwrite=True"
    assert "--force" not in str(info.value) and target.read_text() == "mine\n"
    assert info.value.cli_message().endswith("or pass --force")  # the CLI's words (tests/test_cli.py)
    assert source.export(target, fmt="jsonl", overwrite=True) == target and target.read_text() != "mine\n"
