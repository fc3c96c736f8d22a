"""TUI test fixtures: a small real library in a temp folder and the app on it; async tests run in asyncio."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptlib.library import Library
from promptlib.tui.app import PromptlibApp

from .helpers import fill_tiny


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests in a fresh event loop (Textual's Pilot needs one; no asyncio plugin required)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(pyfuncitem.obj(**args))
    return True


@pytest.fixture
def lib_path(tmp_path: Path) -> Path:
    return tmp_path / "lib"


@pytest.fixture
def tiny(lib_path: Path) -> Iterator[Library]:
    """The tiny library, open for the test to check what the app wrote."""
    lib = Library.open(lib_path)
    fill_tiny(lib)
    yield lib
    lib.close()


@pytest.fixture
def app(tiny: Library, lib_path: Path) -> PromptlibApp:
    return PromptlibApp(lib_path)
