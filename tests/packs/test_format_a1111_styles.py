"""A1111 styles.csv: reading the quirks real files have, writing what A1111 reads back."""

from __future__ import annotations

import codecs
import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptlib.errors import FormatError
from promptlib.limits import MAX_PROMPT_CHARS
from promptlib.packs.formats import a1111_styles
from promptlib.packs.schema import PackFile, PackStyle


def _a1111_reads(data: bytes) -> list[tuple[str, str, str]]:
    """What A1111's StyleDatabase.load_from_csv makes of `data` (same csv options, same skipping)."""
    text = data.decode("utf-8-sig")
    out = []
    for row in csv.DictReader(io.StringIO(text, newline=""), skipinitialspace=True):
        if not row or row["name"].startswith("#"):
            continue
        prompt = row["prompt"] if "prompt" in row else row["text"]
        out.append((row["name"], prompt, row.get("negative_prompt", "")))
    return out


def test_reads_a_hand_edited_file(a1111_csv: bytes) -> None:
    pack, warnings = a1111_styles.read_with_warnings(a1111_csv, source="styles.csv")
    assert [(s.name, s.prompt, s.negative_prompt) for s in pack.styles] == [
        ("Cinematic", "cinematic still of {prompt}, 35mm, film grain", 'cartoon, "anime", painting'),
        ("Portrait, studio", "{prompt}, studio portrait,\r\nsoft box lighting, 85mm", ""),
        ("Watercolor", "watercolor painting of {prompt}", ""),  # a short row: the missing field is empty
        ("Cinematic (2)", "moody {prompt}", ""),
        ("Empty", "", ""),
        ("Ukiyo-e", "\u6d6e\u4e16\u7d75 woodblock print of {prompt}", "photo"),
    ]
    assert pack.entries == []
    assert warnings == ["styles.csv: line 8: duplicate style name 'Cinematic' kept as 'Cinematic (2)'"]


def test_read_without_warnings_gives_the_same_styles(a1111_csv: bytes) -> None:
    assert a1111_styles.read(a1111_csv, source="s.csv") == a1111_styles.read_with_warnings(a1111_csv, source="s.csv")[0]


def test_legacy_text_column_and_spaces_after_commas(a1111_legacy_csv: bytes) -> None:
    pack = a1111_styles.read(a1111_legacy_csv, source="old.csv")
    assert [(s.name, s.prompt, s.negative_prompt) for s in pack.styles] == [
        ("Old style", "masterpiece of {prompt}", ""),
        ("No placeholder", "best quality", ""),
    ]


def test_blank_lines_before_the_header_and_header_case() -> None:
    data = b"\n\n Name , PROMPT , Negative_Prompt\nA,b,c\n"
    assert a1111_styles.read(data, source="s.csv").styles == [PackStyle(name="A", prompt="b", negative_prompt="c")]


def test_duplicates_compare_like_the_library_and_suffixes_stay_unique() -> None:
    data = b"name,prompt\nx,1\nX ,2\nx (2),3\nx,4\n"
    names = [s.name for s in a1111_styles.read(data, source="s.csv").styles]
    assert names == ["x", "X (2)", "x (2) (2)", "x (3)"]
    assert len({n.strip().casefold() for n in names}) == len(names)


def test_windows_1252_file_is_read_with_a_warning() -> None:
    data = "name,prompt\nSmart,\u201cquoted\u201d caf\u00e9\n".encode("cp1252")
    pack, warnings = a1111_styles.read_with_warnings(data, source="s.csv")
    assert pack.styles[0].prompt == "\u201cquoted\u201d caf\u00e9"
    assert len(warnings) == 1 and "not valid UTF-8" in warnings[0] and "Windows-1252" in warnings[0]


def test_bytes_undefined_in_cp1252_fall_back_to_latin1() -> None:
    pack, warnings = a1111_styles.read_with_warnings(b"name,prompt\nodd,\x81\x8d\xff\n", source="s.csv")
    assert pack.styles[0].prompt == "\x81\x8d\xff"
    assert "Latin-1" in warnings[0]


def test_nul_bytes_are_stripped_and_reported() -> None:
    pack, warnings = a1111_styles.read_with_warnings(b"name,prompt\nn\x00ul,a\x00b\n", source="s.csv")
    assert pack.styles == [PackStyle(name="nul", prompt="ab")]
    assert warnings == ["s.csv: removed 2 NUL characters"]


def test_utf16_with_bom_is_read() -> None:
    data = codecs.BOM_UTF16_LE + "name,prompt\nW\u00fcrze,spicy {prompt}\n".encode("utf-16-le")
    assert a1111_styles.read(data, source="s.csv").styles[0].name == "W\u00fcrze"


def test_oversized_fields_skip_only_their_row() -> None:
    long_prompt = "x" * (MAX_PROMPT_CHARS + 1)
    huge_field = "y" * 200_000  # over the csv module's own field limit
    data = f'name,prompt\nok,fine\nlong,{long_prompt}\nhuge,"{huge_field}"\n{"n" * 600},p\nlast,kept\n'.encode()
    pack, warnings = a1111_styles.read_with_warnings(data, source="big.csv")
    assert [s.name for s in pack.styles] == ["ok", "last"]
    assert warnings[0].startswith("big.csv: line 3: prompt: String should have at most 100000 characters")
    assert warnings[1].startswith("big.csv: line 4: unreadable CSV (field larger than field limit")
    assert warnings[2].startswith("big.csv: line 5: name: String should have at most 500 characters")
    assert all("\n" not in w and len(w) < 300 for w in warnings)


def test_rows_without_a_name_are_skipped_with_a_warning() -> None:
    pack, warnings = a1111_styles.read_with_warnings(b"name,prompt\n  ,orphan prompt\nok,x\n", source="s.csv")
    assert [s.name for s in pack.styles] == ["ok"]
    assert warnings == ["s.csv: line 2: style has no name; skipped"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"title,body\na,b\n", "s.csv: line 1: not an A1111 styles.csv header: need 'name' and 'prompt' columns"),
        (b"name,negative_prompt\na,b\n", "s.csv: line 1: not an A1111 styles.csv header"),
        (b"", "s.csv: empty file"),
        (b"\r\n\r\n", "s.csv: empty file"),
    ],
)
def test_files_without_a_styles_header_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(FormatError, match="^" + message):
        a1111_styles.read(data, source="s.csv")


def test_writer_output_is_exactly_what_a1111_writes() -> None:
    pack = PackFile(
        styles=[
            PackStyle(name="Cinematic", prompt="cinematic still of {prompt}, 35mm", negative_prompt="cartoon"),
            PackStyle(name='Say "cheese"', prompt="line one\nline two"),
            PackStyle(name="plain", prompt="no quoting needed"),
        ]
    )
    assert a1111_styles.write(pack) == codecs.BOM_UTF8 + (
        b"name,prompt,negative_prompt\r\n"
        b'Cinematic,"cinematic still of {prompt}, 35mm",cartoon\r\n'
        b'"Say ""cheese""","line one\nline two",\r\n'
        b"plain,no quoting needed,\r\n"
    )


def test_writer_quotes_leading_spaces_that_a1111_would_drop() -> None:
    data = a1111_styles.write(PackFile(styles=[PackStyle(name=" indented", prompt="  two spaces")]))
    assert b'" indented","  two spaces",' in data
    assert _a1111_reads(data) == [(" indented", "  two spaces", "")]


def test_writer_ignores_entries() -> None:
    from promptlib.packs.schema import PackEntry

    data = a1111_styles.write(PackFile(entries=[PackEntry(prompt="a cat")]))
    assert data == codecs.BOM_UTF8 + b"name,prompt,negative_prompt\r\n"


_CHARS = st.one_of(
    st.sampled_from(list(",\"'\\\r\n \t{}#;\ufeff\u2028\x85\x1c\u00e9\u6f22\U0001f600")),
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
)
_TEXT = st.text(_CHARS, max_size=60)
_NAMES = st.text(_CHARS, min_size=1, max_size=30).filter(lambda s: bool(s.strip()) and not s.startswith("#"))
_STYLES = st.lists(
    st.builds(PackStyle, name=_NAMES, prompt=_TEXT, negative_prompt=_TEXT),
    max_size=8,
    unique_by=lambda s: s.name.strip().casefold(),
)


@settings(max_examples=300, deadline=None)
@given(_STYLES)
def test_round_trip_through_the_writer_our_reader_and_a1111s(styles: list[PackStyle]) -> None:
    data = a1111_styles.write(PackFile(styles=styles))
    pack, warnings = a1111_styles.read_with_warnings(data, source="rt.csv")
    assert pack.styles == styles
    assert warnings == []
    assert _a1111_reads(data) == [(s.name, s.prompt, s.negative_prompt) for s in styles]
    assert a1111_styles.detect(data)


def test_an_unbalanced_quote_is_read_to_the_end_and_reported_with_its_line() -> None:
    pack, warnings = a1111_styles.read_with_warnings(
        b'name,prompt,negative_prompt\nok,fine,\nopen,"never closed,\nmore\n', source="s.csv"
    )
    assert [s.name for s in pack.styles] == ["ok", "open"]
    assert pack.styles[1].prompt == "never closed,\nmore\n"
    assert warnings == ["s.csv: line 3: a quote is never closed: its field runs to the end of the file"]
