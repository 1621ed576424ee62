"""Contender "ours": ``mlops monitor baseline`` then ``mlops monitor check``, in one process.

    .venv/bin/python bench/tabular_ours.py REFERENCE.parquet CURRENT.parquet OUTPUT_DIR

Writes OUTPUT_DIR/baseline and OUTPUT_DIR/check, and prints a ``BENCH_PHASES {json}`` line last.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run the baseline and the check through the project's CLI entry point."""
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    reference, current, output = argv
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from pipelines.cli import main as mlops

    phases: dict[str, float] = {}
    started = time.perf_counter()
    code = mlops(["monitor", "baseline", "--dataset", reference, "--output", f"{output}/baseline"])
    phases["baseline"] = time.perf_counter() - started
    if code:
        print(f"mlops monitor baseline exited {code}", file=sys.stderr)
        return code
    started = time.perf_counter()
    code = mlops(
        ["monitor", "check", "--dataset", current, "--baseline", f"{output}/baseline", "--output", f"{output}/check"]
    )
    phases["check"] = time.perf_counter() - started
    if code:
        print(f"mlops monitor check exited {code}", file=sys.stderr)
        return code
    print("BENCH_PHASES " + json.dumps(phases), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
