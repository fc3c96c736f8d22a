"""Library metadata table, seeded with a library id and the schema creation time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 20:55:18.541667
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "library_meta",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_library_meta")),
    )
    meta = sa.table("library_meta", sa.column("key", sa.String), sa.column("value", sa.String))
    op.bulk_insert(
        meta,
        [
            {"key": "library_id", "value": uuid.uuid4().hex},
            {"key": "meta_created_at", "value": datetime.now(UTC).isoformat()},
        ],
    )


def downgrade() -> None:
    op.drop_table("library_meta")
