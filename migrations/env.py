"""Alembic environment for promptlib libraries.

promptlib runs migrations itself (``promptlib db upgrade`` or automatically on open) and passes its own
connection in ``config.attributes["connection"]``. ``alembic -x db=PATH`` works too, for development.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import promptlib.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from promptlib.store.schema_extras import is_fts_object

config = context.config
target_metadata = SQLModel.metadata


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # FTS5 virtual tables and their shadow tables are created by raw SQL, not by the models.
    return not (type_ == "table" and name is not None and is_fts_object(name))


def _configure(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        include_name=include_name,
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    db = context.get_x_argument(as_dictionary=True).get("db", "library.db")
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("promptlib migrations run online only: use `promptlib db upgrade`")
run_migrations_online()
