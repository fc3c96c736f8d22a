"""A message names a setting the way its reader spells it: Python arguments in ``str(error)``, command-line options
in ``error.cli_message()`` (what the CLI prints and the TUI shows). See `promptlib.errors.Switch`."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import promptlib
from promptlib.errors import REEMBED, Switch, ValidationError, switch_error, wordings
from promptlib.library import Library
from promptlib.store import embeddings
from tests.conftest import CliResult

CORE = Path(promptlib.__file__).parent
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z_-]*")
# Options of other programs a core message may name: a prompts-from-file line's own, docker's.
FOREIGN_OPTIONS = {"--prompt", "--shm-size"}


def _switch_arguments(tree: ast.AST) -> set[int]:
    """ids of the string constants written as `Switch(...)`'s arguments: a spelling pair, not a message."""
    return {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Switch"
        for arg in node.args
    }


def test_no_core_error_names_a_command_line_option_to_python_callers() -> None:
    wrong = []
    for path in sorted(CORE.rglob("*.py")):
        if path.relative_to(CORE).parts[0] in ("cli", "tui"):  # they speak to command-line and TUI users only
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        pairs = _switch_arguments(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            for sub in ast.walk(node.exc):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and id(sub) not in pairs:
                    named = set(OPTION.findall(sub.value)) - FOREIGN_OPTIONS
                    if named:
                        wrong.append(f"{path.relative_to(CORE)}:{node.lineno} {sorted(named)}")
    assert not wrong, f"errors naming options outright (use a Switch, or word them for both readers): {wrong}"


def test_switch_error_gives_each_reader_its_own_spelling_of_every_switch() -> None:
    compile_, graphs = Switch("compile=True", "--compile"), Switch("cuda_graphs=True", "--cuda-graphs")
    error = switch_error(ValidationError, lambda a, b: f"use {a} or {b}", compile_, graphs)
    assert str(error) == "use compile=True or cuda_graphs=True"
    assert error.cli_message() == "use --compile or --cuda-graphs"
    assert wordings(lambda a: f"pass {a}", compile_) == ("pass compile=True", "pass --compile")


def test_a_stored_embedding_of_the_wrong_size_names_the_rebuild_for_each_reader() -> None:
    with pytest.raises(ValidationError) as info:
        embeddings.decode([b"\x00" * 12], 4)
    assert str(info.value).endswith(f"rebuild with {REEMBED.python}") and "promptlib index" not in str(info.value)
    assert info.value.cli_message().endswith("rebuild with `promptlib index rebuild --reembed`")
    mismatch = embeddings.dim_mismatch("image", "ViT-B-32", stored=512, dim=768)
    assert "are 512-d but the model makes 768-d" in str(mismatch)
    assert "Library.rebuild_index(reembed=True)" in str(mismatch) and "--reembed" in mismatch.cli_message()


@pytest.mark.parametrize(
    ("kwargs", "python", "args", "shown"),
    [
        (
            {"image": b"not read", "like": 1},
            "image= and like= each give the image to search by: use one",
            ("--image", "x.png", "--like", "1"),
            "--image and --like each give the image to search by: use one",
        ),
        (
            {"query": "fox", "like": 1, "mode": "semantic"},
            "mode='semantic' searches by the image alone and would ignore the words: drop them, or use"
            " mode='hybrid' to rank by both",
            ("fox", "--like", "1", "--mode", "semantic"),
            "--mode semantic searches by the image alone and would ignore the words: drop them, or use"
            " --mode hybrid to rank by both",
        ),
        (
            {"query": "fox", "like": 1, "mode": "lexical"},
            "image=, like= and similar_prompts=True need mode='semantic' or mode='hybrid'",
            ("fox", "--like", "1", "--mode", "lexical"),
            "--image, --like and --similar-prompts need --mode semantic or --mode hybrid",
        ),
    ],
)
def test_search_errors_name_arguments_in_python_and_options_on_the_command_line(
    lib: Library,
    cli: Callable[..., CliResult],
    kwargs: dict[str, object],
    python: str,
    args: tuple[str, ...],
    shown: str,
) -> None:
    with pytest.raises(ValidationError) as info:
        lib.search(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == python
    cli("init", "--empty")
    result = cli("search", *args)
    assert result.code == 2 and shown in " ".join(result.err.split())
    assert "like=" not in result.err and "mode='" not in result.err
