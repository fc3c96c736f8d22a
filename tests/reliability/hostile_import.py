"""Import a corpus folder in a fresh process and report the summary and the process's peak memory.

``python -m tests.reliability.hostile_import LIBRARY PATH...`` prints one JSON object.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from promptlib.library import Library


def peak_rss_mb() -> float:
    """This process's peak resident memory. (ru_maxrss would include the parent's peak from before the exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(library: Path, paths: list[Path]) -> None:
    started = time.perf_counter()
    with Library.open(library) as lib:
        summary = lib.import_paths(paths)
    print(
        json.dumps(
            {
                "summary": summary.to_json(),
                "maxrss_mb": peak_rss_mb(),
                "seconds": time.perf_counter() - started,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])
