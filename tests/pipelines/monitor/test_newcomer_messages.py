"""``mlops monitor run`` right after traffic and ``mlops monitor report`` on a NoData execution: they say what
happened and what to type next, without failing."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import replace
from datetime import datetime, timezone

from inference.capture import CaptureSettings
from inference.endpoint_state import EndpointState, write_state
from pipelines.build import config_from_kwargs, local_config
from pipelines.cli import main
from pipelines.monitor.executions import COMPLETED, NO_DATA, ExecutionLog
from pipelines.objectstore import local_path
from tests.conftest import ABALONE
from tests.pipelines.monitor.test_report import CONFIG, _check, _register

ENDPOINT = "abalone-endpoint"


def _served_with_traffic_this_hour(state) -> datetime:
    """A deployed version with a baseline, and captured requests in the current hour only; returns that hour."""
    config = local_config(config_from_kwargs({"config": CONFIG}))
    reference = _register(state)
    group, version = reference.split("/")
    settings = CaptureSettings(True, 100, True, True, ("text/csv",), ("application/json",), config.capture_destination)
    deployed = EndpointState(ENDPOINT, group, int(version), "arn", "s3://mlops-local/model.tar.gz", "AllTraffic",
                             "2026-11-25T00:00:00Z", settings, {})  # fmt: skip
    write_state(state, deployed)
    now = datetime.now(timezone.utc)
    hour = now.replace(minute=0, second=0, microsecond=0)
    folder = local_path(f"{config.capture_destination.rstrip('/')}/{ENDPOINT}/AllTraffic/{hour:%Y/%m/%d/%H}", state)
    folder.mkdir(parents=True)
    rows = ABALONE.read_text().splitlines()[1:21]
    records = [
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "encoding": "CSV",
                    "data": ",".join(row.split(",")[:-1]),
                },
                "endpointOutput": {
                    "observedContentType": "text/csv",
                    "mode": "OUTPUT",
                    "encoding": "CSV",
                    "data": "10.0\n",
                },
            },
            "eventMetadata": {"eventId": f"e-{i}", "inferenceTime": f"{now:%Y-%m-%dT%H:%M:%S}.000Z"},
            "eventVersion": "0",
        }
        for i, row in enumerate(rows)
    ]
    (folder / "requests.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return hour


def test_a_run_right_after_traffic_says_no_complete_hour_has_data_and_how_to_check_this_one(tmp_path, capsys):
    state = tmp_path / "state"
    hour = _served_with_traffic_this_hour(state)
    args = ["--config", CONFIG, "--state-dir", str(state)]
    assert main(["monitor", "run", *args]) == 0
    out = capsys.readouterr().out
    assert NO_DATA in out and "No complete hour with data yet" in out
    suggested = shlex.split(out[out.index("Check it now with: ") + len("Check it now with: ") :].splitlines()[0])
    words = suggested[suggested.index("monitor") :]
    assert words[:3] == ["monitor", "run", "--window"] and words[3].startswith(f"{hour:%Y-%m-%dT%H:00Z}..")
    assert words[words.index("--state-dir") + 1] == str(state)
    assert main(words) == 0  # as printed, it checks the current hour's requests
    out = capsys.readouterr().out
    assert "rows=20" in out and "No complete hour" not in out


def test_a_run_without_any_traffic_gives_no_current_hour_hint(tmp_path, capsys):
    state = tmp_path / "state"
    _served_with_traffic_this_hour(state)
    config = local_config(config_from_kwargs({"config": CONFIG}))
    capture = local_path(f"{config.capture_destination.rstrip('/')}/{ENDPOINT}", state)
    for path in capture.rglob("*.jsonl"):
        path.unlink()
    assert main(["monitor", "run", "--config", CONFIG, "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out
    assert NO_DATA in out and "No complete hour" not in out


def test_the_report_of_a_nodata_execution_says_so_without_failing(tmp_path, capsys):
    state = tmp_path / "state"
    clean = _check(state, tmp_path, 9, 1.0, _register(state))
    assert clean.status == COMPLETED
    ExecutionLog(state).append(replace(clean, execution_id="empty-1", status=NO_DATA, message="No data to analyze"))
    assert main(["monitor", "report", "--config", CONFIG, "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out
    assert "Execution empty-1 is NoData: No data to analyze. No report" in out
    assert re.search(r"latest execution with results is exec-9: .*monitor report exec-9 .*--state-dir", out)
    assert main(["monitor", "report", "empty-1", "--config", CONFIG, "--state-dir", str(state)]) == 0


def test_a_check_of_an_endpoint_with_nothing_deployed_is_refused_before_it_is_recorded(tmp_path, capsys):
    """A mistyped --endpoint used to be checked, recorded as Failed and alerted on: now it is named, with the
    endpoints the state directory has, and nothing is written."""
    state = tmp_path / "state"
    _served_with_traffic_this_hour(state)
    for command in (["run"], ["schedule", "--iterations", "1"]):
        argv = ["monitor", *command, "--config", CONFIG, "--state-dir", str(state), "--endpoint", "abalone-endpont"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "endpoint 'abalone-endpont' has no deployed model version" in err
        assert f"endpoints there: {ENDPOINT}" in err
    assert ExecutionLog(state).all() == []


def test_schedule_iterations_must_be_1_or_more(tmp_path, capsys):
    for value in ("0", "-1", "two"):
        try:
            argv = ["monitor", "schedule", "--config", CONFIG, "--state-dir", str(tmp_path), "--iterations", value]
            code = main(argv)
        except SystemExit as exc:  # argparse's exit
            code = int(exc.code or 0)
        assert code == 2
        assert "argument --iterations: must be" in capsys.readouterr().err
