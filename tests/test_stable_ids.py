"""Ids users see are never handed out twice: after `rm 42`, the next entry is not 42 again (SQLite reuses the
largest rowid of a table without AUTOINCREMENT). Covers new libraries, libraries upgraded from the previous schema
(data, search, foreign keys and triggers intact) and the way back down."""

from __future__ import annotations

import io
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from PIL import Image
from sqlalchemy import create_engine, event
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import SQLModel

import promptlib.store.models  # noqa: F401  (registers the tables)
from promptlib.library import Library
from promptlib.store import migrate
from promptlib.store.doctor import integrity_problems

# Tables whose ids reach users, files or snapshots: CLI output and --json, FAISS, exported packs, undo snapshots.
STABLE_ID_TABLES = ("packs", "prompts", "styles", "collections", "grids", "renders")
PREVIOUS_HEAD = "0003"
T0 = "2025-01-01 00:00:00.000000"


def png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buf, format="PNG")
    return buf.getvalue()


# --- new libraries ----------------------------------------------------------------------------------------------


def test_a_removed_newest_entry_id_is_not_given_out_again(lib: Library) -> None:
    lib.add("a quiet harbour")
    newest = lib.add("a lighthouse in fog").id
    lib.remove([newest])
    assert lib.add("an owl on a branch").id > newest


def test_a_bulk_import_does_not_reuse_removed_entry_ids(lib: Library) -> None:
    first = lib.add_many([lib.prepare_entry(f"prompt {n}") for n in range(5)]).ids
    lib.remove(first[-2:])
    again = lib.add_many([lib.prepare_entry(f"other {n}") for n in range(3)]).ids
    assert min(again) > max(first)
    assert sorted(h.entry.id for h in lib.search("other").hits) == again  # the text index follows the new ids


def test_a_removed_newest_render_id_is_not_given_out_again(lib: Library) -> None:
    keep, gone = lib.add("a harbour").id, lib.add("a lighthouse").id
    lib.add_image(keep, png((10, 20, 30)))
    newest = lib.add_image(gone, png((200, 0, 0))).id
    lib.remove([gone])  # its renders go with it
    assert lib.add_image(keep, png((0, 200, 0))).id > newest


_ROWS: dict[str, Callable[[sqlite3.Connection, int], str]] = {
    "packs": lambda _c, n: (
        f"INSERT INTO packs(name, version, description, imported_at) VALUES ('p{n}', '', '', '{T0}')"
    ),
    "prompts": lambda _c, n: (
        "INSERT INTO prompts(title, prompt, negative_prompt, notes, favourite, source, tag_text, fingerprint,"
        f" created_at, updated_at) VALUES ('', 'prompt {n}', '', '', 0, '{{}}', '', 'f{n}', '{T0}', '{T0}')"
    ),
    "styles": lambda _c, n: (
        "INSERT INTO styles(name, prompt, negative_prompt, notes, tags, created_at, updated_at)"
        f" VALUES ('s{n}', '', '', '', '[]', '{T0}', '{T0}')"
    ),
    "collections": lambda _c, n: f"INSERT INTO collections(name, description, created_at) VALUES ('c{n}', '', '{T0}')",
    "grids": lambda c, n: (
        "INSERT INTO grids(prompt_id, spec, width, height, created_at)"
        f" VALUES ({_any_prompt(c)}, '{{}}', {n}, {n}, '{T0}')"
    ),
    "renders": lambda c, n: (
        "INSERT INTO renders(prompt_id, image_sha256, image_path, linked, width, height, file_size, format, kind,"
        f" recipe, environment, timings, created_at) VALUES ({_any_prompt(c)}, 'h{n}', 'images/{n}.png', 0, 1, 1,"
        f" 1, 'PNG', 'render', '{{}}', '{{}}', '{{}}', '{T0}')"
    ),
}


def _any_prompt(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT min(id) FROM prompts").fetchone()[0])


@pytest.mark.parametrize("table", STABLE_ID_TABLES)
def test_every_user_visible_id_is_never_reused(lib: Library, table: str) -> None:
    lib.add("an entry the grids and renders belong to")
    with lib.db.write() as conn:
        for n in range(3):
            conn.execute(_ROWS[table](conn, n))
        newest = conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0]
        conn.execute(f"DELETE FROM {table} WHERE id = ?", (newest,))
        conn.execute(_ROWS[table](conn, 9))
        assert conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0] > newest


# --- the schema, however a library came to be ---------------------------------------------------------------------


def _normalized(sql: str) -> str:
    """DDL without the quoting and whitespace that differ between CREATE TABLE and a table renamed into place."""
    return re.sub(r"\s+", " ", sql.replace('"', "").replace("'", "")).replace("( ", "(").replace(" )", ")").strip()


def _schema(db: Path) -> dict[tuple[str, str], str | None]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name != 'sqlite_sequence'").fetchall()
    finally:
        conn.close()
    return {(kind, name): sql and _normalized(sql) for kind, name, sql in rows}


def _alembic(db: Path, action: Callable[[Config, str], None], revision: str) -> None:
    """Run an Alembic command on `db` the way the promptlib runner does (foreign keys off, one transaction)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.migrations_path()))
    engine = create_engine(f"sqlite:///{db}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.execute("PRAGMA foreign_keys=OFF")

    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            action(cfg, revision)
    finally:
        engine.dispose()


def _library_at(folder: Path, revision: str) -> Path:
    folder.mkdir(parents=True)
    db = folder / "library.db"
    _alembic(db, command.upgrade, revision)
    return db


def _fill_previous_head(db: Path) -> None:
    """Data in every table, written with plain SQL as the previous release stored it (FTS by its triggers)."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(f"""
        INSERT INTO packs(id, name, version, description, imported_at) VALUES (1, 'pack', '1', '', '{T0}');
        INSERT INTO prompts(id, title, prompt, negative_prompt, notes, favourite, rating, pack_id, source, tag_text,
                            fingerprint, created_at, updated_at)
        VALUES (1, 'harbour', 'a quiet harbour at dawn', 'blurry', '', 1, 4, 1, '{{}}', 'sea', 'f1', '{T0}', '{T0}'),
               (2, 'owl', 'an owl on a branch', '', 'a note', 0, NULL, NULL, '{{}}', 'owl', 'f2', '{T0}', '{T0}'),
               (3, 'fog', 'a lighthouse in fog', '', '', 0, NULL, NULL, '{{}}', '', 'f3', '{T0}', '{T0}');
        INSERT INTO recipes(prompt_id, steps, seed, loras, extra) VALUES (1, 20, 42, '[]', '{{}}');
        INSERT INTO tags(id, name) VALUES (1, 'sea'), (2, 'owl');
        INSERT INTO prompt_tags(prompt_id, tag_id) VALUES (1, 1), (2, 2);
        INSERT INTO styles(id, name, prompt, negative_prompt, notes, tags, pack_id, created_at, updated_at)
        VALUES (1, 'noir', '{{prompt}}, noir', '', '', '[]', 1, '{T0}', '{T0}');
        INSERT INTO collections(id, name, description, created_at) VALUES (1, 'best', '', '{T0}');
        INSERT INTO collection_items(collection_id, prompt_id, position, added_at) VALUES (1, 1, 0, '{T0}'),
                                                                                         (1, 2, 1, '{T0}');
        INSERT INTO grids(id, prompt_id, spec, width, height, created_at) VALUES (1, 1, '{{}}', 2, 2, '{T0}');
        INSERT INTO renders(id, prompt_id, image_sha256, image_path, linked, width, height, file_size, format, kind,
                            recipe, environment, timings, created_at, grid_id, grid_cell)
        VALUES (1, 1, 'a', 'images/a.png', 1, 1, 1, 1, 'PNG', 'render', '{{}}', '{{}}', '{{}}', '{T0}', 1, '[0,0,0]'),
               (2, 2, 'b', 'images/b.png', 1, 1, 1, 1, 'PNG', 'import', '{{}}', '{{}}', '{{}}', '{T0}', NULL, NULL);
        INSERT INTO render_embeddings(render_id, model, dim, vector) VALUES (1, 'm', 2, x'0000803f00000000');
        INSERT INTO prompt_embeddings(prompt_id, model, dim, vector) VALUES (2, 'm', 2, x'000000000000803f');
        DELETE FROM prompts WHERE id = 3;
    """)
    conn.commit()
    conn.close()


def _contents(db: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(db)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " AND name NOT IN ('alembic_version', 'library_meta')"
            )
        ]
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in sorted(tables)}
    finally:
        conn.close()


def test_a_new_library_and_an_upgraded_one_have_the_same_schema(tmp_path: Path) -> None:
    Library.open(tmp_path / "new").close()
    old = _library_at(tmp_path / "old", PREVIOUS_HEAD)
    _fill_previous_head(old)
    Library.open(tmp_path / "old").close()
    new_schema, old_schema = _schema(tmp_path / "new" / "library.db"), _schema(old)
    assert new_schema == old_schema
    for table in STABLE_ID_TABLES:
        assert "id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT" in str(new_schema["table", table])


def _parts(create_table: str | None) -> tuple[str, list[str]]:
    """A CREATE TABLE as its head and its sorted column and constraint definitions (their order differs between
    the models and the migrations that built the tables one after another)."""
    assert create_table is not None
    head, _, body = create_table.partition("(")
    parts, depth, current = [], 0, ""
    for char in body.rsplit(")", 1)[0]:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return head.strip(), sorted([*parts, current.strip()])


def test_the_models_declare_the_migrated_schema(lib: Library) -> None:
    """A database made from the models (create_all) would get the same tables and indexes as the migrations."""
    from sqlalchemy.dialects import sqlite

    migrated = _schema(lib.db_path)
    dialect = sqlite.dialect()
    for table in SQLModel.metadata.sorted_tables:
        created = _normalized(str(CreateTable(table).compile(dialect=dialect)))
        assert _parts(created) == _parts(migrated["table", table.name])
        for index in table.indexes:
            assert _normalized(str(CreateIndex(index).compile(dialect=dialect))) == migrated["index", str(index.name)]


# --- upgrading a library made by the previous release ------------------------------------------------------------


def test_upgrading_keeps_every_row_search_and_references_and_stops_id_reuse(tmp_path: Path) -> None:
    db = _library_at(tmp_path / "old", PREVIOUS_HEAD)
    _fill_previous_head(db)
    before = _contents(db)
    with Library.open(tmp_path / "old") as lib:
        assert migrate.current_revision(lib.db.conn) == migrate.HEAD_REVISION
        assert _contents(db) == before  # every row of every table (FTS shadow tables too), ids and all
        assert integrity_problems(lib.db.conn) == []  # integrity, foreign keys, the FTS index, the revision
        assert [h.entry.id for h in lib.search("harbour").hits] == [1]
        assert [h.entry.id for h in lib.search("owl").hits] == [2]
        assert lib.get(1).tags == ("sea",) and lib.collections() == [("best", 2)]
        assert lib.style("noir").pack == "pack"
        triggers = {r[0] for r in lib.db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert {"prompts_fts_ai", "prompts_fts_ad", "prompts_fts_au", "render_embeddings_gen_ad"} <= triggers
        # the triggers work on the rebuilt tables: edits reach the text index, cascades reach the counters
        lib.edit(2, prompt="a snowy owl")
        assert [h.entry.id for h in lib.search("snowy").hits] == [2]
        lib.remove([2])  # the newest entry, with the newest render and an embedding
        assert lib.db.execute("SELECT value FROM library_meta WHERE key = 'generation:prompt_embeddings'")
        assert lib.add("a new entry").id == 3  # not 2 again; 3 was deleted before the upgrade (see the migration)
        lib.remove([3])
        assert lib.add("another").id == 4
        assert lib.add_image(1, png((1, 2, 3))).id == 3
        assert integrity_problems(lib.db.conn) == []


def test_the_upgrade_refuses_to_rebuild_tables_while_foreign_keys_are_enforced(tmp_path: Path) -> None:
    """With enforcement on, dropping the old `prompts` table would cascade-delete every render, tag and recipe."""
    db = _library_at(tmp_path / "old", PREVIOUS_HEAD)
    _fill_previous_head(db)
    before = _contents(db)
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.migrations_path()))
    engine = create_engine(f"sqlite:///{db}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    with pytest.raises(RuntimeError, match="foreign keys"), engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    engine.dispose()
    assert _contents(db) == before
    assert migrate.current_revision(sqlite3.connect(db)) == PREVIOUS_HEAD


# --- and back down --------------------------------------------------------------------------------------------------


def test_downgrading_restores_the_previous_schema_with_every_row(tmp_path: Path) -> None:
    reference = _library_at(tmp_path / "reference", PREVIOUS_HEAD)
    db = _library_at(tmp_path / "old", PREVIOUS_HEAD)
    _fill_previous_head(db)
    before = _contents(db)
    _alembic(db, command.upgrade, "head")
    _alembic(db, command.downgrade, PREVIOUS_HEAD)
    assert _schema(db) == _schema(reference)
    assert _contents(db) == before
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM sqlite_sequence").fetchone()[0] == 0  # (SQLite keeps the table)
    assert integrity_problems(conn) == [f"schema revision {PREVIOUS_HEAD} is not {migrate.HEAD_REVISION}"]
    conn.close()
    with Library.open(tmp_path / "old") as lib:  # and up again
        assert [h.entry.id for h in lib.search("harbour").hits] == [1]
        assert integrity_problems(lib.db.conn) == []
