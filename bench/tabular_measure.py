"""Fallback timer when ``/usr/bin/time`` is missing: run one command, report its wall time and peak RSS.

    python bench/tabular_measure.py RESULT.json -- COMMAND [ARGS...]

Runs in a fresh process per measurement, so ``RUSAGE_CHILDREN`` covers exactly the one command (and the
children it waited for). Writes ``{"returncode", "wall_seconds", "max_rss_kib", "user_seconds",
"system_seconds"}`` to RESULT.json and exits with the command's exit code.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    """Run the command after ``--`` and write its measurements."""
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    result_path, command = argv[0], argv[2:]
    started = time.perf_counter()
    returncode = subprocess.call(command)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    scale = 1024 if sys.platform == "darwin" else 1  # ru_maxrss is bytes on macOS, KiB on Linux
    with open(result_path, "w", encoding="utf-8") as out:
        json.dump(
            {
                "returncode": returncode,
                "wall_seconds": wall,
                "max_rss_kib": usage.ru_maxrss // scale,
                "user_seconds": usage.ru_utime,
                "system_seconds": usage.ru_stime,
            },
            out,
        )
    return returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
