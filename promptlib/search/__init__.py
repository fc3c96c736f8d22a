"""Search: the query DSL (pure), lexical FTS5 search, and (with the ML extra) semantic search."""
