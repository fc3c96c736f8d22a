"""Initial schema: packs, prompts, recipes, styles, renders, tags, collections and the FTS5 index.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 20:46:45.919939
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Frozen copy of promptlib.store.schema_extras at this revision: a migration never changes once released.
_COLS = "title, prompt, negative_prompt, tag_text, notes"
_NEW = "new.title, new.prompt, new.negative_prompt, new.tag_text, new.notes"
_OLD = "old.title, old.prompt, old.negative_prompt, old.tag_text, old.notes"
CREATE_FTS = f"""
CREATE VIRTUAL TABLE prompts_fts USING fts5(
    {_COLS},
    content='prompts', content_rowid='id',
    tokenize="unicode61 remove_diacritics 2"
)
"""
CREATE_TRIGGERS = (
    f"""CREATE TRIGGER prompts_fts_ai AFTER INSERT ON prompts BEGIN
        INSERT INTO prompts_fts(rowid, {_COLS}) VALUES (new.id, {_NEW});
    END""",
    f"""CREATE TRIGGER prompts_fts_ad AFTER DELETE ON prompts BEGIN
        INSERT INTO prompts_fts(prompts_fts, rowid, {_COLS}) VALUES ('delete', old.id, {_OLD});
    END""",
    f"""CREATE TRIGGER prompts_fts_au AFTER UPDATE OF {_COLS} ON prompts BEGIN
        INSERT INTO prompts_fts(prompts_fts, rowid, {_COLS}) VALUES ('delete', old.id, {_OLD});
        INSERT INTO prompts_fts(rowid, {_COLS}) VALUES (new.id, {_NEW});
    END""",
)
DROP_ALL = (
    "DROP TRIGGER IF EXISTS prompts_fts_ai",
    "DROP TRIGGER IF EXISTS prompts_fts_ad",
    "DROP TRIGGER IF EXISTS prompts_fts_au",
    "DROP TABLE IF EXISTS prompts_fts",
)


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
        sa.UniqueConstraint("name", name=op.f("uq_collections_name")),
    )
    op.create_table(
        "packs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("license", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("homepage", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("imported_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packs")),
        sa.UniqueConstraint("name", name=op.f("uq_packs_name")),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("prompt", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("negative_prompt", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("favourite", sa.Boolean(), nullable=False),
        sa.Column("pack_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("tag_text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint("rating IS NULL OR (rating BETWEEN 0 AND 5)", name=op.f("ck_prompts_rating_range")),
        sa.ForeignKeyConstraint(["pack_id"], ["packs.id"], name=op.f("fk_prompts_pack_id_packs"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
    )
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prompts_favourite", ["favourite"], unique=False, sqlite_where=sa.text("favourite = 1")
        )
        batch_op.create_index(batch_op.f("ix_prompts_fingerprint"), ["fingerprint"], unique=False)
        batch_op.create_index(batch_op.f("ix_prompts_pack_id"), ["pack_id"], unique=False)
        batch_op.create_index("ix_prompts_rating", ["rating"], unique=False, sqlite_where=sa.text("rating IS NOT NULL"))

    op.create_table(
        "styles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("prompt", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("negative_prompt", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("pack_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["pack_id"], ["packs.id"], name=op.f("fk_styles_pack_id_packs"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_styles")),
        sa.UniqueConstraint("name", name=op.f("uq_styles_name")),
    )
    with op.batch_alter_table("styles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_styles_pack_id"), ["pack_id"], unique=False)

    op.create_table(
        "collection_items",
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("added_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_collection_items_collection_id_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompts.id"],
            name=op.f("fk_collection_items_prompt_id_prompts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("collection_id", "prompt_id", name=op.f("pk_collection_items")),
    )
    with op.batch_alter_table("collection_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collection_items_prompt_id"), ["prompt_id"], unique=False)

    op.create_table(
        "prompt_tags",
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_prompt_tags_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_prompt_tags_tag_id_tags"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("prompt_id", "tag_id", name=op.f("pk_prompt_tags")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("prompt_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prompt_tags_tag_id"), ["tag_id"], unique=False)

    op.create_table(
        "recipes",
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("model_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("vae", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("sampler", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("schedule", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("steps", sa.Integer(), nullable=True),
        sa.Column("cfg_scale", sa.Float(), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("clip_skip", sa.Integer(), nullable=True),
        sa.Column("loras", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_recipes_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("prompt_id", name=op.f("pk_recipes")),
    )
    with op.batch_alter_table("recipes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recipes_seed"), ["seed"], unique=False)

    op.create_table(
        "renders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("image_sha256", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("image_path", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("linked", sa.Boolean(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("format", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("recipe", sa.JSON(), nullable=False),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("timings", sa.JSON(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_renders_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renders")),
    )
    with op.batch_alter_table("renders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_renders_image_sha256"), ["image_sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_renders_prompt_id"), ["prompt_id"], unique=False)

    op.execute(CREATE_FTS)
    for trigger in CREATE_TRIGGERS:
        op.execute(trigger)


def downgrade() -> None:
    for statement in DROP_ALL:
        op.execute(statement)
    with op.batch_alter_table("renders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_renders_prompt_id"))
        batch_op.drop_index(batch_op.f("ix_renders_image_sha256"))

    op.drop_table("renders")
    with op.batch_alter_table("recipes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recipes_seed"))

    op.drop_table("recipes")
    with op.batch_alter_table("prompt_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prompt_tags_tag_id"))

    op.drop_table("prompt_tags")
    with op.batch_alter_table("collection_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_items_prompt_id"))

    op.drop_table("collection_items")
    with op.batch_alter_table("styles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_styles_pack_id"))

    op.drop_table("styles")
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.drop_index("ix_prompts_rating")
        batch_op.drop_index(batch_op.f("ix_prompts_pack_id"))
        batch_op.drop_index(batch_op.f("ix_prompts_fingerprint"))
        batch_op.drop_index("ix_prompts_favourite")

    op.drop_table("prompts")
    op.drop_table("tags")
    op.drop_table("packs")
    op.drop_table("collections")
