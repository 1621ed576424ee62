"""Capture benchmark: N data-capture records end to end (parse + check + files), as whole processes.

Generates abalone-like capture records (8 features, CSV payloads, SageMaker's JSONL shape) spread over
hourly files, baselines the bundled abalone data, then runs ``mlops monitor check`` on the capture in a
fresh process, reporting wall seconds and peak RSS, and the parse time alone (reading the capture with no
profiling). With ``--memory`` it also compares peak RSS at 1M and 4M records (target: within 15%).

Targets on this 2-core machine: 1M records in at most 6 s wall and 1 GB peak RSS.

    .venv/bin/python bench/capture.py [--records 1000000] [--repeat 3] [--memory]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "capture"
PER_FILE = 250_000


def generate(records: int, root: Path) -> Path:
    """Write ``records`` capture lines (abalone-like features) under ``root`` in hourly files; reuse if present."""
    marker = root / "records.txt"
    if marker.is_file() and marker.read_text() == str(records):
        return root
    rng = np.random.default_rng(42)
    start = datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc)
    sexes = np.array(["M", "F", "I"])
    written = 0
    while written < records:
        n = min(PER_FILE, records - written)
        hour = start + timedelta(hours=written // PER_FILE)
        folder = root / "ep" / "AllTraffic" / hour.strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True, exist_ok=True)
        length = rng.normal(0.52, 0.12, n).clip(0.07, 0.82)
        cols = [
            sexes[rng.integers(0, 3, n)],
            np.char.mod("%.3f", length),
            np.char.mod("%.3f", length * 0.8),
            np.char.mod("%.3f", length * 0.27),
            np.char.mod("%.4f", length**3 * 5.6),
            np.char.mod("%.4f", length**3 * 2.4),
            np.char.mod("%.4f", length**3 * 1.2),
            np.char.mod("%.4f", length**3 * 1.6),
        ]
        rows = cols[0]
        for col in cols[1:]:
            rows = np.char.add(np.char.add(rows, ","), col)
        seconds = np.sort(rng.integers(0, 3600, n))
        with open(folder / "capture.jsonl", "w") as handle:
            for i, (row, sec) in enumerate(zip(rows.tolist(), seconds.tolist(), strict=True)):
                when = (hour + timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
                handle.write(
                    '{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT","data":"'
                    + row
                    + '","encoding":"CSV"},"endpointOutput":{"observedContentType":"text/csv","mode":"OUTPUT",'
                    '"data":"9.81","encoding":"CSV"}},"eventMetadata":{"eventId":"'
                    + f"{written + i:032x}"
                    + '","inferenceTime":"'
                    + when
                    + '"},"eventVersion":"0"}\n'
                )
        written += n
    marker.write_text(str(records))
    return root


def timed(argv: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of one child process."""
    wrapper = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "result = {'wall': wall, 'rss': rss, 'code': p.returncode, 'out': p.stdout, 'err': p.stderr[-2000:]}\n"
        "print(json.dumps(result))\n"
    )
    done = subprocess.run([sys.executable, "-c", wrapper, *argv], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    if result["code"] != 0:
        raise RuntimeError(f"{argv} failed: {result['err']}")
    return result["wall"], result["rss"], result["out"]


PARSE_ONLY = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from monitoring.capture import CaptureReader\n"
    "from monitoring.report import ReadReport\n"
    "names = ['sex','length','diameter','height','whole_weight','shucked_weight','viscera_weight','shell_weight']\n"
    "report = ReadReport()\n"
    "rows = sum(len(next(iter(c.values()))) for c in CaptureReader(names, report).read(Path(sys.argv[1])))\n"
    "print(rows)\n"
)


def run_case(records: int, repeat: int, baseline: Path) -> dict:
    root = generate(records, WORK / f"records-{records}")
    mlops = str(ROOT / ".venv" / "bin" / "mlops") if (ROOT / ".venv" / "bin" / "mlops").exists() else "mlops"
    check = [
        mlops,
        "monitor",
        "check",
        "--dataset",
        str(root / "ep"),
        "--format",
        "capture",
        "--baseline",
        str(baseline),
        "--output",
        str(WORK / f"check-{records}"),
    ]
    walls, rsss, parses = [], [], []
    for _ in range(repeat):
        wall, rss, _ = timed(check)
        walls.append(wall)
        rsss.append(rss)
        parse_wall, _, rows = timed([sys.executable, "-c", PARSE_ONLY, str(root / "ep")])
        assert int(rows) == records, (rows, records)
        parses.append(parse_wall)
    summary = json.loads((WORK / f"check-{records}" / "analysis_summary.json").read_text())
    assert summary["item_count"] == records, summary
    return {
        "records": records,
        "wall_s": statistics.median(walls),
        "peak_rss_mib": statistics.median(rsss),
        "parse_only_s": statistics.median(parses),
        "walls": walls,
        "status": summary["status"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="also compare peak RSS at 1M and 4M records")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    baseline = WORK / "baseline"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "monitor",
            "baseline",
            "--dataset",
            str(ROOT / "data" / "abalone.csv"),
            "--output",
            str(baseline),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    results = [run_case(args.records, args.repeat, baseline)]
    if args.memory:
        results.append(run_case(4 * args.records, 1, baseline))
    print(f"{'records':>10} {'wall s':>8} {'parse s':>8} {'peak RSS MiB':>13}  (median of runs)")
    for r in results:
        print(
            f"{r['records']:>10} {r['wall_s']:>8.2f} {r['parse_only_s']:>8.2f} {r['peak_rss_mib']:>13.0f}  "
            f"{r['status']}"
        )
    first = results[0]
    print(
        f"target 1M in <= 6 s: {'PASS' if first['wall_s'] <= 6 else 'FAIL'} ({first['wall_s']:.2f} s); "
        f"<= 1024 MiB: {'PASS' if first['peak_rss_mib'] <= 1024 else 'FAIL'} ({first['peak_rss_mib']:.0f} MiB)"
    )
    if args.memory:
        growth = results[1]["peak_rss_mib"] / first["peak_rss_mib"] - 1
        print(
            f"peak RSS {results[1]['records']:,} vs {first['records']:,} records: {growth:+.1%} "
            f"({'PASS' if abs(growth) <= 0.15 else 'FAIL'}, target within 15%)"
        )
    (WORK / "capture_results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
