"""The one-command demo: the whole loop on the bundled data, as the README's first command runs it."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from pipelines.cli import main
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ROOT


def test_demo_runs_the_whole_loop(tmp_path, capsys):
    state = tmp_path / "demo"
    assert main(["demo", "--config", str(ROOT / "mlops.yaml"), "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out
    assert "Approving abalone/1 on your behalf" in out
    assert "alarm abalone-endpoint-drift: OK -> ALARM" in out  # the name the AWS stack gives it
    versions = SQLiteRegistry(state / "registry.db").list_versions("abalone")
    assert [(v.version, v.status) for v in versions] == [(2, "PendingManualApproval"), (1, "Approved")]
    alerts = [json.loads(line) for line in (state / "alerts.jsonl").read_text().splitlines()]
    assert len(alerts) == 1 and alerts[0]["new_state"] == "ALARM"  # one drift event, one alert
    assert {f["name"] for f in alerts[0]["features"]} >= {"length", "diameter", "sex"}
    report = re.search(r"report: (\S+report\.html)", out).group(1)
    html = Path(report).read_text()
    assert "length" in html and "http://" not in html and "https://" not in html
    assert main(["demo", "--config", str(ROOT / "mlops.yaml"), "--state-dir", str(state)]) == 2
    assert "is not empty" in capsys.readouterr().err


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
    assert len(re.findall(r"is ALARM \(was OK\)", out + captured.err)) == 1  # the alert: once
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
