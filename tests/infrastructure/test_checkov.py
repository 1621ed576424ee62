"""checkov (pinned, in its own virtualenv: tests/infrastructure/checkov_env.py) finds nothing in infrastructure/: both
templates, and the monitoring template as rendered for a sample feature set with alert subscriptions. A finding is
fixed or skipped in the template with a reason (``Metadata: checkov: skip: [{id, comment}]``, which survives the
rendering to JSON where a ``# checkov:skip`` comment would not). A deliberately unencrypted queue, scanned in the
same run, shows that the run does report failures."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.monitoring_stack.template import render_template, template_body
from tests.conftest import ROOT
from tests.infrastructure.checkov_env import CHECKOV_PIN, checkov_executable

INFRASTRUCTURE = ROOT / "infrastructure"
SAMPLE_FEATURES = ["length", "whole_weight", "sex", "mean radius", "worst concave points", "été"]
NEGATIVE_CONTROL = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {"PlainQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "plain"}}},
}


@dataclass(frozen=True)
class Scan:
    """One checkov run: its checks by file (resolved path) and kind (passed_checks, failed_checks, skipped_checks)."""

    by_file: dict[str, dict[str, list[dict]]]
    rendered: Path
    control: Path

    def checks(self, kind: str, exclude: Path | None = None) -> list[dict]:
        skip = str(exclude.resolve()) if exclude else None
        return [c for path, kinds in self.by_file.items() if path != skip for c in kinds.get(kind, [])]

    def of(self, path: Path, kind: str) -> list[dict]:
        return self.by_file.get(str(path.resolve()), {}).get(kind, [])


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> Scan:
    """One checkov run over every template."""
    work = tmp_path_factory.mktemp("checkov")
    rendered = work / "monitoring.rendered.json"
    rendered.write_text(
        template_body(
            render_template(
                SAMPLE_FEATURES,
                ["ops@example.com"],
                ["https://hooks.example.com/x"],
                model_quality_metrics=["rmse", "r2"],
            )
        ),
        encoding="utf-8",
    )
    control = work / "negative-control.json"
    control.write_text(json.dumps(NEGATIVE_CONTROL), encoding="utf-8")
    files = [*sorted(INFRASTRUCTURE.glob("*.yaml")), rendered, control]
    command = [str(checkov_executable()), "--framework", "cloudformation", "--output", "json", "--skip-download"]
    for path in files:
        command += ["--file", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode not in (0, 1):  # 1: some check failed (the negative control's, at least)
        pytest.fail(f"{CHECKOV_PIN} exited {done.returncode}:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout)
    assert isinstance(report, dict) and report["check_type"] == "cloudformation", done.stdout[:500]
    assert report["results"]["parsing_errors"] == [], report["results"]["parsing_errors"]
    by_file: dict[str, dict[str, list[dict]]] = {}
    for kind in ("passed_checks", "failed_checks", "skipped_checks"):
        for check in report["results"][kind]:
            by_file.setdefault(check["file_abs_path"], {}).setdefault(kind, []).append(check)
    return Scan({str(Path(p).resolve()): v for p, v in by_file.items()}, rendered, control)


def describe(checks: list[dict]) -> str:
    return "\n".join(f"{c['check_id']} {c['resource']} ({c['check_name']})" for c in checks)


def test_every_template_was_scanned(scan):
    templates = ("deploy-on-approval.yaml", "monitoring.yaml", "bootstrap.yaml")
    for path in (*(INFRASTRUCTURE / t for t in templates), scan.rendered):
        assert len(scan.of(path, "passed_checks")) >= 10, f"checkov did not scan {path}"


def test_no_check_fails_on_the_templates(scan):
    failed = scan.checks("failed_checks", exclude=scan.control)
    assert not failed, f"checkov findings (fix them, or skip them in the template with a reason):\n{describe(failed)}"


def test_the_run_does_report_failures(scan):
    assert {c["check_id"] for c in scan.of(scan.control, "failed_checks")} == {"CKV_AWS_27"}  # SQS, unencrypted


def test_every_skip_says_why(scan):
    skipped = scan.checks("skipped_checks")
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) >= 60, f"{check['check_id']} on {check['resource']} is skipped without a reason"
    assert {(c["check_id"], c["resource"]) for c in skipped} == {
        ("CKV_AWS_117", "AWS::Lambda::Function.CheckFunction"),
        ("CKV_AWS_117", "AWS::Lambda::Function.RetrainFunction"),
        ("CKV_AWS_117", "AWS::Lambda::Function.ModelQualityFunction"),
        ("CKV_AWS_369", "AWS::SageMaker::DataQualityJobDefinition.DataQualityJobDefinition"),
        ("CKV_AWS_18", "AWS::S3::Bucket.ArtifactBucket"),  # bootstrap.yaml: no access-log bucket (CloudTrail's)
    }
