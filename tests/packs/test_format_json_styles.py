"""Fooocus / sdxl_prompt_styler style lists and InvokeAI style presets."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptlib.errors import FormatError
from promptlib.packs.formats import fooocus_styles, invokeai_presets
from promptlib.packs.schema import PackFile, PackStyle

# --- Fooocus -------------------------------------------------------------------------------------------------


def test_fooocus_missing_keys_mean_empty(fooocus_json: bytes) -> None:
    pack, warnings = fooocus_styles.read_with_warnings(fooocus_json, source="sdxl_styles_fooocus.json")
    assert [(s.name, s.prompt[:20], s.negative_prompt[:8]) for s in pack.styles] == [
        ("Fooocus Sharp", "cinematic still {pro", "anime, c"),
        ("Fooocus Negative", "", "deformed"),
        ("Fooocus Masterpiece", "(masterpiece), (best", ""),
    ]
    assert warnings == []


def test_fooocus_bad_items_are_skipped_with_their_number() -> None:
    data = json.dumps(
        [
            {"name": "ok", "prompt": "{prompt}, sharp"},
            "just a string",
            {"prompt": "no name"},
            {"name": 7, "prompt": "numeric name"},
            {"name": "list prompt", "prompt": ["a", "b"]},
            {"name": "ok", "prompt": "again", "extra_key": 1},
            {"name": "nul\u0000", "negative_prompt": "a\u0000b"},
        ]
    ).encode()
    pack, warnings = fooocus_styles.read_with_warnings(data, source="f.json")
    assert [(s.name, s.prompt, s.negative_prompt) for s in pack.styles] == [
        ("ok", "{prompt}, sharp", ""),
        ("ok (2)", "again", ""),
        ("nul", "", "ab"),
    ]
    assert warnings == [
        "f.json: item 2: expected a style object, found text; skipped",
        "f.json: item 3: style has no name; skipped",
        "f.json: item 4: name must be text, not a number; skipped",
        "f.json: item 5: prompt must be text, not a list; skipped",
        "f.json: item 6: duplicate style name 'ok' kept as 'ok (2)'",
        "f.json: item 7: removed NUL characters from name",
        "f.json: item 7: removed NUL characters from negative_prompt",
    ]


def test_fooocus_single_object_is_a_list_of_one() -> None:
    pack = fooocus_styles.read(b'{"name": "solo", "prompt": "{prompt} alone"}', source="f.json")
    assert pack.styles == [PackStyle(name="solo", prompt="{prompt} alone")]


@pytest.mark.parametrize(("data", "found"), [(b'"styles"', "text"), (b"42", "a number"), (b"null", "null")])
def test_fooocus_refuses_json_that_is_not_a_style_list(data: bytes, found: str) -> None:
    with pytest.raises(FormatError, match=f"^f.json: expected a JSON list of styles, found {found}$"):
        fooocus_styles.read(data, source="f.json")


def test_fooocus_writer_emits_all_three_keys() -> None:
    pack = PackFile(styles=[PackStyle(name="Neg only", negative_prompt="blurry"), PackStyle(name="\u96ea", prompt="x")])
    data = fooocus_styles.write(pack)
    assert json.loads(data) == [
        {"name": "Neg only", "prompt": "", "negative_prompt": "blurry"},
        {"name": "\u96ea", "prompt": "x", "negative_prompt": ""},
    ]
    assert "\u96ea".encode() in data  # UTF-8, not \\u escapes
    assert fooocus_styles.read(data, source="rt.json") == pack
    assert fooocus_styles.detect(data)


# --- InvokeAI ------------------------------------------------------------------------------------------------


def test_invokeai_nested_preset_data(invokeai_json: bytes) -> None:
    pack, warnings = invokeai_presets.read_with_warnings(invokeai_json, source="presets.json")
    assert pack.styles == [
        PackStyle(
            name="Photography (General)",
            prompt="{prompt}. photography. f/2.8 macro photo, bokeh, photorealism",
            negative_prompt="painting, digital art. sketch, blurry",
        ),
        PackStyle(name="Line Art", prompt="{prompt} Line art. bold outline. simplistic. white background. 2d"),
    ]
    assert warnings == []


def test_invokeai_single_object_from_the_api(invokeai_single: bytes) -> None:
    pack = invokeai_presets.read(invokeai_single, source="anime.json")
    expected = PackStyle(name="Anime", prompt="{prompt} anime++, bold outline", negative_prompt="(photo)+++")
    assert pack.styles == [expected]


def test_invokeai_flat_import_rows_and_preset_data_as_a_string() -> None:
    data = json.dumps(
        [
            {"name": "flat", "positive_prompt": "{prompt} flat", "negative_prompt": "n"},
            {"name": "flat prompt key", "prompt": "{prompt} p"},
            {"name": "db row", "preset_data": json.dumps({"positive_prompt": "from db", "negative_prompt": ""})},
            {"name": "broken db row", "preset_data": "{not json"},
            {"name": "odd", "preset_data": [1, 2]},
        ]
    ).encode()
    pack, warnings = invokeai_presets.read_with_warnings(data, source="i.json")
    assert [(s.name, s.prompt, s.negative_prompt) for s in pack.styles] == [
        ("flat", "{prompt} flat", "n"),
        ("flat prompt key", "{prompt} p", ""),
        ("db row", "from db", ""),
    ]
    assert len(warnings) == 2
    assert warnings[0].startswith("i.json: item 4: preset_data: not valid JSON: Expecting property name")
    assert warnings[0].endswith("; skipped")
    assert warnings[1] == "i.json: item 5: preset_data must be an object, not a list; skipped"


def test_invokeai_writer_emits_the_nested_shape() -> None:
    pack = PackFile(styles=[PackStyle(name="Sketch", prompt="{prompt} pencil", negative_prompt="photo")])
    assert json.loads(invokeai_presets.write(pack)) == [
        {
            "name": "Sketch",
            "type": "user",
            "preset_data": {"positive_prompt": "{prompt} pencil", "negative_prompt": "photo"},
        }
    ]


def test_invokeai_import_writer_emits_the_flat_shape_invokeai_accepts() -> None:
    pack = PackFile(styles=[PackStyle(name="Sketch", prompt="{prompt} pencil")])
    data = invokeai_presets.write_import(pack)
    assert json.loads(data) == [{"name": "Sketch", "positive_prompt": "{prompt} pencil", "negative_prompt": ""}]
    assert invokeai_presets.detect(data)
    assert invokeai_presets.read(data, source="rt.json") == pack


def test_invokeai_refuses_json_that_is_not_presets() -> None:
    with pytest.raises(FormatError, match=r"^i\.json: expected a JSON list of style presets, found text$"):
        invokeai_presets.read(b'"hello"', source="i.json")


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
_STYLES = st.lists(
    st.builds(PackStyle, name=_TEXT.filter(str.strip), prompt=_TEXT, negative_prompt=_TEXT),
    max_size=6,
    unique_by=lambda s: s.name.strip().casefold(),
)


@settings(max_examples=100, deadline=None)
@given(_STYLES)
def test_json_style_writers_round_trip(styles: list[PackStyle]) -> None:
    pack = PackFile(styles=styles)
    assert fooocus_styles.read_with_warnings(fooocus_styles.write(pack), source="f.json") == (pack, [])
    assert invokeai_presets.read_with_warnings(invokeai_presets.write(pack), source="i.json") == (pack, [])
    assert invokeai_presets.read_with_warnings(invokeai_presets.write_import(pack), source="i.json") == (pack, [])
