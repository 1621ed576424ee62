"""``mlops deploy --backend sagemaker`` end to end against moto: deploy, then monitoring is repointed (or told
it is not deployed yet)."""

from __future__ import annotations

import argparse

from pipelines.commands.deploy import _deploy, add_arguments
from pipelines.registry.sagemaker import SageMakerRegistry
from tests.conftest import ROOT
from tests.inference.test_deploy_sagemaker import BUCKET, ROLE, aws, package_request  # noqa: F401 (fixture)


def test_cli_deploys_and_reports_that_monitoring_is_not_deployed_yet(aws, capsys):  # noqa: F811
    SageMakerRegistry(aws.sagemaker, aws.s3, BUCKET, "abalone-pipeline").register(package_request("Approved"))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--backend",
            "sagemaker",
            "--config",
            str(ROOT / "mlops.yaml"),
            "--role-arn",
            ROLE,
            "--bucket",
            BUCKET,
            "--poll-seconds",
            "0",
        ]
    )
    assert _deploy(args, aws) == 0
    out = capsys.readouterr().out
    assert "abalone/1" in out and "smoke test answered" in out
    assert "Monitoring is not deployed, nothing to repoint" in out
