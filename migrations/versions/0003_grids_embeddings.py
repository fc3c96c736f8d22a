"""Grids (renders linked to a grid cell) and stored embeddings for semantic search, with change counters.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 01:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of promptlib.store.schema_extras.CREATE_EMBEDDING_TRIGGERS as of this revision.
_TABLES = ("render_embeddings", "prompt_embeddings")
_EVENTS = (("ai", "INSERT"), ("ad", "DELETE"), ("au", "UPDATE"))


def _trigger(table: str, suffix: str, event: str) -> str:
    return (
        f"CREATE TRIGGER {table}_gen_{suffix} AFTER {event} ON {table} BEGIN "
        f"INSERT INTO library_meta(key, value) VALUES ('generation:{table}', '1') "
        f"ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1; END"
    )


def upgrade() -> None:
    op.create_table(
        "grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("image_sha256", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("image_path", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_grids_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grids")),
    )
    op.create_index(op.f("ix_grids_prompt_id"), "grids", ["prompt_id"], unique=False)
    with op.batch_alter_table("renders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("grid_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("grid_cell", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_renders_grid_id"), ["grid_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_renders_grid_id_grids"), "grids", ["grid_id"], ["id"], ondelete="SET NULL"
        )
    for table, owner, target in (
        ("render_embeddings", "render_id", "renders.id"),
        ("prompt_embeddings", "prompt_id", "prompts.id"),
    ):
        op.create_table(
            table,
            sa.Column(owner, sa.Integer(), nullable=False),
            sa.Column("model", sa.String(), nullable=False),
            sa.Column("dim", sa.Integer(), nullable=False),
            sa.Column("vector", sa.LargeBinary(), nullable=False),
            sa.ForeignKeyConstraint(
                [owner], [target], name=op.f(f"fk_{table}_{owner}_{target.split('.')[0]}"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint(owner, "model", name=op.f(f"pk_{table}")),
        )
        for suffix, event in _EVENTS:
            op.execute(_trigger(table, suffix, event))


def downgrade() -> None:
    for table in _TABLES:
        for suffix, _ in _EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_gen_{suffix}")
        op.drop_table(table)
    with op.batch_alter_table("renders", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_renders_grid_id_grids"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_renders_grid_id"))
        batch_op.drop_column("grid_cell")
        batch_op.drop_column("grid_id")
    op.drop_index(op.f("ix_grids_prompt_id"), table_name="grids")
    op.drop_table("grids")
