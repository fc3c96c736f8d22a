"""Make the tiny models the docs' examples use, in DEST (nothing is downloaded):

    DEST/clip/   the test suite's tiny CLIP (tests/semantic/helpers.py), trained for a few seconds on drawn shapes
    DEST/models/tiny-sd15/   the tiny random-weight SD 1.5 pipeline as a diffusers folder

and print the `[embedding]` table of a config.toml that points semantic search at the tiny CLIP.
Run from the repository root: `.venv/bin/python docs/examples/demo_models.py /tmp/promptlib-demo`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.semantic.helpers import embedding_config, train


def main(dest: Path) -> None:
    from promptlib.render.presets import random_pipeline

    (dest / "clip").mkdir(parents=True, exist_ok=True)
    model = train(dest / "clip")
    folder = dest / "models" / "tiny-sd15"
    if not folder.exists():
        random_pipeline("sd15", size="tiny", seed=3).save_pretrained(folder, safe_serialization=True)
    print(embedding_config(model), end="")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
