"""The smoke run: its cost estimate, the stages in order, the stop at the first failure naming what is left, and
the stages that can run against moto / Stubber (bootstrap, approve) or a failing step (run-pipeline, monitoring)."""

from __future__ import annotations

import io
import re

import pytest
from botocore.stub import Stubber

from pipelines.account import bootstrap as bootstrap_module
from pipelines.account import costs
from pipelines.account.smoke import SmokeError, SmokeRun, Stage, run_stages
from pipelines.build import config_from_kwargs
from pipelines.cloud import CloudError
from pipelines.errors import StateError
from pipelines.registry.model import APPROVED, PENDING
from pipelines.registry.sagemaker import SageMakerRegistry
from tests.monitoring.cloud.conftest import BUCKET
from tests.pipelines.account.conftest import ROLE
from tests.pipelines.registry.test_registry_contract import package_request


def test_the_estimate_prices_the_configured_instances(config_file):
    config = config_from_kwargs({}, str(config_file))
    lines = costs.estimate(config)
    assert [(line.instance_type, line.instances, line.minutes) for line in lines] == [
        ("ml.m5.xlarge", 1, 30),
        ("ml.m5.xlarge", 1, 8),
        ("ml.m5.large", 1, 30),
        ("ml.m5.xlarge", 1, 6),
    ]
    assert sum(line.cost for line in lines) == pytest.approx(0.23 * 30 / 60 + 0.23 * 8 / 60 + 0.115 / 2 + 0.023)
    text = costs.estimate_text(config)
    assert text[0] == "Estimated cost of this smoke run (on-demand list prices, us-east-1):"
    elsewhere = costs.estimate_text(config.with_overrides(project={"region": "eu-west-1"}))
    assert elsewhere[0] == "Estimated cost of this smoke run (on-demand list prices, us-east-1; eu-west-1 may differ):"
    assert re.fullmatch(r"  total about USD 0\.2\d, an estimate .*not a quote", text[-1])


def test_a_type_not_in_the_price_table_is_named_and_not_counted(config_file):
    config = config_from_kwargs({}, str(config_file)).with_overrides(serving={"instance_type": "ml.g5.xlarge"})
    text = costs.estimate_text(config)
    assert "price not in the table" in text[3] and text[-1] == "  not in the price table, so not counted: ml.g5.xlarge"


def test_the_stages_run_in_order_and_the_first_failure_stops_naming_what_is_left():
    ran: list[str] = []

    def stage(name: str, leaves: str = "", fails: bool = False) -> Stage:
        def run() -> str:
            ran.append(name)
            if fails:
                raise StateError("the endpoint did not settle")
            return f"{name} done"

        return Stage(name, run, leaves)

    stages = [stage("bootstrap", "stack abalone-bootstrap"), stage("approve"), stage("deploy", "endpoint e", True)]
    stages.append(stage("destroy"))
    with pytest.raises(SmokeError) as raised:
        run_stages(stages, progress=lambda line: None)
    assert ran == ["bootstrap", "approve", "deploy"]
    assert str(raised.value) == (
        "smoke stage 'deploy' failed: the endpoint did not settle. Left in the account: stack abalone-bootstrap. "
        "Remove it with: mlops destroy --backend sagemaker"
    )


def test_a_failed_first_stage_says_nothing_was_left():
    failing = Stage("bootstrap", lambda: (_ for _ in ()).throw(CloudError("CreateChangeSet failed")), "stack")
    with pytest.raises(SmokeError, match="Left in the account: nothing this run created"):
        run_stages([failing], progress=lambda line: None)


def test_bootstrap_fills_mlops_yaml_and_the_run_reloads_it(aws, stand_in, config_file, monkeypatch):
    monkeypatch.setattr(bootstrap_module, "TEMPLATE", stand_in)
    monkeypatch.setattr(bootstrap_module, "image_accounts", lambda config: ("683313688378", "156813124566"))
    aws.client("cloudformation").create_stack(  # moto's executed change sets have no outputs: a finished stack
        StackName="abalone-bootstrap",
        TemplateBody=stand_in.read_text(),
        Parameters=[{"ParameterKey": "ProjectName", "ParameterValue": "abalone"}],
    )
    run = SmokeRun(config_file, config_from_kwargs({}, str(config_file)), aws)
    assert "abalone-bootstrap" in run.bootstrap()
    assert (run.config.sagemaker.role_arn, run.config.sagemaker.bucket) == (ROLE, "abalone-artifacts-123456789012")


def test_approve_approves_the_newest_pending_version(aws, config_file):
    registry = SageMakerRegistry(aws.client("sagemaker"), aws.client("s3"), BUCKET, "abalone-pipeline")
    for n in (1, 2):
        registry.register(package_request(n=n))
    config = config_from_kwargs({"bucket": BUCKET}, str(config_file))
    run = SmokeRun(config_file, config, aws)
    assert run.approve() == "abalone/2 Approved"
    assert [(v.version, v.status) for v in registry.list_versions("abalone")] == [(2, APPROVED), (1, PENDING)]
    registry.set_status("abalone", 1, APPROVED, "test")
    with pytest.raises(StateError, match="no version of abalone is pending approval"):
        SmokeRun(config_file, config, aws).approve()


def test_a_failed_pipeline_execution_fails_its_stage(aws, config_file, monkeypatch):
    import pipelines.entrypoints

    monkeypatch.setattr(pipelines.entrypoints, "run_pipeline", lambda argv, sm, s3: 1)
    run = SmokeRun(config_file, config_from_kwargs({}, str(config_file)), aws)
    with pytest.raises(StateError, match="run-pipeline --wait exited 1"):
        run.run_pipeline()


def test_a_check_function_that_fails_fails_the_monitoring_stage(aws, config_file, monkeypatch):
    import pipelines.monitoring_stack.deploy as monitoring_deploy

    class Deployed:
        class stack:  # the shape of MonitoringDeployment.stack
            stack_name, status = "abalone-endpoint-monitoring", "executed"

    monkeypatch.setattr(monitoring_deploy, "deploy_monitoring", lambda config, **kwargs: Deployed)
    lam = aws.client("lambda")
    stubber = Stubber(lam)
    stubber.add_response(
        "invoke",
        {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(b'{"errorMessage": "no capture"}')},
    )

    class Session:
        def client(self, name):
            return lam if name == "lambda" else aws.client(name)

    run = SmokeRun(config_file, config_from_kwargs({}, str(config_file)), Session())
    with (
        stubber,
        pytest.raises(
            CloudError, match=re.escape('abalone-endpoint-monitor-check failed: {"errorMessage": "no capture"}')
        ),
    ):
        run.monitor()
