"""The one-command demo: the whole loop on the bundled data, as the README's first command runs it."""

from __future__ import annotations

import json
import re
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
