"""Finding models: a Hugging Face id in the local HF cache, a diffusers folder, or a single-file checkpoint (SD 1.x,
2.x, XL; architecture from its keys, configs from the built-in presets: no hub access); their hashes; the listing
behind ``promptlib models``. Loading lives in ``promptlib.render.loading`` and is re-exported here.

Untrusted files (ARCHITECTURE rule 7): pickles (``.ckpt``, ``.pt``, ``.bin``) are refused unless the caller opts in,
and even then load with ``weights_only=True``; every ``.safetensors`` is checked by its header, not its name, before
anything reads tensors. Nothing downloads unless ``allow_download`` says so.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from promptlib.errors import (
    ALLOW_DOWNLOAD,
    ALLOW_PICKLE,
    FormatError,
    NotFoundError,
    UnsafeInputError,
    ValidationError,
    wordings,
)
from promptlib.render.checkpoints import (
    WEIGHT_SUFFIXES,
    check_safetensors,
    infer_architecture,
    is_pickle,
    load_pickle_weights_only,
    read_header_only_json,
    refuse_pickle,
    tensor_shapes,
)
from promptlib.render.hashing import HashCache, file_sha256, folder_sha256, short_hash
from promptlib.render.loading import (
    PIPELINE_CLASSES,
    MemoryOptions,
    clear_pipeline_cache,
    load_pipeline,
    resolve_device,
    resolve_dtype,
    set_pipeline_cache_size,
)

__all__ = [
    "MemoryOptions",
    "ModelInfo",
    "ModelSource",
    "check_safetensors",
    "clear_pipeline_cache",
    "file_sha256",
    "find_named",
    "infer_architecture",
    "list_models",
    "load_pipeline",
    "model_hash",
    "refuse_pickle",
    "resolve_device",
    "resolve_dtype",
    "resolve_model",
    "resolve_vae",
    "set_pipeline_cache_size",
]

SourceKind = Literal["hub", "folder", "single_file"]
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
_MAX_SCAN_DEPTH = 3


# ---- values -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: where it is and what it is. ``sha256`` is computed on first use (and cached on disk)."""

    kind: SourceKind
    location: str  # the HF id for "hub", else the absolute path
    path: Path | None  # the folder or file to load; for "hub", the cached snapshot (None: not downloaded yet)
    arch: str | None  # "sd15" | "sd2" | "sdxl"; None when unknown
    pipeline_class: str | None = None
    config: Path | None = None  # a diffusers config folder overriding the preset for a single file
    allow_pickle: bool = False
    allow_download: bool = False

    @property
    def name(self) -> str:
        """What people call it: the HF id, a folder's name, or a file's stem."""
        if self.kind == "hub":
            return self.location
        return Path(self.location).stem if self.kind == "single_file" else Path(self.location).name

    @functools.cached_property
    def sha256(self) -> str:
        """The model's sha256: the file's for a single file, over its component weight files for a folder."""
        return model_hash(self)

    @property
    def short_hash(self) -> str:
        """A1111's ``Model hash`` (first 10 hex digits)."""
        return short_hash(self.sha256)

    def cache_key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.location, str(self.path), str(self.config))


@dataclass(frozen=True)
class ModelInfo:
    """One row of ``promptlib models`` (`cli_note`: the note in the CLI's words, when it names a switch such as
    ``--allow-pickle``; see `promptlib.errors.Switch`)."""

    name: str
    kind: SourceKind
    pipeline: str | None
    arch: str | None
    size_bytes: int
    path: str
    note: str = ""
    cli_note: str | None = None

    def note_for(self, *, cli: bool = False) -> str:
        """The note; with `cli`, as the CLI words it."""
        return self.cli_note if cli and self.cli_note is not None else self.note

    def to_json(self, *, cli: bool = False) -> dict[str, Any]:
        """The row as ``promptlib models --json`` prints it (`cli`: the note in the CLI's words)."""
        row = asdict(self)
        del row["cli_note"]
        return row | {"note": self.note_for(cli=cli)}


# ---- resolving --------------------------------------------------------------------------------------------------


def resolve_model(
    ref: str,
    *,
    folders: Sequence[Path] = (),
    allow_download: bool = False,
    allow_pickle: bool = False,
    arch: str | None = None,
    config: Path | None = None,
    hf_cache: Path | None = None,
) -> ModelSource:
    """Find the model ``ref`` names: a path to a diffusers folder or a checkpoint file, a name inside one of
    ``folders`` (with or without its suffix), or a Hugging Face id in the local HF cache. ``arch`` overrides the
    architecture read from a single file's keys; ``config`` names a diffusers config folder to use instead of the
    preset (a 512 px SD 2.x-base checkpoint, a custom VAE scale); ``hf_cache`` replaces the HF cache folder.

    Raises NotFoundError (saying where it looked and how to get the model), UnsafeInputError for a refused pickle,
    FormatError for files that are not what they claim.
    """
    if arch is not None:
        from promptlib.render.presets import preset

        preset(arch)  # validates the name
    text = ref.strip()
    if not text:
        raise ValidationError("no model given")
    path = Path(text).expanduser()
    if path.exists():
        return _resolve_path(path, allow_pickle=allow_pickle, arch=arch, config=config)
    found = find_named(text, folders)
    if found is not None:
        return _resolve_path(found, allow_pickle=allow_pickle, arch=arch, config=config)
    looks_like_path = (
        (os.sep in text and not _HF_ID.match(text)) or text.startswith((".", "~")) or text.endswith(WEIGHT_SUFFIXES)
    )
    if _HF_ID.match(text) and not looks_like_path:
        snapshot = _hf_snapshot(text, hf_cache)
        if snapshot is not None:
            return _folder_source(snapshot, kind="hub", location=text, allow_pickle=allow_pickle)
        if allow_download:
            return ModelSource(kind="hub", location=text, path=None, arch=arch, allow_download=True,
                               allow_pickle=allow_pickle)  # fmt: skip
    where = [f"no file {path}"] if looks_like_path else []
    if folders:
        where.append("not in " + ", ".join(str(f) for f in folders))
    elif not looks_like_path:  # a bare name, as imported images give (A1111 writes the checkpoint's file stem)
        where.append("no model folders are configured to look for it in")
    if _HF_ID.match(text):
        where.append(f"not in the Hugging Face cache ({hf_cache or _hf_cache_dir()})")
        said = f"model {text!r} not found: {'; '.join(where)}"
        raise ALLOW_DOWNLOAD.error(
            NotFoundError, lambda how: f"{said} (download it with `hf download {text}` or pass {how})"
        )
    hint = (
        "list the folder holding your checkpoints in config.toml's [render] model_dirs (`promptlib models`"
        " shows what it finds), or name a .safetensors file or a diffusers folder by its path, or a Hugging Face"
        " id like org/name"
    )
    raise NotFoundError(f"model {text!r} not found: {'; '.join(where) or 'no such file'} ({hint})")


def resolve_vae(ref: str, *, folders: Sequence[Path] = (), allow_pickle: bool = False) -> ModelSource:
    """Find a VAE: a diffusers VAE folder (config.json + weights, or a model folder's vae/), or a single file
    (diffusers or original layout), by path or by name inside ``folders``. ``arch`` is None; ``model_hash`` works.

    Raises NotFoundError, UnsafeInputError for a refused pickle, FormatError for a file that lies in its header.
    """
    text = ref.strip()
    direct = Path(text).expanduser()
    path = direct.absolute() if text and direct.exists() else find_named(text, folders)
    if path is None:
        where = f" or in {', '.join(str(f) for f in folders)}" if folders else ""
        raise NotFoundError(f"VAE {ref!r} not found as a file or folder{where}")
    path = path.absolute()
    if path.is_dir():
        if not ((path / "config.json").is_file() or (path / "vae" / "config.json").is_file()):
            raise FormatError(f"{path} is not a diffusers VAE folder (no config.json)")
        return ModelSource(kind="folder", location=str(path), path=path, arch=None, pipeline_class="AutoencoderKL")
    refuse_pickle(path, allow_pickle=allow_pickle)
    if not is_pickle(path):
        check_safetensors(path)
    return ModelSource(kind="single_file", location=str(path), path=path, arch=None, pipeline_class="AutoencoderKL",
                       allow_pickle=allow_pickle)  # fmt: skip


def find_named(name: str, folders: Sequence[Path]) -> Path | None:
    """``name`` (with or without its suffix) in ``folders``, directly or up to three levels down, as A1111 users
    keep checkpoints in subfolders; the first folder wins, then the shallowest match, then alphabetical order."""
    if not name or Path(name).is_absolute() or ".." in Path(name).parts or "\x00" in name:
        return None  # a name from a stranger's recipe never walks out of the configured folders
    wanted = {name, *(name + s for s in WEIGHT_SUFFIXES)}
    for folder in folders:
        level = [Path(folder).expanduser()]
        for _ in range(_MAX_SCAN_DEPTH):
            hits = [level_dir / w for level_dir in level for w in sorted(wanted) if (level_dir / w).exists()]
            if hits:
                return hits[0]
            level = [
                sub
                for d in level
                for sub in _subfolders(d)
                if not (sub / "model_index.json").is_file()  # never look inside a diffusers model
            ]
    return None


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _resolve_path(path: Path, *, allow_pickle: bool, arch: str | None, config: Path | None) -> ModelSource:
    path = path.absolute()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise FormatError(f"{path} is not a diffusers model folder (no model_index.json)")
        return _folder_source(path, kind="folder", location=str(path), allow_pickle=allow_pickle)
    if config is not None and not (Path(config) / "model_index.json").is_file():
        raise FormatError(f"config folder {config} has no model_index.json")
    refuse_pickle(path, allow_pickle=allow_pickle)
    if is_pickle(path):
        found = arch or _pickle_architecture(path)
    else:
        header = check_safetensors(path)
        found = arch or _architecture_of(path, header)
    from promptlib.render.presets import preset

    return ModelSource(
        kind="single_file",
        location=str(path),
        path=path,
        arch=found,
        pipeline_class=preset(found).pipeline_class,
        config=Path(config).absolute() if config is not None else None,
        allow_pickle=allow_pickle,
    )


def _architecture_of(path: Path, header: dict[str, Any]) -> str:
    try:
        return infer_architecture((k for k in header if k != "__metadata__"), tensor_shapes(header))
    except FormatError as exc:
        raise FormatError(f"{path.name}: {exc}") from None


def _pickle_architecture(path: Path) -> str:
    """Key names of a pickle the user allowed, read with ``weights_only=True`` (no code runs)."""
    state = load_pickle_weights_only(path)
    return infer_architecture(state, {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")})


def _folder_source(folder: Path, *, kind: SourceKind, location: str, allow_pickle: bool = False) -> ModelSource:
    index = read_header_only_json(folder / "model_index.json")
    class_name = str(index.get("_class_name", ""))
    arch = _folder_arch(folder, class_name)
    return ModelSource(kind=kind, location=location, path=folder, arch=arch, pipeline_class=class_name or None,
                       allow_pickle=allow_pickle)  # fmt: skip


def _folder_arch(folder: Path, class_name: str) -> str | None:
    if class_name == "StableDiffusionXLPipeline":
        return "sdxl"
    if class_name != "StableDiffusionPipeline":
        return None
    try:
        unet = read_header_only_json(folder / "unet" / "config.json")
    except FormatError:
        return None
    width = unet.get("cross_attention_dim")
    if width in (768, 1024):
        return "sd15" if width == 768 else "sd2"
    return "sd2" if unet.get("use_linear_projection") else "sd15"  # tiny and custom UNets: SD 2 projects linearly


def _hf_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _hf_snapshot(repo_id: str, hf_cache: Path | None) -> Path | None:
    """The cached snapshot folder of a diffusers repo: the one ``refs/main`` names, else the newest one holding a
    model_index.json. Only the local cache is consulted, never the network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "model_index.json", cache_dir=hf_cache)
    if isinstance(found, str) and Path(found).is_file():
        return Path(found).parent
    snapshots = (hf_cache or _hf_cache_dir()) / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    try:
        candidates = [p for p in snapshots.iterdir() if (p / "model_index.json").is_file()]
    except OSError:
        return None
    return max(candidates, key=lambda p: p.stat().st_mtime_ns, default=None)


def model_hash(
    source: ModelSource, *, cache: HashCache | None = None, progress: Callable[[int], None] | None = None
) -> str:
    """The sha256 of a model: of the file for a single file; over the sorted component weight files (relative path
    and each file's sha256) for a folder or HF snapshot. File hashes are cached by (path, mtime, size)."""
    if source.path is None:
        raise ValidationError(f"model {source.location} is not downloaded yet: load it once before hashing")
    if source.kind == "single_file":
        return file_sha256(source.path, cache=cache, progress=progress)
    return folder_sha256(source.path, cache=cache, progress=progress)


# ---- listing ----------------------------------------------------------------------------------------------------


def list_models(folders: Sequence[Path] = (), *, hf_cache: Path | None = None) -> list[ModelInfo]:
    """The diffusers pipelines in the local HF cache and the models in ``folders`` (diffusers folders and
    single-file checkpoints, up to three levels deep). Reads configs and safetensors headers only; a file that
    fails its checks is listed with a note saying why."""
    found = _hf_models(hf_cache)
    for folder in folders:
        root = Path(folder).expanduser()
        if root.is_dir():
            found += _folder_models(root, depth=0)
    return found


def _hf_models(hf_cache: Path | None) -> list[ModelInfo]:
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir(hf_cache)
    except Exception:  # CacheNotFound, or a cache folder we cannot read: nothing to list, not an error
        return []
    out: list[ModelInfo] = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        revisions = sorted(repo.revisions, key=lambda r: r.commit_hash)
        for revision in revisions:
            snapshot = Path(revision.snapshot_path)
            if not (snapshot / "model_index.json").is_file():
                continue
            try:
                source = _folder_source(snapshot, kind="hub", location=repo.repo_id)
            except FormatError as exc:
                out.append(ModelInfo(repo.repo_id, "hub", None, None, revision.size_on_disk, str(snapshot), str(exc)))
                continue
            name = repo.repo_id if len(revisions) == 1 else f"{repo.repo_id}@{revision.commit_hash[:8]}"
            note = "" if source.pipeline_class in PIPELINE_CLASSES else "pipeline type not supported for rendering"
            out.append(ModelInfo(name, "hub", source.pipeline_class, source.arch, revision.size_on_disk,
                                 str(snapshot), note))  # fmt: skip
    return out


def _folder_models(root: Path, *, depth: int) -> list[ModelInfo]:
    out: list[ModelInfo] = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return out
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if (entry / "model_index.json").is_file():
                out.append(_folder_info(entry))
            elif depth + 1 < _MAX_SCAN_DEPTH:
                out += _folder_models(entry, depth=depth + 1)
        elif entry.is_file() and entry.name.endswith(WEIGHT_SUFFIXES):
            info = _file_info(entry)
            if info is not None:
                out.append(info)
    return out


def _folder_info(folder: Path) -> ModelInfo:
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    try:
        source = _folder_source(folder, kind="folder", location=str(folder))
    except FormatError as exc:
        return ModelInfo(folder.name, "folder", None, None, size, str(folder), str(exc))
    note = "" if source.pipeline_class in PIPELINE_CLASSES else "pipeline type not supported for rendering"
    return ModelInfo(folder.name, "folder", source.pipeline_class, source.arch, size, str(folder), note)


_CHECKPOINT_PREFIXES = ("model.diffusion_model.", "cond_stage_model.", "conditioner.embedders.")


def _file_info(path: Path) -> ModelInfo | None:
    size = path.stat().st_size
    if is_pickle(path):
        if path.suffix.lower() != ".ckpt":
            return None  # .pt/.bin/.pth are as often embeddings or LoRAs; .ckpt is the checkpoint convention
        note, cli_note = wordings(lambda how: f"pickle checkpoint: refused unless you pass {how}", ALLOW_PICKLE)
        return ModelInfo(path.stem, "single_file", None, None, size, str(path), note, cli_note)
    from promptlib.render.presets import preset

    try:
        header = check_safetensors(path)
    except (FormatError, UnsafeInputError) as exc:
        return ModelInfo(path.stem, "single_file", None, None, size, str(path), str(exc))
    if not any(k.startswith(_CHECKPOINT_PREFIXES) for k in header):
        return None  # a VAE, a LoRA, an embedding: not a model to render with
    try:
        arch = _architecture_of(path, header)
    except FormatError as exc:
        return ModelInfo(path.stem, "single_file", None, None, size, str(path), str(exc))
    return ModelInfo(path.stem, "single_file", preset(arch).pipeline_class, arch, size, str(path))
