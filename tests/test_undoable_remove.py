"""Undoable removal: `remove_undoable` then `restore` gives back the same entries — ids, tags, collections, ratings,
renders with their image files, stored embeddings — and refuses cleanly when an id was reused meanwhile."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from promptlib.errors import ValidationError
from promptlib.library import Library


def png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buf, format="PNG")
    return buf.getvalue()


def state(lib: Library) -> tuple[object, ...]:
    entries = lib.get_many(lib.entry_ids(), with_renders=True)
    files = {p: lib.images.path(p).read_bytes() for p in lib.images.iter_files()}
    vectors = lib.db.conn.execute("SELECT * FROM render_embeddings ORDER BY render_id").fetchall()
    return [e.model_dump() if hasattr(e, "model_dump") else e for e in entries], files, lib.collections(), vectors


@pytest.fixture
def filled(lib: Library) -> Library:
    keep = lib.add("a quiet harbour at dawn", tags=["sea"], rating=4).id
    gone = lib.add("a lighthouse in fog", negative_prompt="blurry", tags=["sea", "fog"], favourite=True).id
    also = lib.add("an owl on a branch", tags=["owl"]).id
    shared = png((10, 20, 30))
    lib.add_image(keep, shared)
    lib.add_image(gone, shared)  # the same file: must survive the removal
    render = lib.add_image(gone, png((200, 0, 0)))
    lib.add_image(also, png((0, 200, 0)))
    lib.collect("favourites", [gone, also])
    with lib.db.write() as conn:
        conn.execute(
            "INSERT INTO render_embeddings(render_id, model, dim, vector) VALUES (?, 'm', 2, ?)",
            (render.id, b"\0" * 8),
        )
    return lib


def test_restore_puts_back_exactly_what_was_removed(filled: Library) -> None:
    before = state(filled)
    taken = filled.remove_undoable([2, 3])
    assert taken.count == 2 and filled.count() == 1
    assert len(taken.files) == 2  # the two files only they used; the shared one stays on disk
    assert filled.search("lighthouse").hits == [] and filled.collections() == [("favourites", 0)]
    assert [name for name, _ in filled.tags()] == ["sea"]  # "fog" and "owl" went with their last entries
    assert filled.restore(taken) == [2, 3]
    assert state(filled) == before
    assert [h.entry.id for h in filled.search("lighthouse").hits] == [2]  # the text index follows
    assert filled.doctor(deep=True) == []  # no orphan files, no missing files, integrity holds


def test_restore_still_works_after_new_entries_took_new_ids(filled: Library) -> None:
    taken = filled.remove_undoable([3])
    assert filled.add("a new owl").id == 4  # ids are never handed out twice, so 3 stays free for the restore
    assert filled.restore(taken) == [3]
    assert sorted(h.entry.id for h in filled.search("owl").hits) == [3, 4]


def test_restore_refuses_when_an_id_was_used_again(filled: Library) -> None:
    taken = filled.remove_undoable([3])
    filled.restore(taken)  # the only way left to take a removed id: putting the same removal back twice
    before = state(filled)
    with pytest.raises(ValidationError, match="prompts id 3 has been used again"):
        filled.restore(taken)
    assert state(filled) == before  # nothing half-restored


def test_plain_remove_still_counts_and_an_empty_removal_is_fine(filled: Library, tmp_path: Path) -> None:
    assert filled.remove_undoable([]).count == 0
    assert filled.remove([1, 99]) == 1
