"""How files reach the embedder, swept (CUDA only): the shared-memory feeder's settings against the DataLoader.

    python benchmarks/bench_embed_loader.py [--count 40000]

Writes `--count` 512² PNGs (as `bench_embed.py` does) and embeds them with ViT-B-32 (random weights) once per
setting, printing one JSON line each: images/s end to end and over the second half of the batches, the seconds the
main process waited for the next batch, the seconds it spent in the device half (`Embedder.encode_groups`, launches
only: nothing synchronises per batch), and the wall time. Settings:

* ``feeder``: `promptlib.search.feeder.Feeder` (the product path since 2026-11-26): workers, files per task,
  tasks queued per worker, whether the GPU undoes the PNG filters;
* ``dataloader``: the path before it, kept here as the baseline: a torch DataLoader over the same `load_file`
  with `collate`, pinned memory, prefetch 2 for PNG rows / 4 for pixels.

The first setting runs twice; its first line includes kernel compilation.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_embed import make_files

from promptlib.search.embed import Embedder, EmbedderSpec
from promptlib.search.feeder import Feeder
from promptlib.search.preprocess import Preprocess, collate, load_file


class Files:
    """The DataLoader baseline's dataset: `load_file` per index (what `Embedder.loader` used before the feeder)."""

    def __init__(self, paths: list[str], preprocess: Preprocess) -> None:
        self.paths = paths
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, Any, str]:
        return (i, *load_file(self.paths[i], self.preprocess))


def dataloader(paths: list[str], preprocess: Preprocess, workers: int, batch: int) -> Any:
    from torch.utils.data import DataLoader

    return DataLoader(
        Files(paths, preprocess),
        batch_size=batch,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=True,
        prefetch_factor=2 if preprocess.raw_png else 4,
    )


def run(embedder: Embedder, paths: list[str], batches: Iterator[Any], setting: dict[str, Any]) -> dict[str, Any]:
    import torch

    wait = device = 0.0
    done = 0
    arrivals: list[tuple[float, int]] = []
    start = time.perf_counter()
    while True:
        before = time.perf_counter()
        try:
            positions, groups, _bad = next(batches)
        except StopIteration:
            break
        got = time.perf_counter()
        wait += got - before
        if positions:
            embedder.encode_groups(groups, len(positions), keep_on_device=True)
        device += time.perf_counter() - got
        done += len(positions)
        arrivals.append((time.perf_counter(), done))
    torch.cuda.synchronize()
    end = time.perf_counter()
    assert done == len(paths), f"{done} of {len(paths)} files embedded"
    half_time, half_done = arrivals[len(arrivals) // 2]
    figures = {
        "images_per_s": round(done / (end - start)),
        "second_half_images_per_s": round((done - half_done) / (end - half_time)),
        "wait_s": round(wait, 2),
        "device_half_s": round(device, 2),
        "seconds": round(end - start, 2),
    }
    line = {**setting, **figures}
    print(json.dumps(line), flush=True)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=40_000)
    args = parser.parse_args()
    embedder = Embedder(EmbedderSpec(model="ViT-B-32", pretrained="random", device="cuda"))
    cores = os.cpu_count() or 2
    workers = embedder.workers()
    # (path, GPU undoes the PNG filters, workers, files per task / batch, tasks queued per worker)
    settings = [
        ("feeder", True, workers, 64, 2),
        ("feeder", True, workers, 64, 2),
        ("dataloader", True, workers, 256, 2),
        ("feeder", True, max(1, cores - 1), 64, 2),
        ("feeder", True, workers, 32, 2),
        ("feeder", True, workers, 128, 2),
        ("feeder", True, workers, 64, 3),
        ("feeder", False, workers, 64, 2),
        ("dataloader", False, workers, 256, 4),
        ("feeder", True, workers, 64, 2),
    ]
    with tempfile.TemporaryDirectory(prefix="promptlib-bench-loader-") as tmp:
        started = time.perf_counter()
        paths = [str(p) for p in make_files(Path(tmp), args.count)]
        print(json.dumps({"files": len(paths), "write_s": round(time.perf_counter() - started, 1)}), flush=True)
        for path, raw, n, size, in_flight in settings:
            prep = dataclasses.replace(embedder.preprocess, raw_png=raw)
            setting = {"path": path, "gpu_png": raw, "workers": n, "files_per_batch": size}
            if path == "feeder":
                setting["in_flight"] = in_flight
                feeder = Feeder(paths, prep, device=embedder.device, workers=n, task_files=size, in_flight=in_flight)
                batches = iter(feeder)
            else:
                batches = iter(dataloader(paths, prep, n, size))
            run(embedder, paths, batches, setting)


if __name__ == "__main__":
    main()
