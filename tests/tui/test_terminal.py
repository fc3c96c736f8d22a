"""End to end in a real terminal: `promptlib tui` under tmux, driven with send-keys, read with capture-pane."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from promptlib.library import Library

SESSION = f"promptlib-e2e-{os.getpid()}"
SOCKET = SESSION  # a private tmux server: the user's own sessions are never touched


def _tmux() -> str | None:
    found = shutil.which("tmux")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        # The test setup installs tmux from Debian's packages when it is missing (CI runs as root).
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=300, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "tmux"], capture_output=True, timeout=300, check=False)
        found = shutil.which("tmux")
    return found


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[..., str]]:
    tmux = _tmux()
    if tmux is None:
        pytest.skip("tmux is not installed and cannot be installed here")
    library = tmp_path / "lib"
    with Library.open(library) as lib:
        lib.add(
            "a lighthouse on a cliff in fog",
            negative_prompt="people, text",
            title="Foggy Lighthouse",
            tags=["seascape"],
            params={"steps": 28, "sampler": "DPM++ 2M Karras", "cfg_scale": 6.5},
        )
        lib.add("a red fox in fresh snow", title="Winter Fox", tags=["animals"])
        lib.add("[bold]markup[/] \x1b]0;pwned\x07 stays literal", title="Hostile")  # fmt: skip
    exe = str(Path(sys.executable).with_name("promptlib"))
    env = {**os.environ, "TERM": "xterm-256color", "PROMPTLIB_HOME": str(library)}
    tmux_cmd = [tmux, "-L", SOCKET]
    subprocess.run([*tmux_cmd, "kill-session", "-t", SESSION], capture_output=True, check=False)
    subprocess.run(
        [*tmux_cmd, "new-session", "-d", "-s", SESSION, "-x", "140", "-y", "40", f"{exe} tui"], env=env, check=True
    )

    def screen(*keys: str, until: str | None = None, timeout: float = 20.0) -> str:
        for key in keys:
            named = key.startswith("C-") or key in {"Tab", "Enter", "Escape", "Down", "Up"}
            subprocess.run([*tmux_cmd, "send-keys", "-t", SESSION, *([key] if named else ["-l", key])], check=True)
            time.sleep(0.15)
        deadline = time.monotonic() + timeout
        while True:
            text = subprocess.run(
                [*tmux_cmd, "capture-pane", "-p", "-t", SESSION], capture_output=True, text=True, check=False
            ).stdout
            if until is None or until in text or time.monotonic() > deadline:
                return text
            time.sleep(0.2)

    yield screen
    subprocess.run([*tmux_cmd, "kill-server"], capture_output=True, check=False)


def test_search_open_and_quit_in_a_real_terminal(terminal: Callable[..., str]) -> None:
    first = terminal(until="3 entries")
    assert "Winter Fox" in first and "Foggy Lighthouse" in first
    assert "[bold]markup[/]" in first and "\\x1b]0;pwned" in first  # untrusted text shown literally
    found = terminal("/", "lighthouse", until="1 entry")
    assert "Foggy Lighthouse" in found and "Winter Fox" not in found
    detail = terminal("Enter", until="DPM++ 2M")
    assert "people, text" in detail and "28" in detail
    terminal("C-q")
    time.sleep(1.0)
    alive = subprocess.run(["tmux", "-L", SOCKET, "has-session", "-t", SESSION], capture_output=True, check=False)
    assert alive.returncode != 0  # ctrl+q quit the app and with it the session
