"""`mlops monitor deploy --backend sagemaker`: the subcommand, its dry run on moto, and its refusals."""

from __future__ import annotations

import argparse
import re

import pytest
import yaml

from pipelines.commands.monitor_cloud import register_cloud_commands
from pipelines.config import ConfigError
from pipelines.monitoring_stack.changeset import describe_stack
from pipelines.monitoring_stack.deploy import resolve_images
from pipelines.registry import RegistryError
from tests.conftest import ROOT
from tests.monitoring.cloud.conftest import BUCKET, ROLE

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")  # moto: no CFN model for some types


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mlops monitor")
    register_cloud_commands(parser.add_subparsers(dest="monitor_command", required=True))
    return parser.parse_args(list(argv))


def test_deploy_is_registered_with_its_options():
    args = parse("deploy", "--backend", "sagemaker", "--role-arn", ROLE, "--bucket", BUCKET, "--region", "eu-west-1")
    assert (args.backend, args.role_arn, args.bucket, args.region, args.dry_run) == (
        "sagemaker",
        ROLE,
        BUCKET,
        "eu-west-1",
        False,
    )
    assert callable(args.handler)
    with pytest.raises(SystemExit):
        parse("deploy")  # --backend is required
    with pytest.raises(SystemExit):
        parse("deploy", "--backend", "local")


def test_a_dry_run_prints_the_change_set_and_deploys_nothing(aws, capsys):
    config = str(ROOT / "mlops.yaml")
    args = parse(
        "deploy", "--backend", "sagemaker", "--config", config, "--role-arn", ROLE, "--bucket", BUCKET, "--dry-run"
    )
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "Would apply stack abalone-endpoint-monitoring (CREATE, engine processing)" in out
    assert "Add     AWS::CloudWatch::CompositeAlarm" in out and "DriftAlarm" in out
    assert "Add     AWS::Scheduler::Schedule" in out
    assert "Baselines: none: no Approved model version yet" in out
    assert "Check schedule: ENABLED (no baselines yet)" in out
    assert "warning: no deployed model version" in out
    assert describe_stack(aws.client("cloudformation"), "abalone-endpoint-monitoring") is None


def test_deploy_needs_the_bucket_and_role(aws, tmp_path):
    raw = yaml.safe_load((ROOT / "mlops.yaml").read_text(encoding="utf-8"))
    raw["sagemaker"]["bucket"] = None
    (tmp_path / "mlops.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    args = parse("deploy", "--backend", "sagemaker", "--config", str(tmp_path / "mlops.yaml"), "--role-arn", ROLE)
    with pytest.raises(ConfigError, match=re.escape("needs sagemaker.bucket and sagemaker.role_arn (--bucket")):
        args.handler(args)


def test_an_unknown_model_version_is_named(aws):
    aws.client("sagemaker").create_model_package_group(ModelPackageGroupName="abalone")
    args = parse(
        "deploy", "--backend", "sagemaker", "--config", str(ROOT / "mlops.yaml"), "--role-arn", ROLE, "--bucket",
        BUCKET, "--model-version", "abalone/9", "--dry-run",
    )  # fmt: skip
    with pytest.raises(RegistryError, match="Unknown version abalone/9"):
        args.handler(args)


def test_the_images_come_from_the_sdks_offline_table(cloud_config):
    images = resolve_images(cloud_config)
    assert images.processing == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"
    assert images.model_monitor == "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
