"""Import speed of foreign files: a 100,000-row A1111 styles.csv through `promptlib import`'s code path.

    .venv/bin/python benchmarks/bench_formats.py [--rows 100000]

Baseline in the same run: Python's csv module reading the same bytes (no validation, no database).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import tempfile
import time
from pathlib import Path

from promptlib.library import Library


def styles_csv(rows: int) -> bytes:
    rng = random.Random(5)
    words = ["cinematic", "film grain", "soft light", "oil painting", "35mm", "bokeh", "ink", "neon", "pastel"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["name", "prompt", "negative_prompt"])
    for n in range(rows):
        prompt = "{prompt}, " + ", ".join(rng.sample(words, 4))
        writer.writerow([f"style {n}", prompt, "lowres, blurry" if n % 2 else ""])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    data = styles_csv(args.rows)
    start = time.perf_counter()
    baseline_rows = sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8-sig")))) - 1
    baseline = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as home:
        path = Path(home) / "styles.csv"
        path.write_bytes(data)
        with Library.open(Path(home) / "lib") as lib:
            start = time.perf_counter()
            summary = lib.import_paths([path])
            elapsed = time.perf_counter() - start
            assert summary.styles_imported == args.rows == baseline_rows, summary.to_json()
    print(
        json.dumps(
            {
                "rows": args.rows,
                "bytes": len(data),
                "import_s": round(elapsed, 3),
                "goal_s": 5.0,
                "baseline_csv_reader_s": round(baseline, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
