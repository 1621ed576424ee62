"""The one-command demo: the whole loop on the bundled data, as the README's first command runs it."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from pipelines.cli import main
from pipelines.registry.sqlite import SQLiteRegistry
from tests.binary_data import binary_abalone_config
from tests.conftest import ROOT


def _alerts(state: Path) -> list[dict]:
    return [json.loads(line) for line in (state / "alerts.jsonl").read_text().splitlines()]


def _decisions(state: Path) -> list[dict]:
    return [json.loads(line) for line in (state / "monitoring" / "retrain.jsonl").read_text().splitlines()]


def test_demo_runs_the_whole_loop(tmp_path, capsys):
    state = tmp_path / "demo"
    assert main(["demo", "--config", str(ROOT / "mlops.yaml"), "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out
    assert "Approving abalone/1 on your behalf" in out
    assert "alarm abalone-endpoint-drift: OK -> ALARM" in out  # the name the AWS stack gives it
    versions = SQLiteRegistry(state / "registry.db").list_versions("abalone")
    assert [(v.version, v.status) for v in versions] == [(2, "PendingManualApproval"), (1, "Approved")]
    drift, quality = _alerts(state)  # one drift event, one model-quality event, in that order
    assert drift["alarm_name"] == "abalone-endpoint-drift" and drift["new_state"] == "ALARM"
    assert {f["name"] for f in drift["features"]} >= {"length", "diameter", "sex"}
    assert quality["alarm_name"] == "abalone-endpoint-model-quality" and quality["new_state"] == "ALARM"
    assert "model quality" in quality["summary"]
    assert [d["action"] for d in _decisions(state)] == ["started", "cooldown"]  # one cool-down across families
    report = re.search(r"report: (\S+report\.html)", out).group(1)
    html = Path(report).read_text()
    assert "length" in html and "http://" not in html and "https://" not in html
    assert "<h2>Model quality</h2>" in html and 'alt="rmse: model quality trend"' in html  # the report shows it
    assert 'alt="residual histogram"' in html
    _model_quality_part(state, out)
    assert main(["demo", "--config", str(ROOT / "mlops.yaml"), "--state-dir", str(state)]) == 2
    assert "is not empty" in capsys.readouterr().err


def _model_quality_part(state: Path, out: str) -> None:
    """Traffic with inference ids, labels for three quarters of it, a model-quality check per hour that sees the
    later hours' shifted labels, its alarm once, its alert once, and no second retraining run."""
    captured = [
        json.loads(line) for path in sorted((state / "s3").rglob("datacapture/**/*.jsonl")) for line in path.open()
    ]
    ids = {r["eventMetadata"].get("inferenceId") for r in captured}
    assert len(captured) == 720 and None not in ids and len(ids) == 720
    truth = [
        json.loads(line) for path in sorted((state / "s3").rglob("ground-truth/**/*.jsonl")) for line in path.open()
    ]
    assert len(truth) == 540 and {r["eventMetadata"]["eventId"] for r in truth} <= ids
    assert len(re.findall(r"labels arrive for 180 of the \d\d:00 hour's 240 requests", out)) == 3
    checks = re.findall(r"model quality at \d\d:00 UTC: (\w+), (\d+) labelled pairs, rmse (\S+) (not )?>", out)
    assert [(status, pairs, bool(ok)) for status, pairs, _, ok in checks] == [
        ("Completed", "180", True),
        ("CompletedWithViolations", "360", False),
        ("CompletedWithViolations", "540", False),
    ]
    assert len(re.findall(r"alarm abalone-endpoint-model-quality: \w+ -> ALARM", out)) == 1
    assert re.search(r"ALERT delivered \(jsonl\): .*model quality", out)
    assert re.search(r"retraining cooldown: model-quality alarm abalone-endpoint-model-quality: .*cool-down", out)


def _suggested(out: str) -> list[list[str]]:
    """The mlops command lines a text suggests, as argument lists (after the program's words)."""
    found = []
    for line in out.splitlines():
        for text in re.findall(r"`([^`]*-m pipelines\.cli[^`]*)`", line) or re.findall(
            r"(\S+ -m pipelines\.cli .*)", line
        ):
            words = shlex.split(text)
            found.append(words[words.index("pipelines.cli") + 1 :])
    return found


def test_demo_output_reaches_its_state_says_each_thing_once_and_shows_retraining(tmp_path, capsys):
    state = tmp_path / "demo"
    config = str(ROOT / "mlops.yaml")
    assert main(["demo", "--config", config, "--state-dir", str(state)]) == 0
    captured = capsys.readouterr()
    out = captured.out
    lines = [line.strip() for line in (out + captured.err).splitlines() if line.strip()]
    repeated = {
        line for line in lines if lines.count(line) > 1 and not line.startswith("[")
    }  # progress lines carry times
    assert not repeated, repeated
    assert out.count(str(state / "s3")) == 1  # the report's folder: once, in the summary's report line
    assert len(re.findall(r"is ALARM \(was \w+\)", out + captured.err)) == 2  # each alert once: drift, model quality
    started = re.search(r"\d\d:00 UTC: the drift alarm went to ALARM; the retraining run on s3://\S+ starts:", out)
    retraining = out[started.start() :]
    assert re.search(r"\] Train +Executing", retraining) and re.search(r"\] Register +Succeeded", retraining)
    suggested = _suggested(out)
    assert {tuple(words[:2]) for words in suggested} >= {
        ("serve", "--endpoint"),
        ("models", "list"),
        ("models", "show"),
    }
    for words in suggested:
        assert words[words.index("--state-dir") + 1] == str(state) and words[words.index("--config") + 1] == config
    for words in suggested:
        if words[0] != "serve":  # serve runs until stopped
            assert main(words) == 0, words
    listed = capsys.readouterr().out
    assert "abalone/2" in listed and "abalone/1" in listed


def test_demo_binary_model_quality_alarm_alerts_once_and_retrains_once(tmp_path, capsys):
    state = tmp_path / "demo"
    assert main(["demo", "--config", str(binary_abalone_config(tmp_path)), "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out
    checks = re.findall(r"model quality at \d\d:00 UTC: (\w+), (\d+) labelled pairs, auc (\S+) (not )?<", out)
    assert [(status, pairs, bool(ok)) for status, pairs, _, ok in checks] == [
        ("Completed", "180", True),
        ("CompletedWithViolations", "360", False),
        ("CompletedWithViolations", "540", False),
    ]
    quality = [a for a in _alerts(state) if a["alarm_name"].endswith("-model-quality")]
    assert len(quality) == 1 and quality[0]["new_state"] == "ALARM" and "model quality" in quality[0]["summary"]
    assert len(re.findall(r"alarm \S+-model-quality: \w+ -> ALARM", out)) == 1
    assert [d["action"] for d in _decisions(state)] == ["started", "cooldown"]
    versions = SQLiteRegistry(state / "registry.db").list_versions("abalone-old")
    assert [(v.version, v.status) for v in versions] == [(2, "PendingManualApproval"), (1, "Approved")]
