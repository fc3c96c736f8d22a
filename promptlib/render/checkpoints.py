"""Checkpoint files from strangers: safetensors header validation, pickle refusal, architecture from key names.

``check_safetensors`` reads only the 8-byte length and the JSON header and checks them against the file's real size;
``refuse_pickle`` decides from a file's name and first bytes whether it is a pickle or a torch zip archive. Weights
are loaded later, by safetensors, only from files that passed; the one path that unpickles is the explicit opt-in
``load_pickle_weights_only``, and it goes through ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import math
import struct
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from promptlib.errors import ALLOW_PICKLE, FormatError, UnsafeInputError

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors format's own limit; real SDXL headers are ~200 KB
MAX_TENSORS = 1_000_000
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle")
WEIGHT_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)

DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}  # fmt: skip


def check_safetensors(path: Path, *, max_header_bytes: int = MAX_HEADER_BYTES) -> dict[str, Any]:
    """Parse and validate a safetensors header without reading tensor data; returns the header (tensor name →
    ``{"dtype", "shape", "data_offsets"}``, plus ``"__metadata__"`` when present).

    Raises UnsafeInputError for a pickle or zip in disguise, FormatError for anything else that lies: a header
    length beyond the file or the limit, non-JSON, unknown dtypes, shapes that disagree with their byte ranges,
    offsets out of range or overlapping, or bytes no tensor accounts for.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(9)
            kind = sniff(head)
            if kind not in ("safetensors", "unknown"):
                raise UnsafeInputError(
                    f"{path.name} is a {kind}, not a safetensors file: refused (pickles can run code)"
                )
            if len(head) < 9:
                raise FormatError(f"{path.name}: not a safetensors file ({size} bytes, too short for a header)")
            (length,) = struct.unpack("<Q", head[:8])
            fh.seek(8)
            if length < 2 or length > max_header_bytes or length > size - 8:
                raise FormatError(
                    f"{path.name}: not a safetensors file (header length {length} does not fit a {size}-byte file"
                    f" within the {max_header_bytes}-byte limit)"
                )
            raw = fh.read(length)
    except OSError as exc:
        raise FormatError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not raw.lstrip().startswith(b"{"):
        raise FormatError(f"{path.name}: not a safetensors file (header is not a JSON object)")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise FormatError(f"{path.name}: corrupt safetensors header (invalid JSON)") from None
    if not isinstance(header, dict):
        raise FormatError(f"{path.name}: corrupt safetensors header (not a JSON object)")
    _check_entries(path.name, header, data_size=size - 8 - length)
    return header


def _check_entries(name: str, header: dict[str, Any], *, data_size: int) -> None:
    metadata = header.get("__metadata__")
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise FormatError(f"{name}: corrupt safetensors header (__metadata__ must map strings to strings)")
    if len(header) > MAX_TENSORS:
        raise FormatError(f"{name}: safetensors header lists {len(header)} tensors (limit {MAX_TENSORS})")
    spans: list[tuple[int, int, str]] = []
    for key, info in header.items():
        if key == "__metadata__":
            continue
        where = f"{name}: tensor {key[:80]!r}"
        if not isinstance(info, dict):
            raise FormatError(f"{where} has no dtype/shape/offsets")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in DTYPE_BYTES:
            raise FormatError(f"{where} has unknown dtype {str(dtype)[:20]!r}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape) or len(shape) > 16:
            raise FormatError(f"{where} has an invalid shape")
        if (
            not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets))
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise FormatError(f"{where} has invalid data_offsets")
        begin, end = offsets
        if end > data_size:
            raise FormatError(f"{where} claims bytes {begin}-{end} but the file holds {data_size} bytes of data")
        if math.prod(shape) * DTYPE_BYTES[dtype] != end - begin:
            raise FormatError(f"{where}: shape {shape} of {dtype} does not match its {end - begin} bytes")
        spans.append((begin, end, key))
    spans.sort()
    position = 0
    for begin, end, key in spans:
        if begin != position:
            problem = "overlaps another" if begin < position else "leaves a gap before it"
            raise FormatError(f"{name}: tensor {key[:80]!r} {problem} (offset {begin}, expected {position})")
        position = end
    if position != data_size:
        raise FormatError(f"{name}: {data_size - position} bytes after the last tensor belong to no tensor")


def sniff(head: bytes) -> str:
    """What a file's first 9 bytes say it is: "safetensors" (a length then "{"), "zip archive (torch.save)",
    "pickle", or "unknown". A safetensors length can begin with any byte, so that test comes first."""
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head[:2] == b"PK":
        return "zip archive (torch.save)"
    if len(head) >= 2 and head[0] == 0x80 and 1 <= head[1] <= 5:
        return "pickle"
    if head[:1] in (b"(", b"]", b"}", b"c"):
        # protocol 0/1 pickles open with MARK "(", EMPTY_LIST "]", EMPTY_DICT "}" or GLOBAL "c"
        return "pickle"
    return "unknown"


def is_pickle(path: Path) -> bool:
    """True when ``path`` is a pickle by its name or its first bytes (reads 9 bytes, deserialises nothing)."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    try:
        with path.open("rb") as fh:
            return sniff(fh.read(9)) not in ("safetensors", "unknown")
    except OSError:
        return False


def refuse_pickle(path: Path, *, allow_pickle: bool = False) -> None:
    """Raise UnsafeInputError when ``path`` is a pickle checkpoint and the user did not opt in with
    ``allow_pickle`` (even then it is loaded with ``torch.load(weights_only=True)``)."""
    if allow_pickle or not is_pickle(path):
        return
    raise ALLOW_PICKLE.error(
        UnsafeInputError,
        lambda how: (
            f"{Path(path).name} is a pickle checkpoint, which can run code when loaded: refused"
            f" (convert it to .safetensors, or pass {how} if you trust its source)"
        ),
    )


def load_pickle_weights_only(path: Path) -> dict[str, Any]:
    """The state dict of a pickle checkpoint the user opted in to, through ``torch.load(weights_only=True)``: only
    tensors and plain containers unpickle, so no code runs. Raises UnsafeInputError when the pickle holds more."""
    import pickle

    import torch

    def load(mmap: bool) -> Any:
        with warnings.catch_warnings():  # torch notes the pickle protocol of files it did not write: not ours to act on
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)

    try:
        try:
            data = load(True)
        except RuntimeError:  # mmap needs the zip format; legacy pickles load without it
            data = load(False)
    except pickle.UnpicklingError:
        raise UnsafeInputError(f"{path.name}: the pickle holds more than tensors: refused") from None
    except Exception as exc:  # truncated or corrupt: EOFError, zipfile errors, RuntimeError
        raise FormatError(f"{path.name}: not a readable checkpoint ({type(exc).__name__})") from None
    while isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise FormatError(f"{path.name} does not hold a state dict")
    return data


def tensor_shapes(header: Mapping[str, Any]) -> dict[str, list[int]]:
    """Tensor name → shape from a validated safetensors header."""
    return {k: list(v["shape"]) for k, v in header.items() if k != "__metadata__"}


# ---- architecture from key names --------------------------------------------------------------------------------

_SD1_TEXT = "cond_stage_model.transformer."
_SD2_TEXT = "cond_stage_model.model."
_XL_TEXT_2 = "conditioner.embedders.1."
_XL_REFINER = "conditioner.embedders.0.model."
_LDM_UNET = "model.diffusion_model."
_LDM_CROSS_K = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
_LDM_IN = "model.diffusion_model.input_blocks.0.0.weight"


def infer_architecture(keys: Iterable[str], shapes: Mapping[str, Sequence[int]] | None = None) -> str:
    """ "sd15", "sd2" or "sdxl" from a checkpoint's state-dict key names (original LDM layout as A1111 saves it, or
    a diffusers UNet's own names); ``shapes`` (from the safetensors header) settles UNet-only files.

    Raises FormatError for refiners, inpainting models and files that are not an SD 1.x/2.x/XL checkpoint.
    """
    names = set(keys)
    shapes = shapes or {}
    in_shape = shapes.get(_LDM_IN) or shapes.get("conv_in.weight")
    if in_shape is not None and len(in_shape) == 4 and in_shape[1] != 4:
        raise FormatError(f"a UNet with {in_shape[1]} input channels (inpainting or instruct model) is not supported")
    if any(k.startswith(_XL_TEXT_2) for k in names) or "add_embedding.linear_1.weight" in names:
        return "sdxl"
    if any(k.startswith(_XL_REFINER) for k in names):
        raise FormatError("an SDXL refiner checkpoint is not supported (only base models render on their own)")
    if any(k.startswith("model.diffusion_model.label_emb.") for k in names):
        return "sdxl"
    if any(k.startswith(_SD2_TEXT) for k in names):
        return "sd2"
    if any(k.startswith(_SD1_TEXT) for k in names):
        return "sd15"
    for key in (_LDM_CROSS_K, "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"):
        if shapes.get(key):
            width = int(shapes[key][-1])
            if width in (768, 1024):
                return "sd15" if width == 768 else "sd2"
            raise FormatError(f"not an SD 1.x or 2.x UNet (cross-attention width {width}, expected 768 or 1024)")
    if any(k.startswith(_LDM_UNET) for k in names) or "conv_in.weight" in names:
        raise FormatError("cannot tell SD 1.x from SD 2.x by key names alone (name the architecture explicitly)")
    raise FormatError("not a Stable Diffusion checkpoint (no UNet or text-encoder keys found)")


def single_file_architecture(path: Path) -> str:
    """The architecture of a validated .safetensors checkpoint, from its header alone."""
    header = check_safetensors(path)
    try:
        return infer_architecture((k for k in header if k != "__metadata__"), tensor_shapes(header))
    except FormatError as exc:
        raise FormatError(f"{Path(path).name}: {exc}") from None


def scheduler_overrides(header: Mapping[str, Any]) -> dict[str, Any]:
    """What a checkpoint says about its noise schedule, from a validated safetensors header: v-prediction and
    zero-terminal-SNR models mark themselves with empty ``v_pred`` / ``ztsnr`` tensors (ComfyUI's convention, used
    by v-prediction SDXL fine-tunes) or with the Stability model-spec metadata (``modelspec.prediction_type``,
    ``modelspec.architecture``). Empty when the file says nothing (the architecture's preset decides)."""
    names = set(header) - {"__metadata__"}
    raw_meta = header.get("__metadata__")
    meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
    overrides: dict[str, Any] = {}
    declared = str(meta.get("modelspec.prediction_type", "")).strip().lower()
    architecture = str(meta.get("modelspec.architecture", "")).strip().lower()
    if "v_pred" in names or declared in ("v", "v_prediction", "v-prediction") or architecture.endswith("-v"):
        overrides["prediction_type"] = "v_prediction"
    elif declared in ("epsilon", "eps") or architecture.endswith("-512"):
        overrides["prediction_type"] = "epsilon"
    if "ztsnr" in names:
        overrides["rescale_betas_zero_snr"] = True
        overrides["timestep_spacing"] = "trailing"  # zero terminal SNR needs the last timestep sampled
    return overrides


def read_header_only_json(path: Path) -> dict[str, Any]:
    """A small JSON file (model_index.json, config.json) read with a size limit; FormatError if malformed."""
    path = Path(path)
    try:
        if path.stat().st_size > 1024 * 1024:
            raise FormatError(f"{path} is too large for a config file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise FormatError(f"{path} is not a JSON object")
    return data
