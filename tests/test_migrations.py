"""Migrations: the migrated schema equals the models; old libraries are backed up and upgraded exactly once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import promptlib.store.models  # noqa: F401
from promptlib.library import Library
from promptlib.store import migrate
from promptlib.store.schema_extras import is_fts_object


def _script() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.migrations_path()))
    return ScriptDirectory.from_config(cfg)


def test_head_revision_constant_matches_the_scripts() -> None:
    script = _script()
    assert script.get_current_head() == migrate.HEAD_REVISION
    assert sorted(rev.revision for rev in script.walk_revisions()) == sorted(migrate.KNOWN_REVISIONS)


def test_migrated_schema_equals_the_models(lib: Library) -> None:
    engine = create_engine(f"sqlite:///{lib.db_path}")
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, _parents: not (type_ == "table" and is_fts_object(name or "")),
            },
        )
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert diff == []


def _make_old_library(folder: Path, revision: str = "0001") -> None:
    """A library as the first release wrote it, with data in it."""
    folder.mkdir(parents=True)
    from alembic import command

    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.migrations_path()))
    engine = create_engine(f"sqlite:///{folder / 'library.db'}")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()
    conn2 = sqlite3.connect(folder / "library.db")
    conn2.execute(
        "INSERT INTO prompts(title, prompt, negative_prompt, notes, favourite, source, tag_text, fingerprint,"
        " created_at, updated_at) VALUES ('old', 'an old prompt', '', '', 0, '{}', '', 'f',"
        " '2025-01-01 00:00:00.000000', '2025-01-01 00:00:00.000000')"
    )
    conn2.commit()
    conn2.close()


def test_opening_an_old_library_backs_it_up_then_upgrades_it(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    _make_old_library(folder)
    with Library.open(folder) as lib:
        assert lib.last_backup is not None and lib.last_backup.exists()
        assert migrate.current_revision(lib.db.conn) == migrate.HEAD_REVISION
        assert [h.entry.title for h in lib.search("old").hits] == ["old"]
        assert lib.db.execute("SELECT value FROM library_meta WHERE key = 'library_id'")[0][0]
    backup = sqlite3.connect(lib.last_backup)
    assert backup.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0001"
    assert backup.execute("SELECT prompt FROM prompts").fetchall() == [("an old prompt",)]
    backup.close()


def test_a_library_from_a_newer_promptlib_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "future"
    Library.open(folder).close()
    conn = sqlite3.connect(folder / "library.db")
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    import pytest

    from promptlib.errors import LibraryError

    with pytest.raises(LibraryError, match="newer than this promptlib"):
        Library.open(folder)


def _open(folder: str) -> None:
    Library.open(folder).close()


def test_two_processes_opening_an_old_library_migrate_it_once(tmp_path: Path) -> None:
    folder = tmp_path / "race"
    _make_old_library(folder)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(str(folder),)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(list((folder / "backups").iterdir())) == 1  # exactly one process migrated
    conn = sqlite3.connect(folder / "library.db")
    assert conn.execute("SELECT count(*) FROM library_meta WHERE key = 'library_id'").fetchone()[0] == 1
    conn.close()


def test_embedding_changes_bump_their_generation_counter(lib: Library) -> None:
    from promptlib.store.schema_extras import EMBEDDING_TRIGGER_NAMES, generation_key

    conn = lib.db.conn
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert set(EMBEDDING_TRIGGER_NAMES) <= names
    entry = lib.add("a lighthouse")

    def generation() -> str | None:
        row = conn.execute("SELECT value FROM library_meta WHERE key = ?", (generation_key("prompt_embeddings"),))
        found = row.fetchone()
        return None if found is None else str(found[0])

    assert generation() is None
    with lib.db.write() as c:
        c.execute("INSERT INTO prompt_embeddings(prompt_id, model, dim, vector) VALUES (?, 'm', 2, x'00')", (entry.id,))
    assert generation() == "1"
    lib.remove([entry.id])  # the cascade deletes the embedding, and that counts as a change too
    assert generation() == "2"
