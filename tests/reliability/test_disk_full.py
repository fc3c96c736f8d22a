"""Disk full and I/O errors: a write failing part-way rolls back with one clear line and leaves a working library.

Two ways to fail a write without root: a file size limit (RLIMIT_FSIZE, EFBIG) set in a child process, and a tiny
tmpfs in a private mount namespace (``unshare -r -m``, ENOSPC) where available.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.reliability.disk_full import SCENARIOS, prepare


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("disk-full")
    prepare(folder)
    return folder


def _results(command: list[str]) -> dict[str, dict[str, Any]]:
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {r["scenario"]: r for r in results}


def _check(result: dict[str, Any]) -> None:
    name = result["scenario"]
    assert result["outcome"] == "refused", f"{name}: {result.get('trace') or result}"
    message = result["message"]
    assert "\n" not in message and len(message) < 300, message
    assert any(word in message for word in ("full", "too large", "space", "I/O")), message
    assert result["reads_while_full"] is True, result
    assert result["same_process_writes_after"] is True, result
    assert result["unchanged"], f"{name}: the failed write left changes behind"
    assert result["works_after"], result
    assert result["temp_files_after_open"] == [], result


def test_file_size_limit_fails_every_write_cleanly(workdir: Path) -> None:
    results = _results([sys.executable, "-m", "tests.reliability.disk_full", "rlimit", str(workdir)])
    assert set(results) == {*SCENARIOS, "migration"}
    for result in results.values():
        _check(result)


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-r", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /tmp && true"], capture_output=True
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="no user+mount namespaces here (unshare -r -m) for a tiny tmpfs")
def test_full_filesystem_fails_every_write_cleanly(workdir: Path) -> None:
    mount = workdir / "mnt"
    mount.mkdir(exist_ok=True)
    script = f"mount -t tmpfs -o size=12m tmpfs {mount} && exec {sys.executable} -m tests.reliability.disk_full tmpfs {workdir} {mount}"  # noqa: E501
    results = _results(["unshare", "-r", "-m", "sh", "-c", script])
    assert set(results) == set(SCENARIOS)
    for result in results.values():
        _check(result)
