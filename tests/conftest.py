"""Shared fixtures: a real library in a temp folder, and the real CLI entry point run in-process."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from promptlib.library import Library

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


# Property tests draw the same examples on every `make test` run, so CI is reproducible and a red run can be replayed;
# the long runs (--run-slow / PROMPTLIB_LONG=1) explore with fresh random examples. HYPOTHESIS_PROFILE overrides.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("explore" if os.environ.get("PROMPTLIB_LONG") == "1" else "repeatable")
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run tests marked slow (the long reliability runs); PROMPTLIB_LONG=1 does the same",
    )


def long_runs_enabled(config: pytest.Config) -> bool:
    """True when slow tests were asked for, with --run-slow or PROMPTLIB_LONG=1."""
    return bool(config.getoption("--run-slow")) or os.environ.get("PROMPTLIB_LONG") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if long_runs_enabled(config):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow or PROMPTLIB_LONG=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def lib(tmp_path: Path) -> Iterator[Library]:
    library = Library.open(tmp_path / "lib")
    yield library
    library.close()


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    """Run ``promptlib ARGS`` through the console-script entry point against a temp library."""
    home = tmp_path / "cli-lib"
    monkeypatch.setenv("PROMPTLIB_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str, stdin: str | None = None) -> CliResult:
        from promptlib.cli import output
        from promptlib.cli.app import main

        output._console = output._err_console = None  # fresh consoles bound to the captured streams
        output.STATE.library = None
        output.STATE.debug = False
        monkeypatch.setattr(sys, "argv", ["promptlib", *args])
        if stdin is not None:
            import io

            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
