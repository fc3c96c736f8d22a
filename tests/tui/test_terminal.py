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
TMUX = "tmux"


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
    # Renders use the tiny random-weight SD model (built in-process, nothing downloaded), four steps on the CPU.
    config = (library / "config.toml").read_text(encoding="utf-8")
    config = config.replace("[render]\n", '[render]\nmodel = "random:sd15-tiny"\n', 1)
    (library / "config.toml").write_text(config, encoding="utf-8")
    exe = str(Path(sys.executable).with_name("promptlib"))
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "PROMPTLIB_HOME": str(library),
        "PROMPTLIB_CACHE_DIR": str(tmp_path / "cache"),
        "OMP_NUM_THREADS": "1",
    }
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


def test_search_open_render_and_quit_in_a_real_terminal(terminal: Callable[..., str]) -> None:
    first = terminal(until="3 entries")
    assert "Winter Fox" in first and "Foggy Lighthouse" in first
    assert "[bold]markup[/]" in first and "\\x1b]0;pwned" in first  # untrusted text shown literally
    found = terminal("/", "lighthouse", until="1 entry")
    if "1 entry" not in found:  # on a loaded machine a key can land before the list has focus: type it again
        found = terminal("Escape", "/", "C-u", "lighthouse", until="1 entry")
    assert "Foggy Lighthouse" in found and "Winter Fox" not in found
    detail = terminal("Enter", until="DPM++ 2M")
    assert "people, text" in detail and "28" in detail
    form = terminal("r", until="Queue render")
    assert "Foggy Lighthouse" in form
    # four steps at the tiny model's size; Enter in the form queues the job, whose row shows in the jobs panel
    queued = terminal("Tab", "Tab", "Tab", "4", "Enter", until="render stored", timeout=120)
    assert "render #1: 1 image, steps=4" in queued
    assert "1 render stored" in queued
    detail = terminal(until="Renders (1)", timeout=20)
    assert "Renders (1)" in detail  # the new render appears without a restart
    terminal("C-q")
    deadline = time.monotonic() + 10  # exiting waits for the jobs worker's library to close
    while time.monotonic() < deadline:
        alive = subprocess.run([TMUX, "-L", SOCKET, "has-session", "-t", SESSION], capture_output=True, check=False)
        if alive.returncode != 0:
            break  # ctrl+q quit the app and with it the session
        time.sleep(0.2)
    else:
        raise AssertionError("ctrl+q did not quit:\n" + terminal())
