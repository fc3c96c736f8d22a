"""Sizes of the reliability runs: small by default, the long-run figures with ``--run-slow`` / ``PROMPTLIB_LONG=1``.

Every knob can be overridden from the environment, so a long run can be made longer (or a failure reproduced with
a bigger or smaller count) without editing the tests. Long runs write their figures as JSON under
``$PROMPTLIB_RELIABILITY_OUT`` when it is set (``make reliability`` sets it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def env_int(name: str, default: int) -> int:
    """An integer from the environment, or `default`."""
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# Long-run sizes (the figures), used by the tests marked slow.
LONG_KILLS = env_int("PROMPTLIB_KILLS", 1_020)  # SIGKILLs in all, spread evenly over the crash operations
LONG_FUZZ_INPUTS = env_int("PROMPTLIB_FUZZ_INPUTS", 100_000)  # generated inputs in all, spread over the parsers
LONG_CHANGES = env_int("PROMPTLIB_CHANGES", 10_000)  # changes per writer process
LONG_MIGRATION_ROUNDS = env_int("PROMPTLIB_MIGRATION_ROUNDS", 40)  # old libraries opened by racing processes

# Short sizes: what `make test` runs (the whole reliability suite well under 40 s on 2 cores).
SHORT_KILLS_PER_OPERATION = env_int("PROMPTLIB_SHORT_KILLS", 3)
SHORT_FUZZ_PER_TARGET = env_int("PROMPTLIB_SHORT_FUZZ", 30)
SHORT_CHANGES = env_int("PROMPTLIB_SHORT_CHANGES", 120)

# Crash operations to prepare and kill (comma-separated names; default all): e.g. a long run of only the new ones.
CRASH_OPERATIONS = [
    name.strip() for name in os.environ.get("PROMPTLIB_CRASH_OPERATIONS", "").split(",") if name.strip()
]

SEED = env_int("PROMPTLIB_RELIABILITY_SEED", 20261125)


def record(name: str, figures: dict[str, Any]) -> None:
    """Write a long run's figures to ``$PROMPTLIB_RELIABILITY_OUT/<name>.json`` (nothing when unset)."""
    out = os.environ.get("PROMPTLIB_RELIABILITY_OUT")
    if not out:
        return
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def long_mode(config: Any) -> bool:
    """True when the long runs were asked for (``--run-slow`` or ``PROMPTLIB_LONG=1``)."""
    return bool(config.getoption("--run-slow", default=False)) or os.environ.get("PROMPTLIB_LONG") == "1"
