"""After a deploy, checks compare the capture with the newly deployed version's baseline."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipelines.build import config_from_kwargs, local_config
from pipelines.cli import main
from pipelines.deploy.local import deploy_on_approval
from pipelines.monitor.loop import MonitorEnvironment, check_window
from pipelines.objectstore import local_path
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ABALONE, ROOT
from tests.monitoring.capture_files import capture_line

HOUR = datetime(2026, 11, 24, 9, tzinfo=timezone.utc)


def test_checks_follow_the_deployed_version(tmp_path):
    config = local_config(config_from_kwargs({"config": str(ROOT / "mlops.yaml")}))
    state = tmp_path / "state"
    assert main(["run", "--config", str(ROOT / "mlops.yaml"), "--state-dir", str(state), "--quiet"]) == 0
    assert (
        main(
            ["run", "--config", str(ROOT / "mlops.yaml"), "--state-dir", str(state), "--quiet", "--param", "MaxDepth=3"]
        )
        == 0
    )
    registry = SQLiteRegistry(state / "registry.db")
    rows = ABALONE.read_text().splitlines()[1:301]
    features = [",".join(r.split(",")[:-1]) for r in rows]
    capture = state / "s3" / "mlops-local" / "abalone-pipeline" / "datacapture"
    root = capture / config.endpoint_name / config.serving.variant_name
    for i, line in enumerate(features):
        when = HOUR + timedelta(seconds=10 * i)
        path = root / when.strftime("%Y/%m/%d/%H") / "capture.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            handle.write(capture_line(line, when) + "\n")
    env = MonitorEnvironment(config, state, lambda: HOUR + timedelta(hours=1, minutes=5))
    # the second run's baseline step came from the cache: its version must still point at real baseline files
    executions = []
    for version in (1, 2):
        registry.set_status("abalone", version, "Approved", by="test", note="deploy")
        assert deploy_on_approval(config, state, "abalone", version).action == "deployed"
        execution = check_window(env, config.endpoint_name, HOUR, HOUR + timedelta(hours=1))
        assert execution.model_version == f"abalone/{version}"
        assert execution.status == "Completed" and execution.item_count == 300
        executions.append(execution)
    # the second check of the hour keeps its own report: the first one's stays as it was written
    first, second = executions
    assert first.report_uri.endswith("/on-demand/2026/11/24/09")
    assert second.report_uri == f"{first.report_uri}/{second.execution_id}"
    for execution in executions:
        folder = local_path(execution.report_uri, state)
        baseline = registry.get("abalone", int(execution.model_version.split("/")[1])).drift_baselines["constraints"]
        assert (folder / "constraints.json").read_bytes() == local_path(baseline, state).read_bytes()
