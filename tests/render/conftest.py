"""Shared fixtures for the render tests: tiny random-weight SD / SDXL models built in-process, saved once per session
as diffusers folders and single-file checkpoints, plus a fake Hugging Face cache. Nothing is downloaded."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session", autouse=True)
def render_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """promptlib's render cache (configs, tokenizer, hashes) in a temp folder; one torch thread, because the
    tiny models are dominated by thread hand-offs on a shared 2-core machine (20x slower with two)."""
    import torch

    from promptlib.render import models

    cache = tmp_path_factory.mktemp("render-cache")
    previous_env, previous_threads = os.environ.get("PROMPTLIB_CACHE_DIR"), torch.get_num_threads()
    os.environ["PROMPTLIB_CACHE_DIR"] = str(cache)
    torch.set_num_threads(1)
    models.set_pipeline_cache_size(8)
    yield cache
    models.set_pipeline_cache_size(1)
    torch.set_num_threads(previous_threads)
    if previous_env is None:
        os.environ.pop("PROMPTLIB_CACHE_DIR", None)
    else:
        os.environ["PROMPTLIB_CACHE_DIR"] = previous_env


@pytest.fixture(scope="session")
def tiny_pipes(render_cache: Path) -> dict[str, Any]:
    """One tiny random pipeline per architecture (seed 3), shared read-only by the tests."""
    from promptlib.render.presets import random_pipeline

    return {arch: random_pipeline(arch, size="tiny", seed=3) for arch in ("sd15", "sd2", "sdxl")}


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_pipes: dict[str, Any]) -> Path:
    """A models folder: ``tiny-sd15`` and ``tiny-sdxl`` diffusers folders (the seed-3 pipelines)."""
    root = tmp_path_factory.mktemp("models")
    for arch in ("sd15", "sdxl"):
        tiny_pipes[arch].save_pretrained(root / f"tiny-{arch}", safe_serialization=True)
    return root


@pytest.fixture(scope="session")
def single_files(tmp_path_factory: pytest.TempPathFactory, tiny_pipes: dict[str, Any]) -> dict[str, Path]:
    """Each tiny pipeline as an A1111-style single-file checkpoint (original LDM key layout)."""
    from promptlib.render.ldm import save_single_file

    root = tmp_path_factory.mktemp("checkpoints")
    return {arch: save_single_file(pipe, root / f"tiny-{arch}.safetensors") for arch, pipe in tiny_pipes.items()}


def _render(pipe: Any, prompt: str = "a lighthouse at dusk", **kwargs: Any) -> Any:
    """A 64x64, 2-step render as a float array; a fixed generator makes it repeatable."""
    import torch

    kwargs.setdefault("num_inference_steps", 2)
    generator = torch.Generator().manual_seed(0)
    if "prompt_embeds" in kwargs:
        return pipe(height=64, width=64, generator=generator, output_type="np", **kwargs).images
    return pipe(prompt, height=64, width=64, generator=generator, output_type="np", **kwargs).images


def _fake_hf_cache(cache: Path, repo_id: str, source: Path, *, commit: str = "0" * 40) -> Path:
    """Lay ``source`` (a diffusers folder) out as the HF hub cache does: blobs named by content hash, snapshot
    files as relative symlinks, ``refs/main`` naming the commit. Returns the snapshot folder."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            shutil.copyfile(file, blob)
        link = snapshot / file.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture(scope="session")
def render_image() -> Callable[..., Any]:
    """``render_image(pipe, prompt="…", **call_kwargs)``: a 64x64, 2-step render as a float array."""
    return _render


@pytest.fixture(scope="session")
def make_hf_cache() -> Callable[..., Path]:
    """``make_hf_cache(cache_dir, repo_id, diffusers_folder)``: a real-layout HF cache entry; returns its snapshot."""
    return _fake_hf_cache


# --- renderer fixtures (schedulers, renderer, jobs, grids, rerun/verify, render CLI) ---------------------------------

TINY_MODEL = "random:sd15-tiny"  # a tiny random-weight SD 1.5 built in-process (cached per test session)
TINY_XL_MODEL = "random:sdxl-tiny"


@pytest.fixture
def render_lib(tmp_path: Path) -> Iterator[Any]:
    """A fresh library with one entry (id 1) whose recipe names the tiny model, 64x64 and 3 steps."""
    from promptlib.library import Library

    lib = Library.open(tmp_path / "render-lib")
    lib.add(
        "a lighthouse in fog, (oil painting:1.2)",
        negative_prompt="blurry",
        params={"model": TINY_MODEL, "steps": 3, "cfg_scale": 6.0, "width": 64, "height": 64, "seed": 7},
    )
    yield lib
    lib.close()


@pytest.fixture
def library_files() -> Callable[[Any], tuple[set[str], set[str]]]:
    """``library_files(lib)``: (image files on disk, image paths the renders and grids rows refer to)."""

    def files(lib: Any) -> tuple[set[str], set[str]]:
        on_disk = set(lib.images.iter_files())
        rows = {r[0] for r in lib.db.execute("SELECT image_path FROM renders")}
        rows |= {r[0] for r in lib.db.execute("SELECT image_path FROM grids WHERE image_path IS NOT NULL")}
        return on_disk, rows

    return files
