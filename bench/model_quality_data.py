"""The model-quality benchmark's data: SageMaker-shaped capture and ground-truth files (see model_quality.py).

Deterministic (seed 7); written once per size under the work directory and reused while ``facts.json`` matches.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

VERSION = 2
FILES_PER_HOUR = 2
DAY = datetime(2026, 11, 20, tzinfo=timezone.utc)
FEATURES = "M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15"


def _output(kind: int, probability: str, special: str) -> tuple[str, str, str]:
    """(content type, data, encoding) of one endpoint output."""
    if special == "null":
        return "application/json", '{\\"predictions\\": [null]}', "JSON"
    if special == "multi":
        return "text/csv", f"{probability}\\n{probability}\\n", "CSV"
    if special == "bad_base64":
        return "text/csv", "###not-base64###", "BASE64"
    if kind in (0, 1):
        return "text/csv", f"{probability}\\n", "CSV"
    if kind == 2:
        return "application/json", f'{{\\"predictions\\": [{probability}]}}', "JSON"
    if kind == 3:
        raw = f"{probability}\n" if int(probability[-1]) % 2 else f'{{"predictions": [{probability}]}}'
        content_type = "text/csv" if raw.endswith("\n") else "application/json"
        return content_type, base64.b64encode(raw.encode()).decode(), "BASE64"
    raise ValueError(kind)


def _capture_line(i: int, when: datetime, probability: str, special: str) -> str:
    content_type, data, encoding = _output(i % 4, probability, special)
    inference = f',"inferenceId":"req-{i:09d}"' if i % 2 == 0 else ""
    line = (
        '{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT",'
        f'"data":"{FEATURES}","encoding":"CSV"}},"endpointOutput":{{"observedContentType":"{content_type}",'
        f'"mode":"OUTPUT","data":"{data}","encoding":"{encoding}"}}}},"eventMetadata":{{"eventId":'
        f'"5c0f3e2a-9b1d-4e7f-8a6b-{i:012x}","inferenceTime":"{when:%Y-%m-%dT%H:%M:%S}.{i % 1000:03d}Z"{inference}}},'
        '"eventVersion":"0"}'
    )
    return line[: len(line) // 2] if special == "truncated" else line


def _truth_line(key: str, label: str) -> str:
    data = f'{{"data":"{label}","encoding":"CSV"}}'
    return f'{{"groundTruthData":{data},"eventMetadata":{{"eventId":"{key}"}},"eventVersion":"0"}}'


def _write_hourly(root: Path, lines_by_hour: dict[datetime, list[str]]) -> None:
    for hour, lines in sorted(lines_by_hour.items()):
        folder = root / hour.strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True, exist_ok=True)
        step = -(-len(lines) // FILES_PER_HOUR)
        for part in range(FILES_PER_HOUR):
            chunk = lines[part * step : (part + 1) * step]
            (folder / f"{part:02d}-part.jsonl").write_text("\n".join(chunk) + "\n" if chunk else "")


def generate(root: Path, records: int) -> dict:
    """Write ``records`` capture lines and ``records`` ground-truth lines under ``root`` (unless already there)."""
    marker = root / "facts.json"
    if marker.is_file():
        facts = json.loads(marker.read_text())
        if facts.get("version") == VERSION and facts.get("records") == records:
            return facts
    rng = np.random.default_rng(7)
    probabilities = rng.beta(2.0, 2.0, records)
    labels = (rng.random(records) < probabilities).astype(int)
    draw = rng.random(records)
    specials = np.select(
        [draw < 0.001, draw < 0.0015, draw < 0.002, draw < 0.003], ["truncated", "bad_base64", "null", "multi"], ""
    )
    labelled = rng.random(records) < 0.9
    capture: dict[datetime, list[str]] = {}
    truth: dict[datetime, list[str]] = {}
    corrected: list[tuple[datetime, str]] = []
    for i in range(records):
        hour = DAY + timedelta(hours=i * 24 // records)
        when = hour + timedelta(seconds=int(i * 86400 // records) % 3600)
        capture.setdefault(hour, []).append(_capture_line(i, when, f"{probabilities[i]:.6f}", str(specials[i])))
        if labelled[i]:
            key = f"req-{i:09d}" if i % 2 == 0 else f"5c0f3e2a-9b1d-4e7f-8a6b-{i:012x}"
            truth.setdefault(hour + timedelta(days=1), []).append(_truth_line(key, str(labels[i])))
            if i % 20 == 0:
                corrected.append((hour + timedelta(days=2), _truth_line(key, str(labels[i]))))
    for hour, line in corrected:
        truth.setdefault(hour, []).append(line)
    extra = records - sum(len(v) for v in truth.values())
    last = DAY + timedelta(days=2, hours=23)
    truth.setdefault(last, []).extend(_truth_line(f"unknown-{j}", str(j % 2)) for j in range(max(extra, 0)))
    bad_rows = rng.choice(len(truth[last]), size=max(records // 1000, 1), replace=False)
    for row in bad_rows[: len(bad_rows) // 2]:
        truth[last][row] = truth[last][row].replace('"data":"0"', '"data":"n/a"').replace('"data":"1"', '"data":"n/a"')
    for row in bad_rows[len(bad_rows) // 2 :]:
        truth[last][row] = truth[last][row][:30]
    _write_hourly(root / "capture" / "ep" / "AllTraffic", capture)
    _write_hourly(root / "ground-truth", truth)
    facts = {
        "version": VERSION,
        "records": records,
        "ground_truth_lines": sum(len(v) for v in truth.values()),
        "corrected_labels": len(corrected),
        "specials": {k: int((specials == k).sum()) for k in ("truncated", "bad_base64", "null", "multi")},
    }
    marker.write_text(json.dumps(facts))
    return facts
