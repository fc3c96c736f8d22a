"""The renderer's doctor check: ``model-hash`` (a model or VAE file changed since renders recorded its hash) and
``model-missing`` (such a file is gone). Report only: the renders are kept, nothing is fixed.

Imported by `Library.doctor` only; file hashes come from the hash cache (`promptlib.render.hashing`), so unchanged
multi-gigabyte checkpoints are not read again. ``random:`` models and models named rather than given by path are
skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlib.store.doctor import Check, Finding, register_check

if TYPE_CHECKING:
    from promptlib.library import Library

KINDS = {
    "model-hash": "a model or VAE file no longer matches the hash its renders recorded (not fixable: re-download it)",
    "model-missing": "a model or VAE file that renders were made with is gone",
}
RANDOM_PREFIX = "random:"


def _recorded(recipe: dict[str, Any], environment: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, path, recorded sha256 or its short form) for the model and VAE files a render names by path."""
    out = []
    for what, path, recorded in (
        ("model", recipe.get("model"), environment.get("model_hash") or recipe.get("model_hash")),
        ("VAE", recipe.get("vae"), environment.get("vae_hash")),
    ):
        usable = isinstance(path, str) and isinstance(recorded, str) and bool(recorded)
        if usable and not str(path).startswith(RANDOM_PREFIX) and Path(str(path)).is_absolute():
            out.append((what, str(path), str(recorded).lower()))
    return out


def _load(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def find(lib: Library) -> list[Finding]:
    with lib.db.lock:
        rows = lib.db.conn.execute(
            'SELECT id, recipe, environment FROM renders WHERE recipe LIKE \'%"model":"/%\''
            ' OR recipe LIKE \'%"vae":"/%\''
        ).fetchall()
    uses: dict[tuple[str, str, str], list[int]] = {}
    for render_id, recipe, environment in rows:
        for key in _recorded(_load(recipe), _load(environment)):
            uses.setdefault(key, []).append(int(render_id))
    if not uses:
        return []
    from promptlib.render.hashing import file_sha256, folder_sha256

    found: list[Finding] = []
    current: dict[str, str | None] = {}
    for (what, path, recorded), ids in sorted(uses.items()):
        target = Path(path)
        if path not in current:
            try:
                current[path] = folder_sha256(target) if target.is_dir() else file_sha256(target)
            except OSError:
                current[path] = None
        now = current[path]
        renders = f"{len(ids)} render(s), e.g. {ids[0]}"
        if now is None:
            found.append(Finding("model-missing", f"{what} file of {renders} is gone", path))
        elif not now.startswith(recorded):
            found.append(
                Finding(
                    "model-hash",
                    f"{what} file changed since {renders} recorded {recorded[:10]}; it is now {now[:10]}",
                    path,
                )
            )
    return found


register_check(Check("model-hash", KINDS, find))
