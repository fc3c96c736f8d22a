"""The CLI's conventions hold in every command: one meaning per short flag, one way to pass a query, help with an
example that can be copied as printed."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import typer

from promptlib.cli.app import app
from tests.conftest import CliResult

# typer vendors its own click (with no Group class) from 0.2x on: commands and groups are told apart by duck typing
Command = Any
Parameter = Any

Cli = Callable[..., CliResult]

# What a short flag means wherever it appears (llm, git and pip users expect -q to be quiet).
SHORT_FLAGS = {"-q": "--quiet", "-k": "--limit", "-y": "--yes", "-h": "--help", "-L": "--library"}
# Commands that filter entries by a query in the search language, and how each takes it.
QUERY_ARGUMENT = {"search", "list", "render"}
QUERY_OPTION = {"export"}


def _is_group(command: Command) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


def _walk(command: Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Command]]:
    yield path, command
    if _is_group(command):
        for name, sub in command.commands.items():
            yield from _walk(sub, (*path, name))


COMMANDS = [(path, command) for path, command in _walk(typer.main.get_command(app)) if path]
LEAVES = [(path, command) for path, command in COMMANDS if not _is_group(command)]


def _options(command: Command) -> Iterator[Parameter]:
    yield from (p for p in command.params if p.param_type_name == "option")


def test_a_short_flag_means_the_same_option_in_every_command() -> None:
    root = typer.main.get_command(app)
    wrong = [
        (" ".join(path) or "promptlib", short, option.opts)
        for path, command in [((), root), *COMMANDS]
        for option in _options(command)
        for short, long in SHORT_FLAGS.items()
        if short in option.opts and long not in option.opts
    ]
    assert not wrong, f"short flags used for another option: {wrong}"
    quiet = [path for path, command in LEAVES if any("--quiet" in o.opts for o in _options(command))]
    assert quiet and all(
        "-q" in o.opts for path, command in LEAVES for o in _options(command) if "--quiet" in o.opts
    )  # and --quiet always has -q


def test_every_command_that_filters_by_query_takes_it_the_same_way() -> None:
    by_name = {" ".join(path): command for path, command in LEAVES}
    for name in QUERY_ARGUMENT:
        metavars = [p.metavar for p in by_name[name].params if p.param_type_name == "argument"]
        assert any(m is not None and "QUERY" in m for m in metavars), (name, metavars)
    for name in QUERY_OPTION:
        (query,) = [o for o in _options(by_name[name]) if "--query" in o.opts]
        assert query.opts == ["--query"] and query.metavar == "QUERY"
    named = {" ".join(path) for path, command in LEAVES if any("--query" in o.opts for o in _options(command))}
    assert named == QUERY_OPTION  # no other command grew a differently spelled query option


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("export", "out.zip", "-q", "tag:fox"), "-q means --quiet in promptlib; here use --query"),
        (("bench", "search", "-q", "5"), "-q means --quiet in promptlib; here use --queries"),
    ],
)
def test_a_retired_short_flag_names_its_new_spelling(cli: Cli, args: tuple[str, ...], hint: str) -> None:
    result = cli(*args)
    assert result.code == 2 and result.out == ""
    assert len(result.err.strip().splitlines()) == 1 and hint in result.err


def test_quiet_init_prints_nothing_when_nothing_is_added(cli: Cli) -> None:
    assert cli("init", "--empty", "-q").err == ""
    assert "library ready" in cli("init", "--empty").err
    assert "library ready" in cli("init", "--quiet").err  # the starter pack was added: that is said
    again = cli("init", "-q")
    assert again.code == 0 and again.err == "" and again.out == ""


def _examples(command: Command) -> list[str]:
    text = inspect.cleandoc(command.help or "")
    return [line.strip() for line in text.splitlines() if line.strip().startswith("promptlib ")]


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_command_has_an_example_printed_whole_in_its_help(
    cli: Cli, path: tuple[str, ...], command: Command
) -> None:
    examples = _examples(command)
    assert any(e.startswith(f"promptlib {' '.join(path)}") for e in examples), f"no example in {path}'s help"
    printed = [line.strip() for line in cli(*path, "--help").out.splitlines()]
    for example in examples:  # on one line, as written: a wrapped example cannot be copied
        assert any(line.startswith(example) for line in printed), example


def test_the_main_help_documents_the_shared_flags(cli: Cli) -> None:
    out = " ".join(cli("--help").out.split())  # (tests/test_cold_start.py keeps it free of heavy imports)
    assert "-q is --quiet" in out and "-k is --limit" in out and "--query in export" in out


def test_every_command_that_prints_a_result_takes_json() -> None:
    exempt = {"tui", "pack-schema"}  # the terminal UI; pack-schema prints JSON always
    without = [
        " ".join(path)
        for path, command in LEAVES
        if " ".join(path) not in exempt and not any("--json" in o.opts for o in _options(command))
    ]
    assert not without, f"commands without --json: {without}"


def test_arguments_are_named_in_capitals_in_usage_lines() -> None:
    lower = [
        (" ".join(path), p.name)
        for path, command in LEAVES
        for p in command.params
        if p.param_type_name == "argument" and not (p.metavar and p.metavar == p.metavar.upper())
    ]
    assert not lower, f"arguments shown as {{name}} rather than NAME: {lower}"  # styles add's {prompt} misled
