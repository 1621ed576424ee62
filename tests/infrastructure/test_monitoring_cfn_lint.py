"""cfn-lint (errors, warnings and informational checks) finds nothing in the monitoring templates."""

from __future__ import annotations

import copy

from cfnlint.api import ManualArgs
from cfnlint.api import lint as cfn_lint

from pipelines.monitoring_stack.template import FRAGMENT_KEYS, load_yaml, render_template, template_body
from tests.conftest import ROOT

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
FEATURES = ["length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight", "sex"]


def lint(text: str) -> list[str]:
    config = ManualArgs(regions=REGIONS, include_checks=["I"])
    return [str(match) for match in cfn_lint(text, config=config)]


def test_the_base_template_is_clean():
    assert lint((ROOT / "infrastructure" / "monitoring.yaml").read_text(encoding="utf-8")) == []


def test_the_rendered_template_is_clean():
    rendered = render_template(FEATURES, ["ops@example.com", "oncall@example.com"], ["https://hooks.example.com/x"])
    assert lint(template_body(rendered)) == []


def test_the_rendered_template_with_model_quality_alarms_is_clean():
    for metrics in (["rmse", "mae", "mse", "r2"], ["auc", "au_prc", "accuracy", "precision", "recall", "f1", "f0_5"]):
        rendered = render_template(FEATURES, ["ops@example.com"], model_quality_metrics=metrics)
        assert lint(template_body(rendered)) == []


def test_the_linter_does_catch_a_broken_template():
    """The negative control: the same template with an action IAM does not know and a dangling reference."""
    broken = copy.deepcopy(render_template(FEATURES))
    role = broken["Resources"]["RetrainFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    role[0]["Action"] = "sagemaker:StartPipelineExecutionNow"
    broken["Resources"]["DriftAlarm"]["Properties"]["AlarmActions"] = [{"Ref": "NoSuchTopic"}]
    findings = lint(template_body(broken))
    assert any("W3037" in f and "startpipelineexecutionnow" in f for f in findings)
    assert any("E1020" in f and "NoSuchTopic" in f for f in findings)


def test_the_fragments_file_declares_what_the_renderer_expects():
    fragments = load_yaml(ROOT / "infrastructure" / "monitoring-fragments.yaml")
    assert set(fragments) == set(FRAGMENT_KEYS)
    assert {"FeatureAlarm", "DriftAlarm", "ModelQualityMetricAlarm", "ModelQualityAlarm"} <= set(FRAGMENT_KEYS)


def test_the_rendered_template_of_the_model_monitor_engine_is_clean():
    for metrics in (["rmse", "r2"], ["auc", "f1"]):
        rendered = render_template(FEATURES, ["ops@example.com"], model_quality_metrics=metrics, engine="model-monitor")
        assert lint(template_body(rendered)) == []
