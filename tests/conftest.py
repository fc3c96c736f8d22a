"""Shared fixtures: a real library in a temp folder, and the real CLI entry point run in-process."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from promptlib.library import Library

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


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
