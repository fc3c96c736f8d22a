"""Cold start of the CLI: `promptlib --help` and a lexical `promptlib search`, as whole processes.

    .venv/bin/python benchmarks/bench_cold_start.py [--runs 20]

Baseline in the same run: `python -c pass` (the interpreter's own start-up).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from promptlib.library import Library
from promptlib.seeds import seed_pack_path


def timed(cmd: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    samples.sort()
    return {
        "median_s": round(statistics.median(samples), 3),
        "p95_s": round(samples[int(0.95 * (len(samples) - 1))], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("promptlib"))
    with tempfile.TemporaryDirectory() as home:
        with Library.open(home) as lib:
            lib.import_pack(seed_pack_path())
        env = {**os.environ, "PROMPTLIB_HOME": home}
        result = {
            "python -c pass (baseline)": timed([sys.executable, "-c", "pass"], env, args.runs),
            "promptlib --help": timed([exe, "--help"], env, args.runs),
            "promptlib search lighthouse": timed([exe, "search", "lighthouse"], env, args.runs),
            "promptlib search --json 'portrait steps:20-30'": timed(
                [exe, "search", "--json", "portrait steps:20-30"], env, args.runs
            ),
        }
    print(json.dumps({"runs": args.runs, "results": result}, indent=2))


if __name__ == "__main__":
    main()
