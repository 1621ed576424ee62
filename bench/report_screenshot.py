"""Render a data-quality HTML report in headless Chromium to a PNG screenshot (a visual check, not a test).

Without ``--report`` it first builds one from the bundled abalone data: a baseline, then six hourly checks whose
size and weight features drift more and more (and whose 'sex' mix loses its infants), the last one with a few
malformed rows, so every section of the report has something to show. Chromium is not installed by default:

    apt-get update && apt-get install -y chromium
    .venv/bin/python bench/report_screenshot.py [--report REPORT.html] [--output PNG] [--chromium PATH]
"""

from __future__ import annotations

import argparse
import csv
import logging
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitoring.analyzer import run_baseline, run_check  # noqa: E402 - after making the project importable
from monitoring.local.html_report import write_report  # noqa: E402

ABALONE = ROOT / "data" / "abalone.csv"
WORK = ROOT / "bench" / ".work" / "report"
DRIFTED = ("length", "diameter", "whole_weight", "shucked_weight")
SCALES = (1.0, 1.0, 1.04, 1.1, 1.2, 1.3)
INSTALL = "apt-get update && apt-get install -y chromium"
log = logging.getLogger("report_screenshot")


def write_window(path: Path, scale: float, seed: int, malformed: int = 0) -> Path:
    """1500 abalone rows with DRIFTED features times ``scale`` (no infants once scaled), plus malformed rows."""
    with open(ABALONE, newline="") as handle:
        header, *rows = list(csv.reader(handle))
    sample = random.Random(seed).sample(rows, 1500)
    for row in sample:
        if scale != 1.0:
            for name in DRIFTED:
                i = header.index(name)
                row[i] = repr(round(float(row[i]) * scale, 4))
            row[0] = "M" if row[0] == "I" else row[0]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(sample)
        writer.writerows([["M", "0.5", "0.4"]] * malformed)  # too few fields: skipped and counted
    return path


def build_report(work: Path) -> Path:
    """Baseline + hourly checks of the bundled data; the report of the last check with the drift trend."""
    baseline = work / "baseline"
    run_baseline(ABALONE, baseline)
    start = datetime(2024, 5, 1, 8, 5, tzinfo=timezone.utc)
    history, check = [], baseline
    for i, scale in enumerate(SCALES):
        when = start + timedelta(hours=i)
        data = write_window(work / f"window-{i}.csv", scale, seed=i, malformed=7 if i == len(SCALES) - 1 else 0)
        check = work / f"check-{i}"
        result = run_check(
            data, baseline / "statistics.json", baseline / "constraints.json", check, endpoint="abalone", now=when
        )
        history.append((when, {d.feature_name: d.distance for d in result.drifts}))
    return write_report(
        work / "report.html",
        baseline_statistics=baseline / "statistics.json",
        current_statistics=check / "statistics.json",
        violations=check / "constraint_violations.json",
        summary=check / "analysis_summary.json",
        history=history,
        title="Data quality: abalone endpoint",
        context={
            "endpoint": "abalone",
            "schedule": "hourly",
            "model version": "abalone-models/1",
            "window": "13:00-14:00",
        },
        generated_at=history[-1][0],
    )


def find_chromium(explicit: str | None) -> str | None:
    if explicit:
        return explicit if Path(explicit).is_file() else shutil.which(explicit)
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def screenshot(report: Path, png: Path, chromium: str, window: str = "1280,2400", timeout: float = 120.0) -> Path:
    """Headless Chromium, no network features, a fresh profile; returns the PNG written."""
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={window}",
            report.resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if not png.is_file() or png.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        raise RuntimeError(f"Chromium wrote no PNG to {png} (exit {done.returncode}): {done.stderr.strip()[-800:]}")
    return png


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--report", type=Path, help="an existing report.html (default: build one from the bundled data)"
    )
    parser.add_argument("--output", type=Path, default=WORK / "report.png", help="the PNG to write")
    parser.add_argument("--chromium", help="the Chromium executable (default: chromium on PATH)")
    parser.add_argument("--window-size", default="1280,2400", help="WIDTH,HEIGHT in pixels")
    args = parser.parse_args(argv)
    chromium = find_chromium(args.chromium)
    if chromium is None:
        log.error("Chromium not found (looked for chromium, chromium-browser, google-chrome). Install it: %s", INSTALL)
        return 2
    if args.report is None:
        WORK.mkdir(parents=True, exist_ok=True)
        report = build_report(WORK)
        log.info("report built: %s", report)
    else:
        report = args.report
        if not report.is_file():
            log.error("Report not found: %s", report)
            return 2
    png = screenshot(report, args.output, chromium, args.window_size)
    log.info("screenshot: %s (%d bytes)", png, png.stat().st_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
