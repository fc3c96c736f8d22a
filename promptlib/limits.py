"""Size limits for untrusted input (ARCHITECTURE rule 7). One place, so docs and tests quote the same numbers."""

from __future__ import annotations

MAX_PROMPT_CHARS = 100_000  # a prompt or negative prompt; A1111's longest real prompts are a few thousand
MAX_TITLE_CHARS = 500
MAX_NOTES_CHARS = 100_000
MAX_TAG_CHARS = 100
MAX_TAGS_PER_ENTRY = 200
MAX_QUERY_CHARS = 2_000
MAX_JSON_BYTES = 64 * 1024 * 1024  # one pack JSON file
MAX_JSON_DEPTH = 64
MAX_IMAGE_BYTES = 256 * 1024 * 1024
MAX_IMAGE_PIXELS = 16_384 * 16_384
MAX_METADATA_CHARS = 4 * 1024 * 1024  # one text chunk in an image
MAX_ID = 2**63 - 1  # SQLite's largest integer: ids, seeds and counts beyond it cannot be stored
