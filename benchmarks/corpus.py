"""A synthetic prompt corpus with a realistic word-frequency curve, for the benchmarks.

Words follow a Zipf-like distribution over a vocabulary of SD prompt words, so a few words ("masterpiece",
"detailed") appear in most prompts — the hard case for bm25 — and most appear rarely.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

COMMON = ["masterpiece", "best quality", "highly detailed", "8k", "sharp focus"]
SUBJECTS = [
    "lighthouse", "castle", "fox", "dragon", "portrait", "city", "forest", "mountain", "robot", "harbour",
    "cathedral", "samurai", "astronaut", "owl", "waterfall", "desert", "bridge", "library", "market", "garden",
]  # fmt: skip
STYLES = [
    "oil painting", "watercolor", "photograph", "digital art", "concept art", "ink sketch", "3d render",
    "anime", "pixel art", "matte painting", "studio lighting", "golden hour", "volumetric fog", "bokeh",
]  # fmt: skip
SAMPLERS = ["DPM++ 2M", "Euler a", "DPM++ SDE", "UniPC", "DDIM"]


def _rare_words(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(5, 9))) for _ in range(n)]


def entries(count: int, *, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`count` entry dicts: prompt, negative_prompt, title, tags, params."""
    rng = random.Random(seed)
    vocab = _rare_words(rng, 50_000)
    cum_weights = list(itertools.accumulate(1.0 / (rank + 1) ** 1.1 for rank in range(len(vocab))))
    for n in range(count):
        rare = rng.choices(vocab, cum_weights=cum_weights, k=rng.randint(4, 12))
        words = [rng.choice(SUBJECTS), rng.choice(STYLES), *rare]
        if rng.random() < 0.65:
            words.insert(0, "masterpiece")
        if rng.random() < 0.4:
            words.append(rng.choice(COMMON[1:]))
        yield {
            "prompt": ", ".join(words),
            "negative_prompt": "blurry, lowres, watermark" if n % 3 else "",
            "title": f"{words[1]} {n}" if n % 5 == 0 else "",
            "tags": [rng.choice(SUBJECTS), rng.choice(["sfw", "wip", "best"])],
            "params": {
                "sampler": rng.choice(SAMPLERS),
                "steps": rng.randint(15, 50),
                "cfg_scale": rng.choice([5.0, 6.0, 7.0, 7.5, 8.0]),
                "seed": rng.randint(0, 2**32 - 1),
                "width": 512,
                "height": rng.choice([512, 768]),
            },
        }
