"""Semantic search test helpers: synthetic captioned images and a tiny open_clip model trained on them.

No pretrained weights can be downloaded here, so the model is made: a CLIP with a tiny ResNet image tower and a
two-layer text transformer, trained for a few seconds on CPU with open_clip's own contrastive loss
(`open_clip.ClipLoss`) on synthetic images drawn below ("a red circle on black"). Text→image retrieval with it is
genuinely meaningful: the tests measure its top-1 accuracy on freshly drawn images.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from promptlib.library import Library

COLORS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (40, 60, 220), "yellow": (235, 215, 30)}
SHAPES = ("circle", "square", "triangle")
BACKGROUNDS = {"black": (10, 10, 10), "white": (245, 245, 245)}
COMBOS = [(shape, color, bg) for shape in SHAPES for color in COLORS for bg in BACKGROUNDS]
TINY_NAME = "promptlib-tiny-clip"
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 8},
    "text_cfg": {"context_length": 12, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
TRAIN_STEPS = 120


def caption(shape: str, color: str, bg: str) -> str:
    return f"a {color} {shape} on {bg}"


def draw(shape: str, color: str, bg: str, rng: random.Random, size: int = 64) -> Image.Image:
    """A shape of a colour on a background, at a random size and position near the centre."""
    image = Image.new("RGB", (size, size), BACKGROUNDS[bg])
    pen = ImageDraw.Draw(image)
    r = rng.randint(int(size * 0.26), int(size * 0.36))
    jitter = size // 8
    cx, cy = size // 2 + rng.randint(-jitter, jitter), size // 2 + rng.randint(-jitter, jitter)
    fill = COLORS[color]
    if shape == "circle":
        pen.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif shape == "square":
        pen.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fill)
    else:
        pen.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    return image


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@dataclass(frozen=True)
class TinyModel:
    config: Path
    checkpoint: Path
    name: str = TINY_NAME


def train(folder: Path, *, combos: list[tuple[str, str, str]] = COMBOS, seed: int = 0) -> TinyModel:
    """Train the tiny CLIP on `combos` and save its architecture JSON and weights in `folder`."""
    import numpy as np
    import open_clip
    import torch

    config = folder / f"{TINY_NAME}.json"
    config.write_text(json.dumps(TINY_CONFIG), encoding="utf-8")
    open_clip.add_model_config(config)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and a shared machine stays responsive
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = open_clip.create_model(TINY_NAME)
            tokenizer = open_clip.get_tokenizer(TINY_NAME)
            mean = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(3, 1, 1)
            std = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(3, 1, 1)

            def tensor(image: Image.Image) -> Any:
                small = np.asarray(image.resize((32, 32), Image.Resampling.BICUBIC), dtype=np.float32)
                return (torch.from_numpy(small.copy()).permute(2, 0, 1) / 255 - mean) / std

            rng = random.Random(0)
            per_combo = 12
            images = torch.stack([tensor(draw(*combo, rng)) for combo in combos for _ in range(per_combo)])
            tokens = tokenizer([caption(*combo) for combo in combos])
            # The token table is large and sparse in use: SparseAdam keeps a step fast.
            model.token_embedding.sparse = True
            dense = [p for p in model.parameters() if p is not model.token_embedding.weight]
            opt = torch.optim.AdamW(dense, lr=3e-3, weight_decay=0.0)
            opt_sparse = torch.optim.SparseAdam([model.token_embedding.weight], lr=3e-3)
            schedules = [
                torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=TRAIN_STEPS, pct_start=0.1),
                torch.optim.lr_scheduler.OneCycleLR(
                    opt_sparse, max_lr=3e-3, total_steps=TRAIN_STEPS, pct_start=0.1, cycle_momentum=False
                ),
            ]
            loss_fn = open_clip.ClipLoss()
            model.train()
            for _ in range(TRAIN_STEPS):
                # one image of every caption per batch: ClipLoss treats the other captions as negatives
                pick = torch.randint(0, per_combo, (len(combos),)) + torch.arange(len(combos)) * per_combo
                image_features, text_features, scale = model(images[pick], tokens)
                loss = loss_fn(image_features, text_features, scale)
                opt.zero_grad()
                opt_sparse.zero_grad()
                loss.backward()
                opt.step()
                opt_sparse.step()
                for schedule in schedules:
                    schedule.step()
            model.token_embedding.sparse = False
            model.eval()
    finally:
        torch.set_num_threads(threads)
    checkpoint = folder / "tiny-clip.pt"
    torch.save(model.state_dict(), checkpoint)
    return TinyModel(config, checkpoint)


def embedding_config(model: TinyModel, **extra: Any) -> str:
    settings = {
        "model": model.name,
        "model_config": str(model.config),
        "checkpoint": str(model.checkpoint),
        "device": "cpu",
        "workers": 0,
        **extra,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return "[search]\ndefault_limit = 20\n\n[embedding]\n" + "\n".join(lines) + "\n"


def open_library(folder: Path, model: TinyModel, **extra: Any) -> Library:
    """A library whose config.toml points semantic search at the tiny model."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(embedding_config(model, **extra), encoding="utf-8")
    return Library.open(folder)


def add_drawn(lib: Library, combo: tuple[str, str, str], rng: random.Random, **fields: Any) -> tuple[int, int]:
    """An entry with a neutral prompt and one drawn image as its render: (entry id, render id)."""
    entry = lib.add(fields.pop("prompt", "test image"), **fields)
    render = lib.add_image(entry.id, png(draw(*combo, rng)))
    return entry.id, render.id
