"""The check function's requests drive the real analyzer: each request is played the way SageMaker Processing runs it
(its inputs copied from a directory standing in for S3, ShardedByS3Key split by object across algo-1..algo-N with
their resourceconfig.json, FullyReplicated copied to each, the container's paths mapped onto a work directory, its
output uploaded to the request's S3 URI), through ``monitoring.container_entry.run`` with the request's environment.
Two instances (profile job, then the merge job its completion starts) write the hour's report, violations and
metrics of the one-instance check."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from monitoring.cloud.check_job import CheckWindow, processing_job_request, report_uri
from monitoring.cloud.check_merge import merge_job_request
from monitoring.container_entry import run
from tests.conftest import ABALONE
from tests.monitoring.capture_files import capture_line
from tests.monitoring.cloud.test_check_job import ENV
from tests.monitoring.cloud.test_check_merge import described, settings

WINDOW = CheckWindow(datetime(2025, 3, 4, 12, tzinfo=timezone.utc), datetime(2025, 3, 4, 13, tzinfo=timezone.utc))
CONTAINER = "/opt/ml/processing"


def local(s3: Path, uri: str) -> Path:
    return s3 / uri[len("s3://") :].rstrip("/")


def stage_s3(s3: Path, baseline: Path) -> None:
    """The project's bucket as the check finds it: the deployed baselines and the hour's capture in four objects."""
    for name, key in (("statistics.json", "BASELINE_STATISTICS_URI"), ("constraints.json", "BASELINE_CONSTRAINTS_URI")):
        local(s3, ENV[key]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(baseline / name, local(s3, ENV[key]))
    rows = [line.split(",") for line in ABALONE.read_text().splitlines()[1:801]]
    when = datetime(2025, 3, 4, 12, 30, tzinfo=timezone.utc)
    lines = [capture_line(",".join([r[0], str(float(r[1]) * 2), *r[2:]]), when) for r in rows]
    hour = local(s3, f"{ENV['CAPTURE_S3_URI']}/2025/03/04/12")
    hour.mkdir(parents=True)
    for part in range(4):
        (hour / f"capture-{part}.jsonl").write_text("\n".join(lines[part::4]) + "\n")


def play(request: dict, s3: Path, work: Path, cloudwatch) -> list[tuple[int, str]]:
    """Run ``request`` as SageMaker Processing would on this machine; (exit code, message) per host."""
    count = request["ProcessingResources"]["ClusterConfig"]["InstanceCount"]
    hosts = [f"algo-{i + 1}" for i in range(count)]
    results = []
    for index, host in enumerate(hosts):
        root = work / request["ProcessingJobName"] / host
        for item in request["ProcessingInputs"]:
            spec = item["S3Input"]
            if item["InputName"] == "lib":
                continue  # the project's code is importable here
            source = local(s3, spec["S3Uri"])
            files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
            if spec["S3DataDistributionType"] == "ShardedByS3Key":
                files = files[index::count]  # about 1/N of the objects each
            for file in files:
                relative = file.relative_to(source) if source.is_dir() else Path(file.name)
                target = root / spec["LocalPath"][len(CONTAINER) + 1 :] / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(file, target)
        opt_ml = root / "opt_ml"
        (opt_ml / "config").mkdir(parents=True)
        (opt_ml / "config" / "resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": hosts}))
        env = {k: v.replace(CONTAINER, str(root)) for k, v in request["Environment"].items()}
        results.append(run(env, opt_ml, cloudwatch))
        for output in request["ProcessingOutputConfig"]["Outputs"]:
            produced = root / output["S3Output"]["LocalPath"][len(CONTAINER) + 1 :]
            if produced.is_dir():
                shutil.copytree(produced, local(s3, output["S3Output"]["S3Uri"]), dirs_exist_ok=True)
    return results


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("baseline")
    assert run({"dataset_source": str(ABALONE), "output_path": str(out)}, out / "opt_ml")[0] == 0
    return out


def metrics(work: Path, job: str) -> list[dict]:
    """The metrics a job's host wrote for CloudWatch, without their timestamp (the time they were written)."""
    path = work / job / "algo-1" / "opt_ml" / "output" / "metrics" / "cloudwatch"
    return [{k: v for k, v in json.loads(line).items() if k != "Timestamp"} for line in path.read_text().splitlines()]


@mock_aws
def test_profile_then_merge_writes_the_one_instance_checks_report_and_metrics(tmp_path, baseline):
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    one_s3, two_s3, work = tmp_path / "s3-one", tmp_path / "s3-two", tmp_path / "work"
    stage_s3(one_s3, baseline)
    stage_s3(two_s3, baseline)
    one = processing_job_request(settings(1), WINDOW, "exec-1")
    (checked,) = play(one, one_s3, work, cloudwatch)
    assert checked[0] == 0 and checked[1].startswith("CompletedWithViolations"), checked  # length drifted

    profile = processing_job_request(settings(2), WINDOW, "exec-1")
    profiled = play(profile, two_s3, work, cloudwatch)
    assert [message.split(". Host ")[1].split(" profiled ")[0] for _, message in profiled] == [
        "algo-1 of 2",
        "algo-2 of 2",
    ]
    report = local(two_s3, report_uri(settings(2), WINDOW))
    assert not report.exists()  # the hour is not checked until the merge job has run
    partials = local(two_s3, profile["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"])
    assert sorted(p.name for p in partials.iterdir()) == ["partial_profile-algo-1.json", "partial_profile-algo-2.json"]

    tags = {t["Key"]: t["Value"] for t in profile["Tags"]}
    merge = merge_job_request(settings(2), described(profile), tags)
    assert play(merge, two_s3, work, cloudwatch) == [checked]
    one_report = local(one_s3, report_uri(settings(1), WINDOW))
    assert sorted(p.name for p in report.iterdir()) == sorted(p.name for p in one_report.iterdir())
    for name in ("constraint_violations.json",):
        assert (report / name).read_text() == (one_report / name).read_text()
    merged_stats = json.loads((report / "statistics.json").read_text())
    one_stats = json.loads((one_report / "statistics.json").read_text())
    assert merged_stats["dataset"] == one_stats["dataset"]  # 800 records on both
    merged_metrics, one_metrics = metrics(work, merge["ProcessingJobName"]), metrics(work, one["ProcessingJobName"])
    assert [(m["MetricName"], m["Dimensions"]) for m in merged_metrics] == [
        (m["MetricName"], m["Dimensions"]) for m in one_metrics
    ]
    for mine, theirs in zip(merged_metrics, one_metrics, strict=True):  # sums: within 1e-12 relative (README)
        assert mine.get("Value", 0.0) == pytest.approx(theirs.get("Value", 0.0), rel=1e-12), mine["MetricName"]
        assert mine.get("StatisticValues", {}) == pytest.approx(theirs.get("StatisticValues", {}), rel=1e-12)
