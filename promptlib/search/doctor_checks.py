"""The semantic index's doctor checks: ``stale-index`` and ``foreign-index`` (`promptlib.store.doctor.register_check`).

Imported by `Library.doctor` only. Cheap for libraries without a semantic index (a glob of ``index/``); otherwise
manifests are read, never index files or the model. ``--fix`` rebuilds an index from the stored vectors (no
re-embedding). A saved index that lags only by the ids its next use adds and drops (a remove or an import since it
was saved: `promptlib.search.semantic.catches_up`) is the design working, not a finding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptlib.config import INDEX_DIR
from promptlib.search.index_manifest import CorruptIndexError, StaleIndexError, manifest_path, read_manifest
from promptlib.store.doctor import Check, Finding, register_check

if TYPE_CHECKING:
    from promptlib.library import Library

KINDS = {
    "stale-index": "the saved semantic index lags the stored vectors further than its next use catches up by id, so"
    " that use would rebuild it (--fix rebuilds it now, from the stored vectors)",
    "foreign-index": "a semantic index file is unreadable or of another model or dimension (--fix rebuilds it)",
}


def find(lib: Library) -> list[Finding]:
    """Stale and foreign (or unreadable) indexes of the configured model, and unreadable index files of any."""
    folder = lib.path / INDEX_DIR
    if not any(folder.glob("*.faiss*")):
        return []
    from promptlib.search.semantic import index_file_name
    from promptlib.store import embeddings as stored

    service = lib.semantic
    found: list[Finding] = []
    mine = {service.index_path(kind): kind for kind in stored.KINDS}
    with lib.db.lock:
        conn = lib.db.conn
        versions = {kind: stored.version(conn, kind) for kind in stored.KINDS}
        counts = {kind: stored.count(conn, kind, service.model_id) for kind in stored.KINDS}
        dims = {kind: service._stored_dim(conn, kind) for kind in stored.KINDS}
    paths = {p.with_name(p.name.removesuffix(".json")) for p in folder.glob("*.faiss*") if not p.name.startswith(".")}
    for path in sorted(paths | set(mine)):
        kind = mine.get(path)
        rel = path.relative_to(lib.path).as_posix()
        try:
            manifest = read_manifest(path)
        except StaleIndexError:
            continue  # nothing saved there
        except CorruptIndexError as exc:
            found.append(Finding("foreign-index", str(exc), rel, fixable=kind is not None))
            continue
        if kind is None:  # another model's index: foreign only when its name and manifest disagree
            if not any(path.name == index_file_name(manifest.model, k) for k in stored.KINDS):
                found.append(Finding("foreign-index", f"{path.name} holds an index of {manifest.model}", rel))
            continue
        size = path.stat().st_size if path.exists() else -1
        if manifest.model != service.model_id:
            detail = f"{path.name} holds an index of {manifest.model}, not {service.model_id}"
        elif dims[kind] is not None and manifest.dim != dims[kind]:
            detail = f"{path.name} holds {manifest.dim}-d vectors; {service.model_id} makes {dims[kind]}-d ones"
        elif size != manifest.index_size:
            detail = f"{path.name} is {size:,} bytes, its manifest says {manifest.index_size:,}: interrupted save"
        else:
            stale = _staleness(kind, manifest.generation, versions[kind], counts[kind])
            if stale:
                found.append(Finding("stale-index", stale, rel, fixable=True))
            continue
        found.append(Finding("foreign-index", detail, rel, fixable=True))
    return found


def _staleness(kind: str, label: str, now: tuple[int, int], stored_count: int) -> str:
    """Why an index saved at generation `label` would be rebuilt on its next use, or "" when it is exact or only
    lags by what that use adds and drops by id (a remove or an import since the last save: normal)."""
    from promptlib.search.semantic import _parse, catches_up

    saved = _parse(label)
    if saved is None:
        return f"{kind} index records generation {label!r}, which this promptlib does not read"
    if saved == now or catches_up(saved, now, stored_count=stored_count):
        return ""
    said = f"{kind} index saved at generation {saved[0]}; the stored vectors are at {now[0]}"
    if saved[1] != now[1]:
        return f"{said}, some of them replaced since (re-embedded)"
    if saved[0] > now[0]:
        return f"{said}: the database is older than the index (restored from a backup?)"
    return f"{said}: too many changes to catch up by id"


def fix(lib: Library, findings: list[Finding]) -> None:
    """Rebuild each listed index of the configured model from the stored vectors (never re-embedding)."""
    from promptlib.store import embeddings as stored

    service = lib.semantic
    wanted = {f.path for f in findings if f.fixable}
    for kind in stored.KINDS:
        path = service.index_path(kind)
        if path.relative_to(lib.path).as_posix() not in wanted:
            continue
        with service._lock:
            service._live.pop(kind, None)
            manifest_path(path).unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            with lib.db.lock:
                dim = service._stored_dim(lib.db.conn, kind)
            if dim is not None:  # no stored vector: nothing to rebuild (the next build makes it)
                service._rebuild_index(kind, dim)


register_check(Check("semantic-index", KINDS, find, fix))
