"""The key sets of every ``--json`` output: the scripting contract docs/JSON.md describes.

The contract tests compare outputs with these sets exactly, so renaming, removing or adding a key fails a test;
a change here is a change to the contract and goes with docs/JSON.md (a test checks every key is named there).
"""

from __future__ import annotations

from typing import Any

# One entry: add, show, edit, dup, styles apply; the items of list, overview's newest and search (with SEARCH_HIT).
ENTRY = {"id", "title", "prompt", "negative_prompt", "notes", "tags", "rating", "favourite", "params", "source",
         "collections", "renders", "created_at", "updated_at"}  # fmt: skip
PARAMS = {"model", "model_hash", "vae", "sampler", "schedule", "steps", "cfg_scale", "seed", "width", "height",
          "clip_skip", "loras", "extra"}  # fmt: skip
# One render, wherever it appears: an entry's renders, render's renders, rerun, grid cells.
RENDER = {"id", "prompt_id", "image_sha256", "image_path", "linked", "width", "height", "file_size", "format", "kind",
          "recipe", "environment", "timings", "created_at"}  # fmt: skip
SEARCH_HIT = ENTRY | {"score", "scores", "render_id"}
STYLE = {"id", "name", "prompt", "negative_prompt", "notes", "tags", "pack"}  # styles list, show, add

INIT = {"library", "import"}
INIT_IMPORT = {"pack", "format", "imported", "duplicates", "styles_imported", "styles_duplicates", "images_imported",
               "warnings"}  # fmt: skip
STATS = {"prompts", "styles", "renders", "images", "packs", "tags", "collections", "favourites", "rated", "top_tags",
         "top_packs", "top_samplers", "top_models", "library", "schema", "db_bytes"}  # fmt: skip
OVERVIEW = {"stats", "newest"}

RM = {"removed"}
RATE = {"ids", "rating"}
FAV = {"ids", "favourite"}
TAG_ROW = {"tag", "count"}
COLLECT_ADDED = {"collection", "added", "count"}
COLLECT_REMOVED = {"collection", "removed"}
COLLECTION_ROW = {"name", "count"}
COLLECTION_DELETED = {"deleted", "count"}

IMPORT = {"imported", "duplicates", "failed", "ids", "styles_imported", "styles_duplicates", "images_imported",
          "files", "skipped", "warnings"}  # fmt: skip
FAILED_FILE = {"path", "reason"}

EXPORT = {"path", "format", "exported", "styles_exported", "images_exported"}

DB_UPGRADE = {"upgraded", "from_schema", "to_schema", "backup"}
DB_BACKUP = {"backup"}
DB_CHECK = {"ok", "problems"}
DOCTOR = {"ok", "fixed", "facts", "findings"}
DOCTOR_FACTS = {"schema", "schema_head", "db_bytes", "wal_bytes", "image_files", "renders"}
FINDING = {"kind", "detail", "path", "fixable"}

MODEL = {"name", "kind", "pipeline", "arch", "size_bytes", "path", "note"}
SCHEDULER = {"name", "sampler", "schedule", "class", "overrides", "steps", "unet_calls_per_step", "stochastic",
             "requires", "available", "note"}  # fmt: skip

RENDER_RUN = {"renders", "cancelled", "images_total", "seconds", "failed"}
FAILED_ENTRY = {"prompt_id", "reason"}
RERUN = RENDER | {"rerun_of", "identical_to_original"}
VERIFY = {"render_id", "verdict", "max_abs_diff", "mean_abs_diff", "psnr", "changed_fraction", "fingerprint_diff",
          "stored_pixels_sha256", "new_pixels_sha256"}  # fmt: skip
FINGERPRINT_CHANGE = {"stored", "current"}
GRID = {"id", "image_path", "width", "height", "axes", "cells", "animation", "cancelled"}
GRID_AXIS = {"axis", "field", "values", "labels"}
GRID_CELL = RENDER | {"x", "y", "z"}

INDEX_BUILD = {"model", "dim", "embedded", "reused", "indexed", "failed", "seconds"}
FAILED_IMAGE = {"render_id", "image_path", "reason"}
INDEX_STATUS = {"model", "weights", "kinds", "other_models", "last_error"}
INDEX_KIND = {"kind", "items", "embedded", "state", "indexed", "factory", "path", "detail"}
DEDUP_CLUSTER = {"count", "renders"}
DEDUP_MEMBER = {"render_id", "prompt_id", "image_path", "similarity"}

BENCH_RENDER = {"meta", "rows", "goals"}
BENCH_RENDER_ROW = {"scenario", "arch", "variant", "scheduler", "batch", "width", "height", "steps",
                    "seconds_per_batch", "seconds_per_image", "images_per_second", "it_per_second", "unet_calls",
                    "peak_gpu_mb", "warmup_s", "error", "extra"}  # fmt: skip
BENCH_SEARCH = {"factory", "search_params", "vectors", "dim", "queries", "k", "spread", "p50_ms", "p95_ms",
                "recall_at_10", "build_recall", "exact_p50_ms", "exact_threads", "build_s", "load_s", "memory_mb",
                "memory_source", "index_file_mb"}  # fmt: skip

SHAPES = {name: value for name, value in globals().items() if name.isupper() and isinstance(value, set)}


def keys(value: Any) -> set[str]:
    """The keys of a JSON object (fails, naming the type, for anything else)."""
    assert isinstance(value, dict), f"expected a JSON object, got {type(value).__name__}: {value!r:.200}"
    return set(value)


def assert_shape(value: Any, expected: set[str]) -> None:
    """`value` is an object with exactly the keys `expected`; the message names what is missing and what is new."""
    found = keys(value)
    assert found == expected, f"missing {sorted(expected - found)}, unexpected {sorted(found - expected)}"
