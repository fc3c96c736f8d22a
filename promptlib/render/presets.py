"""Architecture presets: the SD 1.5, SD 2.x and SDXL component configs written down as data, so single-file
checkpoints load and random-weight pipelines build without asking the Hugging Face hub for anything.

``random_pipeline`` builds an architecture-identical pipeline with random weights ("full") for benchmarks where no
checkpoint exists, or a tiny one ("tiny") for tests; ``pipeline_config_folder`` writes a diffusers-layout folder of
configs (no weights) that ``from_single_file(..., config=folder)`` reads offline; ``clip_tokenizer`` rebuilds the
CLIP BPE tokenizer from the vocabulary open_clip ships, giving the same token ids as the SD tokenizers.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from promptlib.errors import ValidationError

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline
    from transformers import CLIPTokenizer

ARCHITECTURES = ("sd15", "sd2", "sdxl")
SIZES = ("full", "tiny")
Size = Literal["full", "tiny"]
ENV_CACHE = "PROMPTLIB_CACHE_DIR"
PRESETS_VERSION = 1  # bump when a preset changes, so cached config folders are rewritten

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
BOS_ID, EOS_ID = 49406, 49407
CLIP_VOCAB_SIZE = 49408


def cache_root() -> Path:
    """promptlib's cache folder for derived files (configs, tokenizer, hashes): ``$PROMPTLIB_CACHE_DIR`` or the
    platform's user cache folder."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("promptlib", appauthor=False))


# ---- the presets ------------------------------------------------------------------------------------------------

_SCHEDULER_BASE: dict[str, Any] = {
    "_class_name": "EulerDiscreteScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "interpolation_type": "linear",
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "use_karras_sigmas": False,
}

_UNET_COMMON: dict[str, Any] = {
    "_class_name": "UNet2DConditionModel",
    "act_fn": "silu",
    "center_input_sample": False,
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "out_channels": 4,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
}

_VAE_COMMON: dict[str, Any] = {
    "_class_name": "AutoencoderKL",
    "act_fn": "silu",
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}


def _clip_text(*, hidden: int, intermediate: int, layers: int, heads: int, projection: int, act: str) -> dict[str, Any]:
    return {
        "architectures": ["CLIPTextModel"],
        "model_type": "clip_text_model",
        "vocab_size": CLIP_VOCAB_SIZE,
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "projection_dim": projection,
        "max_position_embeddings": 77,
        "hidden_act": act,
        "layer_norm_eps": 1e-05,
        "bos_token_id": BOS_ID,
        "eos_token_id": EOS_ID,
        "pad_token_id": EOS_ID,
    }


@dataclass(frozen=True)
class Preset:
    """Everything needed to build one architecture's pipeline: component configs, pipeline class, tokenizers."""

    arch: str
    size: str
    pipeline_class: str
    unet: dict[str, Any]
    vae: dict[str, Any]
    text_encoder: dict[str, Any]
    scheduler: dict[str, Any]
    pad_token: str
    resolution: int  # native image side in pixels
    text_encoder_2: dict[str, Any] | None = None
    pad_token_2: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # pipeline config entries (force_zeros_for_empty_prompt)

    @property
    def is_xl(self) -> bool:
        return self.text_encoder_2 is not None

    def digest(self) -> str:
        """A short hash of the preset's content: cached config folders are keyed by it."""
        data = json.dumps([PRESETS_VERSION, self.arch, self.size, self._as_dict()], sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:12]

    def _as_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline_class,
            "unet": self.unet,
            "vae": self.vae,
            "text_encoder": self.text_encoder,
            "text_encoder_2": self.text_encoder_2,
            "scheduler": self.scheduler,
            "pad": [self.pad_token, self.pad_token_2],
            "extra": self.extra,
        }


def _sd15(size: str) -> Preset:
    if size == "full":
        unet = {
            **_UNET_COMMON,
            "attention_head_dim": 8,
            "block_out_channels": [320, 640, 1280, 1280],
            "cross_attention_dim": 768,
            "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
            "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            "layers_per_block": 2,
            "sample_size": 64,
        }
        vae = {**_VAE_COMMON, "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2}
        vae |= {"norm_num_groups": 32, "sample_size": 512, "scaling_factor": 0.18215}
        text = _clip_text(hidden=768, intermediate=3072, layers=12, heads=12, projection=768, act="quick_gelu")
        return Preset("sd15", size, "StableDiffusionPipeline", unet, vae, text, dict(_SCHEDULER_BASE), EOS, 512)
    unet = {
        **_UNET_COMMON,
        "attention_head_dim": 8,
        "block_out_channels": [32, 64],
        "cross_attention_dim": 32,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "layers_per_block": 1,
        "sample_size": 8,
    }
    text = _clip_text(hidden=32, intermediate=37, layers=4, heads=4, projection=32, act="quick_gelu")
    return Preset("sd15", size, "StableDiffusionPipeline", unet, _tiny_vae(), text, dict(_SCHEDULER_BASE), EOS, 64)


def _sd2(size: str) -> Preset:
    # SD 2.1 (768 px, v-prediction); a 2.x-base (512 px, epsilon) single file needs its own config folder
    scheduler = {**_SCHEDULER_BASE, "prediction_type": "v_prediction"}
    if size == "full":
        unet = {
            **_UNET_COMMON,
            "attention_head_dim": [5, 10, 20, 20],
            "block_out_channels": [320, 640, 1280, 1280],
            "cross_attention_dim": 1024,
            "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
            "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            "layers_per_block": 2,
            "sample_size": 96,
            "use_linear_projection": True,
            "upcast_attention": True,
        }
        vae = {**_VAE_COMMON, "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2}
        vae |= {"norm_num_groups": 32, "sample_size": 768, "scaling_factor": 0.18215}
        # OpenCLIP ViT-H/14 text tower without its last block: SD 2 conditions on the penultimate layer
        text = _clip_text(hidden=1024, intermediate=4096, layers=23, heads=16, projection=512, act="gelu")
        return Preset("sd2", size, "StableDiffusionPipeline", unet, vae, text, scheduler, "!", 768)
    unet = {
        **_UNET_COMMON,
        "attention_head_dim": [2, 4],
        "block_out_channels": [32, 64],
        "cross_attention_dim": 32,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "layers_per_block": 1,
        "sample_size": 8,
        "use_linear_projection": True,
        "upcast_attention": True,
    }
    text = _clip_text(hidden=32, intermediate=37, layers=4, heads=4, projection=32, act="gelu")
    return Preset("sd2", size, "StableDiffusionPipeline", unet, _tiny_vae(), text, scheduler, "!", 64)


def _sdxl(size: str) -> Preset:
    extra = {"force_zeros_for_empty_prompt": True}
    if size == "full":
        unet = {
            **_UNET_COMMON,
            "addition_embed_type": "text_time",
            "addition_embed_type_num_heads": 64,
            "addition_time_embed_dim": 256,
            "attention_head_dim": [5, 10, 20],
            "block_out_channels": [320, 640, 1280],
            "cross_attention_dim": 2048,
            "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
            "layers_per_block": 2,
            "projection_class_embeddings_input_dim": 2816,
            "sample_size": 128,
            "transformer_layers_per_block": [1, 2, 10],
            "use_linear_projection": True,
        }
        vae = {**_VAE_COMMON, "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2}
        vae |= {"norm_num_groups": 32, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True}
        text = _clip_text(hidden=768, intermediate=3072, layers=12, heads=12, projection=768, act="quick_gelu")
        text_2 = _clip_text(hidden=1280, intermediate=5120, layers=32, heads=20, projection=1280, act="gelu")
        text_2["architectures"] = ["CLIPTextModelWithProjection"]
        return Preset(
            "sdxl", size, "StableDiffusionXLPipeline", unet, vae, text, dict(_SCHEDULER_BASE), EOS, 1024,
            text_encoder_2=text_2, pad_token_2="!", extra=extra,
        )  # fmt: skip
    unet = {
        **_UNET_COMMON,
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": 8,
        "attention_head_dim": [2, 4],
        "block_out_channels": [32, 64],
        "cross_attention_dim": 72,  # the two text encoders' widths, 32 + 40, concatenated
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
        "layers_per_block": 1,
        "projection_class_embeddings_input_dim": 88,  # 6 time ids x 8 + the 40-wide pooled text embedding
        "sample_size": 8,
        "transformer_layers_per_block": [1, 2],
        "use_linear_projection": True,
    }
    text = _clip_text(hidden=32, intermediate=37, layers=4, heads=4, projection=32, act="quick_gelu")
    # unlike widths keep the encoders apart, as in the real model: diffusers' converter tells them apart by width
    text_2 = _clip_text(hidden=40, intermediate=37, layers=4, heads=4, projection=40, act="gelu")
    text_2["architectures"] = ["CLIPTextModelWithProjection"]
    return Preset(
        "sdxl", size, "StableDiffusionXLPipeline", unet, _tiny_vae(), text, dict(_SCHEDULER_BASE), EOS, 64,
        text_encoder_2=text_2, pad_token_2="!", extra=extra,
    )  # fmt: skip


def _tiny_vae() -> dict[str, Any]:
    # four blocks like the real VAE, so latents are 1/8 of the image side as the pipelines expect
    return {
        **_VAE_COMMON,
        "block_out_channels": [8, 16, 16, 16],
        "layers_per_block": 1,
        "norm_num_groups": 8,
        "sample_size": 64,
        "scaling_factor": 0.18215,
    }


_BUILDERS: dict[str, Callable[[str], Preset]] = {"sd15": _sd15, "sd2": _sd2, "sdxl": _sdxl}


def preset(arch: str, size: str = "full") -> Preset:
    """The preset for ``arch`` (one of ARCHITECTURES) at ``size`` ("full" or "tiny"); raises ValidationError."""
    if arch not in _BUILDERS:
        raise ValidationError(f"unknown architecture {arch!r}: expected one of {', '.join(ARCHITECTURES)}")
    if size not in SIZES:
        raise ValidationError(f"unknown preset size {size!r}: expected one of {', '.join(SIZES)}")
    return _BUILDERS[arch](size)


# ---- tokenizer --------------------------------------------------------------------------------------------------

_LOCK = threading.Lock()
_TOKENIZERS: dict[tuple[str, str], CLIPTokenizer] = {}


def _bytes_to_unicode() -> list[str]:
    """CLIP's byte-to-unicode table, in the order that defines the first 256 vocabulary ids."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return [chr(c) for c in chars]


def _clip_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The CLIP vocabulary and BPE merges, rebuilt from open_clip's ``bpe_simple_vocab_16e6.txt.gz``."""
    import importlib.util

    spec = importlib.util.find_spec("open_clip")  # locates the package without importing it (and torch with it)
    if spec is None or not spec.submodule_search_locations:
        raise ValidationError("open_clip is not installed: it ships the CLIP vocabulary (pip install open-clip-torch)")
    source = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.decompress(source.read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    units = _bytes_to_unicode()
    words = [*units, *(u + "</w>" for u in units), *("".join(m) for m in merges), BOS, EOS]
    if len(words) != CLIP_VOCAB_SIZE:
        raise RuntimeError(f"open_clip's BPE vocabulary has {len(words)} entries, expected {CLIP_VOCAB_SIZE}")
    return {word: i for i, word in enumerate(words)}, [(a, b) for a, b in merges]


def clip_tokenizer(cache_dir: Path | None = None, *, pad_token: str = EOS) -> CLIPTokenizer:
    """A ``transformers.CLIPTokenizer`` with the SD tokenizers' ids (77 tokens), built once from open_clip's BPE
    vocabulary and cached as ``tokenizer.json`` under ``cache_dir`` (default: ``cache_root()/clip-tokenizer``).

    ``pad_token`` is ``<|endoftext|>`` for SD 1.x and SDXL's first encoder, ``!`` for SD 2.x and SDXL's second.
    """
    folder = (cache_dir or cache_root()) / "clip-tokenizer"
    key = (str(folder), pad_token)
    with _LOCK:
        if key in _TOKENIZERS:
            return _TOKENIZERS[key]
        from transformers import CLIPTokenizer

        if not (folder / "tokenizer.json").is_file():
            vocab, merges = _clip_vocab()
            built = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
            with _atomic_folder(folder) as tmp:
                built.save_pretrained(str(tmp))
        tokenizer = CLIPTokenizer.from_pretrained(str(folder), pad_token=pad_token, model_max_length=77)
        _TOKENIZERS[key] = tokenizer
        return tokenizer


@contextlib.contextmanager
def _atomic_folder(final: Path) -> Iterator[Path]:
    """Yield a temp folder beside ``final``; on success it becomes ``final`` in one rename (a concurrent writer
    that got there first wins, and ours is discarded)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        yield tmp
        try:
            tmp.rename(final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- config folders ---------------------------------------------------------------------------------------------


def pipeline_config_folder(arch: str, *, size: str = "full", cache_dir: Path | None = None) -> Path:
    """A local diffusers-layout folder (model_index.json, component configs, tokenizers; no weights) for ``arch``,
    written once under ``cache_dir`` (default ``cache_root()/configs``) and reused; safe to pass as
    ``from_single_file(..., config=folder)`` with ``local_files_only=True``."""
    spec = preset(arch, size)
    root = cache_dir or cache_root()
    folder = root / "configs" / f"{arch}-{size}-{spec.digest()}"
    if (folder / "model_index.json").is_file():
        return folder
    with _atomic_folder(folder) as tmp:
        _write_config_folder(spec, tmp, tokenizer_cache=root)
    return folder


def _write_config_folder(spec: Preset, folder: Path, *, tokenizer_cache: Path) -> None:
    import diffusers

    def write(rel: str, data: dict[str, Any]) -> None:
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    version = {"_diffusers_version": diffusers.__version__}
    write("unet/config.json", {**spec.unet, **version})
    write("vae/config.json", {**spec.vae, **version})
    write("scheduler/scheduler_config.json", {**spec.scheduler, **version})
    write("text_encoder/config.json", spec.text_encoder)
    clip_tokenizer(tokenizer_cache, pad_token=spec.pad_token).save_pretrained(str(folder / "tokenizer"))
    index: dict[str, Any] = {
        "_class_name": spec.pipeline_class,
        **version,
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "feature_extractor": [None, None],
        "image_encoder": [None, None],
        **spec.extra,
    }
    if spec.text_encoder_2 is not None:
        write("text_encoder_2/config.json", spec.text_encoder_2)
        tokenizer_2 = clip_tokenizer(tokenizer_cache, pad_token=spec.pad_token_2 or EOS)
        tokenizer_2.save_pretrained(str(folder / "tokenizer_2"))
        index["text_encoder_2"] = ["transformers", "CLIPTextModelWithProjection"]
        index["tokenizer_2"] = ["transformers", "CLIPTokenizer"]
    else:
        index["safety_checker"] = [None, None]
        index["requires_safety_checker"] = False
    write("model_index.json", index)


# ---- random pipelines -------------------------------------------------------------------------------------------


def torch_dtype(name: str | torch.dtype | None) -> torch.dtype:
    """A torch dtype from a name ("fp16", "float16", "bf16", "fp32", …), a dtype, or None (float32)."""
    import torch

    if name is None:
        return torch.float32
    if isinstance(name, torch.dtype):
        return name
    table = {
        "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
        "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
        "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
    }  # fmt: skip
    try:
        return table[name.lower()]
    except KeyError:
        raise ValidationError(f"unknown dtype {name!r}: expected fp16, bf16 or fp32") from None


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_components(spec: Preset, *, seed: int = 0, dtype: Any = None, device: Any = None) -> dict[str, Any]:
    """The pipeline components of ``spec`` with random weights (a fixed ``seed`` gives identical weights), built
    directly on ``device`` in ``dtype`` so a full SDXL never exists in float32 on the host first."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    def config(data: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in data.items() if not k.startswith("_")}

    def text_config(data: dict[str, Any]) -> CLIPTextConfig:
        return CLIPTextConfig(**{k: v for k, v in data.items() if k not in ("architectures", "model_type")})

    target = torch_dtype(dtype)
    build_dtype = target if target.is_floating_point else torch.float32
    torch.manual_seed(seed)
    with torch.device(device or "cpu"), _default_dtype(build_dtype):
        unet = UNet2DConditionModel(**config(spec.unet))
        vae = AutoencoderKL(**config(spec.vae))
        text_encoder = CLIPTextModel(text_config(spec.text_encoder))
        text_encoder_2 = (
            CLIPTextModelWithProjection(text_config(spec.text_encoder_2)) if spec.text_encoder_2 is not None else None
        )
    components: dict[str, Any] = {
        "unet": unet.eval(),
        "vae": vae.eval(),
        "text_encoder": text_encoder.eval(),
        "tokenizer": clip_tokenizer(pad_token=spec.pad_token),
        "scheduler": EulerDiscreteScheduler.from_config(config(spec.scheduler)),
    }
    if text_encoder_2 is not None:
        components["text_encoder_2"] = text_encoder_2.eval()
        components["tokenizer_2"] = clip_tokenizer(pad_token=spec.pad_token_2 or EOS)
    return components


def random_pipeline(
    arch: str, *, size: Size = "full", seed: int = 0, dtype: Any = None, device: Any = None
) -> DiffusionPipeline:
    """A ``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline`` with random weights: the real architecture for
    ``size="full"``, a tiny one (64 px in well under a second on CPU) for ``size="tiny"``. Euler scheduler with the
    SD config, no safety checker, no feature extractor. Raises ValidationError for an unknown arch or size."""
    spec = preset(arch, size)
    components = build_components(spec, seed=seed, dtype=dtype, device=device)
    import diffusers

    cls = getattr(diffusers, spec.pipeline_class)
    if spec.is_xl:
        pipe = cls(**components, **spec.extra)
    else:
        pipe = cls(**components, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe
