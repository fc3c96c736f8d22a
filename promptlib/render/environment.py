"""Where a render was made: the environment fingerprint, the deterministic mode, and comparing two images.

Every render stores `fingerprint(...)` next to its recipe. `promptlib verify` re-renders, compares the pixels
(`compare_pixels`) and lists the fingerprint fields that differ (`fingerprint_diff`), so "why did this change?"
has an answer: a different torch, a different GPU, fp16 instead of fp32, another attention backend.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

# Image k of a batch against the same seed rendered alone, measured on CPU fp32 (tiny SD 1.5 and SDXL, 5 samplers,
# 16 seeds, batches of 8): at most 1/255 on a few values, PSNR >= 84 dB. See docs/RENDERING.md for GPU figures.
BATCH_TOLERANCE_MAX_ABS = 1
BATCH_TOLERANCE_MIN_PSNR = 80.0

# Fields that describe one particular run rather than the environment: never reported as differences.
VOLATILE_FIELDS = frozenset({"batch", "rerun_of"})


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def device_name(device: Any) -> str:
    """A readable name for a torch device: the GPU's marketing name, or the CPU's architecture."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return str(torch.cuda.get_device_name(dev))
    if dev.type == "mps":
        return "Apple MPS"
    return f"cpu ({platform.machine() or 'unknown'})"


def fingerprint(
    *,
    device: Any,
    dtype: str,
    attention: str,
    deterministic: bool,
    model_hash: str | None,
    vae_hash: str | None = None,
    lora_hashes: Mapping[str, str] | None = None,
    scheduler: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The environment fingerprint stored with a render (JSON-safe)."""
    import torch

    dev = torch.device(device)
    out: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": f"{platform.system()}-{platform.machine()}",
        "torch": torch.__version__,
        "diffusers": _version("diffusers"),
        "transformers": _version("transformers"),
        "peft": _version("peft"),
        "cuda": torch.version.cuda if dev.type == "cuda" else None,
        "cudnn": torch.backends.cudnn.version() if dev.type == "cuda" else None,
        "device": device_name(dev),
        "device_type": dev.type,
        "cpu_threads": torch.get_num_threads() if dev.type == "cpu" else None,
        "dtype": dtype,
        "attention": attention,
        "deterministic": deterministic,
        "tf32": bool(torch.backends.cuda.matmul.allow_tf32) if dev.type == "cuda" else None,
        "model_hash": model_hash,
        "vae_hash": vae_hash,
        "lora_hashes": dict(lora_hashes or {}),
        "scheduler": dict(scheduler or {}),
    }
    out.update(options or {})
    return out


def fingerprint_diff(stored: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The fields whose values differ, as ``{field: (stored, current)}`` (run-specific fields left out)."""
    keys = (set(stored) | set(current)) - VOLATILE_FIELDS
    return {k: (stored.get(k), current.get(k)) for k in sorted(keys) if stored.get(k) != current.get(k)}


def set_deterministic(enabled: bool) -> None:
    """What diffusers' reproducibility guide (``enable_full_determinism``) sets: deterministic algorithms, cuDNN
    deterministic and not benchmarking, no TF32, and a fixed cuBLAS workspace. Turning it off restores the fast
    defaults (cuDNN benchmark stays off: autotuning makes run-to-run choices differ)."""
    import torch

    if enabled:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":16:8"
        os.environ["CUDA_LAUNCH_BLOCKING"] = "1"
    else:
        os.environ.pop("CUDA_LAUNCH_BLOCKING", None)
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = not enabled
    torch.backends.cudnn.allow_tf32 = not enabled


def is_deterministic() -> bool:
    import torch

    return bool(torch.are_deterministic_algorithms_enabled())


@dataclass(frozen=True)
class PixelDrift:
    """How two images of the same size differ: 0 / inf PSNR when identical."""

    identical: bool
    max_abs: int  # largest per-channel difference, 0-255
    mean_abs: float
    psnr: float  # dB; math.inf when identical
    changed_fraction: float  # share of pixel channels that differ

    def to_json(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "max_abs_diff": self.max_abs,
            "mean_abs_diff": round(self.mean_abs, 6),
            "psnr": None if math.isinf(self.psnr) else round(self.psnr, 3),
            "changed_fraction": round(self.changed_fraction, 6),
        }


def compare_pixels(a: Any, b: Any) -> PixelDrift:
    """Compare two uint8 RGB arrays (H×W×3); raises ValueError when their shapes differ."""
    import numpy as np

    left, right = np.asarray(a, dtype=np.int16), np.asarray(b, dtype=np.int16)
    if left.shape != right.shape:
        raise ValueError(f"image sizes differ: {left.shape[1]}x{left.shape[0]} vs {right.shape[1]}x{right.shape[0]}")
    diff = np.abs(left - right)
    max_abs = int(diff.max()) if diff.size else 0
    mse = float(np.mean(diff.astype(np.float64) ** 2)) if diff.size else 0.0
    psnr = math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
    return PixelDrift(
        identical=max_abs == 0,
        max_abs=max_abs,
        mean_abs=float(diff.mean()) if diff.size else 0.0,
        psnr=psnr,
        changed_fraction=float(np.count_nonzero(diff)) / diff.size if diff.size else 0.0,
    )
