"""JSON Lines of PackEntry-shaped objects: spellings accepted, bad lines skipped by number."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptlib.errors import FormatError
from promptlib.packs.formats import jsonl
from promptlib.packs.schema import PackEntry, PackFile, PackImage, PackParams


def test_reads_every_spelling_and_reports_bad_lines(jsonl_text: bytes) -> None:
    pack, warnings = jsonl.read_with_warnings(jsonl_text, source="prompts.jsonl")
    fox, cat, last = pack.entries
    assert fox == PackEntry(
        title="Fox",
        prompt="a red fox",
        negative_prompt="blurry",
        tags=["animal", "snow"],
        params=PackParams(steps=20, sampler="DPM++ 2M", schedule="karras"),
    )
    assert cat == PackEntry(
        title="Cat",
        prompt="a cat",
        negative_prompt="dog",
        tags=["pet", "cute"],
        params=PackParams(steps=30, cfg_scale=6.5, sampler="Euler a", seed=42, extra={"hires_fix": True}),
    )
    assert last.prompt == "last one \u2028 raw separator"
    assert (last.favourite, last.rating) == (True, 4)
    assert [w.split(":")[1].strip() for w in warnings] == ["line 4", "line 5", "line 6", "line 7", "line 8"]
    assert warnings[0].startswith("prompts.jsonl: line 4: not valid JSON: Expecting property name")
    assert warnings[1] == "prompts.jsonl: line 5: expected an object, found a list; skipped"
    assert warnings[2] == "prompts.jsonl: line 6: prompt: Field required; skipped"
    assert warnings[3] == "prompts.jsonl: line 7: params.steps: Input should be greater than or equal to 1; skipped"
    assert warnings[4].startswith("prompts.jsonl: line 8: not valid JSON: NaN is not allowed")
    assert all(w.endswith("; skipped") for w in warnings)


def test_title_and_nested_params_win_over_other_spellings() -> None:
    line = {"title": "T", "name": "N", "prompt": "p", "negative_prompt": "a", "negative": "b", "steps": 5}
    line["params"] = {"steps": 9, "scheduler": "Karras", "sampler_name": "k_euler_a", "extra": {"x": 1}}
    entry = jsonl.read(json.dumps(line).encode(), source="x.jsonl").entries[0]
    assert (entry.title, entry.negative_prompt) == ("T", "a")
    assert entry.params == PackParams(steps=9, sampler="Euler a", schedule="karras", extra={"x": 1})


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ({"prompt": "p", "params": [1]}, "x.jsonl: line 1: params must be an object, not a list; skipped"),
        ({"prompt": "p", "tags": ["ok", 3]}, "x.jsonl: line 1: tags.1: Input should be a valid string; skipped"),
        ({"prompt": "p", "tags": ["x" * 101]}, "x.jsonl: line 1: tags.0: String should have at most 100 characters"),
        ({"prompt": "p", "rating": 9}, "x.jsonl: line 1: rating: Input should be less than or equal to 5; skipped"),
        ({"prompt": 12}, "x.jsonl: line 1: prompt: Input should be a valid string; skipped"),
        ({"prompt": "p" * 100_001}, "x.jsonl: line 1: prompt: String should have at most 100000 characters"),
    ],
)
def test_invalid_entries_are_skipped_with_a_reason(line: dict[str, object], problem: str) -> None:
    data = json.dumps(line).encode() + b'\n{"prompt": "fine"}\n'
    pack, warnings = jsonl.read_with_warnings(data, source="x.jsonl")
    assert [e.prompt for e in pack.entries] == ["fine"]
    assert len(warnings) == 1 and warnings[0].startswith(problem)


def test_images_are_ignored_with_a_warning() -> None:
    line = {"prompt": "p", "images": [{"path": "../../etc/passwd", "sha256": "0" * 64}]}
    pack, warnings = jsonl.read_with_warnings(json.dumps(line).encode(), source="x.jsonl")
    assert pack.entries == [PackEntry(prompt="p")]
    assert warnings == ["x.jsonl: line 1: images ignored: a JSON Lines file cannot carry image files"]


def test_nul_escapes_are_stripped_and_reported() -> None:
    pack, warnings = jsonl.read_with_warnings(b'{"prompt": "a\\u0000b", "title": "\\u0000t"}', source="x.jsonl")
    assert (pack.entries[0].prompt, pack.entries[0].title) == ("ab", "t")
    assert warnings == [
        "x.jsonl: line 1: removed NUL characters from title",
        "x.jsonl: line 1: removed NUL characters from prompt",
    ]


def test_a_deep_line_is_skipped_and_the_rest_read() -> None:
    deep = b'{"prompt": "p", "x": ' + b"[" * 100 + b"]" * 100 + b"}"
    pack, warnings = jsonl.read_with_warnings(deep + b'\n{"prompt": "ok"}\n', source="x.jsonl")
    assert [e.prompt for e in pack.entries] == ["ok"]
    assert warnings == ["x.jsonl: line 1: JSON nested more than 64 levels deep; skipped"]


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(FormatError, match=r"^x.jsonl: not valid UTF-8 text \(byte 0xff at offset 13\)$"):
        jsonl.read(b'{"prompt": "a\xff"}\n', source="x.jsonl")


def test_writer_leaves_defaults_and_images_out() -> None:
    image = PackImage(path="a.png", sha256="0" * 64)
    entries = [
        PackEntry(prompt="a cat"),
        PackEntry(title="T", prompt="p\u2028q", tags=["x"], params=PackParams(steps=3), images=[image]),
    ]
    data = jsonl.write(PackFile(entries=entries))
    assert data.decode().split("\n") == [
        '{"prompt": "a cat"}',
        '{"title": "T", "prompt": "p\u2028q", "tags": ["x"], "params": {"steps": 3}}',
        "",
    ]


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
_ENTRIES = st.lists(
    st.builds(
        PackEntry,
        title=st.none() | _TEXT,
        prompt=_TEXT.filter(bool),
        negative_prompt=_TEXT,
        tags=st.lists(_TEXT.filter(lambda t: t.strip() == t and bool(t) and "," not in t), max_size=3, unique=True),
        params=st.builds(
            PackParams, steps=st.none() | st.integers(1, 100), extra=st.dictionaries(_TEXT, _TEXT, max_size=2)
        ),
        notes=_TEXT,
        rating=st.none() | st.integers(0, 5),
        favourite=st.booleans(),
    ),
    max_size=5,
)


@settings(max_examples=100, deadline=None)
@given(_ENTRIES)
def test_round_trip(entries: list[PackEntry]) -> None:
    data = jsonl.write(PackFile(entries=entries))
    assert jsonl.read_with_warnings(data, source="rt.jsonl") == (PackFile(entries=entries), [])
