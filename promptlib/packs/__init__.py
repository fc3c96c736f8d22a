"""Prompt packs: the native format (schema.py, native.py) and one module per foreign format."""
