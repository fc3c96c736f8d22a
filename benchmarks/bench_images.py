"""Metadata import of a folder of PNGs written with A1111 infotext, through `Library.import_paths`.

    .venv/bin/python benchmarks/bench_images.py [--count 10000]

Baseline in the same run: Pillow opening each file and reading its text chunks (no parsing, no database).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import tempfile
import time
from pathlib import Path

from PIL import Image, PngImagePlugin

from promptlib.library import Library

INFOTEXT = (
    "{prompt}\nNegative prompt: lowres, blurry, watermark\n"
    "Steps: {steps}, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: {seed}, Size: 64x64, "
    'Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Lora hashes: "detail: 1a2b3c4d5e6f", Version: v1.10.1'
)


def make_pngs(folder: Path, count: int) -> None:
    rng = random.Random(11)
    subjects = ["lighthouse", "fox", "castle", "harbour", "robot", "forest", "city", "dragon"]
    base = Image.new("RGB", (64, 64))
    for n in range(count):
        info = PngImagePlugin.PngInfo()
        prompt = f"{rng.choice(subjects)} number {n}, <lora:detail:0.6>, highly detailed"
        info.add_text("parameters", INFOTEXT.format(prompt=prompt, steps=rng.randint(20, 40), seed=n))
        buffer = io.BytesIO()
        base.putpixel((n % 64, (n // 64) % 64), (n % 256, 0, 0))
        base.save(buffer, "PNG", pnginfo=info)
        (folder / f"{n:05d}-{n}.png").write_bytes(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        folder = Path(home) / "outputs"
        folder.mkdir()
        make_pngs(folder, args.count)
        start = time.perf_counter()
        for path in sorted(folder.iterdir()):
            with Image.open(path) as image:
                assert "parameters" in image.text  # type: ignore[attr-defined]
        baseline = time.perf_counter() - start
        with Library.open(Path(home) / "lib") as lib:
            start = time.perf_counter()
            summary = lib.import_paths([folder])
            elapsed = time.perf_counter() - start
            assert summary.imported == args.count and not summary.failed, summary.to_json()["failed"][:3]
            start = time.perf_counter()
            again = lib.import_paths([folder])
            rerun = time.perf_counter() - start
            assert again.imported == 0 and again.duplicates == args.count
    print(
        json.dumps(
            {
                "files": args.count,
                "import_s": round(elapsed, 3),
                "files_per_s": round(args.count / elapsed),
                "reimport_s (all duplicates)": round(rerun, 3),
                "baseline_pillow_text_chunks_s": round(baseline, 3),
                "baseline_files_per_s": round(args.count / baseline),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
