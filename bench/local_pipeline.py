"""Local pipeline benchmark: the full abalone pipeline cold, then a fully cached re-run, as whole processes.

Targets on this 2-core machine: cold (fresh state directory: definition built with the SDK, every step run)
at most 20 s wall; a fully cached re-run (definition from cache, no SDK import, every job from the step
cache) at most 5 s wall. Figures are medians over --repeat runs, each in a fresh process.

    .venv/bin/python bench/local_pipeline.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "local_pipeline"


def timed_run(state: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "run",
            "--state-dir",
            str(state),
            "--quiet",
            "--config",
            str(ROOT / "mlops.yaml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"mlops run failed:\n{done.stdout}\n{done.stderr}")
    return wall, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cold, cached = [], []
    for i in range(args.repeat):
        state = WORK / f"state-{i}"
        shutil.rmtree(state, ignore_errors=True)
        wall, out = timed_run(state)
        assert "definition built" in out, out
        cold.append(wall)
        wall, out = timed_run(state)
        assert "definition from cache" in out, out
        records = sorted((state / "executions").glob("*/execution.json"), key=lambda p: p.stat().st_mtime)
        steps = json.loads(records[-1].read_text())["steps"]
        assert all(steps[n].get("cache_hit_from") for n in ("Preprocess", "DataQualityBaseline", "Train", "Evaluate"))
        cached.append(wall)
        print(f"run {i + 1}: cold {cold[-1]:.2f} s, cached {cached[-1]:.2f} s", flush=True)
    cold_median, cached_median = statistics.median(cold), statistics.median(cached)
    print(f"cold:   median {cold_median:.2f} s (target <= 20 s): {'PASS' if cold_median <= 20 else 'FAIL'}")
    print(f"cached: median {cached_median:.2f} s (target <= 5 s): {'PASS' if cached_median <= 5 else 'FAIL'}")
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "results.json").write_text(json.dumps({"cold": cold, "cached": cached}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
