"""The library of docs/search.md's examples, in DEST/lib: 26 entries whose renders are drawn shapes, searched with
the test suite's tiny CLIP (docs/examples/demo_models.py trains it into DEST/clip first). Also writes DEST/query.png,
a 200x200 copy of entry 25's 64x64 image. Run by docs/examples/search-demo.sh."""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from promptlib import Library
from tests.semantic.helpers import COMBOS, draw, png

NOUNS = {"circle": "round badge", "square": "tile", "triangle": "pennant"}
TONES = {"black": "dark", "white": "light"}


def main(dest: Path) -> None:
    rng = random.Random(0)
    with Library.open(dest / "lib") as lib:
        for shape, color, bg in COMBOS:  # entries 1-24: every shape, colour and background
            entry = lib.add(f"{color} {NOUNS[shape]}, flat icon", tags=[TONES[bg]])
            lib.add_image(entry.id, png(draw(shape, color, bg, rng)))
        copy = draw("circle", "red", "black", rng)  # 25: another red circle on black; 26: it at 48x48
        entry = lib.add("red round badge, flat icon, copy", tags=["dark"])
        lib.add_image(entry.id, png(copy))
        entry = lib.add("red round badge, flat icon, smaller", tags=["dark"])
        lib.add_image(entry.id, png(copy.resize((48, 48))))
    copy.resize((200, 200)).save(dest / "query.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
