"""The analyzer's container entry: Model Monitor's environment in, its files and exit message out."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from datetime import timedelta

import boto3
from moto import mock_aws

from monitoring.container_entry import parse_dataset_format, run
from tests.conftest import ABALONE, ROOT
from tests.monitoring.capture_files import capture_line, write_capture
from tests.monitoring.test_capture import T0


def _baseline(tmp_path):
    code, message = run(
        {
            "dataset_source": str(ABALONE),
            "dataset_format": '{"csv": {"header": true}}',
            "output_path": str(tmp_path / "baseline"),
        },
        tmp_path / "opt_ml",
    )
    assert code == 0 and message.startswith("Completed: Job completed successfully. Baseline of 4177 records")
    return tmp_path / "baseline"


def _drifted_capture(tmp_path):
    rows = [line.split(",") for line in ABALONE.read_text().splitlines()[1:1001]]
    lines = [capture_line(",".join([r[0], str(float(r[1]) * 2), *r[2:]]), T0) for r in rows]
    write_capture(tmp_path / "capture", T0, lines)
    return tmp_path / "capture"


@mock_aws
def test_check_mode_writes_files_metrics_and_publishes_them(tmp_path):
    baseline = _baseline(tmp_path)
    env = {
        "dataset_source": str(_drifted_capture(tmp_path)),
        "dataset_format": '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}',
        "output_path": str(tmp_path / "result"),
        "baseline_statistics": str(baseline / "statistics.json"),
        "baseline_constraints": str(baseline / "constraints.json"),
        "start_time": (T0 - timedelta(minutes=15)).isoformat(),
        "end_time": (T0 + timedelta(minutes=45)).isoformat(),
        "sagemaker_endpoint_name": "abalone",
        "sagemaker_monitoring_schedule_name": "hourly",
        "publish_cloudwatch_metrics": "Enabled",
    }
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    code, message = run(env, tmp_path / "opt_ml", cloudwatch)
    assert (code, message) == (0, "CompletedWithViolations: Job completed successfully with 1 violations.")
    violations = json.loads((tmp_path / "result" / "constraint_violations.json").read_text())["violations"]
    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations] == [("length", "baseline_drift_check")]
    lines = (tmp_path / "opt_ml" / "output" / "metrics" / "cloudwatch").read_text().splitlines()
    assert any(json.loads(line)["MetricName"] == "feature_baseline_drift_length" for line in lines)
    listed = cloudwatch.list_metrics(
        Namespace="aws/sagemaker/Endpoints/data-metrics", MetricName="feature_baseline_drift_length"
    )["Metrics"]
    assert listed and {"Name": "Endpoint", "Value": "abalone"} in listed[0]["Dimensions"]


def test_failures_are_a_failed_message_not_a_trace(tmp_path):
    code, message = run(
        {
            "dataset_source": str(ABALONE),
            "baseline_constraints": str(tmp_path / "none.json"),
            "baseline_statistics": str(tmp_path / "none.json"),
        },
        tmp_path,
    )
    assert code == 1 and message.startswith("Failed: AnalyzerFileNotFoundError: Baseline statistics file not found")
    code, message = run({"dataset_source": str(ABALONE), "dataset_format": "{csv}"}, tmp_path)
    assert code == 1 and "dataset_format must be JSON" in message


def test_dataset_formats_are_read_as_the_container_names_them():
    assert parse_dataset_format('{"csv": {"header": false}}').header is False
    assert parse_dataset_format('{"parquet": {}}').kind == "parquet"
    assert parse_dataset_format(None) is None


def test_analyzer_modules_import_only_the_stdlib_numpy_and_pyarrow():
    """Container code: no SageMaker SDK, and boto3 only lazily inside the metric publisher."""
    allowed = set(sys.stdlib_module_names) | {"numpy", "pyarrow", "monitoring", "mlops_errors"}
    # model-quality metrics are scikit-learn's (pandas hashes the subsample keys): both in the XGBoost 3.0-5 image
    # (scikit-learn 1.5.2, pandas 2.2.3), imported only once analysis_type=MODEL_QUALITY is chosen
    model_quality = {"model_quality.py", "model_quality_dataset.py", "subsample.py", "binary_subsample_figures.py"}
    for path in sorted((ROOT / "monitoring").glob("*.py")):
        tree = ast.parse(path.read_text())
        permitted = allowed | ({"sklearn", "pandas"} if path.name in model_quality else set())
        for node in tree.body:  # module level only: lazy imports inside functions are checked below
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for name in names:
                    assert name.split(".")[0] in permitted | {"__future__"}, f"{path.name} imports {name}"
        lazy = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} - permitted
        assert lazy <= {"boto3"}, f"{path.name} imports {lazy}"


def test_entry_runs_from_staged_code_on_pythonpath_with_numpy_and_pyarrow(tmp_path):
    """The processing image provides Python, numpy and pyarrow; the project's code comes as an input on PYTHONPATH."""
    code_dir = tmp_path / "code"
    shutil.copytree(ROOT / "monitoring", code_dir / "monitoring", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "mlops_errors.py", code_dir / "mlops_errors.py")  # staged beside it in lib/
    opt_ml = tmp_path / "opt_ml"
    probe = (
        "import json, runpy, sys\n"
        "import numpy, pyarrow, pyarrow.compute, pyarrow.csv, pyarrow.json, pyarrow.parquet\n"
        "pyarrow.array(['1']).to_numpy(zero_copy_only=False)  # what pyarrow itself pulls in lazily\n"
        "before = set(sys.modules)\n"
        "sys.argv = ['container_entry']\n"
        "try:\n"
        "    runpy.run_module('monitoring.container_entry', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "added = sorted({m.split('.')[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names))\n"
        "print(json.dumps({'code': code, 'added': added, 'file': sys.modules['monitoring'].__file__}))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(code_dir),
        "SM_OPT_ML": str(opt_ml),
        "dataset_source": str(ABALONE),
        "output_path": str(tmp_path / "out"),
    }
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, cwd=tmp_path, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    assert report["file"].startswith(str(code_dir))
    assert report["added"] == ["mlops_errors", "monitoring"]
    assert (opt_ml / "output" / "message").read_text().startswith("Completed:")
    assert (tmp_path / "out" / "statistics.json").is_file()
