"""Where the library lives and what its config.toml says.

Resolution order for the library folder: an explicit path (``--library``), then ``$PROMPTLIB_HOME``, then
platformdirs' ``user_data_dir("promptlib")``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_HOME = "PROMPTLIB_HOME"
DB_NAME = "library.db"
IMAGES_DIR = "images"
INDEX_DIR = "index"
BACKUPS_DIR = "backups"
CONFIG_NAME = "config.toml"

DEFAULT_CONFIG_TEXT = """\
# promptlib library settings. Unknown keys are kept; see `promptlib --help`.

[search]
# Results per query when -k is not given.
default_limit = 20

[embedding]
# open_clip model and pretrained tag used by semantic search (weights must be in the local cache).
model = "ViT-B-32"
pretrained = "laion2b_s34b_b79k"

[render]
# Default dtype and device for renders: "auto" picks cuda/fp16 when a GPU is present.
device = "auto"
dtype = "auto"
"""


def default_library_path() -> Path:
    """The library folder used when neither ``--library`` nor ``$PROMPTLIB_HOME`` says otherwise."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("promptlib", appauthor=False))


def resolve_library_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The library folder for an optional explicit path, as an absolute path."""
    path = Path(explicit).expanduser() if explicit else default_library_path()
    return path.absolute()


@dataclass(frozen=True)
class Config:
    """The parsed config.toml of one library (missing keys take the defaults)."""

    search_limit: int = 20
    embedding_model: str = "ViT-B-32"
    embedding_pretrained: str = "laion2b_s34b_b79k"
    render_device: str = "auto"
    render_dtype: str = "auto"
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Config:
        """Read config.toml; a missing file gives the defaults, a malformed one raises ValueError."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        data = tomllib.loads(text)
        search = data.get("search", {})
        embedding = data.get("embedding", {})
        render = data.get("render", {})
        return cls(
            search_limit=int(search.get("default_limit", 20)),
            embedding_model=str(embedding.get("model", "ViT-B-32")),
            embedding_pretrained=str(embedding.get("pretrained", "laion2b_s34b_b79k")),
            render_device=str(render.get("device", "auto")),
            render_dtype=str(render.get("dtype", "auto")),
            raw=data,
        )
