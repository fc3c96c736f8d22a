"""Loading pipelines for resolved models: dtype and device, a VAE override, LoRAs, memory options.

``load_pipeline`` keeps loaded pipelines in a small process-level cache keyed by (model, dtype, device, CPU offload),
with VAE variants sharing the model's other components, so repeated renders don't reload; LoRAs are loaded once per
pipeline as peft adapters and switched with ``set_adapters``. The cache is not thread-safe: one render at a time
(the render queue guarantees it). Every file is checked (safetensors header, pickle refusal) before it is read.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from promptlib.errors import ALLOW_DOWNLOAD, FormatError, NotFoundError, UnsafeInputError, ValidationError
from promptlib.render.checkpoints import (
    PICKLE_SUFFIXES,
    WEIGHT_SUFFIXES,
    check_safetensors,
    is_pickle,
    load_pickle_weights_only,
    read_header_only_json,
    refuse_pickle,
    scheduler_overrides,
    single_file_architecture,
)
from promptlib.render.hashing import file_sha256

if TYPE_CHECKING:
    import torch
    from diffusers import AutoencoderKL, DiffusionPipeline

    from promptlib.render.models import ModelSource

PIPELINE_CLASSES = {"StableDiffusionPipeline": "sd", "StableDiffusionXLPipeline": "sdxl"}


@dataclass(frozen=True)
class MemoryOptions:
    """How to trade speed for memory. SDPA attention is the default; xformers is used when installed on CUDA
    unless ``xformers=False``. ``cpu_offload`` "model" keeps one component on the GPU at a time, "sequential" one
    layer (slowest, least memory)."""

    attention_slicing: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: Literal["none", "model", "sequential"] = "none"
    xformers: bool | None = None


def resolve_device(device: str = "auto") -> str:
    """The best device present for "auto" (cuda, then mps, then cpu); any other name is checked and passed through."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValidationError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    return device


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """fp16 on a GPU and fp32 on the CPU for "auto"; else the named dtype (fp16, bf16, fp32)."""
    import torch

    from promptlib.render.presets import torch_dtype

    if dtype == "auto":
        return torch.float32 if device == "cpu" else torch.float16
    return torch_dtype(dtype)


@dataclass
class _Entry:
    """One loaded model: the pipeline as loaded, its variants with another VAE, what was applied to them."""

    base: Any
    views: dict[str, Any] = field(default_factory=dict)  # VAE key -> the base's components with that VAE
    adapters: dict[str, str] = field(default_factory=dict)  # adapter name -> LoRA file
    applied: tuple[int, MemoryOptions] | None = None  # (id of the pipeline, options) last applied


_CACHE: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
_CACHE_LOCK = threading.RLock()
_cache_size = 1


def set_pipeline_cache_size(size: int) -> None:
    """How many loaded models to keep (default 1: a second model evicts the first, freeing GPU memory)."""
    global _cache_size
    if size < 1:
        raise ValidationError("the pipeline cache keeps at least one model")
    _cache_size = size
    _evict(keep=size)


def clear_pipeline_cache() -> None:
    """Drop every cached pipeline and free what torch holds for them."""
    _evict(keep=0)


def _evict(*, keep: int) -> None:
    with _CACHE_LOCK:
        if len(_CACHE) <= keep:
            return
        while len(_CACHE) > keep:
            _CACHE.popitem(last=False)
    gc.collect()
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_pipeline(
    source: ModelSource,
    *,
    dtype: str = "auto",
    device: str = "auto",
    vae: str | ModelSource | None = None,
    loras: Sequence[tuple[str, float]] = (),
    memory: MemoryOptions | None = None,
    lora_folders: Sequence[Path] = (),
) -> DiffusionPipeline:
    """A pipeline for ``source`` ready to run: on ``device`` in ``dtype``, with ``vae`` (a path to a diffusers VAE
    folder or a single-file VAE, or what ``resolve_vae`` found) in place of its own, the ``loras`` (path or name in
    ``lora_folders``, weight) active and the ``memory`` options applied. Cached per process, so a second call with
    the same model is instant.

    Raises NotFoundError, UnsafeInputError (pickles without opt-in), FormatError (files diffusers cannot load),
    ValidationError (bad dtype/device/options).
    """
    memory = memory or MemoryOptions()
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    if memory.cpu_offload != "none" and not device.startswith("cuda"):
        raise ValidationError(f"CPU offload moves weights to a GPU when needed; device {device!r} has none")
    offload = memory.cpu_offload
    vae_path, vae_key = _vae_ref(vae) if vae is not None else (None, "")
    # offload hooks belong to one pipeline object, so an offloaded model with another VAE is loaded on its own
    key = (*source.cache_key(), str(torch_dtype), device, offload, vae_key if offload != "none" else "")
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
        if entry is not None:
            _CACHE.move_to_end(key)
    if entry is None:
        _evict(keep=_cache_size - 1)
        base = _load_base(source, torch_dtype)
        if offload != "none" and vae_path is not None:
            base = _rebuild(base, vae=_load_vae(vae_path, base, dtype=torch_dtype, allow_pickle=source.allow_pickle))
        _place(base, device=device, offload=offload)
        entry = _Entry(base=base)
        with _CACHE_LOCK:
            _CACHE[key] = entry
    pipe = entry.base
    if vae_path is not None and offload == "none":
        pipe = entry.views.get(vae_key)
        if pipe is None:
            model = _load_vae(vae_path, entry.base, dtype=torch_dtype, allow_pickle=source.allow_pickle)
            pipe = entry.views[vae_key] = _rebuild(entry.base, vae=model.to(device))
    _apply_memory(entry, pipe, memory, device=device)
    _apply_loras(entry, pipe, loras, folders=lora_folders, allow_pickle=source.allow_pickle)
    return pipe


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """diffusers and transformers draw tqdm bars and log casting notes while loading; promptlib reports progress
    its own way and turns real problems into errors."""
    from diffusers.utils import logging as dlogging
    from transformers.utils import logging as tlogging

    bars = dlogging.is_progress_bar_enabled(), tlogging.is_progress_bar_enabled()
    levels = dlogging.get_verbosity(), tlogging.get_verbosity()
    dlogging.disable_progress_bar()
    tlogging.disable_progress_bar()
    dlogging.set_verbosity_error()
    tlogging.set_verbosity_error()
    try:
        with warnings.catch_warnings():  # several LoRAs on one cached pipeline are several adapters, as meant
            warnings.filterwarnings("ignore", message="Already found a `peft_config`", category=UserWarning)
            yield
    finally:
        dlogging.set_verbosity(levels[0])
        tlogging.set_verbosity(levels[1])
        if bars[0]:
            dlogging.enable_progress_bar()
        if bars[1]:
            tlogging.enable_progress_bar()


@functools.cache
def _dtype_kwarg() -> str:
    """diffusers renamed ``torch_dtype`` to ``dtype`` (0.36+); older releases only know the first."""
    from diffusers.utils import deprecation_utils

    return "dtype" if hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE") else "torch_dtype"


def _load_error(name: str, exc: BaseException) -> FormatError:
    first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return FormatError(f"cannot load {name}: {first[:300]}")


def _pipeline_class(name: str | None) -> Any:
    import diffusers

    if name not in PIPELINE_CLASSES:
        supported = ", ".join(PIPELINE_CLASSES)
        raise ValidationError(f"pipeline type {name or 'unknown'} is not supported for rendering ({supported})")
    return getattr(diffusers, name)


def _load_base(source: ModelSource, dtype: torch.dtype) -> Any:
    with _quiet_loading():
        if source.kind == "single_file":
            return _load_single_file(source, dtype)
        return _load_folder(source, dtype)


def _load_single_file(source: ModelSource, dtype: torch.dtype) -> Any:
    from promptlib.render.presets import pipeline_config_folder, preset

    assert source.path is not None  # single files always have a path
    refuse_pickle(source.path, allow_pickle=source.allow_pickle)  # re-checked: the file may have changed
    overrides: dict[str, Any] = {}
    if not is_pickle(source.path):
        overrides = scheduler_overrides(check_safetensors(source.path))
    arch = source.arch or single_file_architecture(source.path)
    config = source.config or pipeline_config_folder(arch)
    cls = _pipeline_class(preset(arch).pipeline_class)
    try:
        pipe = cls.from_single_file(
            str(source.path), config=str(config), local_files_only=True, **{_dtype_kwarg(): dtype}
        )
    except Exception as exc:  # OSError, ValueError, KeyError, diffusers' SingleFileComponentError
        raise _load_error(source.name, exc) from None
    if overrides:  # the file's own word on v-prediction / zero terminal SNR beats the architecture's preset
        pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, **overrides)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _component_weights(folder: Path, *, allow_pickle: bool) -> tuple[bool | None, str | None]:
    """Check every component's weight files; returns (use_safetensors, variant). Pickle-only components are
    refused unless allowed; every .safetensors header is validated."""
    index = read_header_only_json(folder / "model_index.json")
    use_safetensors: bool | None = True
    variants: set[str] = set()
    for name, spec in index.items():
        sub = folder / name
        if name.startswith("_") or not isinstance(spec, list) or spec[:1] == [None] or not sub.is_dir():
            continue
        files = [p for p in sorted(sub.iterdir()) if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)]
        safes = [p for p in files if p.suffix == ".safetensors"]
        for path in safes:
            check_safetensors(path)
        if files and not safes:
            pickle_file = next(p for p in files if p.name.endswith(PICKLE_SUFFIXES))
            if not allow_pickle:
                refuse_pickle(pickle_file)
            use_safetensors = None  # opted in: safetensors where there are some, weights-only pickles elsewhere
        if safes and not any(p.name.count(".") == 1 for p in safes):
            # only variant files ("model.fp16.safetensors", "….fp16-00001-of-00002.safetensors")
            variants |= {p.name.split(".")[1].split("-")[0] for p in safes}
    variant = next(iter(sorted(variants))) if len(variants) == 1 else None
    return use_safetensors, variant


def _load_folder(source: ModelSource, dtype: torch.dtype) -> Any:
    download = source.path is None
    if download and not source.allow_download:
        raise ALLOW_DOWNLOAD.error(
            NotFoundError, lambda how: f"model {source.location} is not in the local Hugging Face cache (pass {how})"
        )
    cls = _pipeline_class(source.pipeline_class) if not download else None
    kwargs: dict[str, Any] = {_dtype_kwarg(): dtype, "local_files_only": not download}
    if source.path is not None:
        use_safetensors, variant = _component_weights(source.path, allow_pickle=source.allow_pickle)
        kwargs |= {"use_safetensors": use_safetensors, "variant": variant}
    else:
        kwargs["use_safetensors"] = True  # a download never fetches pickles
    if cls is None:
        from diffusers import DiffusionPipeline

        cls = DiffusionPipeline
    if source.pipeline_class != "StableDiffusionXLPipeline":
        kwargs |= {"safety_checker": None, "requires_safety_checker": False}
    target = str(source.path) if source.path is not None else source.location
    try:
        pipe = cls.from_pretrained(target, **kwargs)
    except Exception as exc:  # diffusers raises OSError, ValueError, EnvironmentError, hub errors
        raise _load_error(source.name, exc) from None
    if type(pipe).__name__ not in PIPELINE_CLASSES:
        raise ValidationError(f"pipeline type {type(pipe).__name__} is not supported for rendering")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _place(pipe: Any, *, device: str, offload: str) -> None:
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)


def _rebuild(pipe: Any, **overrides: Any) -> Any:
    """A second pipeline object over the same components (shared, not copied), with some replaced."""
    components = {**pipe.components, **overrides}
    if type(pipe).__name__ == "StableDiffusionXLPipeline":
        components["force_zeros_for_empty_prompt"] = pipe.config.force_zeros_for_empty_prompt
    else:
        components["requires_safety_checker"] = False
    view = type(pipe)(**components)
    view.set_progress_bar_config(disable=True)
    return view


def _vae_ref(ref: str | ModelSource) -> tuple[Path, str]:
    """The VAE's absolute path and a cache key that changes when the file does."""
    if not isinstance(ref, str):
        if ref.path is None:
            raise NotFoundError(f"VAE {ref.location} is not downloaded")
        ref = str(ref.path)
    path = Path(ref).expanduser().absolute()
    if not path.exists():
        raise NotFoundError(f"VAE {ref!r} not found (give a diffusers VAE folder or a .safetensors file)")
    stat = path.stat()
    return path, f"{path}|{stat.st_mtime_ns}|{stat.st_size}"


def _load_vae(path: Path, base: Any, *, dtype: torch.dtype, allow_pickle: bool) -> AutoencoderKL:
    """A VAE folder (or a model folder with a vae/ subfolder) or a single file in diffusers or original layout,
    shaped like ``base``'s own VAE."""
    from diffusers import AutoencoderKL

    try:
        if path.is_dir():
            sub = "vae" if (path / "vae" / "config.json").is_file() else None
            folder = path / sub if sub else path
            if not (folder / "config.json").is_file():
                raise FormatError(f"{path} is not a diffusers VAE folder (no config.json)")
            files = [p for p in sorted(folder.iterdir()) if p.name.endswith(WEIGHT_SUFFIXES)]
            safe = any(p.suffix == ".safetensors" for p in files)
            for weights in files:
                if weights.suffix == ".safetensors":
                    check_safetensors(weights)
                elif not safe:
                    refuse_pickle(weights, allow_pickle=allow_pickle)
            with _quiet_loading():
                return AutoencoderKL.from_pretrained(
                    str(path), subfolder=sub, local_files_only=True, use_safetensors=safe, **{_dtype_kwarg(): dtype}
                )
        refuse_pickle(path, allow_pickle=allow_pickle)
        if is_pickle(path):
            state = load_pickle_weights_only(path)
        else:
            check_safetensors(path)
            from safetensors.torch import load_file

            state = load_file(str(path))
        with _quiet_loading():
            return _vae_from_state(state, base.vae.config, dtype=dtype)
    except (FormatError, UnsafeInputError, NotFoundError):
        raise
    except Exception as exc:
        raise _load_error(f"VAE {path.name}", exc) from None


def _vae_from_state(state: dict[str, Any], config: Any, *, dtype: torch.dtype) -> AutoencoderKL:
    """A VAE with the base pipeline's config and ``state``'s weights, in diffusers or original (LDM) layout."""
    from diffusers import AutoencoderKL

    if any(k.startswith(("encoder.down_blocks.", "decoder.up_blocks.")) for k in state):
        converted = state
    else:
        from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

        converted = convert_ldm_vae_checkpoint(state, dict(config))
    vae = AutoencoderKL.from_config(config)
    expected = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
    missing = [k for k in expected if k not in converted]
    wrong = [k for k, v in converted.items() if k not in expected or tuple(v.shape) != expected[k]]
    if missing or wrong:
        sample = ", ".join((wrong + missing)[:3])
        raise FormatError(f"VAE weights do not fit this model's VAE ({len(missing)} missing, {len(wrong)} unexpected "
                          f"or misshapen, e.g. {sample})")  # fmt: skip
    vae.load_state_dict(converted)
    return vae.to(dtype).eval()


def _apply_memory(entry: _Entry, pipe: Any, memory: MemoryOptions, *, device: str) -> None:
    # views share the UNet, so what was applied last is per model; unchanged options touch nothing (a renderer's
    # own attention processors, fused QKV say, survive repeated loads)
    if entry.applied == (id(pipe), memory):
        return
    from diffusers.models.attention_processor import AttnProcessor2_0

    pipe.unet.set_attn_processor(AttnProcessor2_0())  # SDPA: the default, and the reset between option sets
    pipe.vae.set_attn_processor(AttnProcessor2_0())
    if memory.xformers or (memory.xformers is None and device.startswith("cuda") and _xformers_installed()):
        if not _xformers_installed():
            raise ValidationError("xformers asked for, but it is not installed")
        pipe.enable_xformers_memory_efficient_attention()
    if memory.attention_slicing:
        pipe.enable_attention_slicing()
    if memory.vae_slicing:
        pipe.vae.enable_slicing()
    else:
        pipe.vae.disable_slicing()
    if memory.vae_tiling:
        pipe.vae.enable_tiling()
    else:
        pipe.vae.disable_tiling()
    entry.applied = (id(pipe), memory)


@functools.cache
def _xformers_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("xformers") is not None


def _lora_path(ref: str, folders: Sequence[Path]) -> Path:
    from promptlib.render.models import find_named

    path = Path(ref).expanduser()
    found = path.absolute() if path.is_file() else find_named(ref, folders)
    if found is None or not found.is_file():
        where = f" or in {', '.join(str(f) for f in folders)}" if folders else ""
        raise NotFoundError(f"LoRA {ref!r} not found as a file{where}")
    return found.absolute()


def _apply_loras(
    entry: _Entry, pipe: Any, loras: Sequence[tuple[str, float]], *, folders: Sequence[Path], allow_pickle: bool
) -> None:
    if not loras:
        if entry.adapters:
            pipe.disable_lora()
        return
    weights: dict[str, float] = {}
    for ref, weight in loras:
        path = _lora_path(ref, folders)
        refuse_pickle(path, allow_pickle=allow_pickle)
        name = "lora_" + file_sha256(path)[:16]  # same file, same adapter: loaded once per pipeline
        if name not in entry.adapters:
            state = load_pickle_weights_only(path) if is_pickle(path) else _load_safetensors(path)
            try:
                with _quiet_loading():  # diffusers warns about every encoder a UNet-only LoRA leaves alone
                    pipe.load_lora_weights(state, adapter_name=name)
            except Exception as exc:
                raise _load_error(f"LoRA {path.name}", exc) from None
            entry.adapters[name] = str(path)
        weights[name] = weights.get(name, 0.0) + float(weight)
    pipe.enable_lora()
    pipe.set_adapters(list(weights), adapter_weights=list(weights.values()))


def _load_safetensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    check_safetensors(path)
    state: dict[str, Any] = load_file(str(path))
    return state
