"""Capture and ground-truth files for model-quality checks across hosts, and how to share them out.

Six capture files in hour folders (about 60 records each) with what a join must handle: inference ids captured
twice in different files (so on different hosts; labelled and unlabelled), records keyed by event id only,
truncated and invalid lines, bad predictions, multi-record requests, records outside the window; two ground-truth
files with a label replaced by a later one, a malformed label and labels no capture has."""

from __future__ import annotations

import json
import math
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from monitoring.ground_truth_records import ground_truth_lines
from tests.monitoring.test_model_quality_merge import record, write

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
START, END = T0, T0 + timedelta(hours=6)
FILES = 6
PER_FILE = 60
ASSIGNMENTS = ("round-robin", "contiguous")


def _value(problem: str, i: int) -> tuple[str, str]:
    """(the endpoint's output, the label) of record ``i``: regression rings, or a binary probability and class."""
    if problem == "regression":
        prediction = 5 + (i * 37 % 100) / 7.0
        return f"{prediction:.6f}", f"{prediction + math.sin(i) * 3:.4f}"
    probability = (i * 53 % 997) / 997.0
    label = 1 if (probability + 0.35 * math.sin(i * 1.7)) > 0.5 else 0
    return f"{probability:.5f}", str(label)


def make_files(root: Path, problem: str) -> tuple[Path, Path]:
    """(capture root, ground-truth root) under ``root`` for ``problem`` (regression or binary)."""
    capture, truth = root / "capture", root / "truth"
    labels: list[tuple[str, str]] = []
    for f in range(FILES):
        hour = T0 + timedelta(hours=f)
        lines = []
        for j in range(PER_FILE):
            i = f * PER_FILE + j
            output, label = _value(problem, i)
            key = f"id-{i}"
            if j == 0 and f > 0:
                key = f"id-{(f - 1) * PER_FILE + 1}"  # captured again in the next file (another host)
            if j == 2:
                key = f"nolabel-{f % 3}"  # unlabelled, captured in several files
            when = hour + timedelta(minutes=j % 59)
            if j == 5:
                lines.append(record(f"e-{i}", output, when=when))  # keyed by event id
                labels.append((f"e-{i}", label))
                continue
            lines.append(record(f"e-{i}", output, when=when, inference_id=key))
            if not key.startswith("nolabel") and not (j == 0 and f > 0) and j % 11 != 7:  # some never labelled
                labels.append((key, label))
        lines[3] = lines[3][:40]  # truncated line
        lines[4] = record(f"e-bad-{f}", "not a number", when=hour, inference_id=f"bad-{f}")
        lines[6] = record(f"e-multi-{f}", "0.3\n0.4", when=hour, inference_id=f"multi-{f}")
        lines.append(record(f"e-late-{f}", "0.5", when=END + timedelta(hours=2), inference_id=f"late-{f}"))
        write(capture / f"{hour:%Y/%m/%d/%H}" / f"capture-{f}.jsonl", lines)
    first, second = labels[: len(labels) // 2], labels[len(labels) // 2 :]
    replaced = [(key, _value(problem, 1000 + n)[1]) for n, (key, _) in enumerate(first[:10])]
    extra = [(f"uncaptured-{n}", "1") for n in range(5)]
    (truth / "2026/11/30/12").mkdir(parents=True)
    (truth / "2026/11/30/12/a.jsonl").write_bytes(ground_truth_lines(first + extra) + b'{"broken\n')
    (truth / "2026/11/30/13").mkdir(parents=True)
    (truth / "2026/11/30/13/b.jsonl").write_bytes(ground_truth_lines(second + replaced))
    return capture, truth


def share(capture: Path, hosts: int, how: str) -> list[list[Path]]:
    """Each host's capture files (relative to ``capture``): round-robin or contiguous blocks in key order."""
    files = sorted(p.relative_to(capture) for p in capture.rglob("*.jsonl"))
    if how == "contiguous":
        size = -(-len(files) // hosts)
        return [files[i * size : (i + 1) * size] for i in range(hosts)]
    return [files[i::hosts] for i in range(hosts)]


def host_dirs(root: Path, capture: Path, truth: Path, hosts: int, how: str) -> list[Path]:
    """One /opt/ml per host (``root/algo-k``): its share of the capture, all the ground truth, resourceconfig.json."""
    names = [f"algo-{k}" for k in range(1, hosts + 1)]
    dirs = []
    for name, files in zip(names, share(capture, hosts, how), strict=True):
        opt_ml = root / name
        for relative in files:
            target = opt_ml / "endpoint" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(capture / relative, target)
        shutil.copytree(truth, opt_ml / "groundtruth")
        (opt_ml / "config").mkdir(parents=True)
        (opt_ml / "config" / "resourceconfig.json").write_text(json.dumps({"current_host": name, "hosts": names}))
        dirs.append(opt_ml)
    return dirs


def assert_close(merged, single, where: str = "") -> None:
    """Integers and strings equal, floats within 1e-12 relative, auc exactly equal."""
    if isinstance(single, dict):
        assert isinstance(merged, dict) and merged.keys() == single.keys(), where
        for key in single:
            assert_close(merged[key], single[key], f"{where}.{key}")
    elif isinstance(single, list):
        assert isinstance(merged, list) and len(merged) == len(single), where
        for n, (a, b) in enumerate(zip(merged, single, strict=True)):
            assert_close(a, b, f"{where}[{n}]")
    elif isinstance(single, float) and not isinstance(merged, bool):
        assert isinstance(merged, float), where
        if ".auc" in where or ".au_prc" in where:
            assert merged == single, where
        else:
            assert math.isclose(merged, single, rel_tol=1e-12, abs_tol=1e-300), (where, merged, single)
    else:
        assert type(merged) is type(single) and merged == single, (where, merged, single)


def assert_violations(merged: list[dict], single: list[dict]) -> None:
    """The same violations; the figures in their descriptions within 1e-12 relative (regression sums)."""
    number = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
    assert [(v["metric_name"], v["constraint_check_type"]) for v in merged] == [
        (v["metric_name"], v["constraint_check_type"]) for v in single
    ]
    for a, b in zip(merged, single, strict=True):
        assert number.sub("#", a["description"]) == number.sub("#", b["description"])
        figures = [
            (float(x), float(y))
            for x, y in zip(number.findall(a["description"]), number.findall(b["description"]), strict=True)
        ]
        assert all(math.isclose(x, y, rel_tol=1e-12) for x, y in figures), (a, b)
