"""Hostile input: huge files, deep nesting, NaN, bad encodings — refused with one-line, useful messages."""

from __future__ import annotations

import codecs
import json
import time

import pytest

from promptlib.errors import FormatError, UnsafeInputError
from promptlib.limits import MAX_JSON_BYTES, MAX_JSON_DEPTH
from promptlib.packs.formats import FORMATS, READERS, _common, detect_format, load_json, read_any
from promptlib.packs.formats._common import check_depth


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("name", sorted(READERS))
def test_every_reader_refuses_70_mb_fast(name: str, huge: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(UnsafeInputError) as caught:
        READERS[name].read(huge, source="big.bin")
    assert time.perf_counter() - started < 1.0
    assert str(caught.value) == f"big.bin: {len(huge):,} bytes is over the {MAX_JSON_BYTES:,}-byte limit for one file"


def test_read_any_refuses_before_sniffing(huge: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(UnsafeInputError, match=r"^big\.bin: 73,400,322 bytes is over the"):
        read_any(huge, source="big.bin")
    assert time.perf_counter() - started < 1.0


def test_depth_limit_is_exact() -> None:
    expected: list[object] = []
    for _ in range(MAX_JSON_DEPTH - 1):
        expected = [expected]
    assert load_json(_nested(MAX_JSON_DEPTH), source="ok.json") == expected
    with pytest.raises(FormatError, match=f"^deep.json: JSON nested more than {MAX_JSON_DEPTH} levels deep$"):
        load_json(_nested(MAX_JSON_DEPTH + 1), source="deep.json")


def test_objects_count_towards_depth_too() -> None:
    ok = b'{"a": ' * (MAX_JSON_DEPTH - 1) + b"[]" + b"}" * (MAX_JSON_DEPTH - 1)
    assert isinstance(load_json(ok, source="ok.json"), dict)
    deep = b'{"a": ' * MAX_JSON_DEPTH + b"[]" + b"}" * MAX_JSON_DEPTH
    with pytest.raises(FormatError, match="nested more than 64 levels"):
        load_json(deep, source="deep.json")


@pytest.mark.parametrize("name", ["fooocus_styles", "invokeai_presets"])
def test_very_deep_nesting_is_a_format_error_not_a_crash(name: str) -> None:
    with pytest.raises(FormatError, match=r"^deep\.json: JSON nested more than 64 levels deep$"):
        FORMATS[name].read(_nested(200_000), source="deep.json")


def test_depth_check_is_not_recursive() -> None:
    value: list[object] = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(FormatError, match="nested more than 64"):
        check_depth(value, source="py")


def test_deeply_nested_json_is_refused_not_read_as_prompt_lines() -> None:
    # JSON too deep to decode is still JSON, never "a list of prompts": reading it names the problem.
    for data in (_nested(200_000), b'{"a":' * 200_000):
        assert detect_format(data) != "prompts_from_file"
        with pytest.raises(FormatError, match=r"deep\.json"):
            read_any(data, source="deep.json")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b'[{"name": "x", "prompt": NaN}]', "f.json: not valid JSON: NaN is not allowed (only finite numbers)"),
        (b'{"steps": Infinity}', "f.json: not valid JSON: Infinity is not allowed (only finite numbers)"),
        (b"[-Infinity]", "f.json: not valid JSON: -Infinity is not allowed (only finite numbers)"),
        (b"[1e999]", "f.json: not valid JSON: number 1e999 is out of range"),
        (b"[1" + b"0" * 5000 + b"]", "f.json: not valid JSON: Exceeds the limit (4300 digits)"),
        (b'[{"name": "x",}]', "f.json: not valid JSON: Expecting property name enclosed in double quotes at line 1"),
        (b'[{"name": "a\x00b"}]', "f.json: not valid JSON: Invalid control character at line 1 column 13"),
        (b'\xef\xbb\xbf["\xe9"]', "f.json: not valid UTF-8 text (byte 0xe9 at offset 5)"),
        (b"", "f.json: not valid JSON: Expecting value at line 1 column 1"),
    ],
)
def test_json_refusals_are_one_useful_line(text: bytes, message: str) -> None:
    with pytest.raises(FormatError) as caught:
        load_json(text, source="f.json")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


def test_json_accepts_boms_and_tolerates_duplicate_keys() -> None:
    assert load_json(codecs.BOM_UTF8 + b'{"a": 1, "a": 2}', source="x") == {"a": 2}
    assert load_json(codecs.BOM_UTF16_LE + '["\u00e9"]'.encode("utf-16-le"), source="x") == ["\u00e9"]
    assert load_json('  {"a": [1.5, true, null]}  ', source="x") == {"a": [1.5, True, None]}


@pytest.mark.parametrize("name", ["fooocus_styles", "invokeai_presets"])
def test_json_style_readers_refuse_invalid_utf8(name: str) -> None:
    with pytest.raises(FormatError, match=r"^s.json: not valid UTF-8 text \(byte 0x92 at offset 13\)$"):
        FORMATS[name].read(b'[{"name": "it\x92s"}]', source="s.json")


@pytest.mark.parametrize("name", ["a1111_styles", "prompts_from_file"])
def test_text_readers_survive_random_bytes(name: str) -> None:
    noise = bytes((i * 7919 + 13) % 256 for i in range(20_000))
    data = (b"name,prompt\n" if name == "a1111_styles" else b"") + noise
    pack, warnings = FORMATS[name].read_with_warnings(data, source="noise")
    assert isinstance(pack.styles, list) and isinstance(pack.entries, list)
    assert any("not valid UTF-8" in w for w in warnings)
    assert all("\n" not in w for w in warnings)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("a1111_styles", b"name,prompt\n" + b"".join(b"s%d,p\n" % i for i in range(4))),
        ("fooocus_styles", json.dumps([{"name": f"s{i}", "prompt": "p"} for i in range(4)]).encode()),
        ("invokeai_presets", json.dumps([{"name": f"s{i}", "preset_data": {}} for i in range(4)]).encode()),
        ("jsonl", b'{"prompt": "p"}\n' * 4),
        ("prompts_from_file", b"p\n" * 4),
    ],
)
def test_row_limit(name: str, data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "MAX_ROWS", 4)
    pack = FORMATS[name].read(data, source="ok")
    assert len(pack.styles) + len(pack.entries) == 4
    monkeypatch.setattr(_common, "MAX_ROWS", 3)
    with pytest.raises(UnsafeInputError, match=r"^many: more than 3 rows in one file; split it$"):
        FORMATS[name].read(data, source="many")


def test_row_limit_default_is_checked_before_parsing() -> None:
    started = time.perf_counter()
    with pytest.raises(UnsafeInputError, match=r"more than 250,000 rows"):
        FORMATS["prompts_from_file"].read(b"a\n" * 250_001, source="many.txt")
    assert time.perf_counter() - started < 1.0


def test_warnings_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "MAX_WARNINGS", 2)
    _, warnings = FORMATS["jsonl"].read_with_warnings(b"[]\n" * 5 + b'{"prompt": "ok"}\n', source="x")
    assert warnings == [
        "x: line 1: expected an object, found a list; skipped",
        "x: line 2: expected an object, found a list; skipped",
        "x: 3 more problems not listed",
    ]


def test_many_duplicate_names_are_not_quadratic() -> None:
    data = b"name,prompt\n" + b"x,p\n" * 20_000
    started = time.perf_counter()
    pack = FORMATS["a1111_styles"].read(data, source="dupes.csv")
    assert time.perf_counter() - started < 5.0
    assert [s.name for s in pack.styles[:3]] == ["x", "x (2)", "x (3)"]
    assert pack.styles[-1].name == "x (20000)"
