"""A1111's prompts_from_file script input: plain lines, option lines, and the lines it chokes on."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptlib.packs.formats import prompts_from_file
from promptlib.packs.schema import PackEntry, PackFile, PackParams
from promptlib.recipe import SAMPLERS


def test_reads_plain_and_option_lines(prompts_txt: bytes) -> None:
    pack, warnings = prompts_from_file.read_with_warnings(prompts_txt, source="prompts.txt")
    assert [e.prompt for e in pack.entries] == [
        "a red fox in the snow, golden hour",
        "a cat wearing a hat",
        "castle on a hill",  # unquoted words after --prompt are joined, as A1111 does
        "portrait",
        "a misty lake -- dawn, it's quiet",  # not options: a plain prompt, as in A1111
    ]
    fox, cat, castle, portrait, _ = pack.entries
    assert fox.params == PackParams()
    assert cat.negative_prompt == "blurry, lowres"
    assert cat.params == PackParams(steps=20, cfg_scale=7.0, seed=5, width=512, height=768, sampler="Euler a")
    assert castle.params == PackParams(steps=30, sampler="DPM++ 2M", schedule="karras", extra={"n_iter": 2})
    assert castle.params.seed is None  # -1 is A1111's "random"
    assert portrait.params == PackParams(
        sampler="DPM++ SDE", schedule="exponential", extra={"restore_faces": True, "hires": "2"}
    )
    assert warnings == [
        "prompts.txt: line 6: cannot split the options (No closing quotation); skipped",
        "prompts.txt: line 7: --steps needs a whole number, not 'twenty'; skipped",
    ]


@pytest.mark.parametrize(
    ("line", "warning"),
    [
        ("--steps 20", "p.txt: line 1: the line has no --prompt; skipped"),
        ('--prompt ""', "p.txt: line 1: the line has no --prompt; skipped"),
        ("--prompt", "p.txt: line 1: '--prompt' has no value; skipped"),
        ("--prompt a --steps", "p.txt: line 1: '--steps' has no value; skipped"),
        ("--prompt a -- b", "p.txt: line 1: expected an option starting with \"--\", found '--'; skipped"),
        ("--prompt a --cfg_scale nan", "p.txt: line 1: --cfg_scale needs a number, not 'nan'; skipped"),
        ("--prompt a --seed 1" + "0" * 5000, "p.txt: line 1: --seed needs a whole number, not '10000000000"),
        ("--prompt a --steps 0", "p.txt: line 1: params.steps: Input should be greater than or equal to 1; skipped"),
        ("--prompt a --seed -5", "p.txt: line 1: params.seed: Input should be greater than or equal to 0; skipped"),
        ("--prompt a --width 99999", "p.txt: line 1: params.width: Input should be less than or equal to 16384"),
    ],
)
def test_bad_option_lines_become_warnings(line: str, warning: str) -> None:
    data = (line + "\nnext prompt\n").encode()
    pack, warnings = prompts_from_file.read_with_warnings(data, source="p.txt")
    assert [e.prompt for e in pack.entries] == ["next prompt"]
    assert len(warnings) == 1 and warnings[0].startswith(warning)
    assert "\n" not in warnings[0] and len(warnings[0]) < 300


def test_output_folders_are_never_imported() -> None:
    pack, warnings = prompts_from_file.read_with_warnings(
        b'--prompt "a" --outpath_samples /etc/cron.d --outpath_grids "C:\\Windows"\n', source="p.txt"
    )
    assert pack.entries[0].params.extra == {}
    assert warnings == [
        "p.txt: line 1: ignored --outpath_grids: output folders are not imported",
        "p.txt: line 1: ignored --outpath_samples: output folders are not imported",
    ]


def test_model_later_options_and_unknown_options() -> None:
    line = b'--prompt first --prompt "second" --sd_model "sdxl_base.safetensors" --styles "Cinematic" --foo bar'
    entry = prompts_from_file.read(line, source="p.txt").entries[0]
    assert entry.prompt == "second"
    assert entry.params.model == "sdxl_base.safetensors"
    assert entry.params.extra == {"styles": "Cinematic", "foo": "bar"}


def test_lines_split_like_str_splitlines_and_are_stripped() -> None:
    data = "  one  \x0btwo\u2028three\x85four\n\n".encode()
    assert [e.prompt for e in prompts_from_file.read(data, source="p.txt").entries] == ["one", "two", "three", "four"]


def test_nul_bytes_and_bad_utf8_do_not_stop_the_file() -> None:
    pack, warnings = prompts_from_file.read_with_warnings(b"a c\x00at\n\x93quoted\x94 dog\n", source="p.txt")
    assert [e.prompt for e in pack.entries] == ["a cat", "\u201cquoted\u201d dog"]
    assert [w.split(";")[0] for w in warnings] == [
        "p.txt: not valid UTF-8 (byte 0x93 at offset 7)",
        "p.txt: removed 1 NUL characters",
    ]


def test_writer_line_is_what_a1111_parses() -> None:
    entry = PackEntry(
        prompt='a "quoted" cat\\dog\nsecond line',
        negative_prompt="blurry",
        params=PackParams(steps=20, cfg_scale=7, seed=5, width=512, height=768, sampler="DPM++ 2M", schedule="karras"),
    )
    line = prompts_from_file.write(PackFile(entries=[entry]))
    assert line == (
        b'--prompt "a \\"quoted\\" cat\\\\dog second line" --negative_prompt "blurry" --steps 20 --cfg_scale 7.0'
        b' --seed 5 --width 512 --height 768 --sampler_name "DPM++ 2M Karras"\n'
    )
    assert shlex.split(line.decode())[:2] == ["--prompt", 'a "quoted" cat\\dog second line']


def test_writer_schedules() -> None:
    def line(sampler: str | None, schedule: str | None, *, scheduler_option: bool = False) -> str:
        entry = PackEntry(prompt="p", params=PackParams(sampler=sampler, schedule=schedule))
        return prompts_from_file.write(PackFile(entries=[entry]), scheduler_option=scheduler_option).decode()

    assert line("Euler", "sgm_uniform") == '--prompt "p" --sampler_name "Euler SGM Uniform"\n'
    assert line("Euler", "align_your_steps") == '--prompt "p" --sampler_name "Euler"\n'  # no folded spelling
    assert line("MySampler", "karras") == '--prompt "p" --sampler_name "MySampler"\n'
    with_option = '--prompt "p" --sampler_name "Euler" --scheduler "karras"\n'
    assert line("Euler", "karras", scheduler_option=True) == with_option
    assert line(None, "karras", scheduler_option=True) == '--prompt "p" --scheduler "karras"\n'
    assert line(None, "karras") == '--prompt "p"\n'


def test_writer_only_writes_options_stock_a1111_accepts() -> None:
    extra = {
        "n_iter": 2,
        "restore_faces": True,
        "subseed_strength": 0.5,
        "styles": "Cinematic\nNoir",
        "outpath_samples": "/tmp/x",
        "sd_model": "model.safetensors",
        "hires_fix": True,
        "batch_size": "4",  # wrong type: left out
    }
    entry = PackEntry(prompt="p", params=PackParams(model="m.safetensors", extra=extra))
    assert prompts_from_file.write(PackFile(entries=[entry])) == (
        b'--prompt "p" --n_iter 2 --restore_faces true --subseed_strength 0.5 --styles "Cinematic Noir"\n'
    )


def test_writer_of_an_empty_pack_writes_nothing() -> None:
    assert prompts_from_file.write(PackFile()) == b""


_CHARS = st.one_of(
    st.sampled_from(list("\"'\\,-- \t\r\n\x0b\x1c\x85\u2028{}[]()$`#\u00e9\u6f22\U0001f600")),
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
)
_PARAMS = st.builds(
    PackParams,
    steps=st.none() | st.integers(1, 10_000),
    cfg_scale=st.none() | st.floats(0, 100, allow_nan=False),
    seed=st.none() | st.integers(0, 2**64 - 1),
    width=st.none() | st.integers(8, 16_384),
    height=st.none() | st.integers(8, 16_384),
    sampler=st.none() | st.sampled_from(SAMPLERS),
    schedule=st.none() | st.sampled_from(["karras", "exponential", "sgm_uniform", "simple", "beta"]),
)
_ENTRIES = st.lists(
    st.builds(
        PackEntry,
        prompt=st.text(_CHARS, min_size=1, max_size=60),
        negative_prompt=st.text(_CHARS, max_size=40),
        params=_PARAMS,
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(_ENTRIES)
def test_round_trip_with_arbitrary_text(entries: list[PackEntry]) -> None:
    data = prompts_from_file.write(PackFile(entries=entries))
    pack, warnings = prompts_from_file.read_with_warnings(data, source="rt.txt")
    assert warnings == []
    expected = []
    for entry in entries:
        params = entry.params
        if params.sampler is None:
            params = params.model_copy(update={"schedule": None})  # a schedule alone cannot be written
        expected.append(
            entry.model_copy(
                update={
                    "prompt": prompts_from_file.one_line(entry.prompt),
                    "negative_prompt": prompts_from_file.one_line(entry.negative_prompt),
                    "params": params,
                }
            )
        )
    assert pack.entries == expected
    assert data.count(b"\n") == len(entries)


@settings(max_examples=1000, deadline=None)
@given(st.text(st.sampled_from(list(" \t\r\n'\"\\a-b\u00e9\U0001f600")), max_size=24))
def test_split_words_is_shlex_split(line: str) -> None:
    def outcome(split: Callable[[str], list[str]]) -> object:
        try:
            return split(line)
        except ValueError as exc:
            return ("ValueError", str(exc))

    assert outcome(prompts_from_file.split_words) == outcome(shlex.split)


def test_long_quoted_prompts_split_in_linear_time() -> None:
    prompt = "masterpiece, a cat, " * 10_000  # 200,000 characters: shlex alone takes ~0.7 s a line
    data = f'--prompt "{prompt}" --steps 20\n'.encode() * 2
    started = time.perf_counter()
    pack, warnings = prompts_from_file.read_with_warnings(data, source="long.txt")
    assert time.perf_counter() - started < 0.5
    assert [len(w) < 300 for w in warnings] == [True, True]
    assert warnings[0].startswith("long.txt: line 1: prompt: String should have at most 100000 characters")
    assert pack.entries == []


def test_lines_too_long_for_any_job_are_skipped_unsplit() -> None:
    data = b"--prompt " + b"x" * 300_000 + b"\nok\n"
    pack, warnings = prompts_from_file.read_with_warnings(data, source="p.txt")
    assert [e.prompt for e in pack.entries] == ["ok"]
    assert warnings == ["p.txt: line 1: 300,009 characters is too long for one job; skipped"]
