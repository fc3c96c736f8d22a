"""The store: SQLModel tables, the SQLite connection and its pragmas, migrations, queries and the image store."""
