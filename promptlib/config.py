"""Where the library lives and what its config.toml says.

Resolution order for the library folder: an explicit path (``--library``), then ``$PROMPTLIB_HOME``, then
platformdirs' ``user_data_dir("promptlib")``.
"""

from __future__ import annotations

import os
import re
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
# Or a weights file (.safetensors / .pt), and an architecture JSON named <model>.json for a custom model.
# checkpoint = "~/models/my-clip.safetensors"
# model_config = "~/models/my-clip.json"
# "auto" embeds on the GPU in fp16 when there is one; batch_size 0 and workers -1 pick for the machine.
device = "auto"
batch_size = 0
workers = -1

[render]
# Default dtype and device for renders: "auto" picks cuda/fp16 when a GPU is present.
device = "auto"
dtype = "auto"
# Folders holding checkpoints (.safetensors) and diffusers model folders, listed by `promptlib models`.
# model_dirs = ["~/stable-diffusion-webui/models/Stable-diffusion"]
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
    embedding_checkpoint: str | None = None
    embedding_model_config: str | None = None
    embedding_device: str = "auto"
    embedding_batch_size: int = 0  # images per batch; 0 = automatic
    embedding_workers: int = -1  # image decoding processes; -1 = automatic
    render_device: str = "auto"
    render_dtype: str = "auto"
    render_model_dirs: tuple[str, ...] = ()
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
            search_limit=_int(search.get("default_limit", 20), "search.default_limit", minimum=1),
            embedding_model=str(embedding.get("model", "ViT-B-32")),
            embedding_pretrained=str(embedding.get("pretrained", "laion2b_s34b_b79k")),
            embedding_checkpoint=str(embedding["checkpoint"]) if embedding.get("checkpoint") else None,
            embedding_model_config=str(embedding["model_config"]) if embedding.get("model_config") else None,
            embedding_device=str(embedding.get("device", "auto")),
            embedding_batch_size=_int(embedding.get("batch_size", 0), "embedding.batch_size", minimum=0),
            embedding_workers=_int(embedding.get("workers", -1), "embedding.workers", minimum=-1),
            render_device=str(render.get("device", "auto")),
            render_dtype=str(render.get("dtype", "auto")),
            render_model_dirs=_str_tuple(render.get("model_dirs", ()), "render.model_dirs"),
            raw=data,
        )


def _int(value: Any, key: str, *, minimum: int) -> int:
    """A TOML integer of at least `minimum`; anything else is a malformed config (ValueError naming the key)."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        number = int(value)  # "20" was read as 20 before numbers were checked: keep old configs working
    if number is None or number < minimum:
        raise ValueError(f"{key} must be a whole number of at least {minimum}, not {value!r}")
    return number


def _str_tuple(value: Any, key: str) -> tuple[str, ...]:
    """A TOML list of strings (or one string) as a tuple; anything else is a malformed config (ValueError)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of folder paths")
    return tuple(value)
