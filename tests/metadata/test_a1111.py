"""A1111 infotext: the grammar's edge cases, LoRA tags, and the writer's round trip (property-based)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptlib.errors import FormatError
from promptlib.metadata.a1111 import format_infotext, is_param_line, lora_tags, parse_infotext, parse_param_line
from promptlib.recipe import SAMPLERS, SCHEDULES, LoraRef, Recipe

BASIC = (
    "photo of a duck\n"
    "Negative prompt: monochrome\n"
    "Steps: 15, Sampler: UniPC, CFG scale: 5, Seed: 235284042, Size: 512x400, Model hash: c0d1994c73, "
    "Model: realistic_realisticVisionV20_v20"
)


def test_basic_infotext() -> None:
    recipe = parse_infotext(BASIC)
    assert recipe.prompt == "photo of a duck"
    assert recipe.negative_prompt == "monochrome"
    assert (recipe.steps, recipe.sampler, recipe.schedule, recipe.cfg_scale) == (15, "UniPC", None, 5.0)
    assert (recipe.seed, recipe.width, recipe.height) == (235284042, 512, 400)
    assert (recipe.model, recipe.model_hash) == ("realistic_realisticVisionV20_v20", "c0d1994c73")
    assert recipe.generator == "a1111"
    assert recipe.raw == BASIC
    assert recipe.extra == {}


def test_multiline_prompt_and_negative() -> None:
    text = (
        "line one,\nline two\n  indented three\nNegative prompt: bad,\nworse\n\nworst\nSteps: 20, Seed: 1, CFG scale: 7"
    )
    recipe = parse_infotext(text)
    assert recipe.prompt == "line one,\nline two\n  indented three"
    assert recipe.negative_prompt == "bad,\nworse\n\nworst"
    assert recipe.steps == 20


def test_missing_negative() -> None:
    recipe = parse_infotext("a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5")
    assert recipe.prompt == "a cat"
    assert recipe.negative_prompt == ""
    assert recipe.sampler == "Euler a"


def test_missing_param_line_is_prompt_only() -> None:
    recipe = parse_infotext("masterpiece, 1girl, (style: anime)\nsecond line: with a colon")
    assert recipe.prompt == "masterpiece, 1girl, (style: anime)\nsecond line: with a colon"
    assert recipe.steps is None and recipe.extra == {}


def test_prompt_and_negative_without_params() -> None:
    recipe = parse_infotext("a dog\nNegative prompt: blurry, lowres")
    assert (recipe.prompt, recipe.negative_prompt) == ("a dog", "blurry, lowres")


def test_param_line_only() -> None:
    recipe = parse_infotext("Steps: 20, Sampler: Euler, Seed: 3")
    assert recipe.prompt == "" and recipe.steps == 20 and recipe.seed == 3


def test_negative_on_first_line() -> None:
    recipe = parse_infotext("Negative prompt: ugly\nSteps: 20, Sampler: Euler, Seed: 3")
    assert (recipe.prompt, recipe.negative_prompt) == ("", "ugly")


def test_steps_line_with_fewer_than_three_pairs_still_counts() -> None:
    assert is_param_line("Steps: 20")
    assert not is_param_line("hair: red, eyes: blue")
    assert is_param_line("hair: red, eyes: blue, mood: calm")


def test_quoted_values_with_commas_colons_newlines_and_escapes() -> None:
    text = (
        'a cat\nSteps: 20, Sampler: Euler, Seed: 1, Template: "a, b: c\\nd \\"q\\" \\\\ e", '
        'Wildcard prompt: "x:1, y", Model: "my, model: v2"'
    )
    recipe = parse_infotext(text)
    assert recipe.extra["Template"] == 'a, b: c\nd "q" \\ e'
    assert recipe.extra["Wildcard prompt"] == "x:1, y"
    assert recipe.model == "my, model: v2"


def test_hashes_json_and_lora_hashes() -> None:
    text = (
        "a <lora:add_detail:0.6> cat <lora:more_details>\n"
        'Steps: 20, Sampler: Euler, Seed: 1, Hashes: {"vae": "235745af8d", "lora:add_detail": "7c6bad76eb54", '
        '"model": "9aba26abdf"}, Lora hashes: "more_details: 3b8aa1d351ef, unused: ffff", Version: v1.9.4'
    )
    recipe = parse_infotext(text)
    assert recipe.extra["Hashes"] == {"vae": "235745af8d", "lora:add_detail": "7c6bad76eb54", "model": "9aba26abdf"}
    assert recipe.loras == (
        LoraRef(name="add_detail", weight=0.6, hash="7c6bad76eb54"),
        LoraRef(name="more_details", weight=1.0, hash="3b8aa1d351ef"),
    )
    assert recipe.model_hash == "9aba26abdf"  # filled from Hashes when "Model hash" is absent
    assert recipe.extra["Lora hashes"] == "unused: ffff"
    assert recipe.extra["Version"] == "v1.9.4"


def test_civitai_generator_names_the_checkpoint_among_its_resources() -> None:
    # civitai.com's on-site generator writes no "Model:"; the checkpoint is in the bare-JSON "Civitai resources"
    text = (
        "score_9, a fox\nNegative prompt: blurry\n"
        "Steps: 25, CFG scale: 7, Sampler: DPM++ 2M Karras, Seed: 12, Size: 832x1216, Clip skip: 2, "
        "Created Date: 2024-05-01T10:00:00.0000000Z, Civitai resources: "
        '[{"type":"lora","weight":0.8,"modelVersionId":1,"modelName":"Detail, Tweaker","modelVersionName":"v1"},'
        '{"type":"checkpoint","modelVersionId":290640,"modelName":"Pony Diffusion V6 XL","modelVersionName":"V6"}], '
        'Civitai metadata: {"remixOfId": 5}'
    )
    recipe = parse_infotext(text)
    assert (recipe.model, recipe.steps, recipe.seed, recipe.width, recipe.clip_skip) == (
        "Pony Diffusion V6 XL",
        25,
        12,
        832,
        2,
    )
    assert recipe.extra["Civitai resources"][0]["modelName"] == "Detail, Tweaker"
    assert recipe.extra["Civitai metadata"] == {"remixOfId": 5}
    assert parse_infotext(text.replace("Clip skip: 2", "Model: mine, Clip skip: 2")).model == "mine"


def test_lora_tag_forms() -> None:
    prompt = "<lora:a:0.5> <lora:b> <lyco:c:te=0.3:unet=0.2> <LoRA:d:1.2:0.8> <lora:folder/e:-1> <lora:a:0.9>"
    assert lora_tags(prompt) == [("a", 0.5), ("b", 1.0), ("c", 0.3), ("d", 1.2), ("folder/e", -1.0), ("a", 0.9)]
    recipe = parse_infotext(prompt + "\nSteps: 1, Seed: 1, Sampler: Euler")
    assert [lora.name for lora in recipe.loras] == ["a", "b", "c", "d", "e"]  # first weight per name wins


@pytest.mark.parametrize(
    ("sampler", "schedule", "expected"),
    [
        ("DPM++ 2M Karras", None, ("DPM++ 2M", "karras")),
        ("DPM++ 2M SDE Exponential", None, ("DPM++ 2M SDE", "exponential")),
        ("DPM++ 2M", "Karras", ("DPM++ 2M", "karras")),
        ("Euler a", "Automatic", ("Euler a", None)),
        ("DPM++ SDE", "SGM Uniform", ("DPM++ SDE", "sgm_uniform")),
        ("DDIM", "DDIM", ("DDIM", "ddim_uniform")),
        ("Some New Sampler", None, ("Some New Sampler", None)),
    ],
)
def test_sampler_and_schedule(sampler: str, schedule: str | None, expected: tuple[str, str | None]) -> None:
    line = f"Steps: 20, Sampler: {sampler}, Seed: 1" + (f", Schedule type: {schedule}" if schedule else "")
    recipe = parse_infotext(f"x\n{line}")
    assert (recipe.sampler, recipe.schedule) == expected


def test_typed_values_that_do_not_fit_go_to_extra() -> None:
    recipe = parse_infotext("x\nSteps: 0, Seed: -1, CFG scale: lots, Size: 4x4, Clip skip: 2, Sampler: Euler")
    assert recipe.steps is None and recipe.seed is None and recipe.cfg_scale is None and recipe.width is None
    assert recipe.extra["Steps"] == 0
    assert recipe.extra["Seed"] == -1
    assert recipe.extra["CFG scale"] == "lots"
    assert recipe.extra["Size"] == 4
    assert recipe.clip_skip == 2


def test_bare_extras_are_typed_when_canonical() -> None:
    recipe = parse_infotext(
        "x\nSteps: 20, Seed: 1, Sampler: Euler, Denoising strength: 0.4, ENSD: 31337, Hires: true, "
        'Face restoration: CodeFormer, RNG: 1e5, Model hash: 12345e6789, Quoted: "7", Flag'
    )
    assert recipe.extra["Denoising strength"] == 0.4
    assert recipe.extra["ENSD"] == 31337
    assert recipe.extra["Hires"] is True
    assert recipe.extra["Face restoration"] == "CodeFormer"
    assert recipe.extra["RNG"] == "1e5"  # not the canonical spelling of a float: stays text
    assert recipe.model_hash == "12345e6789"
    assert recipe.extra["Quoted"] == "7"
    assert recipe.extra["Flag"] == "Flag"


def test_param_line_parser_is_forgiving() -> None:
    items = parse_param_line('Steps: 20, , junk, Seed: 3, x: "unterminated, Size: 512x512, : empty key')
    keys = [item.key for item in items]
    assert keys[:2] == ["Steps", "junk"]
    assert "Seed" in keys and "Size" in keys


def test_crlf_and_trailing_whitespace() -> None:
    recipe = parse_infotext("a cat\r\nNegative prompt: dog\r\nSteps: 20, Seed: 1, Sampler: Euler\r\n\n")
    assert (recipe.prompt, recipe.negative_prompt, recipe.seed) == ("a cat", "dog", 1)


@pytest.mark.parametrize("text", ["", "   \n  "])
def test_empty_text_is_a_format_error(text: str) -> None:
    with pytest.raises(FormatError):
        parse_infotext(text)


def test_linear_time_on_a_hostile_line() -> None:
    import time

    line = "a" * 200_000 + ":" + ("b, " * 100_000) + '"' * 50_000
    start = time.perf_counter()
    parse_infotext("x\n" + line)
    assert time.perf_counter() - start < 2.0


# --- the writer ------------------------------------------------------------------------------------------------


def test_format_basic() -> None:
    recipe = Recipe(
        prompt="a fox",
        negative_prompt="blurry",
        sampler="DPM++ 2M",
        schedule="karras",
        steps=30,
        cfg_scale=6.5,
        seed=42,
        width=768,
        height=512,
        model="juggernaut",
        clip_skip=2,
        loras=(LoraRef(name="detail", weight=0.5, hash="abc123"),),
        extra={"Denoising strength": 0.35, "Template": "a, b"},
    )
    text = format_infotext(recipe)
    assert text == (
        "a fox <lora:detail:0.5>\nNegative prompt: blurry\n"
        "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 42, Size: 768x512, "
        'Model: juggernaut, Clip skip: 2, Lora hashes: "detail: abc123", Denoising strength: 0.35, Template: "a, b"'
    )
    back = parse_infotext(text)
    assert back.prompt == "a fox <lora:detail:0.5>"
    assert back.loras == recipe.loras
    assert back.extra == recipe.extra


def test_format_skips_unwritable_keys_and_duplicates() -> None:
    recipe = Recipe(prompt="x", steps=5, extra={"Steps": 9, "bad:key": 1, "": 2, "ok key": None, "Good": "v"})
    text = format_infotext(recipe)
    assert text == "x\nSteps: 5, bad_key: 1, Good: v"


_PLAIN = string.ascii_letters + string.digits + " ,.:()[]{}\"'\\_-+=!?éß漢"
_line = st.text(alphabet=_PLAIN, max_size=30).map(str.strip)
_block = (
    st.lists(_line, min_size=1, max_size=3)
    .map(lambda lines: "\n".join(lines).strip())
    .filter(lambda text: "Negative prompt:" not in text and "<" not in text)
)
_key = st.from_regex(r"[A-Za-z][A-Za-z0-9 _/-]{0,12}[A-Za-z0-9]", fullmatch=True).filter(
    lambda key: (
        "  " not in key
        and key.lower()
        not in {"steps", "sampler", "schedule type", "cfg scale", "seed", "size", "model hash", "model", "vae"}
        and key.lower() not in {"clip skip", "lora hashes", "hashes"}
    )
)
_scalar = st.one_of(
    st.text(alphabet=_PLAIN + "\n\t", max_size=20),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
_value = st.one_of(
    _scalar,
    st.lists(_scalar, max_size=3),
    st.dictionaries(st.text(alphabet=_PLAIN, max_size=8), _scalar, max_size=3),
)
_lora = st.builds(
    LoraRef,
    name=st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_ .-]{0,10}[A-Za-z0-9_]", fullmatch=True),
    weight=st.sampled_from([1.0, 0.5, 0.75, -1.0, 1.25, 0.0]),
    hash=st.one_of(st.none(), st.from_regex(r"[0-9a-f]{10}", fullmatch=True)),
)


@st.composite
def recipes(draw: st.DrawFn) -> Recipe:
    loras = draw(st.lists(_lora, max_size=3, unique_by=lambda lora: lora.name))
    return Recipe(
        prompt=draw(_block),
        negative_prompt=draw(st.one_of(st.just(""), _block)),
        steps=draw(st.integers(1, 150)),
        sampler=draw(st.one_of(st.none(), st.sampled_from(SAMPLERS))),
        schedule=draw(st.one_of(st.none(), st.sampled_from([s for s in SCHEDULES if s != "automatic"]))),
        cfg_scale=draw(st.one_of(st.none(), st.floats(0, 30, allow_nan=False).map(lambda v: round(v, 2)))),
        seed=draw(st.one_of(st.none(), st.integers(0, 2**64 - 1))),
        width=draw(st.one_of(st.none(), st.integers(8, 4096))),
        height=draw(st.one_of(st.none(), st.integers(8, 4096))),
        model=draw(st.one_of(st.none(), _line.filter(bool))),
        model_hash=draw(st.one_of(st.none(), st.from_regex(r"[0-9a-f]{10}", fullmatch=True))),
        vae=draw(st.one_of(st.none(), _line.filter(bool))),
        clip_skip=draw(st.one_of(st.none(), st.integers(1, 12))),
        loras=tuple(loras),
        extra=draw(st.dictionaries(_key, _value, max_size=4)),
    )


@settings(max_examples=300, deadline=None)
@given(recipes())
def test_round_trip(recipe: Recipe) -> None:
    back = parse_infotext(format_infotext(recipe))
    expected_prompt = " ".join(
        part
        for part in (recipe.prompt, *(f"<lora:{lora.name}:{_weight(lora.weight)}>" for lora in recipe.loras))
        if part
    )
    assert back.prompt == expected_prompt
    assert back.negative_prompt == recipe.negative_prompt
    assert back.loras == recipe.loras
    params = recipe.params()
    if recipe.width is None or recipe.height is None:
        params["width"] = params["height"] = None  # a lone width or height is not written
    assert back.params() == params
    assert back.extra == recipe.extra
    assert {type(v) for v in back.extra.values()} == {type(v) for v in recipe.extra.values()}


def _weight(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


@given(st.text(max_size=200))
def test_prompt_only_round_trip_without_params(prompt: str) -> None:
    prompt = prompt.strip()
    if not prompt or "Negative prompt:" in prompt or is_param_line(prompt.split("\n")[-1]) or "\r" in prompt:
        return
    back = parse_infotext(format_infotext(Recipe(prompt=prompt)))
    assert back.prompt == prompt


def test_dynamic_prompts_template_lines_after_the_parameter_line() -> None:
    # sd-dynamic-prompts "Save template to metadata" appends these after the parameter line (pnginfo_saver.py)
    text = (
        "a red cat\nNegative prompt: ugly\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: sd15\n"
        "Template: a {red|blue}\ncat\nNegative Template: ugly"
    )
    recipe = parse_infotext(text)
    assert (recipe.prompt, recipe.negative_prompt) == ("a red cat", "ugly")
    assert (recipe.steps, recipe.seed, recipe.sampler, recipe.width, recipe.model) == (20, 1, "Euler a", 512, "sd15")
    assert recipe.extra["Template"] == "a {red|blue}\ncat" and recipe.extra["Negative Template"] == "ugly"
    # a prompt line that merely starts with "Template: " is still the prompt
    plain = parse_infotext("Template: a poster\nSteps: 20, Sampler: Euler, Seed: 3, Size: 512x512")
    assert plain.prompt == "Template: a poster" and plain.seed == 3


def test_a_template_that_reads_like_parameters_is_still_the_template() -> None:
    text = (
        "a castle\nSteps: 20, Sampler: Euler a, Seed: 5, Size: 512x512\n"
        "Template: a {castle|tower}, style: gothic, light: soft, mood: calm\nNegative Template: blurry"
    )
    recipe = parse_infotext(text)
    assert (recipe.prompt, recipe.negative_prompt, recipe.steps, recipe.seed) == ("a castle", "", 20, 5)
    assert recipe.extra["Template"] == "a {castle|tower}, style: gothic, light: soft, mood: calm"
