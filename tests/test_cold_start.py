"""`promptlib --help` and a lexical search never import the heavy stacks (ARCHITECTURE rule 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "diffusers", "transformers", "open_clip", "faiss", "textual", "accelerate", "peft")

PROBE = """
import json, sys
sys.argv = ["promptlib", *json.loads(sys.argv[1])]
from promptlib.cli.app import main
try:
    main()
except SystemExit:
    pass
print("\\nMODULES=" + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy})))
"""


def _loaded(args: list[str], home: Path) -> list[str]:
    env = {**os.environ, "PROMPTLIB_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.replace("{heavy}", repr(set(HEAVY))), json.dumps(args)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("MODULES=")][-1]
    return list(json.loads(line.removeprefix("MODULES=")))


def test_help_and_lexical_search_stay_light(tmp_path: Path) -> None:
    from promptlib.library import Library

    with Library.open(tmp_path / "lib") as lib:
        lib.add("a lighthouse")
    assert _loaded(["--help"], tmp_path / "lib") == []
    assert _loaded(["search", "lighthouse"], tmp_path / "lib") == []


def test_core_modules_never_import_textual(tmp_path: Path) -> None:
    code = (
        "import sys, promptlib.library, promptlib.cli.app, promptlib.store.models, promptlib.packs.native;"
        "print([m for m in sys.modules if m.split('.')[0] == 'textual'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
