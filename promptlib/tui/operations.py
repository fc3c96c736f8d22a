"""Changes the TUI makes to the library, each a function of the `Library` run in a thread worker.

Each operation reads what it is about to change inside the same locked call, so the undo step it returns holds
the true previous state; `undo()` writes that state back through `Library.edit` (or removes / re-adds entries).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from promptlib.entries import Entry
from promptlib.errors import ValidationError
from promptlib.library import Library
from promptlib.store.removal import Removed
from promptlib.tui.format import one_line


@dataclass(frozen=True)
class RestoreEntries:
    """Write these entries' previous fields back."""

    before: tuple[Entry, ...]
    description: str


@dataclass(frozen=True)
class RemoveEntries:
    """Remove entries an action created (a duplicate, a new entry)."""

    ids: tuple[int, ...]
    description: str


@dataclass(frozen=True)
class ReAddEntries:
    """Put deleted entries back: as they were (same ids, renders and images) from `removed`, or, when one of their
    ids has been used again since, as new entries without their renders."""

    entries: tuple[Entry, ...]
    description: str
    removed: Removed | None = None


@dataclass(frozen=True)
class Uncollect:
    """Take entries back out of a collection they were added to."""

    name: str
    ids: tuple[int, ...]
    description: str


@dataclass(frozen=True)
class NotUndoable:
    """A change the library has no inverse for."""

    description: str


UndoStep = RestoreEntries | RemoveEntries | ReAddEntries | Uncollect | NotUndoable


@dataclass(frozen=True)
class Outcome:
    """What a write did: a line for the user, how to undo it, and which entry to show afterwards."""

    message: str
    undo: UndoStep | None = None
    focus_id: int | None = None
    changed_ids: tuple[int, ...] = field(default_factory=tuple)


WriteOp = Callable[[Library], Outcome]


def _name(entry: Entry) -> str:
    return f"#{entry.id}" + (f" {one_line(entry.title)[:40]}" if entry.title else "")


def rate(entry_id: int, rating: int | None) -> WriteOp:
    def run(lib: Library) -> Outcome:
        before = lib.get(entry_id)
        lib.rate([entry_id], rating)
        what = f"rated {_name(before)} {rating}" if rating is not None else f"cleared the rating of {_name(before)}"
        return Outcome(what, RestoreEntries((before,), what), entry_id, (entry_id,))

    return run


def toggle_favourite(entry_id: int) -> WriteOp:
    def run(lib: Library) -> Outcome:
        before = lib.get(entry_id)
        lib.favourite([entry_id], not before.favourite)
        what = f"{'unmarked' if before.favourite else 'marked'} {_name(before)} as favourite"
        return Outcome(what, RestoreEntries((before,), what), entry_id, (entry_id,))

    return run


def edit(entry_id: int, changes: dict[str, Any]) -> WriteOp:
    def run(lib: Library) -> Outcome:
        before = lib.get(entry_id)
        lib.edit(entry_id, **changes)
        what = f"edited {_name(before)}"
        return Outcome(what, RestoreEntries((before,), what), entry_id, (entry_id,))

    return run


def add(fields: dict[str, Any]) -> WriteOp:
    def run(lib: Library) -> Outcome:
        entry = lib.add(**fields)
        what = f"added {_name(entry)}"
        return Outcome(what, RemoveEntries((entry.id,), what), entry.id, (entry.id,))

    return run


def duplicate(entry_id: int) -> WriteOp:
    def run(lib: Library) -> Outcome:
        copy = lib.duplicate(entry_id)
        what = f"duplicated #{entry_id} as #{copy.id}"
        return Outcome(what, RemoveEntries((copy.id,), what), copy.id, (copy.id,))

    return run


def delete(ids: Sequence[int]) -> WriteOp:
    def run(lib: Library) -> Outcome:
        before = tuple(lib.get_many(list(ids), with_renders=True))
        taken = lib.remove_undoable(ids)
        removed = taken.count
        what = f"deleted {', '.join(_name(e) for e in before[:3])}" if removed == 1 else f"deleted {removed} entries"
        return Outcome(what, ReAddEntries(before, what, taken), None, tuple(ids))

    return run


def apply_style(entry_id: int, style: str) -> WriteOp:
    def run(lib: Library) -> Outcome:
        before = lib.get(entry_id)
        lib.apply_style(entry_id, style)
        what = f"applied style {one_line(style)!r} to {_name(before)}"
        return Outcome(what, RestoreEntries((before,), what), entry_id, (entry_id,))

    return run


def collect(name: str, ids: Sequence[int]) -> WriteOp:
    def run(lib: Library) -> Outcome:
        already = {e.id for e in lib.get_many(ids, with_renders=False) if name.strip().lower() in
                   (c.lower() for c in e.collections)}  # fmt: skip
        size = lib.collect(name, ids)
        what = f"added {len(ids)} to collection {one_line(name)!r} ({size} in it)"
        added = tuple(i for i in ids if i not in already)
        return Outcome(what, Uncollect(name, added, what), ids[0] if ids else None, tuple(ids))

    return run


def _params_changes(before: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """The params to write so that `now` becomes `before` again (None clears a field)."""
    changes = {k: v for k, v in before.items() if now.get(k) != v}
    changes.update({k: None for k in now if k not in before and now[k] not in (None, [], {})})
    return changes


def restore(lib: Library, before: Entry) -> Entry:
    """Write an entry's earlier text, tags, params, rating and favourite back."""
    now = lib.get(before.id)
    return lib.edit(
        before.id,
        prompt=before.prompt,
        negative_prompt=before.negative_prompt,
        title=before.title,
        notes=before.notes,
        params=_params_changes(before.params, now.params) or None,
        tags=list(before.tags),
        rating=before.rating,
        favourite=before.favourite,
    )


def undo(step: UndoStep) -> WriteOp:
    def run(lib: Library) -> Outcome:
        if isinstance(step, NotUndoable):
            return Outcome(f"cannot undo: {step.description}")
        if isinstance(step, RestoreEntries):
            for before in step.before:
                restore(lib, before)
            first = step.before[0].id if step.before else None
            return Outcome(f"undid: {step.description}", None, first, tuple(e.id for e in step.before))
        if isinstance(step, Uncollect):
            if step.ids:
                lib.uncollect(step.name, step.ids)
            return Outcome(f"undid: {step.description}", None, step.ids[0] if step.ids else None, step.ids)
        if isinstance(step, RemoveEntries):
            lib.remove(step.ids)
            return Outcome(f"undid: {step.description}", None, None, step.ids)
        if step.removed is not None:
            try:
                back = lib.restore(step.removed)
            except ValidationError:
                pass  # an id was taken meanwhile: add them back as new entries below
            else:
                shown = ", ".join(f"#{i}" for i in back[:5])
                return Outcome(f"undid: {step.description}; {shown} restored", None, back[0] if back else None,
                               tuple(back))  # fmt: skip
        new_ids: list[int] = []
        lost_renders = 0
        for old in step.entries:
            entry = lib.add(
                old.prompt,
                negative_prompt=old.negative_prompt,
                title=old.title,
                notes=old.notes,
                tags=old.tags,
                params={k: v for k, v in old.params.items() if v not in (None, [], {})} or None,
                rating=old.rating,
                favourite=old.favourite,
                source={**old.source, "restored_from": old.id},
            )
            for collection in old.collections:
                lib.collect(collection, [entry.id])
            new_ids.append(entry.id)
            lost_renders += len(old.renders)
        note = f" ({lost_renders} renders could not be restored)" if lost_renders else ""
        ids = ", ".join(f"#{i}" for i in new_ids[:5])
        return Outcome(f"undid: {step.description}; restored as {ids}{note}", None, new_ids[0], tuple(new_ids))

    return run
