"""The Library facade over a real SQLite file: entries, tags, ratings, styles, collections, images, bad input."""

from __future__ import annotations

import io
import os
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from promptlib.errors import LibraryError, NotFoundError, UnsafeInputError, ValidationError
from promptlib.library import Library
from promptlib.recipe import Recipe


def png_bytes(color: tuple[int, int, int] = (200, 10, 10), size: tuple[int, int] = (16, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def test_new_library_has_the_documented_layout(tmp_path: Path) -> None:
    with Library.open(tmp_path / "new") as lib:
        assert {p.name for p in lib.path.iterdir()} >= {"library.db", "images", "index", "config.toml"}
        assert lib.config.search_limit == 20


def test_connection_pragmas(lib: Library) -> None:
    conn = lib.db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_add_and_get_round_trip_every_field(lib: Library) -> None:
    entry = lib.add(
        "a lighthouse in fog",
        negative_prompt="people, text",
        title="Lighthouse",
        notes="try at dusk",
        tags=["Seascape", " fog  light ", "seascape"],
        params={"steps": 30, "sampler": "DPM++ 2M Karras", "cfg_scale": 7, "size_hint": "tall"},
        rating=4,
        favourite=True,
    )
    got = lib.get(entry.id)
    assert got == entry
    assert got.tags == ("fog light", "seascape")
    assert got.params["sampler"] == "DPM++ 2M" and got.params["schedule"] == "karras"
    assert got.params["extra"] == {"size_hint": "tall"}
    data = got.to_json()
    assert set(data) >= {"id", "title", "prompt", "negative_prompt", "tags", "rating", "params", "source", "renders"}
    assert set(data["params"]) >= {
        "model", "model_hash", "vae", "sampler", "schedule", "steps", "cfg_scale",
        "seed", "width", "height", "clip_skip", "loras",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": "   "}, "prompt is empty"),
        ({"prompt": "x" * 1_048_576}, "the limit is 100,000"),
        ({"prompt": "a\x00b"}, "NUL"),
        ({"prompt": "ok", "rating": 9}, "outside 0-5"),
        ({"prompt": "ok", "params": {"steps": "abc"}}, "steps"),
        ({"prompt": "ok", "params": {"steps": -3}}, "steps"),
        ({"prompt": "ok", "params": {"cfg_scale": float("nan")}}, "cfg_scale: Input should be a finite number"),
        ({"prompt": "ok", "tags": ["x" * 500]}, "longer than 100"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_written(
    lib: Library, kwargs: dict[str, object], message: str
) -> None:
    prompt = kwargs.pop("prompt")
    with pytest.raises(ValidationError) as info:
        lib.add(str(prompt), **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert lib.count() == 0


def test_edit_merges_params_replaces_tags_and_updates_the_index(lib: Library) -> None:
    entry = lib.add("red fox in snow", tags=["animals"], params={"steps": 20, "cfg_scale": 6})
    edited = lib.edit(entry.id, prompt="arctic fox in snow", params={"steps": 40}, tags=["winter"], rating=5)
    assert edited.params["steps"] == 40 and edited.params["cfg_scale"] == 6
    assert edited.tags == ("winter",) and edited.rating == 5
    assert [h.entry.id for h in lib.search("arctic").hits] == [entry.id]
    assert lib.search("red").hits == []
    assert lib.tags() == [("winter", 1)]  # the unused tag is gone


def test_edit_unknown_id_and_invalid_values(lib: Library) -> None:
    with pytest.raises(NotFoundError):
        lib.edit(999, title="x")
    entry = lib.add("a cat")
    with pytest.raises(ValidationError):
        lib.edit(entry.id, prompt="")
    assert lib.get(entry.id).prompt == "a cat"


def test_tag_rate_fav_and_remove(lib: Library) -> None:
    a, b = lib.add("one"), lib.add("two")
    assert lib.tag([a.id, b.id], add=["x", "y"], remove=["y"]) == {a.id: ["x"], b.id: ["x"]}
    lib.rate([a.id], 3)
    lib.favourite([b.id])
    assert lib.get(a.id).rating == 3 and lib.get(b.id).favourite
    lib.rate([a.id], None)
    assert lib.get(a.id).rating is None
    with pytest.raises(NotFoundError):
        lib.rate([a.id, 404], 2)
    assert lib.remove([a.id]) == 1
    with pytest.raises(NotFoundError):
        lib.get(a.id)
    assert lib.tags() == [("x", 1)]


def test_duplicate_copies_text_tags_and_params(lib: Library) -> None:
    entry = lib.add("castle", title="Castle", tags=["fantasy"], params={"steps": 25})
    copy = lib.duplicate(entry.id)
    assert copy.id != entry.id and copy.title == "Castle (copy)"
    assert copy.tags == entry.tags and copy.params["steps"] == 25


def test_a_duplicate_of_an_untitled_entry_stays_untitled(lib: Library) -> None:
    entry = lib.add("a misty forest", tags=["trees"])
    copy = lib.duplicate(entry.id)
    assert copy.title == "" and copy.prompt == entry.prompt and copy.source["duplicate_of"] == entry.id
    assert lib.duplicate(lib.add("x", title="   ").id).title == ""  # a blank title is no title


def test_a_duplicate_of_a_title_at_the_limit_is_cut_to_fit(lib: Library) -> None:
    from promptlib.limits import MAX_TITLE_CHARS

    entry = lib.add("x", title="t" * MAX_TITLE_CHARS)
    copy = lib.duplicate(entry.id)
    assert len(copy.title) == MAX_TITLE_CHARS and copy.title.endswith("t (copy)")


def test_styles_apply_placeholder_or_append(lib: Library) -> None:
    lib.add_style("cinematic", "cinematic still of {prompt}, 35mm", negative_prompt="cartoon")
    lib.add_style("plain", "highly detailed")
    entry = lib.add("a fox", negative_prompt="blurry")
    styled = lib.apply_style(entry.id, "Cinematic")
    assert styled.prompt == "cinematic still of a fox, 35mm"
    assert styled.negative_prompt == "blurry, cartoon"
    assert lib.style("plain").apply("a fox") == ("a fox, highly detailed", "")
    with pytest.raises(ValidationError):
        lib.add_style("plain", "again")
    with pytest.raises(NotFoundError):
        lib.style("missing")


def test_collections_keep_order_and_filter(lib: Library) -> None:
    ids = [lib.add(f"prompt {n}").id for n in range(3)]
    assert lib.collect("moodboard", [ids[2], ids[0]]) == 2
    assert lib.collect("moodboard", [ids[0], ids[1]]) == 3  # already-present ids are ignored
    assert lib.collections() == [("moodboard", 3)]
    assert {e.id for e in lib.entries(query="collection:moodboard")} == set(ids)
    assert lib.get(ids[0]).collections == ("moodboard",)


def test_images_are_content_addressed_and_removed_with_their_last_reference(lib: Library) -> None:
    a, b = lib.add("one"), lib.add("two")
    data = png_bytes()
    r1 = lib.add_image(a.id, data, recipe=Recipe(prompt="one", seed=5))
    r2 = lib.add_image(b.id, data)
    assert r1.image_path == r2.image_path
    assert r1.image_path.startswith(f"images/{r1.image_sha256[:2]}/{r1.image_sha256[2:4]}/")
    path = lib.image_path(r1)
    assert path.read_bytes() == data and (r1.width, r1.height) == (16, 24)
    assert lib.get(a.id).renders[0].recipe["seed"] == 5
    lib.remove([a.id])
    assert path.exists()  # still referenced by b
    lib.remove([b.id])
    assert not path.exists()


def test_non_images_and_pixel_bombs_are_refused(lib: Library) -> None:
    entry = lib.add("x")
    with pytest.raises(ValidationError):
        lib.add_image(entry.id, b"not an image at all")
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG")
    with pytest.raises(UnsafeInputError):
        lib.add_image(entry.id, bomb.getvalue())
    assert lib.get(entry.id).renders == ()
    assert lib.images.iter_files() == []


def test_leftover_temp_files_are_swept_on_open(tmp_path: Path) -> None:
    Library.open(tmp_path / "l").close()
    tmp = tmp_path / "l" / "images" / ".tmp"
    tmp.mkdir(parents=True)
    (tmp / "abc.part").write_bytes(b"half")
    Library.open(tmp_path / "l").close()
    assert list(tmp.iterdir()) == []


def test_missing_and_read_only_libraries_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="no promptlib library"):
        Library.open(tmp_path / "nowhere", create=False)
    Library.open(tmp_path / "ro").close()
    (tmp_path / "ro").chmod(0o555)
    try:
        if os.access(tmp_path / "ro", os.W_OK):
            pytest.skip("running as a user that can write anywhere (root)")
        with pytest.raises(LibraryError, match="read-only"):
            Library.open(tmp_path / "ro")
    finally:
        (tmp_path / "ro").chmod(0o755)


def test_a_foreign_or_corrupt_database_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "foreign"
    folder.mkdir()
    conn = sqlite3.connect(folder / "library.db")
    conn.execute("CREATE TABLE other(x)")
    conn.commit()
    conn.close()
    with pytest.raises(LibraryError, match="not a promptlib library"):
        Library.open(folder)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "library.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LibraryError, match="not a SQLite database"):
        Library.open(junk)


def test_check_reports_a_damaged_search_index_and_rebuild_repairs_it(lib: Library) -> None:
    entry = lib.add("lighthouse")
    assert lib.check() == []
    with lib.db.write() as conn:  # simulate damage: index row removed behind the store's back
        conn.execute(
            "INSERT INTO prompts_fts(prompts_fts, rowid, title, prompt, negative_prompt, tag_text, notes)"
            " VALUES ('delete', ?, '', 'lighthouse', '', '', '')",
            (entry.id,),
        )
    assert lib.search("lighthouse").hits == []
    assert any(p.startswith("search index") for p in lib.check())
    lib.rebuild_search_index()
    assert lib.check() == []
    assert [h.entry.id for h in lib.search("lighthouse").hits] == [entry.id]


def test_backup_is_a_consistent_copy(lib: Library, tmp_path: Path) -> None:
    lib.add("kept")
    target = lib.backup(tmp_path / "copy.db")
    conn = sqlite3.connect(target)
    assert conn.execute("SELECT prompt FROM prompts").fetchall() == [("kept",)]
    conn.close()


def test_uncollect_takes_entries_out_and_names_unknown_collections(lib: Library) -> None:
    ids = [lib.add(f"p{n}").id for n in range(3)]
    lib.collect("board", ids)
    assert lib.uncollect("Board", [*ids[:2], 999]) == 2
    assert lib.collections() == [("board", 1)]
    with pytest.raises(NotFoundError, match="no collection named"):
        lib.uncollect("nope", ids)


def test_deleting_a_collection_keeps_its_entries_and_their_other_collections(lib: Library) -> None:
    ids = [lib.add(f"p{n}").id for n in range(3)]
    lib.collect("board", ids)
    lib.collect("keep", ids[:1])
    assert lib.delete_collection("Board") == 3  # found ignoring case, as uncollect finds it
    assert lib.collections() == [("keep", 1)]
    assert [e.id for e in lib.get_many(ids)] == ids
    assert lib.get(ids[0]).collections == ("keep",)
    assert lib.entries(query="collection:board") == []
    assert lib.collect("board", ids[1:2]) == 1  # the name can be used again, starting empty
    with pytest.raises(NotFoundError, match="no collection named 'nope'"):
        lib.delete_collection("nope")


def _second_spelling(lib: Library, name: str) -> None:
    """A collection differing from another only in case, as an earlier promptlib let `collect` make."""
    with lib.db.write() as conn:
        conn.execute("INSERT INTO collections(name, description, created_at) VALUES (?, '', '2026-01-01')", (name,))


def test_collect_adds_to_the_collection_a_name_finds_ignoring_case(lib: Library) -> None:
    first, second = lib.add("a").id, lib.add("b").id
    lib.collect("board", [first])
    assert lib.collect("Board", [second]) == 2
    assert lib.collections() == [("board", 2)]


def test_two_collections_differing_only_in_case_need_the_exact_name(lib: Library) -> None:
    first, second = lib.add("a").id, lib.add("b").id
    lib.collect("Board", [first])
    _second_spelling(lib, "board")
    lib.collect("board", [second])  # the exact spelling
    with pytest.raises(NotFoundError, match="give the exact name"):
        lib.delete_collection("BOARD")
    with pytest.raises(NotFoundError, match="give the exact name"):
        lib.collect("BOARD", [first])
    assert lib.uncollect("board", [first, second]) == 1  # the exact spelling wins
    assert lib.delete_collection("Board") == 1
    assert lib.collections() == [("board", 0)]


def test_collection_name_is_the_stored_spelling_of_the_collection_a_name_finds(lib: Library) -> None:
    lib.collect("Moodboard", [lib.add("a").id])
    assert lib.collection_name("moodboard") == lib.collection_name(" MOODBOARD ") == "Moodboard"
    _second_spelling(lib, "moodboard")  # a second spelling: only the exact one is found now
    assert lib.collection_name("moodboard") == "moodboard"
    with pytest.raises(NotFoundError, match="give the exact name"):
        lib.collection_name("MOODBOARD")
    with pytest.raises(NotFoundError, match="no collection named 'nope'"):
        lib.collection_name("nope")


def test_add_takes_loras_from_the_prompts_tags_when_the_params_name_none(lib: Library) -> None:
    tagged = lib.add("a knight <lora:detail_tweaker:0.7>, <lyco:armor:te=0.4>")
    assert [(lora["name"], lora["weight"]) for lora in tagged.params["loras"]] == [
        ("detail_tweaker", 0.7),
        ("armor", 0.4),
    ]
    assert [h.entry.id for h in lib.search("lora:detail_tweaker").hits] == [tagged.id]
    listed = lib.add("a squire <lora:detail_tweaker:0.7>", params={"loras": [{"name": "other", "weight": 1.0}]})
    assert [lora["name"] for lora in listed.params["loras"]] == ["other"]  # params that name LoRAs win
    assert not lib.add("a page <not a tag>").params.get("loras")
