"""Image embedding throughput through the product path: `Embedder.embed_files` over 512² PNG files.

    python benchmarks/bench_embed.py [--count 10000] [--batch-size 256] [--workers 15] [--json]

Writes `--count` 512x512 PNGs to a temp folder (smooth colour fields with fine noise, saved like Stable Diffusion
front ends save them: Pillow's default zlib level; about 0.4 MB each), then measures, in one process:

* embed: `Embedder.embed_files(paths)` — on CUDA the workers only inflate each PNG (libdeflate through
  imagecodecs) and the GPU undoes the row filters, crops and shrinks (`promptlib.search.png_rows`); then resize +
  normalise on the device, ViT-B-32 in fp16 — images/s end to end (worker start-up included) and over the
  second half of the batches (sustained; use a long run, `--count 40000`);
* embed_cpu_decode: the same with whole decoding in the workers (libpng via imagecodecs, shrunk there): the path
  before the GPU took the filters, and the path wherever their kernel cannot run;
* gpu_png_check: the GPU's pixels against Pillow's for the first files, and the vectors of both paths;
* baseline: the usual way, as clip-retrieval does it — open_clip's own preprocess (Pillow decode, bicubic resize,
  to tensor, normalise) in torch DataLoader worker processes, pinned memory, the same model;
* decode only: the same feeders (`Embedder.loader`), their batches dropped — the CPU side's ceilings;
* decoders: milliseconds of one core per file for Pillow, libpng through imagecodecs and (when present)
  torchvision's libpng;
* model only: `model.encode_image` on a ready fp16 batch already on the device — the GPU side's ceiling;
* render loop: `Embedder.embed_images` on B decoded 512² PIL images in memory (what `Library._on_new_renders`
  does after a render batch), ms per batch, and its share of a render batch of `--render-ms`.

Weights are random (`pretrained = "random"`): speed does not depend on their values. Files are read from the page
cache after being written (the figure is decode-bound, not disk-bound). Runs on CPU too (slowly; use --count 256).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promptlib.search.embed import Embedder, EmbedderSpec

UNIQUE = 256  # distinct images, written as many files as asked for


def _draw(seed: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    field = Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).resize((512, 512), Image.BICUBIC)
    pixels = np.asarray(field, dtype=np.float32) + rng.normal(0, 3.0, (512, 512, 3))
    buf = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _write(args: tuple[Path, list[int], list[bytes]]) -> None:
    folder, numbers, images = args
    for n in numbers:
        (folder / f"{n:06d}.png").write_bytes(images[n % len(images)])


def make_files(folder: Path, count: int) -> list[Path]:
    with multiprocessing.Pool(min(16, os.cpu_count() or 1)) as pool:
        images = pool.map(_draw, range(min(UNIQUE, count)))
        chunks = [(folder, list(range(start, count, 64)), images) for start in range(64)]
        pool.map(_write, chunks)
    return sorted(folder.glob("*.png"))


def sync(embedder: Embedder) -> None:
    import torch

    if embedder.device.type == "cuda":
        torch.cuda.synchronize()


def timed(batches: Iterator[int], embedder: Embedder, expected: int | None = None) -> dict[str, float]:
    """Images/s over `batches` (each yields the images it handled): end to end, and over the second half of the
    batches (the device synchronised before the last clock reading, so queued GPU work counts). Counting from the first
    batch instead would credit the batches the other workers finish while it is consumed (16 workers deliver 16
    batches almost at once) and overstate a short run several times over; the second half of a long run is the
    sustained rate."""
    start = time.perf_counter()
    arrivals: list[tuple[float, int]] = []
    done = 0
    for count in batches:
        done += count
        arrivals.append((time.perf_counter(), done))
    sync(embedder)
    end = time.perf_counter()
    assert arrivals and (expected is None or done == expected)
    half_time, half_done = arrivals[len(arrivals) // 2]
    return {
        "images_per_s": round(done / (end - start), 1),
        "second_half_images_per_s": round((done - half_done) / max(end - half_time, 1e-9), 1),
        "seconds": round(end - start, 3),
    }


def measure_embed(embedder: Embedder, paths: list[Path], batch: int, workers: int) -> dict[str, float]:
    batches = embedder.iter_files(paths, batch_size=batch, workers=workers, on_device=True)
    return timed((len(positions) for positions, _vectors, _bad in batches), embedder, len(paths))


def measure_decode(embedder: Embedder, paths: list[Path], batch: int, workers: int) -> dict[str, float]:
    batches = embedder.loader(paths, batch_size=batch, workers=workers)
    return timed((len(positions) for positions, _groups, _bad in batches), embedder, len(paths))


class _OpenClipFiles:
    """The baseline's dataset: a file through open_clip's own eval transform (picklable, for worker processes)."""

    def __init__(self, paths: list[Path], transform: Any) -> None:
        self.paths = paths
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Any:
        from PIL import Image

        with Image.open(self.paths[i]) as image:
            return self.transform(image.convert("RGB"))


def measure_baseline(embedder: Embedder, paths: list[Path], batch: int, workers: int) -> dict[str, float]:
    import torch
    from open_clip.transform import PreprocessCfg, image_transform_v2
    from torch.utils.data import DataLoader

    transform = image_transform_v2(PreprocessCfg(**embedder.model.visual.preprocess_cfg), is_train=False)
    loader = DataLoader(
        _OpenClipFiles(paths, transform),
        batch_size=batch,
        num_workers=workers,
        pin_memory=embedder.device.type == "cuda",
        prefetch_factor=4 if workers else None,
    )

    def batches() -> Iterator[int]:
        with torch.inference_mode():
            for pixels in loader:
                x = pixels.to(embedder.device, non_blocking=True).to(embedder.dtype)
                torch.nn.functional.normalize(embedder.model.encode_image(x).float(), dim=-1)
                yield len(pixels)

    return timed(batches(), embedder, len(paths))


def check_gpu_png(embedder: Embedder, paths: list[Path], count: int = 64) -> dict[str, Any]:
    """The GPU path's pixels must be Pillow's, to the bit, and its vectors those of the CPU path."""
    import dataclasses

    import numpy as np
    import torch
    from PIL import Image

    from promptlib.search.png_rows import read_rows, unfilter

    rows = [read_rows(p.read_bytes()) for p in paths[:count]]
    assert all(r is not None for r in rows), "a benchmark PNG did not take the GPU path"
    stacked = torch.from_numpy(np.stack([r.data for r in rows if r is not None])).to(embedder.device)
    first = rows[0]
    assert first is not None
    pixels = unfilter(stacked, first.width, first.channels).cpu().numpy()
    mismatched = 0
    for path, got in zip(paths[:count], pixels, strict=True):
        with Image.open(path) as image:
            mismatched += not np.array_equal(got, np.asarray(image.convert("RGB")))
    sync(embedder)
    start = time.perf_counter()
    for _ in range(10):
        unfilter(stacked, first.width, first.channels)
    sync(embedder)
    unfilter_ms = (time.perf_counter() - start) * 100 / len(rows)
    gpu = embedder.embed_files(paths[:count], workers=0).vectors
    previous = embedder.preprocess
    embedder.preprocess = dataclasses.replace(previous, raw_png=False)
    try:
        cpu = embedder.embed_files(paths[:count], workers=0).vectors
    finally:
        embedder.preprocess = previous
    return {
        "files": len(rows),
        "pixels_differing_from_pillow": mismatched,
        "unfilter_ms_per_image": round(unfilter_ms, 4),
        "max_abs_vector_difference_vs_cpu_decode": float(np.abs(gpu - cpu).max()),
    }


def measure_decoders(paths: list[Path], count: int = 100) -> dict[str, float]:
    """Milliseconds of one core to decode one file to RGB pixels, per decoder."""
    import io

    import numpy as np
    from PIL import Image

    from promptlib.search.preprocess import _decode_png

    blobs = [p.read_bytes() for p in paths[:count]]

    def pillow(data: bytes) -> object:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))

    from promptlib.search.png_rows import read_rows

    decoders: dict[str, Any] = {"pillow": pillow, "libpng_imagecodecs": _decode_png, "inflate_only": read_rows}
    try:
        import torch
        from torchvision.io import decode_png

        decoders["libpng_torchvision"] = lambda data: decode_png(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    except ImportError:
        pass
    out = {}
    for name, decode in decoders.items():
        assert decode(blobs[0]) is not None, f"{name} did not decode (is imagecodecs installed?)"
        start = time.perf_counter()
        for data in blobs:
            decode(data)
        out[f"{name}_ms"] = round((time.perf_counter() - start) * 1000 / len(blobs), 2)
    return out


def measure_model(embedder: Embedder, batch: int, seconds: float = 3.0) -> dict[str, float]:
    import torch

    height, width = embedder.preprocess.size
    x = torch.randn((batch, 3, height, width), device=embedder.device, dtype=embedder.dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        for _ in range(3):
            embedder.model.encode_image(x)
        sync(embedder)
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            embedder.model.encode_image(x)
            runs += 1
            if embedder.device.type != "cuda":
                break
        sync(embedder)
        elapsed = time.perf_counter() - start
    return {"images_per_s": round(runs * batch / elapsed, 1), "batch": batch}


def measure_render_loop(embedder: Embedder, paths: list[Path], batch: int, render_ms: float) -> dict[str, float]:
    from PIL import Image

    images = []
    for path in paths[:batch]:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    embedder.embed_images(images)  # warm-up
    samples = []
    for _ in range(20 if embedder.device.type == "cuda" else 3):
        start = time.perf_counter()
        embedder.embed_images(images)
        samples.append((time.perf_counter() - start) * 1000)
    ms = statistics.median(samples)
    return {
        "batch": batch,
        "ms_per_batch": round(ms, 2),
        "ms_per_image": round(ms / batch, 2),
        "assumed_render_ms_per_batch": render_ms,
        "overhead_pct": round(100 * ms / render_ms, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="PNG files to embed")
    parser.add_argument("--batch-size", type=int, default=0, help="images per batch (0: the product default)")
    parser.add_argument("--workers", type=int, default=-1, help="decode processes (-1: the product default)")
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--render-batch", type=int, default=4, help="images per render batch in the loop figure")
    parser.add_argument(
        "--render-ms", type=float, default=2000.0, help="time of one render batch the loop figure is compared to"
    )
    parser.add_argument("--sweep", action="store_true", help="also try other worker counts and batch sizes")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()

    spec = EmbedderSpec(model=args.model, pretrained="random", device=args.device)
    embedder = Embedder(spec)
    batch = embedder.batch_size(args.batch_size or None)
    workers = embedder.workers(args.workers if args.workers >= 0 else None)
    results: dict[str, Any] = {
        "model": spec.model_id,
        "device": str(embedder.device),
        "gpu": _gpu_name(),
        "dtype": str(embedder.dtype).replace("torch.", ""),
        "cpus": os.cpu_count(),
        "count": args.count,
        "batch_size": batch,
        "workers": workers,
        "versions": _versions(),
    }
    with tempfile.TemporaryDirectory(prefix="promptlib-bench-embed-") as tmp:
        started = time.perf_counter()
        paths = make_files(Path(tmp), args.count)
        results["png_mb"] = round(sum(p.stat().st_size for p in paths[:UNIQUE]) / min(UNIQUE, len(paths)) / 1e6, 3)
        results["write_seconds"] = round(time.perf_counter() - started, 1)
        results["gpu_png"] = embedder.preprocess.raw_png
        if embedder.preprocess.raw_png:
            results["gpu_png_check"] = check_gpu_png(embedder, paths)
        # each path's first pass compiles kernels and faults in the feeder's arenas: the figures are the second
        # pass, as in any long indexing run
        results["embed_first_pass"] = measure_embed(embedder, paths, batch, workers)
        results["embed"] = measure_embed(embedder, paths, batch, workers)
        results["decode_only"] = measure_decode(embedder, paths, batch, workers)
        product = embedder.preprocess
        embedder.preprocess = dataclasses.replace(product, raw_png=False)
        results["embed_cpu_decode_first_pass"] = measure_embed(embedder, paths, batch, workers)
        results["embed_cpu_decode"] = measure_embed(embedder, paths, batch, workers)
        results["decode_only_cpu_decode"] = measure_decode(embedder, paths, batch, workers)
        embedder.preprocess = product
        measure_baseline(embedder, paths, batch, workers)
        results["baseline_dataloader_pillow"] = measure_baseline(embedder, paths, batch, workers)
        results["decoders"] = measure_decoders(paths)
        results["model_only"] = measure_model(embedder, batch)
        results["render_loop"] = measure_render_loop(embedder, paths, args.render_batch, args.render_ms)
        if args.sweep:
            cpus = os.cpu_count() or 2
            tried = [(w, batch) for w in sorted({max(1, cpus // 2), max(1, cpus - 4), cpus - 1, cpus}) if w != workers]
            tried += [(workers, b) for b in (batch // 2, batch * 2)]
            results["sweep"] = [
                {"workers": w, "batch_size": b, **measure_embed(embedder, paths, b, w)} for w, b in tried
            ]
    if args.json:
        print(json.dumps(results))
        return
    print(json.dumps(results, indent=2))


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "open_clip_torch", "imagecodecs", "numpy", "pillow"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def _gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


if __name__ == "__main__":
    main()
