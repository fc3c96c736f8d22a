"""The embedder's DataLoader settings, swept: workers, prefetch, pinned memory, batch size, PNG path (GPU CUDA only).

    python benchmarks/bench_embed_loader.py [--count 12000]

Writes `--count` 512² PNGs (as `bench_embed.py` does) and embeds them with ViT-B-32 (random weights) through a
DataLoader built like `Embedder.loader`, once per setting, printing one JSON line each: steady images/s (first batch
to last), seconds spent waiting for the loader and in the device half (`Embedder.encode_groups`), and the wall time.
The first setting runs twice; its first line includes kernel compilation and pinned-buffer allocation. This is how
docs/PERFORMANCE.md's prefetch and worker figures were found.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_embed import make_files

from promptlib.search.embed import Embedder, EmbedderSpec
from promptlib.search.preprocess import FileDataset, collate

# (GPU unfilters PNG rows, workers, prefetch factor, pinned memory, batch size)
SETTINGS = [
    (True, 16, 2, True, 256),
    (True, 16, 2, True, 256),
    (True, 16, 1, True, 256),
    (True, 16, 4, True, 256),
    (True, 16, 2, False, 256),
    (True, 14, 2, True, 256),
    (True, 12, 2, True, 256),
    (True, 16, 2, True, 64),
    (False, 16, 4, True, 256),
    (False, 16, 2, True, 256),
]


def run(embedder: Embedder, paths: list[str], raw: bool, workers: int, prefetch: int, pin: bool, batch: int) -> None:
    import torch
    from torch.utils.data import DataLoader

    preprocess = dataclasses.replace(embedder.preprocess, raw_png=raw)
    loader = DataLoader(
        FileDataset(paths, preprocess),
        batch_size=batch,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin,
        prefetch_factor=prefetch,
    )
    wait = device = 0.0
    done = first_count = 0
    first = None
    batches = iter(loader)
    start = time.perf_counter()
    while True:
        before = time.perf_counter()
        try:
            positions, groups, _bad = next(batches)
        except StopIteration:
            break
        got = time.perf_counter()
        if first is None:
            torch.cuda.synchronize()
            first, first_count = time.perf_counter(), len(positions)
        else:
            wait += got - before
        embedder.encode_groups(groups, len(positions), keep_on_device=True)
        device += time.perf_counter() - got
        done += len(positions)
    torch.cuda.synchronize()
    end = time.perf_counter()
    assert first is not None and done == len(paths)
    setting = {"gpu_png": raw, "workers": workers, "prefetch": prefetch, "pin": pin, "batch": batch}
    figures = {
        "steady_images_per_s": round((done - first_count) / (end - first)),  # overstates short runs: see bench_embed
        "wait_s": round(wait, 2),
        "device_half_s": round(device, 2),
        "seconds": round(end - start, 2),
    }
    print(json.dumps({**setting, **figures}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=12_000)
    args = parser.parse_args()
    embedder = Embedder(EmbedderSpec(model="ViT-B-32", pretrained="random", device="cuda"))
    with tempfile.TemporaryDirectory(prefix="promptlib-bench-loader-") as tmp:
        paths = [str(p) for p in make_files(Path(tmp), args.count)]
        for setting in SETTINGS:
            run(embedder, paths, *setting)


if __name__ == "__main__":
    main()
