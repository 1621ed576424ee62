"""Model quality through the schedule and the commands: both kinds at every firing, `mlops monitor run --kind`,
`mlops monitor report` on model-quality executions (NoData included)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np

from pipelines.cli import main
from pipelines.cron import Cron
from pipelines.monitor.executions import DATA_QUALITY, MODEL_QUALITY, ExecutionLog
from pipelines.monitor.schedule import run_schedule
from pipelines.objectstore import local_path
from tests.pipelines.monitor.model_quality_state import CONFIG, ENDPOINT, ROWS, T, configured, rings, serve

HOUR = timedelta(hours=1)


def test_the_schedule_runs_both_kinds_and_dedupes_data_quality_windows_only(tmp_path):
    served = serve(tmp_path)
    served.clock.moment = T + timedelta(minutes=17)
    cron = Cron.parse("0 * * * *")
    kinds = (DATA_QUALITY, MODEL_QUALITY)
    results = run_schedule(served.env, ENDPOINT, cron, iterations=1, wait=served.clock.advance, kinds=kinds)
    seen = [(e.kind, e.schedule, e.window_end) for e in results]
    assert seen == [
        (DATA_QUALITY, "hourly", T.isoformat()),
        (MODEL_QUALITY, "hourly-model-quality", (T - HOUR).isoformat()),  # T's capture window ends an hour before
        (DATA_QUALITY, "hourly", (T + HOUR).isoformat()),
        (MODEL_QUALITY, "hourly-model-quality", T.isoformat()),
    ]
    assert [e.model_quality["at"] for e in results if e.kind == MODEL_QUALITY] == [
        T.isoformat(),
        (T + HOUR).isoformat(),
    ]
    again = run_schedule(served.env, ENDPOINT, cron, iterations=0, wait=served.clock.advance, kinds=kinds)
    assert [e.kind for e in again] == [MODEL_QUALITY]  # its windows overlap by design; the data-quality one was done
    assert len(ExecutionLog(served.state).all()) == 5


def test_monitor_run_and_report_of_model_quality(tmp_path, capsys):
    served = serve(tmp_path, configured())  # min_pairs 50, as the bundled configuration
    rows = ROWS[:60]
    ids = served.traffic(T - 3 * HOUR, rows, rings(rows) + np.random.default_rng(3).normal(0, 1, 60), "cli")
    served.labels(T - 2 * HOUR, ids, list(rings(rows)))
    options = ["--config", CONFIG, "--state-dir", str(served.state)]
    window = f"{T - timedelta(days=1):%Y-%m-%dT%H:%MZ}..{T - HOUR:%Y-%m-%dT%H:%MZ}"
    assert main(["monitor", "run", "--kind", "model-quality", "--window", window, *options]) == 0
    out = capsys.readouterr().out
    assert "Completed" in out and "matched pairs 60" in out
    assert "rmse" in out and "violated when >" in out
    assert main(["monitor", "report", *options]) == 0
    report = capsys.readouterr().out
    assert f"Model quality of {ENDPOINT} at {T.isoformat()}: Completed" in report and "rmse" in report
    # NoData: said, not a failure
    assert (
        main(
            ["monitor", "run", "--kind", "model-quality", "--window", "2026-11-20T00:00Z..2026-11-20T05:00Z", *options]
        )
        == 0
    )
    assert "NoData" in capsys.readouterr().out
    assert main(["monitor", "report", *options]) == 0
    assert "NoData" in capsys.readouterr().out
    assert main(["monitor", "run", "--kind", "all", "--window", window, "--json", *options]) == 0
    assert '"kind": "data-quality"' in (printed := capsys.readouterr().out) and '"kind": "model-quality"' in printed


def test_model_quality_disabled_is_a_clear_error(tmp_path, capsys):
    text = Path(CONFIG).read_text()
    config = tmp_path / "mlops.yaml"
    config.write_text(
        text.replace(
            "    enabled: true\n    ground_truth_destination", "    enabled: false\n    ground_truth_destination"
        )
    )
    argv = ["monitor", "run", "--kind", "model-quality", "--config", str(config), "--state-dir", str(tmp_path / "s")]
    assert main(argv) == 2
    assert "monitoring.model_quality.enabled: false" in capsys.readouterr().err


def test_the_html_report_carries_the_model_quality_section(tmp_path, capsys):
    from pipelines.monitor.loop import check_window
    from pipelines.monitor.model_quality import check_model_quality, window_at

    served = serve(tmp_path)
    rows = ROWS[:60]
    ids = served.traffic(T - 3 * HOUR, rows, rings(rows) + np.random.default_rng(5).normal(0, 1, 60), "html")
    served.labels(T - 2 * HOUR, ids, list(rings(rows)))
    data = check_window(served.env, ENDPOINT, T - 3 * HOUR, T - 2 * HOUR)
    quality = check_model_quality(served.env, ENDPOINT, window_at(served.config, T))
    assert quality.status == "Completed"
    options = ["--config", CONFIG, "--state-dir", str(served.state)]
    assert main(["monitor", "report", quality.execution_id, *options]) == 0  # the latest: a model-quality check
    out = capsys.readouterr().out
    html = Path(out.split("Report (data and model quality): ")[1].split()[0])
    assert html == local_path(data.report_uri, served.state) / "report.html"  # the data-quality check's
    text = html.read_text()
    assert "<h2>Model quality</h2>" in text and "rmse" in text and "residual" in text.lower()
    assert main(["monitor", "report", data.execution_id, *options]) == 0  # the data-quality check: the same file
    assert f"Report: {html}" in capsys.readouterr().out
