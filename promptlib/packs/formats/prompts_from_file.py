"""The text file of A1111's "Prompts from file or textbox" script, read and written.

Each non-blank line (split like Python's ``str.splitlines``, then stripped) is one job. A line is either a plain
prompt or, when it contains ``--`` and its first shell word starts with ``--``, options split with
``shlex.split``: ``--prompt "a cat" --negative_prompt "blurry" --steps 20 --cfg_scale 7 --seed 5 --width 512
--height 768 --sampler_name "Euler a"``. As in A1111, the words after ``--prompt`` / ``--negative_prompt`` up to
the next ``--option`` are joined with spaces, a later option wins over an earlier one, and a line that does not
parse as options but does not start with ``--`` is a plain prompt.

Reading maps steps, cfg_scale, seed (-1 = random), width, height, sampler_name (+ ``--scheduler``, which Forge
understands) and sd_model to the entry's params; A1111's other options (sampler_index, subseed, batch_size,
n_iter, styles, restore_faces, ...) and unknown ones go to ``params.extra``, typed as A1111 types them. The
``--outpath_*`` options are dropped with a warning: a shared file must not choose where images are written. A line
that fails (unbalanced quotes, a missing or non-numeric value, an out-of-range number, no prompt) is skipped with
a warning naming it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from promptlib.errors import FormatError
from promptlib.limits import MAX_PROMPT_CHARS, MAX_TITLE_CHARS
from promptlib.packs.formats import a1111_infotext, a1111_styles
from promptlib.packs.formats._common import (
    cap_warnings,
    check_rows,
    decode_text,
    label,
    looks_binary,
    make_entry,
    sniff_json,
    sniff_text,
    warning,
)
from promptlib.packs.schema import PackEntry, PackFile
from promptlib.recipe import SAMPLERS, canonical_sampler

# A1111's option vocabulary (scripts/prompts_from_file.py), by the type it converts the value to.
_INT_OPTIONS = frozenset(
    {"seed", "subseed", "seed_resize_from_h", "seed_resize_from_w", "sampler_index", "batch_size", "n_iter"}
    | {"steps", "width", "height"}
)
_FLOAT_OPTIONS = frozenset({"subseed_strength", "cfg_scale"})
_BOOL_OPTIONS = frozenset({"restore_faces", "tiling", "do_not_save_samples", "do_not_save_grid"})
_TEXT_OPTIONS = frozenset({"prompt_for_display", "styles", "sampler_name", "sd_model"})
_DROPPED_OPTIONS = frozenset({"outpath_samples", "outpath_grids"})
_PARAM_OPTIONS = {"steps": "steps", "cfg_scale": "cfg_scale", "seed": "seed", "width": "width", "height": "height"}
# What the writer may put in a line from params.extra: options stock A1111 accepts (an unknown one would make it
# use the whole line as the prompt).
_EXTRA_WRITABLE = (
    (_INT_OPTIONS | _FLOAT_OPTIONS | _BOOL_OPTIONS | _TEXT_OPTIONS)
    - set(_PARAM_OPTIONS)
    - {
        "sampler_name",
        "sd_model",  # A1111 rejects the line when the checkpoint is not installed
    }
)
# Folded "sampler + schedule" names from A1111 before 1.9 ("DPM++ 2M Karras"); canonical_sampler unfolds them.
_FOLDED = {"karras": "Karras", "exponential": "Exponential", "polyexponential": "Polyexponential"} | {
    "sgm_uniform": "SGM Uniform",
    "simple": "Simple",
    "normal": "Normal",
    "beta": "Beta",
    "uniform": "Uniform",
}
_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")  # what str.splitlines splits on
_MAX_LINE_CHARS = 2 * MAX_PROMPT_CHARS + 10_000  # a prompt, a negative prompt and the other options
# shlex.split's POSIX rules as one regex: shlex reads a character at a time in Python, ~4 µs per quoted character.
_WORD_PARTS = re.compile(
    r"""(?P<space>[ \t\r\n]+)
      | '(?P<single>[^']*)'
      | "(?P<double>[^"\\]*(?:\\.[^"\\]*)*)"
      | \\(?P<escaped>.)
      | (?P<plain>[^ \t\r\n'"\\]+)
      | (?P<open>['"])
      | (?P<trailing>\\)""",
    re.VERBOSE | re.DOTALL,
)
_DOUBLE_QUOTED_ESCAPE = re.compile(r'\\(["\\])')
_ESCAPE_PAIR = re.compile(r"\\.", re.DOTALL)


def split_words(line: str) -> list[str]:
    """Split `line` exactly as ``shlex.split`` does (POSIX, no comments), in linear time.

    Raises ValueError("No closing quotation") or ValueError("No escaped character") as shlex does.
    """
    words: list[str] = []
    word: str | None = None  # None: between words; "" is a real (quoted) empty word
    for match in _WORD_PARTS.finditer(line):
        kind = match.lastgroup
        if kind == "space":
            if word is not None:
                words.append(word)
            word = None
        elif kind == "open":
            rest = line[match.end() :] if match.group(kind) == '"' else ""
            dangling = _ESCAPE_PAIR.sub("", rest).endswith("\\")  # shlex reports this one first
            raise ValueError("No escaped character" if dangling else "No closing quotation")
        elif kind == "trailing":
            raise ValueError("No escaped character")
        elif kind == "double":
            word = (word or "") + _DOUBLE_QUOTED_ESCAPE.sub(r"\1", match.group(kind))
        else:
            word = (word or "") + match.group(kind or "plain")
    if word is not None:
        words.append(word)
    return words


def _lines(text: str) -> list[tuple[int, str]]:
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def detect(data: bytes) -> bool:
    """True for text whose lines are ``--prompt ...`` commands or plain prompts: not binary, not JSON, not a
    styles.csv header and not A1111 parameters. A file with any ``--option`` line is a sure match; plain text is a
    weak one."""
    text = sniff_text(data)
    if text is None or looks_binary(text) or sniff_json(text) is not None:
        return False
    if a1111_styles.detect(data) or a1111_infotext.detect(data):
        return False
    return bool(_lines(text))


def _convert(option: str, value: str, *, where: str) -> object:
    try:
        if option in _INT_OPTIONS:
            return int(value)
        if option in _FLOAT_OPTIONS:
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(value)
            return number
    except ValueError as exc:
        kind = "a whole number" if option in _INT_OPTIONS else "a number"
        raise FormatError(f"{where}: --{option} needs {kind}, not {label(value)}") from exc
    if option in _BOOL_OPTIONS:
        return value.strip().lower() == "true"
    if len(value) > MAX_PROMPT_CHARS:
        raise FormatError(f"{where}: --{option} value is longer than {MAX_PROMPT_CHARS:,} characters")
    return value


def parse_options(words: list[str], *, where: str) -> dict[str, object]:
    """A1111's option parsing of one line's shell words; raises FormatError naming `where` for a bad line."""
    options: dict[str, object] = {}
    at = 0
    while at < len(words):
        word = words[at]
        option = word[2:]
        if not word.startswith("--") or not option:
            raise FormatError(f'{where}: expected an option starting with "--", found {label(word)}')
        if at + 1 >= len(words):
            raise FormatError(f"{where}: {label(word)} has no value")
        if len(option) > MAX_TITLE_CHARS:
            raise FormatError(f"{where}: option name {label(option)} is too long")
        if option in ("prompt", "negative_prompt"):
            parts, at = [words[at + 1]], at + 2
            while at < len(words) and not words[at].startswith("--"):
                parts.append(words[at])
                at += 1
            options[option] = " ".join(parts)
            continue
        options[option] = _convert(option, words[at + 1], where=where)
        at += 2
    return options


def _entry_fields(options: dict[str, object], *, where: str, source: str, warnings: list[str]) -> dict[str, Any]:
    prompt = options.pop("prompt", None)
    if not prompt:
        raise FormatError(f"{where}: the line has no --prompt")
    fields: dict[str, Any] = {"prompt": prompt, "negative_prompt": options.pop("negative_prompt", "")}
    params: dict[str, Any] = {name: options.pop(option) for option, name in _PARAM_OPTIONS.items() if option in options}
    if params.get("seed") == -1:
        params["seed"] = None  # A1111's "random seed"
    sampler, schedule = options.pop("sampler_name", None), options.pop("scheduler", None)
    if sampler is not None or schedule is not None:
        params["sampler"], params["schedule"] = canonical_sampler(str(sampler or ""), str(schedule or ""))
    if "sd_model" in options:
        params["model"] = options.pop("sd_model")
    for option in sorted(_DROPPED_OPTIONS & set(options)):
        del options[option]
        warnings.append(warning(f"ignored --{option}: output folders are not imported", source=source, where=where))
    if options:
        params["extra"] = options
    fields["params"] = params
    return fields


def read_with_warnings(data: bytes, *, source: str) -> tuple[PackFile, list[str]]:
    """Read a prompts_from_file text into `PackFile.entries`, with one warning per skipped line or dropped option.

    Raises UnsafeInputError when `data` is over the size or row limit; never raises for bad content (undecodable bytes
    are read as Windows-1252 and bad lines skipped, each with a warning).
    """
    warnings: list[str] = []
    text = decode_text(data, source=source, warnings=warnings)
    entries: list[PackEntry] = []
    lines = _lines(text)
    check_rows(len(lines), source=source)
    for number, line in lines:
        where = f"line {number}"
        fields: dict[str, Any] = {"prompt": line}
        if len(line) > _MAX_LINE_CHARS:
            warnings.append(
                warning(f"{len(line):,} characters is too long for one job; skipped", source=source, where=where)
            )
            continue
        if "--" in line:
            try:
                words = split_words(line)
            except ValueError as exc:
                if line.startswith("--"):
                    warnings.append(warning(f"cannot split the options ({exc}); skipped", source=source, where=where))
                    continue
                words = []
            if words and words[0].startswith("--"):
                try:
                    fields = _entry_fields(
                        parse_options(words, where=where), where=where, source=source, warnings=warnings
                    )
                except FormatError as exc:
                    warnings.append(f"{source}: {exc}; skipped")
                    continue
        entry = make_entry(fields, where=where, source=source, warnings=warnings)
        if entry is not None:
            entries.append(entry)
    return PackFile(entries=entries), cap_warnings(warnings, source=source)


def read(data: bytes, *, source: str) -> PackFile:
    """`read_with_warnings` without the warnings; raises what it raises."""
    return read_with_warnings(data, source=source)[0]


def quote(value: str) -> str:
    """`value` in double quotes that ``shlex.split`` turns back into `value` (only ``\\`` and ``"`` escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def one_line(value: str) -> str:
    """`value` with every line break ``str.splitlines`` knows replaced by a space: a line holds one job."""
    return _LINE_BREAKS.sub(" ", value)


def _sampler_words(sampler: str | None, schedule: str | None, *, scheduler_option: bool) -> list[str]:
    if not sampler:
        return ["--scheduler", quote(schedule)] if schedule and scheduler_option else []
    if schedule and scheduler_option:
        return ["--sampler_name", quote(sampler), "--scheduler", quote(schedule)]
    if schedule in _FOLDED and sampler in SAMPLERS:
        return ["--sampler_name", quote(f"{sampler} {_FOLDED[schedule]}")]
    return ["--sampler_name", quote(sampler)]


def _extra_words(extra: dict[str, Any]) -> list[str]:
    words: list[str] = []
    for option, value in extra.items():
        if option not in _EXTRA_WRITABLE:
            continue
        if option in _BOOL_OPTIONS and isinstance(value, bool):
            words += [f"--{option}", "true" if value else "false"]
        elif option in _INT_OPTIONS and isinstance(value, int) and not isinstance(value, bool):
            words += [f"--{option}", str(value)]
        elif option in _FLOAT_OPTIONS and isinstance(value, int | float) and not isinstance(value, bool):
            words += [f"--{option}", repr(float(value))]
        elif option in _TEXT_OPTIONS and isinstance(value, str):
            words += [f"--{option}", quote(one_line(value))]
    return words


def write(pack: PackFile, *, scheduler_option: bool = False) -> bytes:
    """The entries of `pack` as prompts_from_file lines (UTF-8, no BOM, LF), one job per entry. Never raises.

    Prompts lose their line breaks (they become spaces). The schedule is folded into the sampler name the way
    A1111 before 1.9 spelled it ("DPM++ 2M Karras"), or, with `scheduler_option`, written as ``--scheduler`` for
    UIs that accept it (stock A1111 rejects unknown options and would use the whole line as the prompt). The model,
    output folders and extra keys A1111 does not know are left out; styles are not written.
    """
    lines: list[str] = []
    for entry in pack.entries:
        params = entry.params
        words = ["--prompt", quote(one_line(entry.prompt))]
        if entry.negative_prompt:
            words += ["--negative_prompt", quote(one_line(entry.negative_prompt))]
        for name in ("steps", "cfg_scale", "seed", "width", "height"):
            value = getattr(params, name)
            if value is not None:
                words += [f"--{name}", repr(float(value)) if name == "cfg_scale" else str(value)]
        words += _sampler_words(params.sampler, params.schedule, scheduler_option=scheduler_option)
        words += _extra_words(params.extra)
        lines.append(" ".join(words))
    return "".join(line + "\n" for line in lines).encode("utf-8")
