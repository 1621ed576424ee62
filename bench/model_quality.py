"""Model-quality benchmark: the join of 1M capture records with 1M ground-truth records, plus binary metrics.

Generates (never commits; under bench/.work/model-quality) SageMaker-shaped capture and ground-truth files:
binary scoring (the endpoint answers the probability), CSV, JSON and BASE64 outputs, half of the requests with an
inference id (the others join by event id), records outside the window, malformed lines (truncated JSON, bad
base64, null predictions, non-numeric labels), requests with several records, unlabelled predictions, labels
without a prediction, and labels corrected later (duplicates in a later hour folder).

Contenders, each in its own process (wall seconds of the work, after imports, and the process's peak RSS):
- ours: ``merge_capture_with_ground_truth`` + ``model_quality_statistics`` (monitoring/model_quality.py);
- pandas: ``json.loads`` per line, ``pandas.merge``, scikit-learn's metrics (5 subsamples for deviations);
- duckdb: ``read_json`` (ignore_errors) and SQL for the join, the same scikit-learn metrics. DuckDB is not a
  dependency of the project: like bench/tabular_peers.py does for its peers, this script installs its pinned
  version (DUCKDB_REQUIREMENTS) into a virtualenv under the work directory on first use (``--no-duckdb`` skips it).

    .venv/bin/python bench/model_quality.py [--records 1000000] [--repeat 3] [--no-duckdb]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "model-quality"
DUCKDB_REQUIREMENTS = ("duckdb==2.0.0", "numpy==2.1.0", "scikit-learn==1.5.2")
THRESHOLD = 0.5
HOURS = 24
START, END = "2026-11-20T01:00:00Z", "2026-11-20T23:59:59Z"  # hour 00 is outside the window
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from model_quality_contenders import CONTENDERS  # noqa: E402
from model_quality_data import generate  # noqa: E402


def measure(name: str, data: Path, python: str) -> dict:
    """Run one contender in a fresh process; its JSON result plus the process's peak RSS."""
    command = [python, str(Path(__file__).resolve().parent / "model_quality_contenders.py"), name, str(data)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    out = process.stdout.read().decode() if process.stdout else ""
    err = process.stderr.read().decode() if process.stderr else ""
    if status != 0:
        raise SystemExit(f"{name} failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    result["process_cpu_seconds"] = usage.ru_utime + usage.ru_stime  # whole process, imports included
    return result


def duckdb_python(work: Path) -> str | None:
    """The interpreter of the DuckDB virtualenv (created and installed on first use), or None if it fails."""
    from tabular_peers import VenvSpec, ensure_venv

    try:
        return str(ensure_venv(work, VenvSpec("venv-duckdb", DUCKDB_REQUIREMENTS, ("duckdb",)), sys.executable))
    except SystemExit as exc:
        print(f"duckdb skipped: {exc}")
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-duckdb", action="store_true")
    parser.add_argument("--only", choices=sorted(CONTENDERS), action="append", help="run only these contenders")
    args = parser.parse_args()
    data = WORK / f"data-{args.records}"
    began = time.perf_counter()
    facts = generate(data, args.records)
    print(f"data: {data} ({time.perf_counter() - began:.1f} s to make or find) {json.dumps(facts)}")
    runs = {name: sys.executable for name in (args.only or ["ours", "pandas", "duckdb"])}
    if "duckdb" in runs:
        python = None if args.no_duckdb else duckdb_python(WORK)
        if python is None:
            del runs["duckdb"]
        else:
            runs["duckdb"] = python
    results: dict[str, list[dict]] = {name: [] for name in runs}
    for round_number in range(args.repeat):
        for name, python in runs.items():
            result = measure(name, data, python)
            results[name].append(result)
            print(
                f"round {round_number + 1} {name:<7} {result['seconds']:.2f} s  peak {result['peak_rss_mib']:.0f} MiB"
                f"  process cpu {result['process_cpu_seconds']:.1f} s"
                f"  matched {result['matched']}  auc {result['auc']:.6f}  phases {result.get('phases', {})}",
                flush=True,
            )
    report(results)
    return 0


def report(results: dict[str, list[dict]]) -> None:
    """Medians over the rounds and the ratios to ours."""
    medians = {
        name: tuple(statistics.median(r[k] for r in runs) for k in ("seconds", "peak_rss_mib", "process_cpu_seconds"))
        for name, runs in results.items()
        if runs
    }
    print(f"\nload average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other processes share them)")
    print("contender  median s  median peak MiB  median process cpu s  time / ours  memory / ours  cpu / ours")
    ours = medians.get("ours")
    for name, (seconds, rss, cpu) in medians.items():
        ratio = f"{seconds / ours[0]:10.2f}x  {rss / ours[1]:12.2f}x  {cpu / ours[2]:9.2f}x" if ours else ""
        print(f"{name:<9} {seconds:9.2f} {rss:16.0f} {cpu:21.1f}  {ratio}")
    if ours:
        print(
            f"\ntargets: <= 4 s -> {'met' if ours[0] <= 4 else 'MISSED'}; <= 1024 MiB -> "
            f"{'met' if ours[1] <= 1024 else 'MISSED'}"
        )


if __name__ == "__main__":
    sys.exit(main())
