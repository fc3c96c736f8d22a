"""Where the starter pack lives: inside the wheel, or the repository's top-level ``seed_prompts/``."""

from __future__ import annotations

from pathlib import Path

from promptlib.errors import LibraryError


def seed_pack_path() -> Path:
    package = Path(__file__).resolve().parent
    for candidate in (package / "_seed_prompts", package.parent / "seed_prompts"):
        if (candidate / "pack.json").is_file():
            return candidate
    raise LibraryError("the starter pack is missing from this installation; reinstall promptlib")
