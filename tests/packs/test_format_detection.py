"""Content sniffing: each sample is its own format and no other; the file name only breaks ties."""

from __future__ import annotations

import json

import pytest

from promptlib.errors import FormatError, UnsafeInputError
from promptlib.packs.formats import FORMATS, READERS, detect_format, read_any
from promptlib.packs.schema import PackEntry, PackFile, PackStyle

PNG_START = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x02\x00\x00\x00\x02\x00\x08\x06\x00\x00\x00\xf4x\xd4\xfa"


def test_each_sample_matches_exactly_its_own_detector(sample: tuple[str, bytes]) -> None:
    expected, data = sample
    assert [name for name, module in READERS.items() if module.detect(data)] == [expected]


def test_the_filename_cannot_overrule_the_content(sample: tuple[str, bytes]) -> None:
    expected, data = sample
    for misleading in ("styles.csv", "presets.json", "x.jsonl", "prompts.txt", None):
        assert detect_format(data, filename=misleading) == expected


def test_each_sample_reads_through_read_any(sample: tuple[str, bytes]) -> None:
    expected, data = sample
    fmt, pack, _ = read_any(data, source="sample")
    assert fmt == expected
    assert pack.styles or pack.entries


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_writer_output_is_detected_as_its_format(name: str) -> None:
    pack = PackFile(
        entries=[PackEntry(prompt="a cat, {sitting}", negative_prompt="blurry")],
        styles=[PackStyle(name="Noir", prompt="film noir still of {prompt}", negative_prompt="color")],
    )
    assert detect_format(FORMATS[name].write(pack)) == name


def test_the_filename_breaks_a_tie() -> None:
    # A one-line flat InvokeAI import row is also a valid one-line JSON Lines file.
    data = json.dumps({"name": "Noir", "positive_prompt": "{prompt}, noir"}).encode()
    assert FORMATS["invokeai_presets"].detect(data) and FORMATS["jsonl"].detect(data)
    assert detect_format(data) == "invokeai_presets"
    assert detect_format(data, filename="export.jsonl") == "jsonl"
    assert detect_format(data, filename="EXPORT.JSON") == "invokeai_presets"
    assert detect_format(data, filename="notes.md") == "invokeai_presets"


@pytest.mark.parametrize(
    "data",
    [b"", b"   \n\t\n", PNG_START, b"\x00" * 100, b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256))],
    ids=["empty", "blank", "png", "nuls", "zip"],
)
def test_nothing_matches_binary_or_empty_input(data: bytes) -> None:
    assert detect_format(data, filename="styles.csv") is None
    with pytest.raises(FormatError, match=r"^in\.bin: not a format promptlib can import"):
        read_any(data, source="in.bin")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"[]", "fooocus_styles"),
        (b"[cat:dog:10] portrait, {red|blue} eyes\n", "prompts_from_file"),  # A1111 and dynamic-prompt syntax
        (b'{"prompt": "one object on one line"}', "jsonl"),
        (b"\xef\xbb\xbfname,prompt\r\n", "a1111_styles"),
        ("name,prompt\ncaf\u00e9,x\n".encode("cp1252"), "a1111_styles"),
        (b"\xff\xfe" + "name,prompt\n".encode("utf-16-le"), "a1111_styles"),
        (b'[{"title": "not a style", "prompt": "x"}]', None),
    ],
)
def test_edge_cases(data: bytes, expected: str | None) -> None:
    assert detect_format(data) == expected


def test_detection_only_sniffs_the_start(huge: bytes) -> None:
    data = b'[{"name": "a", "prompt": "b"}' + huge[1:]
    assert detect_format(data) == "fooocus_styles"
    with pytest.raises(UnsafeInputError):
        read_any(data, source="big.json")


def test_read_any_with_an_explicit_format() -> None:
    fmt, pack, warnings = read_any(b"a cat\n", source="x", fmt="prompts_from_file")
    assert (fmt, [e.prompt for e in pack.entries], warnings) == ("prompts_from_file", ["a cat"], [])
    with pytest.raises(FormatError, match=r"^unknown format 'yaml' \(known: invokeai_presets, "):
        read_any(b"a cat\n", source="x", fmt="yaml")
