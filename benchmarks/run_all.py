"""Run every benchmark and print their JSON results (`make bench`). Figures go to docs/PERFORMANCE.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    ["bench_cold_start.py"],
    ["bench_import.py", "--count", "200000", "--json"],
    ["bench_search.py"],
    ["bench_images.py"],
    ["bench_formats.py"],
    ["bench_tui.py"],
    ["bench_vectors.py"],
    ["bench_semantic.py"],
]

if __name__ == "__main__":
    for args in BENCHMARKS:
        print(f"== {' '.join(args)}", flush=True)
        subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]], check=True)
