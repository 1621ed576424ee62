"""Container entry of the analyzer: a SageMaker Processing job configured like Model Monitor's analyzer.

Environment (the Model Monitor analyzer's names):
  analysis_type             DATA_QUALITY (default) or MODEL_QUALITY (see monitoring/model_quality_entry.py for the
                            model-quality variables: problem_type, ground_truth_attribute, inference_attribute, ...)
  dataset_source            input directory or file (default /opt/ml/processing/input/endpoint)
  dataset_format            JSON: {"sagemakerCaptureJson": {...}}, {"csv": {"header": true}}, {"json": {"lines": true}},
                            {"parquet": {}}; detected from the files when absent
  output_path               where statistics.json, constraints.json / constraint_violations.json go
                            (default /opt/ml/processing/resultdata)
  baseline_statistics, baseline_constraints
                            present: check mode; absent: baseline mode (or set analysis_mode=baseline|check)
  start_time, end_time      ISO-8601 window of capture records to check
  sagemaker_endpoint_name, sagemaker_monitoring_schedule_name
                            CloudWatch dimensions of the metrics
  publish_cloudwatch_metrics
                            Enabled: PutMetricData (boto3 imported only then)
  record_preprocessor_script
                            a script defining preprocess_handler(inference_record)
  analysis_stage            full (default; on several hosts, per /opt/ml/config/resourceconfig.json, only the leader
                            runs it and the others write nothing), profile (write only
                            partial_profile-<current_host>.json) or merge (one host: merge the partials under
                            partial_profiles, default /opt/ml/processing/input/partials, into the usual outputs);
                            see monitoring/shard.py and monitoring/profile_merge.py. MODEL_QUALITY has the same
                            stages: profile writes model_quality_partial-<current_host>.parquet
                            (monitoring/model_quality_entry.py)

Runtime: Python 3.10+, numpy and pyarrow only. The SageMaker XGBoost 3.0-5 image (the project's processing
image) carries numpy 2.1.0 and pyarrow 22.0.0, the versions setup.py pins, so nothing is installed at start;
the project's code arrives as a processing input on PYTHONPATH. A data-quality process keeps pyarrow from importing
pandas, which it never uses (``monitoring.arrow_without_pandas``: 0.38 s and about 40 MB saved on every host).

The exit message (``/opt/ml/output/message``) reads as Model Monitor's: ``Completed: ...``,
``CompletedWithViolations: Job completed successfully with N violations.``, ``NoData: ...`` or ``Failed: ...``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitoring.analysis_results import BaselineResult
    from monitoring.host_role import HostRole
    from monitoring.sources import DatasetFormat

log = logging.getLogger("monitoring.container_entry")
DEFAULT_SOURCE = "/opt/ml/processing/input/endpoint"
DEFAULT_OUTPUT = "/opt/ml/processing/resultdata"


def parse_dataset_format(text: str | None):
    """The analyzer's ``dataset_format`` JSON to a DatasetFormat (None: detect from the files)."""
    from monitoring.sources import DatasetFormat

    if not text:
        return None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f'dataset_format must be JSON such as {{"csv": {{"header": true}}}}, got {text!r}') from exc
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ValueError(
            f"dataset_format must be an object with one key (csv, json, parquet, sagemakerCaptureJson), got {text!r}"
        )
    ((kind, options),) = spec.items()
    options = options or {}
    if kind == "csv":
        header = options.get("header")
        if header is not None and not isinstance(header, bool):
            raise ValueError(f"dataset_format.csv.header must be true or false, got {header!r}")
        return DatasetFormat("csv", header)
    if kind == "json":
        if options.get("lines", True) is not True:
            raise ValueError("dataset_format.json.lines must be true: only JSON Lines is supported")
        return DatasetFormat("json")
    if kind == "parquet":
        return DatasetFormat("parquet")
    if kind == "sagemakerCaptureJson":
        return DatasetFormat("capture")
    raise ValueError(f"dataset_format: unknown format {kind!r}; expected csv, json, parquet or sagemakerCaptureJson")


def run(env: Mapping[str, str], opt_ml: Path = Path("/opt/ml"), cloudwatch=None) -> tuple[int, str]:
    """Run one analysis as configured by ``env``; returns (exit code, exit message). Never raises."""
    missing = [name for name in ("numpy", "pyarrow", "monitoring.analyzer") if importlib.util.find_spec(name) is None]
    if missing:  # found, not imported: a merge job never imports pyarrow
        return 1, (
            f"Failed: the analyzer needs numpy and pyarrow (the SageMaker XGBoost 3.0-5 image has numpy 2.1.0 "
            f"and pyarrow 22.0.0) and the project's code on PYTHONPATH: cannot find {', '.join(missing)}"
        )
    try:
        if _model_quality(env):
            from monitoring.model_quality_entry import run_model_quality

            return run_model_quality(env, opt_ml, cloudwatch)
        return _data_quality(env, opt_ml, cloudwatch)
    except Exception as exc:
        log.exception("analysis failed")
        return 1, f"Failed: {type(exc).__name__}: {exc}"


def _model_quality(env: Mapping[str, str]) -> bool:
    return (env.get("analysis_type") or "DATA_QUALITY").upper() == "MODEL_QUALITY"


def _data_quality(env: Mapping[str, str], opt_ml: Path, cloudwatch=None) -> tuple[int, str]:
    """A data-quality baseline or check, in the stage this host's role calls for (``monitoring.host_role``)."""
    from monitoring.host_role import DEFAULT_PARTIALS, IDLE, analysis_stage, read_resource_config

    source = Path(env.get("dataset_source") or DEFAULT_SOURCE)
    output = Path(env.get("output_path") or DEFAULT_OUTPUT)
    mode = env.get("analysis_mode") or ("check" if env.get("baseline_constraints") else "baseline")
    if mode not in ("baseline", "check"):
        raise ValueError(f"analysis_mode must be baseline or check, got {mode!r}")
    role = read_resource_config(opt_ml)
    stage = analysis_stage(env, role)
    fmt = parse_dataset_format(env.get("dataset_format")) if stage != "merge" else None  # a merge reads no dataset
    partials = Path(env.get("partial_profiles") or DEFAULT_PARTIALS)
    if stage == IDLE:
        return 0, f"Completed: Job completed successfully. Host {role.current_host} left the {mode} to {role.leader}."
    if mode == "baseline" and stage == "profile":
        from monitoring.shard import run_profile_stage

        return run_profile_stage(source, output, role, fmt)
    if mode == "baseline":
        result = _baseline(source, output, fmt, partials, stage)
        return 0, f"Completed: Job completed successfully. Baseline of {result.item_count} records written to {output}."
    return _check(env, opt_ml, cloudwatch, stage, role, source, output, fmt, partials)


def _baseline(source: Path, output: Path, fmt: DatasetFormat | None, partials: Path, stage: str) -> BaselineResult:
    """A baseline in one pass (``full``), or from the hosts' partial profiles (``merge``: no Arrow imported)."""
    if stage == "merge":
        from monitoring.profile_merge import baseline_from_partials

        return baseline_from_partials(partials, output)
    from monitoring.analyzer import run_baseline

    return run_baseline(source, output, fmt)


def _check(
    env: Mapping[str, str],
    opt_ml: Path,
    cloudwatch: Any,
    stage: str,
    role: HostRole,
    source: Path,
    output: Path,
    fmt: DatasetFormat | None,
    partials: Path,
) -> tuple[int, str]:
    """Check mode of ``_data_quality``: profile this host's shard, merge the shards' profiles, or do both at once."""
    from monitoring.constraints import read_constraints
    from monitoring.iso_time import parse_time
    from monitoring.metrics import publish_metrics, write_metrics
    from monitoring.statistics import read_statistics

    for key in ("baseline_statistics", "baseline_constraints"):
        if not env.get(key):
            raise ValueError(f"check mode needs the environment variable {key} (path of the baseline's file)")
    statistics, constraints = Path(env["baseline_statistics"]), Path(env["baseline_constraints"])
    start = parse_time(env["start_time"], "start_time") if env.get("start_time") else None
    end = parse_time(env["end_time"], "end_time") if env.get("end_time") else None
    preprocessor, script = None, env.get("record_preprocessor_script")
    if script and stage != "merge":  # the merge reads no record
        from monitoring.preprocessor import load_preprocessor

        preprocessor = load_preprocessor(script)
    endpoint = env.get("sagemaker_endpoint_name") or "unknown"
    schedule = env.get("sagemaker_monitoring_schedule_name") or "on-demand"
    if stage == "profile":
        from monitoring.shard import run_profile_stage

        columns = [f.name for f in read_constraints(constraints).features] or read_statistics(statistics).names
        return run_profile_stage(source, output, role, fmt, columns, start, end, preprocessor)
    if stage == "merge":
        from monitoring.profile_merge import check_from_partials

        result = check_from_partials(partials, statistics, constraints, output, start, end, endpoint, schedule)
    else:
        from monitoring.analyzer import run_check

        result = run_check(
            source, statistics, constraints, output, fmt, start, end, endpoint, schedule, preprocessor=preprocessor
        )
    write_metrics(result.metrics, opt_ml / "output" / "metrics" / "cloudwatch")
    if result.metrics and env.get("publish_cloudwatch_metrics", "Disabled") == "Enabled":
        publish_metrics(result.metrics, cloudwatch)
    return 0, result.message


def main() -> int:
    """Entry point of the processing container."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = os.environ
    if not _model_quality(env) and env.get("analysis_stage") != "merge":  # a merge never imports Arrow
        from monitoring.arrow_without_pandas import settle_without_pandas

        settle_without_pandas()  # data quality never uses pandas: spare every host its import
    opt_ml = Path(env.get("SM_OPT_ML", "/opt/ml"))
    code, message = run(env, opt_ml)
    print(message, flush=True)
    try:
        (opt_ml / "output").mkdir(parents=True, exist_ok=True)
        (opt_ml / "output" / "message").write_text(message[:1024], encoding="utf-8")
    except OSError as exc:
        log.warning("could not write the exit message: %s", exc)
    return code


if __name__ == "__main__":
    sys.exit(main())
