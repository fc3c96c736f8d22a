"""The embedder: open_clip image and text embeddings, offline, batched, on the GPU when there is one.

    spec = EmbedderSpec()                              # ViT-B-32 / laion2b_s34b_b79k from the local cache
    embedder = get_embedder(spec)
    embedder.embed_texts(["a lighthouse in fog"])      # (1, 512) float32, L2-normalised
    embedder.embed_files(paths, progress=bar)          # decoded in worker processes, fp16 on CUDA

Weights come from the local Hugging Face / open_clip cache or a checkpoint file and are never downloaded; a missing
file is a `NotFoundError` naming it and how to get it. Checkpoints load with ``weights_only`` (no pickles).

Images are prepared in two halves so the model is never starved: the CPU half (`Preprocess.prepare`, run in
worker processes for files: `promptlib.search.feeder`) decodes with the `promptlib.images` guards, crops to the
model's aspect and shrinks by an integer box filter (JPEG: decoder draft mode) to between 1x and 2x the model's
size; the device half (`Embedder._finish`) resizes the small uint8 tensors with antialiased bicubic, normalises
and runs the model. Each image's pixels depend only on itself, so an image embeds the same whichever batch it is in.

torch, open_clip and numpy are imported inside the functions that need them (ARCHITECTURE rule 4).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlib.errors import LibraryError, NotFoundError, PromptlibError, ValidationError
from promptlib.search import png_rows
from promptlib.search.feeder import Batch, feed
from promptlib.search.preprocess import Grouped, Preprocess, group_by_size

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image

    from promptlib.config import Config

    FloatArray = npt.NDArray[np.float32]
    UInt8Array = npt.NDArray[np.uint8]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
RANDOM = "random"  # `pretrained = "random"`: random weights, for benchmarks and shape tests only
TEXT_BATCH = 256
IMAGE_BATCH = {"cuda": 256, "cpu": 32}
MAX_WORKERS = 16
SMALL_TEXT_BATCH = 4

Progress = Callable[[int], None]


# --- what to load ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbedderSpec:
    """Which model to load and how to run it (config.toml's ``[embedding]`` section).

    `pretrained` is an open_clip tag whose weights are in the local cache, or ``"random"``; `checkpoint` (a
    ``.safetensors``/``.pt`` file) overrides it; `model_config` is an open_clip architecture JSON for a model open_clip
    does not ship (its file name, minus ``.json``, must be `model`). ``device`` is ``auto``, ``cpu``, ``cuda``...;
    ``batch_size`` and ``workers`` 0 / -1 mean automatic.
    """

    model: str = DEFAULT_MODEL
    pretrained: str = DEFAULT_PRETRAINED
    checkpoint: str | None = None
    model_config: str | None = None
    device: str = "auto"
    precision: str = "auto"  # fp16 on CUDA, fp32 on CPU
    batch_size: int = 0
    workers: int = -1

    @classmethod
    def from_config(cls, config: Config, *, base: Path | None = None) -> EmbedderSpec:
        """The spec config.toml describes; relative paths are resolved against `base` (the library folder)."""

        def path(value: str | None) -> str | None:
            if not value:
                return None
            p = Path(value).expanduser()
            return str(p if p.is_absolute() or base is None else base / p)

        precision = config.raw.get("embedding", {}).get("precision", "auto") if isinstance(config.raw, dict) else "auto"
        return cls(
            model=config.embedding_model,
            pretrained=config.embedding_pretrained,
            checkpoint=path(config.embedding_checkpoint),
            model_config=path(config.embedding_model_config),
            device=config.embedding_device,
            precision=str(precision),
            batch_size=config.embedding_batch_size,
            workers=config.embedding_workers,
        )

    @cached_property
    def model_id(self) -> str:
        """The name vectors are stored under: architecture plus weights, so two models never mix.

        ``ViT-B-32/laion2b_s34b_b79k`` for a cached tag; for a checkpoint its file name and a digest of its size, head
        and tail (cheap to compute, changes when the file does); a custom architecture adds a digest of its JSON.
        """
        arch = self.model
        if self.model_config:
            arch += "@" + _digest_file(Path(self.model_config), whole=True)[:8]
        if self.checkpoint:
            ckpt = Path(self.checkpoint)
            return f"{arch}/{ckpt.stem}-{_digest_file(ckpt)[:10]}"
        return f"{arch}/{self.pretrained or RANDOM}"


def _digest_file(path: Path, *, whole: bool = False) -> str:
    try:
        size = path.stat().st_size
        digest = hashlib.sha256(str(size).encode())
        with path.open("rb") as handle:
            if whole or size <= 2 << 20:
                digest.update(handle.read())
            else:
                digest.update(handle.read(1 << 20))
                handle.seek(-(1 << 20), os.SEEK_END)
                digest.update(handle.read(1 << 20))
    except FileNotFoundError:
        raise NotFoundError(f"embedding model file {path} not found (see [embedding] in config.toml)") from None
    except OSError as exc:
        raise LibraryError(f"cannot read embedding model file {path}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def _import_ml() -> tuple[Any, Any]:
    try:
        import open_clip
        import torch
    except ImportError as exc:
        raise LibraryError(
            f"semantic search needs the ML extra ({exc.name} is missing): pip install 'promptlib[ml]'"
        ) from exc
    return torch, open_clip


def resolve_weights(spec: EmbedderSpec) -> tuple[Path | None, dict[str, Any]]:
    """The local weights file for `spec` (None for random weights) and the tag's preprocessing settings.

    Never touches the network. Raises NotFoundError naming the missing file and how to get it.
    """
    _, open_clip = _import_ml()
    if spec.checkpoint:
        path = Path(spec.checkpoint).expanduser()
        if not path.is_file():
            raise NotFoundError(
                f"embedding checkpoint {path} not found: point [embedding] checkpoint in config.toml at an open_clip"
                " .safetensors or .pt file"
            )
        return path, {}
    if spec.pretrained in ("", RANDOM):
        return None, {}
    cfg = open_clip.get_pretrained_cfg(spec.model, spec.pretrained)
    if not cfg:
        known = ", ".join(open_clip.list_pretrained_tags_by_model(spec.model)) or "none"
        raise NotFoundError(
            f"open_clip has no pretrained weights {spec.pretrained!r} for {spec.model} (known tags: {known});"
            " set [embedding] pretrained, or checkpoint to a weights file"
        )
    preprocess = {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in cfg}
    if cfg.get("quick_gelu"):
        preprocess["quick_gelu"] = True
    if cfg.get("file"):
        return Path(cfg["file"]), preprocess
    looked: list[str] = []
    how = f"open_clip.create_model({spec.model!r}, pretrained={spec.pretrained!r}) on a machine with internet"
    hub = str(cfg.get("hf_hub", ""))
    if hub:
        # open_clip's form: "org/repo/filename", or "org/repo/" for the default file name
        repo, filename = (hub.rstrip("/"), "") if hub.endswith("/") else os.path.split(hub)
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        if filename.endswith((".bin", ".pth", ".pt")):
            names.insert(0, "open_clip_model.safetensors")
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            try_to_load_from_cache = None
        for name in names:
            found = try_to_load_from_cache(repo, name) if try_to_load_from_cache else None
            if isinstance(found, str) and Path(found).is_file():
                return Path(found), preprocess
        looked.append(f"{names[0]} of hf.co/{repo} in the Hugging Face cache")
        how = (
            f"`huggingface-cli download {repo} {names[0]}` on a machine with internet (then copy ~/.cache/huggingface)"
        )
    url = str(cfg.get("url", ""))
    if url:
        cached = Path("~/.cache/clip").expanduser() / url.rsplit("/", 1)[-1]
        if cached.is_file():
            return cached, preprocess
        looked.append(str(cached))
        if not hub:
            how = f"download {url} to {cached}"
    raise NotFoundError(
        f"weights for {spec.model}/{spec.pretrained} are not on this machine (looked for {' and '.join(looked)}):"
        f" fetch them once with {how}, or set [embedding] checkpoint in config.toml to a weights file"
    )


@dataclass
class FileEmbeddings:
    """`embed_files`' result: vectors for the readable files (``ok`` are their positions in the input)."""

    vectors: FloatArray
    ok: list[int]
    failed: list[tuple[int, str]] = field(default_factory=list)


# --- prompt text ---------------------------------------------------------------------------------------------------

_EXTRA_NETWORK = re.compile(r"<(?:lora|lyco|hypernet|embedding|lycoris)?:?[^<>]{0,200}>", re.IGNORECASE)
_WEIGHT = re.compile(r":\s*-?\d+(?:\.\d+)?\s*(?=[)\]])")
_BRACKETS = re.compile(r"[()\[\]{}]")
_BREAK = re.compile(r"\bBREAK\b")


def prompt_text(prompt: str) -> str:
    """A Stable Diffusion prompt as plain words for the text encoder: LoRA tags, ``(word:1.2)`` weights, brackets
    and ``BREAK`` removed (CLIP never saw that syntax)."""
    text = _EXTRA_NETWORK.sub(" ", prompt)
    text = _WEIGHT.sub("", text)
    text = _BREAK.sub(",", _BRACKETS.sub(" ", text))
    return " ".join(text.split())[:2000]


# --- the embedder ----------------------------------------------------------------------------------------------------


@contextmanager
def _quiet_random_weights(*, random: bool) -> Iterator[None]:
    """Silence open_clip's "No pretrained weights loaded" warning when random weights were asked for."""

    def keep(record: logging.LogRecord) -> bool:
        return not (random and record.getMessage().startswith("No pretrained weights loaded"))

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


class Embedder:
    """A loaded open_clip model: texts and images in, L2-normalised float32 vectors out. Thread-safe."""

    def __init__(self, spec: EmbedderSpec) -> None:
        torch, open_clip = _import_ml()
        self.spec = spec
        self.model_id = spec.model_id
        name = spec.model
        if spec.model_config:
            self._register_config(Path(spec.model_config), name)
        weights, tag_preprocess = resolve_weights(spec)
        self.device = _pick_device(torch, spec.device)
        precision = spec.precision
        if precision == "auto":
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        force = {k: v for k, v in tag_preprocess.items() if k != "quick_gelu"}
        try:
            with torch.random.fork_rng(devices=[]), _quiet_random_weights(random=weights is None):
                torch.manual_seed(0)  # random weights (benchmarks, tests) are the same in every process
                model = open_clip.create_model(
                    name,
                    pretrained=str(weights) if weights else None,
                    precision=precision,
                    device=self.device,
                    force_quick_gelu=bool(tag_preprocess.get("quick_gelu")),
                    force_preprocess_cfg=force or None,
                    weights_only=True,
                )
        except RuntimeError as exc:
            text = str(exc)
            if "not found in built-ins" in text:
                raise NotFoundError(
                    f"open_clip has no model {name!r}: use one of open_clip.list_models(), or set [embedding]"
                    f" model_config to an architecture file named {name}.json"
                ) from None
            first = (text.strip().splitlines() or ["RuntimeError"])[0][:300]
            raise ValidationError(f"cannot load {name} from {weights}: {first}") from exc
        except PromptlibError:
            raise
        except Exception as exc:  # open_clip reports a mismatched checkpoint with asserts, KeyErrors, ...
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise ValidationError(f"cannot load {name} from {weights}: {first}") from exc
        model.eval()
        if self.device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.tokenizer = open_clip.get_tokenizer(name)
        cfg = dict(getattr(model.visual, "preprocess_cfg", {}) or {})
        size = cfg.get("size", getattr(model.visual, "image_size", 224))
        height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        self.preprocess = Preprocess(
            (height, width),
            str(cfg.get("resize_mode", "shortest")),
            int(cfg.get("fill_color", 0)),
            raw_png=png_rows.kernel_available(self.device),
        )
        # the dtype the image tower's convolutions and matrices run in (open_clip keeps some parameters in fp32)
        self.dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision.removeprefix("pure_"), torch.float32)
        mean = torch.tensor(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)), device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(cfg.get("std", (0.26862954, 0.26130258, 0.27577711)), device=self.device).view(1, 3, 1, 1)
        self._scale = 1.0 / (255.0 * std)  # (x / 255 - mean) / std = x * scale + shift
        self._shift = -mean / std
        self._interpolation = "bilinear" if cfg.get("interpolation") == "bilinear" else "bicubic"
        self._trim = _can_trim_text(model, open_clip)
        self._lock = threading.RLock()
        with torch.inference_mode():
            self.dim = int(self._encode_tokens(self.tokenizer(["a"])).shape[1])

    @staticmethod
    def _register_config(path: Path, name: str) -> None:
        _, open_clip = _import_ml()
        if path.stem != name:
            raise ValidationError(f"[embedding] model_config {path.name} must be named {name}.json to define {name}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFoundError(f"embedding model_config {path} not found") from None
        except (OSError, ValueError) as exc:
            raise ValidationError(f"embedding model_config {path} is not readable JSON ({exc})") from exc
        if not isinstance(data, dict) or not all(k in data for k in ("embed_dim", "vision_cfg", "text_cfg")):
            raise ValidationError(f"embedding model_config {path} needs embed_dim, vision_cfg and text_cfg")
        if name not in open_clip.list_models() or open_clip.get_model_config(name) != data:
            open_clip.add_model_config(path)

    # -- settings ------------------------------------------------------------------------------------------------

    def batch_size(self, requested: int | None = None) -> int:
        if requested:
            return max(1, requested)
        if self.spec.batch_size > 0:
            return self.spec.batch_size
        return IMAGE_BATCH["cuda" if self.device.type == "cuda" else "cpu"]

    def workers(self, requested: int | None = None) -> int:
        """Decode workers: one per core (up to 16) when a GPU waits for pixels; one beside a CPU model."""
        if requested is not None and requested >= 0:
            return requested
        if self.spec.workers >= 0:
            return self.spec.workers
        cores = os.cpu_count() or 1
        if self.device.type == "cuda":  # the main process mostly waits: one worker per core was fastest (16 cores)
            return max(1, min(MAX_WORKERS, cores))
        return 1 if cores > 1 else 0

    # -- texts ---------------------------------------------------------------------------------------------------

    def embed_texts(self, texts: Sequence[str], *, batch_size: int = TEXT_BATCH) -> FloatArray:
        """(n, dim) unit vectors for texts (truncated to the model's context length)."""
        import numpy as np
        import torch

        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        parts: list[FloatArray] = []
        # A query or two is a few small matrix products: on CPU one thread beats a team that must be woken (and on
        # a busy machine, 2 threads took 5x longer than 1 for one ViT-B-32 query).
        threads = 1 if self.device.type == "cpu" and len(texts) <= SMALL_TEXT_BATCH else None
        with self._lock, torch.inference_mode(), _torch_threads(threads):
            for start in range(0, len(texts), batch_size):
                tokens = self.tokenizer(list(texts[start : start + batch_size]))
                parts.append(self._encode_tokens(tokens).cpu().numpy())
        return np.concatenate(parts).astype(np.float32, copy=False)

    def _encode_tokens(self, tokens: Any) -> Any:
        import torch
        import torch.nn.functional as F

        tokens = tokens.to(self.device)
        out = _encode_text_trimmed(self.model, tokens) if self._trim else self.model.encode_text(tokens)
        return F.normalize(out.float(), dim=-1).to(torch.float32)

    # -- images --------------------------------------------------------------------------------------------------

    def embed_images(self, images: Sequence[Image.Image], *, batch_size: int | None = None) -> FloatArray:
        """(n, dim) unit vectors for decoded PIL images already in memory (the render loop's path: no workers)."""
        import numpy as np

        size = self.batch_size(batch_size)
        parts = []
        for start in range(0, len(images), size):
            pixels = [self.preprocess.prepare(im) for im in images[start : start + size]]
            parts.append(self.encode_pixels(pixels))
        return np.concatenate(parts) if parts else np.empty((0, self.dim), dtype=np.float32)

    def embed_image_bytes(self, data: bytes, *, name: str = "image") -> FloatArray:
        """A (dim,) unit vector for untrusted image bytes; raises ValidationError / UnsafeInputError."""
        result: FloatArray = self.encode_pixels([self.preprocess.load(data, name=name)])[0]
        return result

    def embed_files(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        batch_size: int | None = None,
        workers: int | None = None,
        progress: Progress | None = None,
    ) -> FileEmbeddings:
        """Embed image files, decoded in `workers` processes; unreadable or hostile files are listed in ``failed``
        with their reason and the rest are embedded. ``ok`` and ``failed`` are in input order."""
        import numpy as np
        import torch

        ok: list[int] = []
        failed: list[tuple[int, str]] = []
        parts: list[Any] = []
        for positions, vectors, bad in self.iter_files(paths, batch_size=batch_size, workers=workers, on_device=True):
            failed += bad
            ok += positions
            parts.append(vectors)
            if progress is not None:
                progress(len(positions) + len(bad))
        failed.sort()
        if not parts:
            return FileEmbeddings(np.empty((0, self.dim), dtype=np.float32), ok, failed)
        vectors = torch.cat(parts).cpu().numpy().astype(np.float32, copy=False)
        order = np.argsort(np.asarray(ok), kind="stable")  # batches arrive as the workers finish them
        return FileEmbeddings(vectors[order], sorted(ok), failed)

    def iter_files(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        batch_size: int | None = None,
        workers: int | None = None,
        on_device: bool = False,
    ) -> Iterator[tuple[list[int], Any, list[tuple[int, str]]]]:
        """`embed_files` batch by batch, in the order the workers finish them: (positions embedded, their vectors,
        [(position, reason)] not embedded). Vectors are a numpy array, or a device tensor with `on_device` (no
        synchronisation per batch)."""
        import numpy as np

        loader = self.loader(paths, batch_size=batch_size, workers=workers)
        empty = np.empty((0, self.dim), dtype=np.float32)
        for positions, groups, bad in loader:
            if positions:
                vectors = self.encode_groups(groups, len(positions), keep_on_device=on_device)
            elif on_device:
                import torch

                vectors = torch.from_numpy(empty).to(self.device)
            else:
                vectors = empty
            yield positions, vectors, bad

    def loader(
        self, paths: Sequence[str | os.PathLike[str]], *, batch_size: int | None = None, workers: int | None = None
    ) -> Iterator[Batch]:
        """What `iter_files` reads: batches of (positions, uint8 tensors stacked per shape — on the device when
        decoded by workers —, [(position, reason)]), in completion order. `workers` processes decode into shared
        memory (`promptlib.search.feeder`); with none (or one file), this process does."""
        n_workers = self.workers(workers) if len(paths) > 1 else 0
        return feed(
            [os.fspath(p) for p in paths],
            self.preprocess,
            device=self.device,
            workers=n_workers,
            batch_size=self.batch_size(batch_size),
        )

    def encode_pixels(self, pixels: Sequence[Any], *, keep_on_device: bool = False) -> Any:
        """The device half: `Preprocess` outputs (uint8 HWC arrays or tensors) → unit vectors, (n, dim) float32
        (a numpy array, or a device tensor with `keep_on_device`)."""
        import numpy as np

        if not pixels:
            return np.empty((0, self.dim), dtype=np.float32)
        return self.encode_groups(group_by_size(pixels), len(pixels), keep_on_device=keep_on_device)

    def encode_groups(self, groups: Grouped, count: int, *, keep_on_device: bool = False) -> Any:
        """`encode_pixels` for a batch already stacked per size (what the feeder delivers)."""
        import torch

        with self._lock, torch.inference_mode():
            batch = self._finish(groups, count)
            out = self.model.encode_image(batch)
            vectors = torch.nn.functional.normalize(out.float(), dim=-1)
        return vectors if keep_on_device else vectors.cpu().numpy()

    def _finish(self, groups: Grouped, count: int) -> Any:
        """uint8 HWC tensors stacked per size → one normalised NCHW batch at the model's size and dtype, on the
        device. Each image's result depends only on its own pixels, not on its batch-mates."""
        import torch
        import torch.nn.functional as F

        height, width = self.preprocess.size
        out = torch.empty((count, 3, height, width), device=self.device, dtype=self.dtype)
        for rows, stacked, layout in groups:
            if layout is None:
                x = stacked.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float()
            else:  # PNG rows the workers only inflated: unfiltered here, then cropped and shrunk as `prepare` does
                pixels = png_rows.unfilter(stacked.to(self.device, non_blocking=True), *layout)
                x = self.preprocess.shrink_tensor(pixels)
            if x.shape[2] != height or x.shape[3] != width:
                x = F.interpolate(
                    x, size=(height, width), mode=self._interpolation, antialias=True, align_corners=False
                )
                x = x.clamp_(0, 255)
            x = (x * self._scale + self._shift).to(self.dtype)
            if len(rows) == count:
                out = x
            else:
                out.index_copy_(0, torch.as_tensor(rows, device=self.device), x)
        return out.contiguous(memory_format=torch.channels_last)


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads set to `n` for the block (None: unchanged)."""
    import torch

    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _pick_device(torch: Any, wanted: str) -> Any:
    if wanted in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(wanted)
    except RuntimeError as exc:
        raise ValidationError(f"[embedding] device {wanted!r} is not a torch device") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValidationError("[embedding] device is cuda but no CUDA GPU is available (use auto or cpu)")
    return device


def _can_trim_text(model: Any, open_clip: Any) -> bool:
    """Whether `_encode_text_trimmed` gives `encode_text`'s result: a plain CLIP text tower with a causal mask and
    end-of-text pooling, where padding after the end token cannot change the pooled feature."""
    return (
        isinstance(model, open_clip.CLIP)
        and getattr(model, "attn_mask", None) is not None
        and getattr(model, "text_pool_type", "") == "argmax"
    )


def _encode_text_trimmed(model: Any, tokens: Any) -> Any:
    """`CLIP.encode_text` over only the positions up to the last end-of-text token of the batch instead of all 77:
    with a causal mask, later (padding) positions cannot affect the end token, so the result is the same for a few
    times less work on short queries."""
    from open_clip.transformer import text_global_pool

    length = int(tokens.argmax(dim=-1).max()) + 1
    tokens = tokens[:, :length]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast) + model.positional_embedding[:length].to(cast)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = text_global_pool(x, tokens, model.text_pool_type)
    if model.text_projection is not None:
        x = model.text_projection(x) if hasattr(model.text_projection, "weight") else x @ model.text_projection
    return x


# --- a process-wide cache: one loaded model serves every library opened in this process -------------------------

_CACHE: dict[EmbedderSpec, Embedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(spec: EmbedderSpec) -> Embedder:
    """The loaded embedder for `spec` (loaded once per process; the last two specs are kept)."""
    with _CACHE_LOCK:
        found = _CACHE.get(spec)
        if found is not None and found.model_id == spec.model_id:
            return found
        embedder = Embedder(spec)
        while len(_CACHE) >= 2:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[spec] = embedder
        return embedder
