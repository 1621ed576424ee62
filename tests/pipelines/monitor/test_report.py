"""The HTML report of a monitoring execution: one function, called by ``mlops monitor report`` and the demo."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest

from monitoring.analyzer import run_baseline, run_check
from pipelines.build import config_from_kwargs, local_config
from pipelines.cli import main
from pipelines.monitor.executions import COMPLETED, FAILED, WITH_VIOLATIONS, ExecutionLog, MonitoringExecution
from pipelines.monitor.report import drift_history, select_execution, write_execution_report
from pipelines.objectstore import local_path
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ABALONE, ROOT

CONFIG = str(ROOT / "mlops.yaml")
BASELINE = "s3://mlops-local/abalone-pipeline/executions/exec-1/baseline"
REPORTS = "s3://mlops-local/abalone-pipeline/monitoring/reports/abalone-endpoint/on-demand"


def _register(state: Path) -> str:
    """A version whose drift-check baseline is the analyzer's baseline of the bundled data; its reference."""
    run_baseline(ABALONE, local_path(BASELINE, state))
    baseline = {
        "Statistics": {"ContentType": "application/json", "S3Uri": f"{BASELINE}/statistics.json"},
        "Constraints": {"ContentType": "application/json", "S3Uri": f"{BASELINE}/constraints.json"},
    }
    request = {
        "ModelPackageGroupName": "abalone",
        "InferenceSpecification": {"Containers": [{"ModelDataUrl": "s3://mlops-local/model.tar.gz"}]},
        "DriftCheckBaselines": {"ModelDataQuality": baseline},
    }
    return SQLiteRegistry(state / "registry.db").register(request).reference


def _check(state: Path, tmp_path: Path, hour: int, scale: float, version: str) -> MonitoringExecution:
    """A recorded check of the bundled data with its length scaled by ``scale`` (1.0: no drift)."""
    data = tmp_path / f"data-{hour}.csv"
    with open(ABALONE, newline="") as source, open(data, "w", newline="") as target:
        rows = list(csv.DictReader(source))
        writer = csv.DictWriter(target, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "length": f"{float(row['length']) * scale:.4f}"} for row in rows)
    prefix = f"{REPORTS}/2026/11/25/{hour:02d}"
    folder = local_path(BASELINE, state)
    result = run_check(data, folder / "statistics.json", folder / "constraints.json", local_path(prefix, state))
    window = f"2026-11-25T{hour:02d}:00:00+00:00"
    execution = MonitoringExecution(
        execution_id=f"exec-{hour}",
        endpoint="abalone-endpoint",
        schedule="on-demand",
        window_start=window,
        window_end=window.replace(f"T{hour:02d}", f"T{hour + 1:02d}"),
        status=WITH_VIOLATIONS if result.violations else COMPLETED,
        started=window,
        ended=window,
        model_version=version,
        report_uri=prefix,
        item_count=result.item_count,
        violations=len(result.violations),
        drift=[{"feature": d.feature_name, "distance": d.distance} for d in result.drifts],
    )
    ExecutionLog(state).append(execution)
    return execution


def _unstamped(path: Path) -> list[str]:
    """The report's lines but the one with its generation time."""
    return [line for line in path.read_text(encoding="utf-8").splitlines() if "Generated" not in line]


@pytest.fixture(scope="module")
def monitored(tmp_path_factory) -> tuple[Path, list[MonitoringExecution]]:
    """A state with a registered version and two checks against its baseline: clean, then drifted."""
    state = tmp_path_factory.mktemp("state")
    version = _register(state)
    work = tmp_path_factory.mktemp("data")
    return state, [_check(state, work, 9, 1.0, version), _check(state, work, 10, 1.5, version)]


def test_the_report_of_an_execution_compares_it_with_the_versions_baseline(monitored, tmp_path):
    state, (clean, drifted) = monitored
    assert (clean.status, drifted.status) == (COMPLETED, WITH_VIOLATIONS)
    config = local_config(config_from_kwargs({"config": CONFIG}))
    path = write_execution_report(config, state, clean.execution_id, tmp_path / "out" / "clean.html")
    assert path == tmp_path / "out" / "clean.html"
    html = path.read_text(encoding="utf-8")
    assert "Data quality of abalone-endpoint" in html and "exec-9" in html and "abalone/1" in html
    latest = write_execution_report(config, state)  # default: the latest execution, beside its files
    assert latest == local_path(drifted.report_uri, state) / "report.html"
    assert "exec-10" in latest.read_text(encoding="utf-8") and "length" in latest.read_text(encoding="utf-8")
    assert [when for when, _ in drift_history(state, "abalone-endpoint")] == [clean.window_start, drifted.window_start]
    assert drift_history(state, "abalone-endpoint", limit=1)[0][0] == drifted.window_start
    assert drift_history(state, "elsewhere") == []


def test_the_command_writes_the_same_report(monitored, tmp_path, capsys):
    state, (_, drifted) = monitored
    target = tmp_path / "cli.html"
    args = ["monitor", "report", drifted.execution_id, "--config", CONFIG, "--state-dir", str(state)]
    assert main([*args, "--output", str(target)]) == 0
    assert capsys.readouterr().out.strip() == f"Report: {target}"
    config = local_config(config_from_kwargs({"config": CONFIG}))
    direct = write_execution_report(config, state, drifted.execution_id, tmp_path / "direct.html")
    strip = lambda text: [line for line in text.splitlines() if "Generated" not in line]  # noqa: E731
    assert strip(target.read_text(encoding="utf-8")) == strip(direct.read_text(encoding="utf-8"))


def test_only_executions_with_check_results_have_a_report(monitored, tmp_path):
    state, (clean, _) = monitored
    with pytest.raises(ValueError, match="No monitoring executions under") as none:
        select_execution(tmp_path)
    assert f"monitor run --state-dir {tmp_path}` first" in str(none.value)  # the command reaches this state
    with pytest.raises(ValueError, match="Unknown monitoring execution 'nope'"):
        select_execution(state, "nope")
    failed = tmp_path / "failed"
    ExecutionLog(failed).append(replace(clean, execution_id="f-1", status=FAILED, message="no deployed model"))
    with pytest.raises(ValueError, match="Execution f-1 is Failed: no deployed model"):
        select_execution(failed)
