"""Recipe → images: the denoising loop, written like a diffusers pipeline's ``__call__`` in numbered steps.

`render_batch` renders several recipes that share a model, size, scheduler, steps and CFG in one batch. Each image
gets its own CPU ``torch.Generator`` seeded from its recipe, used for its initial latents and for every noise draw of
a stochastic sampler, so image k of a batch matches the same seed rendered alone (to the tolerance documented in
docs/RENDERING.md) and its recipe alone reproduces it. The loop is diffusers' SD / SDXL pipeline loop (same latents,
same scheduler calls, same decoding), with hooks the stock pipeline lacks: per-step progress and cancellation, A1111
prompt weighting for every prompt, text embeddings cached across a run, batched VAE decoding in chunks, and the GPU
speed options of `RenderOptions` (channels_last, fused QKV, torch.compile, CUDA graphs).

Nothing heavy is imported at module level.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from promptlib.errors import PromptlibError, Switch, ValidationError, switch_error
from promptlib.recipe import Recipe
from promptlib.render import schedulers

if TYPE_CHECKING:
    import numpy as np
    import torch

    from promptlib.render import weighting

DTYPES = ("fp16", "bf16", "fp32")
# How the VAE decodes: "auto" = the model's dtype, except that an SDXL VAE which would overflow in fp16 decodes in
# bf16 where the GPU has it (as ComfyUI does) instead of diffusers' fp32 upcast; "upcast" = diffusers' rule exactly.
VAE_DTYPES = ("auto", "upcast", *DTYPES)
MAX_PIXELS = 4096 * 4096  # per image: far past any model's training size
ATTENTION = ("auto", "sdpa", "sdpa-cudnn", "xformers")
StepCallback = Callable[[int, int], None]


class RenderCancelled(PromptlibError):
    """The caller's cancel event was set: the batch in progress was dropped."""


@dataclass(frozen=True)
class RenderOptions:
    """How to run renders (the recipe says *what* to render). Options that can change pixels are recorded in each
    render's environment fingerprint. ``None`` for a speed option means "on for CUDA, off elsewhere"."""

    device: str = "auto"
    dtype: str = "auto"  # used when the recipe has no extra["dtype"]; auto = fp16 on CUDA, fp32 elsewhere
    attention: str = "auto"  # see `resolve_attention`; "xformers" when installed
    channels_last: bool | None = None
    fuse_qkv: bool | None = None
    tf32: bool = True
    compile: bool = False
    compile_mode: str = "default"
    compile_cache: str | None = None  # TorchInductor cache folder (default: promptlib's cache/inductor)
    vae_dtype: str = "auto"  # see VAE_DTYPES
    cuda_graphs: bool | None = None  # None: on for CUDA unless LoRAs, offload or sliced attention rule it out
    deterministic: bool = False
    attention_slicing: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False
    allow_pickle: bool = False  # load pickle checkpoints / LoRAs / VAEs (weights only, never their code)
    allow_download: bool = False  # fetch a Hugging Face id that is not in the local cache
    batch_size: int = 4  # most images per batch
    vae_batch: int | None = None  # images per VAE decode call (None: the whole batch)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValidationError(f"batch size must be at least 1, not {self.batch_size}")
        if self.vae_batch is not None and self.vae_batch < 1:
            raise ValidationError(f"VAE batch must be at least 1, not {self.vae_batch}")
        if self.dtype != "auto":
            object.__setattr__(self, "dtype", _dtype_name(self.dtype))
        if self.vae_dtype not in VAE_DTYPES:
            try:
                object.__setattr__(self, "vae_dtype", _dtype_name(self.vae_dtype))
            except ValidationError:
                raise ValidationError(f"VAE dtype {self.vae_dtype!r}: expected {', '.join(VAE_DTYPES)}") from None
        if self.attention not in ATTENTION:
            raise ValidationError(f"attention {self.attention!r}: expected {', '.join(ATTENTION)}")
        if self.cpu_offload and (self.compile or self.cuda_graphs):  # None (auto) turns itself off
            raise switch_error(
                ValidationError,
                lambda compile, graphs: f"model CPU offload cannot be combined with {compile} or {graphs}",
                Switch("compile=True", "--compile"),
                Switch("cuda_graphs=True", "--cuda-graphs"),
            )


@dataclass
class ImageResult:
    """One rendered image: its pixels (H×W×3 uint8, on the CPU), the recipe that made it, and where it sat."""

    recipe: Recipe
    pixels: np.ndarray[Any, Any]
    batch_index: int
    batch_size: int
    timings: dict[str, float] = field(default_factory=dict)
    tag: Any = None  # the caller's job, handed back untouched


def resolve_device(name: str = "auto") -> torch.device:
    """A torch device from "auto" (CUDA when present, else MPS, else CPU) or a torch device string."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise ValidationError(f"unknown device {name!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValidationError("device 'cuda' asked for, but this torch sees no CUDA GPU")
    return device


def _dtype_name(name: str) -> str:
    aliases = {"float16": "fp16", "half": "fp16", "bfloat16": "bf16", "float32": "fp32", "float": "fp32"}
    value = aliases.get(name.lower(), name.lower())
    if value not in DTYPES:
        raise ValidationError(f"dtype {name!r}: expected auto or one of {', '.join(DTYPES)}")
    return value


def cudnn_attention(device: torch.device, *, hopper: bool = False) -> bool:
    """Whether SDPA can run cuDNN's fused attention kernel here (CUDA, cuDNN 9, Ampere or newer; Hopper or newer
    with `hopper`)."""
    import torch

    if device.type != "cuda" or not torch.backends.cudnn.is_available():
        return False
    from torch.nn.attention import SDPBackend

    if not hasattr(SDPBackend, "CUDNN_ATTENTION") or (torch.backends.cudnn.version() or 0) < 90000:
        return False
    return bool(torch.cuda.get_device_capability(device)[0] >= (9 if hopper else 8))


def resolve_attention(option: str, device: torch.device) -> str:
    """The attention backend `option` means on `device`. ``auto``: PyTorch SDPA, with cuDNN's attention kernel
    first on Hopper GPUs (``sdpa-cudnn``: 1.5-1.8x FlashAttention-2 there at Stable Diffusion's shapes, measured;
    see docs/PERFORMANCE.md), torch's own order (FlashAttention-2 first) elsewhere (``sdpa``)."""
    if option == "auto":
        return "sdpa-cudnn" if cudnn_attention(device, hopper=True) else "sdpa"
    if option == "sdpa-cudnn" and not cudnn_attention(device):
        raise ValidationError("attention 'sdpa-cudnn' needs a CUDA GPU (Ampere or newer) with cuDNN 9")
    return option


def replay_attention(recorded: str, device: torch.device) -> str:
    """The attention option that replays backend `recorded` (from a render's fingerprint) on `device`: the same
    backend, except ``sdpa-cudnn`` where cuDNN attention cannot run (CPU, MPS, GPUs before Ampere, cuDNN before 9),
    which replays as ``auto`` (plain SDPA there) instead of raising; verify then reports the fingerprint change."""
    if recorded == "sdpa-cudnn" and not cudnn_attention(device):
        return "auto"
    return recorded


def attention_context(attention: str) -> AbstractContextManager[Any]:
    """Where renders run: SDPA tries cuDNN's kernel first for ``sdpa-cudnn`` (every backend stays allowed, so a
    shape cuDNN cannot take falls through to FlashAttention-2, then the others), nothing for the other backends.
    Compiled graphs and CUDA graphs take the kernel chosen while they are traced or captured, inside this. The
    order is process-wide: `render_batch` holds `_RENDER_LOCK` around it, so renders never overlap in it."""
    if attention != "sdpa-cudnn":
        return nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    order = [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    context: AbstractContextManager[Any] = sdpa_kernel(order, set_priority=True)
    return context


# One render batch at a time per process: the SDPA kernel order is global state (and one GPU runs one batch at a
# time anyway). Re-entrant for callbacks that render.
_RENDER_LOCK = threading.RLock()
# Dynamo caches compiled code per function, not per pipeline, and its guards cannot see the SDPA order: the backend
# the last compilation ran under, to start afresh when it changes.
_compiled_attention: list[str] = []


def resolve_dtype(name: str | None, device: torch.device) -> str:
    """ "fp16" / "bf16" / "fp32" from a name or "auto" (fp16 on CUDA, fp32 elsewhere)."""
    if name in (None, "", "auto"):
        return "fp16" if device.type == "cuda" else "fp32"
    return _dtype_name(str(name))


def torch_dtype(name: str) -> torch.dtype:
    import torch

    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[name]


def recipe_dtype(recipe: Recipe, options: RenderOptions, device: torch.device) -> str:
    return resolve_dtype(recipe.extra.get("dtype") or options.dtype, device)


def scheduler_spec(recipe: Recipe) -> schedulers.SchedulerSpec:
    """The recipe's scheduler; overrides stored in ``extra["scheduler"]`` win, so a rerun uses exactly what the
    original render used even if the registry changes."""
    spec = schedulers.resolve(recipe.sampler, recipe.schedule)
    stored = recipe.extra.get("scheduler")
    if not isinstance(stored, dict) or not isinstance(stored.get("class"), str):
        return spec
    # recipes come from strangers' PNGs and packs: only known scheduler classes and plain config values
    cls, overrides = stored["class"], stored.get("overrides") or {}
    if cls not in schedulers.CLASS_ACCEPTS:
        raise ValidationError(f"recipe names an unknown scheduler class {cls!r}")
    if not isinstance(overrides, dict) or not all(
        isinstance(k, str) and not k.startswith("_") and (v is None or isinstance(v, str | int | float | bool))
        for k, v in overrides.items()
    ):
        raise ValidationError("recipe's scheduler overrides must be plain config values")
    return replace(spec, cls=cls, overrides=dict(overrides))


# --- preparing a pipeline ---------------------------------------------------------------------------------------


class _GraphedUNet:
    """Replays the UNet forward from CUDA graphs, one per input-shape signature (captured on first use).

    Removes the per-kernel launch cost that dominates small batches. Inputs are copied into static buffers; the
    output buffer is reused by the next replay, so the caller must consume it before the next call."""

    def __init__(self, unet: Any) -> None:
        import torch

        self.unet = unet
        self.config = unet.config
        self.pool = torch.cuda.graph_pool_handle()
        self.graphs: dict[Hashable, tuple[Any, dict[str, Any], Any]] = {}

    @staticmethod
    def _signature(inputs: dict[str, Any]) -> Hashable:
        return tuple(
            (name, tuple(v.shape), v.dtype) if hasattr(v, "shape") else (name, v) for name, v in sorted(inputs.items())
        )

    def __call__(self, **inputs: Any) -> Any:
        import torch

        inputs.pop("return_dict", None)
        flat = _flatten(inputs)
        key = self._signature(flat)
        entry = self.graphs.get(key)
        if entry is None:
            static = {name: value.clone() for name, value in flat.items()}
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream), torch.inference_mode():
                for _ in range(2):  # warm-up outside the graph (cuBLAS handles, SDPA kernel choice)
                    self.unet(**_unflatten(static), return_dict=False)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self.pool), torch.inference_mode():
                output = self.unet(**_unflatten(static), return_dict=False)[0]
            entry = (graph, static, output)
            self.graphs[key] = entry
        graph, static, output = entry
        for name, value in flat.items():
            static[name].copy_(value)
        graph.replay()
        return output


def _flatten(inputs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in inputs.items():
        if value is None:
            continue
        if isinstance(value, dict):
            out.update({f"{name}.{k}": v for k, v in value.items()})
        else:
            out[name] = value
    return out


def _unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in flat.items():
        head, dot, tail = name.partition(".")
        if dot:
            out.setdefault(head, {})[tail] = value
        else:
            out[name] = value
    return out


@dataclass
class Prepared:
    """A pipeline set up for one device, dtype and set of options, plus the UNet callable the loop uses."""

    pipe: Any
    device: torch.device
    dtype: str
    options: RenderOptions
    unet: Callable[..., Any]
    attention: str
    state: dict[str, Any]  # what was applied: recorded in the fingerprint
    # the VAE that decodes: the pipeline's, or a copy of it in another dtype (`RenderOptions.vae_dtype`)
    vae: Any = None
    vae_upcast: bool = False  # diffusers' rule: the fp16 VAE decodes in fp32 (moved there and back per batch)
    vae_decode: Callable[[Any], Any] | None = None  # compiled `vae.decode` (latents → images), when compiling
    # each text's encoding by this pipeline, device and dtype (`weighting.encode_prompts`)
    text_cache: dict[Hashable, weighting.Encoded] = field(default_factory=dict)

    @property
    def is_xl(self) -> bool:
        return hasattr(self.pipe, "text_encoder_2") and self.pipe.text_encoder_2 is not None


_PREPARE_LOCK = threading.Lock()


def _has_peft_layers(module: Any) -> bool:
    return any(type(m).__module__.startswith("peft") for m in module.modules())


def _fused(module: Any) -> bool:
    return any(type(p).__name__.startswith("Fused") for p in module.attn_processors.values())


def resolve_vae_dtype(option: str, *, dtype: str, device: torch.device, is_xl: bool, force_upcast: bool) -> str:
    """The dtype the VAE decodes in ("fp16", "bf16", "fp32"), or "upcast" for diffusers' fp16 → fp32 upcast."""
    import torch

    if option in DTYPES:
        return option
    # diffusers upcasts only SDXL's VAE (its SD 1.x/2.x pipelines decode in fp16 whatever the config says)
    overflows = is_xl and dtype == "fp16" and force_upcast
    if not overflows:
        return dtype
    if option == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"  # fp32's range at fp16's speed
    return "upcast"


def prepare(
    pipe: Any, options: RenderOptions, *, device: torch.device, dtype: str, manage_memory: bool = True
) -> Prepared:
    """Set `pipe` up for `options` (idempotent: what was applied is remembered on the pipeline, so a cached pipeline
    switches cleanly between option sets). With ``manage_memory=False`` the attention backend, slicing, tiling and
    offload were already applied by the model loader. Raises ValidationError for an option this machine lacks."""
    import torch

    with _PREPARE_LOCK:
        cuda = device.type == "cuda"
        state: dict[str, Any] = dict(getattr(pipe, "_promptlib_state", {}))
        # The VAE's decode dtype first: a refusal must come before anything is changed
        target = torch_dtype(dtype)
        vae_mode = resolve_vae_dtype(
            "upcast" if options.cpu_offload and options.vae_dtype == "auto" else options.vae_dtype,
            dtype=dtype,
            device=device,
            is_xl=getattr(pipe, "text_encoder_2", None) is not None,
            force_upcast=bool(getattr(pipe.vae.config, "force_upcast", False)),
        )
        if options.cpu_offload and vae_mode == "fp32" and target != torch.float32:
            vae_mode = "upcast"  # the same fp32 decode (a recorded upcast replays as fp32), done in place
        vae_target = target if vae_mode == "upcast" else torch_dtype(vae_mode)
        if options.cpu_offload and vae_target != target:
            allowed = "fp32" if dtype == "fp32" else f"{dtype} or fp32"
            raise ValidationError(f"with model CPU offload the VAE decodes in {allowed}, not {vae_mode}")
        # Attention backend: SDPA unless xformers is asked for; fused QKV only with SDPA and without LoRAs.
        attention = resolve_attention(options.attention, device)
        if attention == "xformers":
            import importlib.util

            if importlib.util.find_spec("xformers") is None:
                raise ValidationError("attention 'xformers' asked for, but xformers is not installed")
        sdpa = attention in ("sdpa", "sdpa-cudnn")
        want_fuse = (options.fuse_qkv if options.fuse_qkv is not None else cuda) and sdpa
        want_fuse = want_fuse and not options.attention_slicing and not _has_peft_layers(pipe.unet)
        want_cl = options.channels_last if options.channels_last is not None else cuda
        if _fused(pipe.unet) and not want_fuse:
            pipe.unfuse_qkv_projections()
        if manage_memory:
            processors = "xformers" if attention == "xformers" else "sdpa"  # sdpa-cudnn: the same processors
            if (
                state.get("attention", "sdpa") != processors
                or state.get("attention_slicing") != options.attention_slicing
            ):
                from diffusers.models.attention_processor import AttnProcessor2_0

                pipe.unet.set_attn_processor(AttnProcessor2_0())  # the reset between option sets
                pipe.vae.set_attn_processor(AttnProcessor2_0())
                if attention == "xformers":
                    pipe.enable_xformers_memory_efficient_attention()
                if options.attention_slicing:
                    pipe.enable_attention_slicing()
                state["attention"], state["attention_slicing"] = processors, options.attention_slicing
            for flag, on, off in (
                ("vae_slicing", "enable_slicing", "disable_slicing"),
                ("vae_tiling", "enable_tiling", "disable_tiling"),
            ):
                wanted = bool(getattr(options, flag))
                if bool(state.get(flag)) != wanted:
                    getattr(pipe.vae, on if wanted else off)()
                    state[flag] = wanted
            if options.cpu_offload and not state.get("cpu_offload"):
                if not cuda:
                    raise ValidationError("model CPU offload needs a CUDA device")
                pipe.enable_model_cpu_offload(device=device)
                state["cpu_offload"] = True
            elif not options.cpu_offload and state.get("cpu_offload"):
                pipe.remove_all_hooks()
                state["cpu_offload"] = False
        here = pipe.unet.device
        moved = here.type != device.type or (device.index is not None and here.index != device.index)
        if not options.cpu_offload and (moved or pipe.unet.dtype != target):
            from promptlib.render.schedulers import quiet_diffusers

            with quiet_diffusers():  # diffusers warns about casting loaded models; these were loaded in `dtype`
                pipe.to(device=device, dtype=target)
        if want_fuse and not _fused(pipe.unet):
            pipe.fuse_qkv_projections()
        if bool(state.get("channels_last")) != want_cl:
            fmt = torch.channels_last if want_cl else torch.contiguous_format
            pipe.unet.to(memory_format=fmt)
            pipe.vae.to(memory_format=fmt)
            state["channels_last"] = want_cl
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = options.tf32 and not options.deterministic
            torch.backends.cudnn.allow_tf32 = options.tf32 and not options.deterministic
        pipe._promptlib_state = state
        if pipe.vae.dtype == vae_target:
            decode_vae = pipe.vae
            if getattr(pipe.vae, "_promptlib_copy", None) is not None:
                pipe.vae._promptlib_copy = None  # its memory back once no option set asks for another dtype
        else:
            decode_vae = _vae_copy(pipe.vae, vae_target)
        # Compiled modules and CUDA graphs hold the weights they were built with: rebuilt after any change
        signature = (str(device), dtype, want_cl, want_fuse, attention, options.attention_slicing, str(vae_target))
        if getattr(pipe, "_promptlib_signature", None) != signature:
            pipe._promptlib_compiled, pipe._promptlib_graphs = {}, {}
            pipe._promptlib_signature = signature
        unet: Callable[..., Any] = pipe.unet
        compiled = pipe._promptlib_compiled
        vae_decode = None
        if options.compile:
            key = options.compile_mode
            if key not in compiled:
                _configure_inductor(options.compile_cache)
                if _compiled_attention and _compiled_attention[-1] != attention:
                    torch._dynamo.reset()  # or it would hand back code traced under the other SDPA order
                _compiled_attention[:] = [attention]
                compiled[key] = torch.compile(unet, mode=options.compile_mode, fullgraph=True, dynamic=False)
            unet = compiled[key]
            # the VAE decoder too (fused norms and activations), unless it slices or tiles (its own Python loops)
            if not (options.vae_slicing or options.vae_tiling):
                vae_key = ("vae", options.compile_mode)
                if vae_key not in compiled:
                    compiled[vae_key] = torch.compile(_decoder(decode_vae), mode=options.compile_mode, dynamic=False)
                vae_decode = compiled[vae_key]
        # CUDA graphs bake in the weights and LoRA scales they were captured with, and offload hooks move weights
        blocked = options.cpu_offload or options.attention_slicing or _has_peft_layers(pipe.unet)
        want_graphs = options.cuda_graphs if options.cuda_graphs is not None else cuda and not blocked
        if want_graphs:
            if not cuda:
                raise ValidationError("CUDA graphs need a CUDA device")
            if blocked:
                raise ValidationError("CUDA graphs cannot be combined with LoRAs, CPU offload or sliced attention")
            graphed = pipe._promptlib_graphs
            graph_key = options.compile_mode if options.compile else None
            if graph_key not in graphed:
                graphed[graph_key] = _GraphedUNet(unet)
            unet = graphed[graph_key]
        applied = {
            "channels_last": want_cl,
            "fused_qkv": want_fuse,
            "attention_slicing": options.attention_slicing,
            "vae_slicing": options.vae_slicing,
            "vae_tiling": options.vae_tiling,
            "cpu_offload": options.cpu_offload,
            "compile": options.compile_mode if options.compile else None,
            "cuda_graphs": want_graphs,
            "vae_dtype": "fp32" if vae_mode == "upcast" else vae_mode,
            "attention": attention,
        }
        return Prepared(
            pipe, device, dtype, options, unet, attention, applied,
            vae=decode_vae, vae_upcast=vae_mode == "upcast", vae_decode=vae_decode,
        )  # fmt: skip


def _vae_copy(vae: Any, dtype: torch.dtype) -> Any:
    """`vae` in `dtype`, for decoding, without converting the VAE's own weights (fp16 → bf16 → fp16 would lose
    bits): a copy, kept on the VAE until its device, dtype, memory format or attention processors change."""
    import copy

    import torch

    weight = next(p for p in vae.parameters() if p.dim() == 4)
    processors = tuple(sorted({type(p).__name__ for p in vae.attn_processors.values()}))  # fused QKV, xformers
    key = (str(weight.device), dtype, weight.is_contiguous(memory_format=torch.channels_last), processors)
    cached = getattr(vae, "_promptlib_copy", None)
    if cached is None or cached[0] != key:
        vae._promptlib_copy = None  # dropped first: the copy must not copy an old copy
        from promptlib.render.schedulers import quiet_diffusers

        with quiet_diffusers():
            vae._promptlib_copy = (key, copy.deepcopy(vae).to(dtype=dtype))
    decoder = vae._promptlib_copy[1]
    decoder.use_slicing = getattr(vae, "use_slicing", False)
    decoder.use_tiling = getattr(vae, "use_tiling", False)
    return decoder


def _decoder(vae: Any) -> Callable[[Any], Any]:
    def decode(latents: Any) -> Any:
        return vae.decode(latents, return_dict=False)[0]

    return decode


def _configure_inductor(cache: str | None) -> None:
    import os

    if cache or "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        from promptlib.render.presets import cache_root

        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache or str(cache_root() / "inductor")
    import torch._inductor.config as inductor

    inductor.fx_graph_cache = True
    inductor.conv_1x1_as_mm = True  # diffusers' torch.compile guide: 1x1 convs as matmuls


# --- the denoising loop -----------------------------------------------------------------------------------------


def _batch_key(recipe: Recipe) -> tuple[Any, ...]:
    return (recipe.width, recipe.height, recipe.steps, recipe.cfg_scale, recipe.sampler, recipe.schedule)


def _encode(prepared: Prepared, recipe: Recipe) -> dict[str, Any]:
    from promptlib.render import weighting

    if len(prepared.text_cache) > 256:
        prepared.text_cache.clear()
    return weighting.encode_prompts(
        prepared.pipe,
        recipe.prompt,
        recipe.negative_prompt,
        clip_skip=recipe.clip_skip,
        device=prepared.device,
        dtype=torch_dtype(prepared.dtype),
        cache=prepared.text_cache,  # each text once: a pack's shared negative prompt, a batch of one prompt
    )


def _step_kwargs(scheduler: Any, generators: list[Any]) -> dict[str, Any]:
    accepted = inspect.signature(scheduler.step).parameters
    kwargs: dict[str, Any] = {}
    if "eta" in accepted:
        kwargs["eta"] = 0.0
    if "generator" in accepted:
        kwargs["generator"] = generators
    return kwargs


def render_batch(
    prepared: Prepared,
    recipes: Sequence[Recipe],
    *,
    on_step: StepCallback | None = None,
    cancel: threading.Event | None = None,
    tags: Sequence[Any] | None = None,
    ahead: Sequence[Recipe] = (),
) -> list[ImageResult]:
    """Render `recipes` (same size, steps, CFG and scheduler; each with a seed) as one batch, or as a few when
    their prompts encode to different lengths. Raises ValidationError for inconsistent recipes and
    RenderCancelled when `cancel` is set (checked before every step).

    `ahead` are the recipes of the queue's next batch on this pipeline: their prompts are encoded (into the
    pipeline's cache) while the GPU still denoises this batch, so the text encoder's many small kernel launches
    cost no GPU time. A prompt that cannot be encoded is left for its own batch to report."""
    # 1. Check inputs
    if not recipes:
        return []
    first = recipes[0]
    if any(_batch_key(r) != _batch_key(first) for r in recipes):
        raise ValidationError("a batch must share size, steps, CFG and sampler")
    for recipe in recipes:
        if recipe.seed is None or recipe.steps is None or recipe.width is None or recipe.height is None:
            raise ValidationError("a recipe to render needs a seed, steps, width and height")
        if recipe.cfg_scale is None:
            raise ValidationError("a recipe to render needs a CFG scale")
    if int(first.width or 0) * int(first.height or 0) > MAX_PIXELS:
        raise ValidationError(f"{first.width}x{first.height} is larger than {MAX_PIXELS:,} pixels")
    scale = 2 ** (len(prepared.pipe.vae.config.block_out_channels) - 1)
    if int(first.width or 0) % scale or int(first.height or 0) % scale:
        raise ValidationError(f"width and height must be multiples of {scale}, not {first.width}x{first.height}")
    job_tags = list(tags) if tags is not None else [None] * len(recipes)

    # 2. Encode prompts (A1111 weighting, >77 tokens); prompts of different lengths go in separate sub-batches
    with _RENDER_LOCK, attention_context(prepared.attention):
        encoded = [_encode(prepared, r) for r in recipes]
        groups: dict[int, list[int]] = {}
        for i, enc in enumerate(encoded):
            groups.setdefault(int(enc["prompt_embeds"].shape[1]), []).append(i)
        results: list[ImageResult] = []
        for number, members in enumerate(groups.values(), start=1):
            results += _denoise(
                prepared,
                [recipes[i] for i in members],
                [encoded[i] for i in members],
                [job_tags[i] for i in members],
                on_step=on_step,
                cancel=cancel,
                while_denoising=functools.partial(_encode_ahead, prepared, ahead) if number == len(groups) else None,
            )
    return results


def _encode_ahead(prepared: Prepared, recipes: Sequence[Recipe]) -> None:
    for recipe in recipes:
        with suppress(PromptlibError):  # its own batch encodes it again and reports the error there
            _encode(prepared, recipe)


def _denoise(
    prepared: Prepared,
    recipes: list[Recipe],
    encoded: list[dict[str, Any]],
    tags: list[Any],
    *,
    on_step: StepCallback | None,
    cancel: threading.Event | None,
    while_denoising: Callable[[], None] | None = None,
) -> list[ImageResult]:
    """One denoising loop and VAE decode. `while_denoising` runs on this thread once every step is queued, before
    waiting for the GPU to finish them."""
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    pipe, device = prepared.pipe, prepared.device
    first = recipes[0]
    batch = len(recipes)
    width, height, steps = int(first.width or 0), int(first.height or 0), int(first.steps or 0)
    guidance = float(first.cfg_scale or 0.0)
    unet_config = pipe.unet.config
    started = time.perf_counter()
    with torch.inference_mode():
        # 3. Prompt embeddings for the batch: [negatives…, positives…] when guidance is on (diffusers' order)
        cond_proj = getattr(unet_config, "time_cond_proj_dim", None)
        do_cfg = guidance > 1.0 and cond_proj is None
        prompt_embeds = torch.cat([e["prompt_embeds"] for e in encoded])
        if do_cfg:
            prompt_embeds = torch.cat([torch.cat([e["negative_prompt_embeds"] for e in encoded]), prompt_embeds])
        added_cond: dict[str, Any] | None = None
        if prepared.is_xl:
            # 4. SDXL micro-conditioning: pooled text embeddings and (original size, crop, target size) ids
            pooled = torch.cat([e["pooled_prompt_embeds"] for e in encoded])
            ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=prompt_embeds.dtype, device=device)
            time_ids = ids.repeat(batch, 1)
            if do_cfg:
                pooled = torch.cat([torch.cat([e["negative_pooled_prompt_embeds"] for e in encoded]), pooled])
                time_ids = torch.cat([time_ids, time_ids])
            added_cond = {"text_embeds": pooled, "time_ids": time_ids}

        # 5. Scheduler: a fresh instance from the model's original config
        spec = scheduler_spec(first)
        base_config = getattr(pipe, "_promptlib_scheduler_config", None)
        if base_config is None:
            base_config = dict(pipe.scheduler.config)
            pipe._promptlib_scheduler_config = base_config
        scheduler = schedulers.make_scheduler(spec, base_config)
        scheduler.set_timesteps(steps, device=device)
        timesteps = scheduler.timesteps

        # 6. Initial latents: one CPU generator per image, seeded from its recipe
        generators = [torch.Generator("cpu").manual_seed(int(r.seed or 0)) for r in recipes]
        scale = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
        shape = (batch, unet_config.in_channels, height // scale, width // scale)
        latents = randn_tensor(shape, generator=generators, device=device, dtype=prompt_embeds.dtype)
        latents = latents * scheduler.init_noise_sigma
        timestep_cond = None
        if cond_proj is not None:
            w = torch.tensor(guidance - 1).repeat(batch)
            timestep_cond = pipe.get_guidance_scale_embedding(w, embedding_dim=cond_proj).to(
                device=device, dtype=latents.dtype
            )
        step_kwargs = _step_kwargs(scheduler, generators)
        encoded_at = time.perf_counter()

        # 7. Denoising loop
        for i, t in enumerate(timesteps):
            if cancel is not None and cancel.is_set():
                raise RenderCancelled("render cancelled")
            model_input = torch.cat([latents] * 2) if do_cfg else latents
            model_input = scheduler.scale_model_input(model_input, t)
            noise_pred = prepared.unet(
                sample=model_input,
                timestep=t,
                encoder_hidden_states=prompt_embeds,
                timestep_cond=timestep_cond,
                added_cond_kwargs=added_cond,
                return_dict=False,
            )
            if isinstance(noise_pred, tuple | list):
                noise_pred = noise_pred[0]
            if do_cfg:
                uncond, text = noise_pred.chunk(2)
                noise_pred = uncond + guidance * (text - uncond)
            elif isinstance(prepared.unet, _GraphedUNet):
                noise_pred = noise_pred.clone()  # the graph's output buffer is overwritten by the next replay
            dtype = latents.dtype
            latents = scheduler.step(noise_pred, t, latents, **step_kwargs, return_dict=False)[0]
            if latents.dtype != dtype:
                latents = latents.to(dtype)
            if on_step is not None:
                on_step(i + 1, len(timesteps))
        if while_denoising is not None:
            while_denoising()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        denoised_at = time.perf_counter()

        # 8. Decode with the VAE (in chunks), to uint8 pixels on the CPU
        pixels = _decode(prepared, latents)
        decoded_at = time.perf_counter()

    total = decoded_at - started
    timings = {
        "batch_size": batch,
        "batch_seconds": round(total, 4),
        "seconds_per_image": round(total / batch, 4),
        "encode_seconds": round(encoded_at - started, 4),
        "denoise_seconds": round(denoised_at - encoded_at, 4),
        "decode_seconds": round(decoded_at - denoised_at, 4),
        "it_per_second": round(len(timesteps) / max(denoised_at - encoded_at, 1e-9), 3),
        "unet_calls": len(timesteps),
    }
    return [
        ImageResult(recipe=r, pixels=pixels[k], batch_index=k, batch_size=batch, timings=dict(timings), tag=tags[k])
        for k, r in enumerate(recipes)
    ]


def _decode(prepared: Prepared, latents: Any) -> np.ndarray[Any, Any]:
    import torch

    from promptlib.render.schedulers import quiet_diffusers

    vae = prepared.vae if prepared.vae is not None else prepared.pipe.vae
    config = vae.config
    # SDXL's VAE overflows in fp16: with "upcast", decode in fp32 as diffusers' SDXL pipeline does
    upcast = prepared.vae_upcast and vae.dtype == torch.float16
    if upcast:
        with quiet_diffusers():
            vae.to(dtype=torch.float32)
    try:
        latents = latents.to(next(iter(vae.post_quant_conv.parameters())).dtype)
        mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
        if mean is not None and std is not None:
            mean_t = torch.tensor(mean).view(1, -1, 1, 1).to(latents.device, latents.dtype)
            std_t = torch.tensor(std).view(1, -1, 1, 1).to(latents.device, latents.dtype)
            latents = latents * std_t / config.scaling_factor + mean_t
        else:
            latents = latents / config.scaling_factor
        chunk = prepared.options.vae_batch or latents.shape[0]
        decode = prepared.vae_decode if prepared.vae_decode is not None and not upcast else _decoder(vae)
        out = []
        for start in range(0, latents.shape[0], chunk):
            image = decode(latents[start : start + chunk])
            # diffusers' VaeImageProcessor: denormalise in the VAE's dtype, then round in float32 (bf16, which
            # diffusers never decodes in, has too few mantissa bits for that: it goes to float32 first)
            if image.dtype == torch.bfloat16:
                image = image.float()
            image = (image / 2 + 0.5).clamp(0, 1)
            image = (image.float() * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
            out.append(image.cpu())
        pixels: np.ndarray[Any, Any] = torch.cat(out).numpy()
        return pixels
    finally:
        if upcast:
            with quiet_diffusers():
                vae.to(dtype=torch.float16)
