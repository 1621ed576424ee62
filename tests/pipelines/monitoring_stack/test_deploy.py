"""`mlops monitor deploy --backend sagemaker` and the repoint after a model deploy (the live pointer, no stack
update), on moto (CloudFormation, S3, the model registry) with botocore's Stubber for the Model Monitor schedule."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber

from pipelines.monitoring_stack.changeset import WaitPolicy, describe_stack, stack_parameters
from pipelines.monitoring_stack.deploy import Images, MonitoringClients, deploy_monitoring
from pipelines.monitoring_stack.package import lambda_artifact
from pipelines.monitoring_stack.parameters import Baselines
from pipelines.monitoring_stack.repoint import RepointClients, RepointError, repoint
from pipelines.registry import APPROVED
from pipelines.registry.model import ModelVersion
from pipelines.registry.sagemaker import SageMakerRegistry
from pipelines.staging import code_artifacts
from tests.monitoring.cloud.conftest import BUCKET
from tests.pipelines.registry.test_registry_contract import package_request

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")  # moto: no CFN model for some types

IMAGES = Images("xgboost-image", "model-monitor-image")
FAST = WaitPolicy(delay=1, max_attempts=3)
STACK = "abalone-endpoint-monitoring"
BASELINE_KEYS = {"BaselineStatisticsUri", "BaselineConstraintsUri", "ServingModelPackageArn"}


def version(n: int, baselines: bool = True) -> ModelVersion:
    base = f"s3://{BUCKET}/abalone-pipeline/executions/exec-{n}/baseline"
    return ModelVersion(
        group="abalone",
        version=n,
        status=APPROVED,
        created="2025-03-01T00:00:00+00:00",
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/{n}",
        model_data_url=f"s3://{BUCKET}/abalone-pipeline/models/{n}/model.tar.gz",
        image_uri="xgboost-image",
        drift_baselines={"statistics": f"{base}/statistics.json", "constraints": f"{base}/constraints.json"}
        if baselines
        else {},
    )


def deploy(config, clients, **kwargs):
    return deploy_monitoring(
        config,
        clients=clients,
        images=IMAGES,
        wait=FAST,
        now=lambda: datetime(2025, 3, 4, 13, tzinfo=timezone.utc),
        **kwargs,
    )


def parameters(aws) -> dict[str, str]:
    return stack_parameters(describe_stack(aws.client("cloudformation"), STACK))


def exists(aws, uri: str) -> bool:
    objects = aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=uri.split("/", 3)[3]).get("KeyCount", 0)
    return objects > 0


def moto_previous_values(cfn) -> None:
    """moto 5.2.5 re-parses the stored, already typed value of a UsePreviousValue parameter (a CommaDelimitedList
    fails on .split, the Number 0.1 becomes 0); AWS takes UsePreviousValue as documented. For these tests, send the
    previous values as DescribeStacks shows them (moto shows an empty list as "['']")."""
    reader = boto3.client("cloudformation", region_name="us-east-1")

    def previous_values(params, **kwargs):
        kept = [p for p in params.get("Parameters", []) if p.get("UsePreviousValue")]
        previous = stack_parameters(describe_stack(reader, params["StackName"])) if kept else {}
        for parameter in kept:
            del parameter["UsePreviousValue"]
            value = previous[parameter["ParameterKey"]]
            parameter["ParameterValue"] = "" if value == "['']" else value

    cfn.meta.events.register("provide-client-params.cloudformation.CreateChangeSet", previous_values)


@pytest.fixture
def clients(aws):
    clients = MonitoringClients.from_session(aws)
    moto_previous_values(clients.cloudformation)
    return clients


def test_deploy_stages_the_code_and_creates_the_stack_on_the_newest_approved_version(aws, clients, cloud_config):
    registry = SageMakerRegistry(aws.client("sagemaker"), aws.client("s3"), BUCKET, "abalone-pipeline")
    for n in (1, 2):
        request = package_request(n=n)
        request["DriftCheckBaselines"] = json.loads(
            json.dumps(request["DriftCheckBaselines"]).replace("bucket", BUCKET)
        )
        registry.register(request)
    registry.set_status("abalone", 2, APPROVED, by="test")
    result = deploy(cloud_config, clients)
    assert (result.stack.change_set_type, result.stack.status) == ("CREATE", "executed")
    assert result.baselines_source == "model version abalone/2 (newest Approved)"
    assert result.schedule == "ENABLED" and result.engine == "processing"
    deployed = parameters(aws)
    assert deployed["BaselineStatisticsUri"].endswith("exec-2/baseline/statistics.json")
    assert deployed["ServingModelPackageArn"].endswith("model-package/abalone/2")
    assert exists(aws, f"s3://{BUCKET}/{deployed['LambdaCodeKey']}")
    assert deployed["LambdaCodeKey"] == lambda_artifact().uri(BUCKET, "abalone-pipeline").split("/", 3)[3]
    assert exists(aws, deployed["LibS3Uri"] + "/monitoring/container_entry.py")
    assert deployed["LibS3Uri"] == code_artifacts()["lib"].prefix(BUCKET, "abalone-pipeline") + "/lib"
    kinds = {c.resource_type for c in result.stack.changes}
    assert {"AWS::CloudWatch::CompositeAlarm", "AWS::Scheduler::Schedule", "AWS::Lambda::Function"} <= kinds
    again = deploy(cloud_config, clients)
    assert again.stack.status == "no-changes"


def test_a_dry_run_stages_nothing_and_leaves_no_stack(aws, clients, cloud_config):
    result = deploy(cloud_config, clients, dry_run=True)
    assert result.stack.status == "dry-run" and len(result.stack.changes) > 20
    assert describe_stack(aws.client("cloudformation"), STACK) is None
    staged = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    # no code; only the template, which is too large for CreateChangeSet's TemplateBody and so goes through S3
    assert [key.rsplit("/", 1)[-1] for key in staged] == ["monitoring.template.json"]


def test_without_a_deployed_version_the_checks_find_no_baselines(aws, clients, cloud_config):
    result = deploy(cloud_config, clients)
    assert result.schedule == "ENABLED (no baselines yet)" and result.baselines == Baselines()
    assert any("no deployed model version" in w for w in result.warnings)
    assert parameters(aws)["BaselineStatisticsUri"] == ""


def test_a_redeploy_keeps_the_version_the_stack_monitors(aws, clients, cloud_config):
    deploy(cloud_config, clients, model_version=version(1))
    aws.client("s3").delete_object(Bucket=BUCKET, Key=POINTER_KEY)  # a stack deployed before live pointers existed
    result = deploy(cloud_config, clients)  # the registry has nothing approved: only the stack knows version 1
    assert result.baselines_source.endswith("model-package/abalone/1 (as the stack already monitors)")
    assert parameters(aws)["ServingModelPackageArn"].endswith("abalone/1")


POINTER_KEY = "abalone-pipeline/monitoring/abalone-endpoint/live.json"
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NOW = datetime(2025, 3, 4, 12, 30, tzinfo=timezone.utc)


def pointer(aws) -> dict:
    return json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key=POINTER_KEY)["Body"].read())


def test_repoint_writes_the_live_pointer_and_leaves_the_stack_alone(aws, clients, cloud_config):
    deploy(cloud_config, clients, model_version=version(1))
    before = parameters(aws)
    result = repoint(cloud_config, version(2), RepointClients(clients.s3, clients.sagemaker), now=lambda: NOW)
    assert parameters(aws) == before  # no change set: the check function reads the pointer
    assert result.pointer_uri == f"s3://{BUCKET}/{POINTER_KEY}"
    assert pointer(aws) == {
        "baseline_constraints_uri": version(2).drift_baselines["constraints"],
        "baseline_statistics_uri": version(2).drift_baselines["statistics"],
        "endpoint_name": "abalone-endpoint",
        "model_package_arn": version(2).arn,
        "model_package_group": "abalone",
        "model_package_version": 2,
        "model_quality_constraints_uri": "",  # version 2 has no model-quality baseline
        "model_quality_statistics_uri": "",
        "schema": 1,
        "updated_at": "2025-03-04T12:30:00Z",
    }
    assert result.schedule == "the check function reads the pointer"
    redeployed = deploy(cloud_config, clients)  # monitor deploy: the live pointer wins over the stack's version 1
    assert redeployed.baselines_source == f"model version abalone/2 (live pointer s3://{BUCKET}/{POINTER_KEY})"


def test_the_pointer_is_encrypted_with_the_project_key_and_an_explicit_version_rewrites_it(aws, clients, cloud_config):
    config = cloud_config.with_overrides(sagemaker={"kms_key_id": KMS})
    repoint(config, version(2), RepointClients(clients.s3, clients.sagemaker))
    head = aws.client("s3").head_object(Bucket=BUCKET, Key=POINTER_KEY)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", KMS)
    deploy(cloud_config, clients, model_version=version(3))  # `mlops monitor deploy --model-version abalone/3`
    assert pointer(aws)["model_package_version"] == 3


def test_repoint_needs_a_version_with_baselines_and_says_which_call_failed(aws, clients, cloud_config):
    with pytest.raises(RepointError, match="Model version abalone/3 has no DriftCheckBaselines"):
        repoint(cloud_config, version(3, baselines=False), RepointClients(clients.s3, clients.sagemaker))
    s3 = boto3.client("s3", region_name="us-east-1")
    stub = Stubber(s3)
    stub.add_client_error("put_object", "AccessDenied", "Access Denied", 403)
    with stub, pytest.raises(RepointError, match=rf"PutObject s3://{BUCKET}/{POINTER_KEY} failed \(AccessDenied\)"):
        repoint(cloud_config, version(2), RepointClients(s3, clients.sagemaker))


def test_a_bare_kms_key_id_becomes_an_arn_for_the_policies(aws, clients, cloud_config):
    sm = replace(cloud_config.sagemaker, kms_key_id="1234abcd-12ab-34cd-56ef-1234567890ab")
    deploy(replace(cloud_config, sagemaker=sm), clients)
    deployed = parameters(aws)
    assert deployed["KmsKeyId"] == sm.kms_key_id
    assert deployed["KmsKeyArn"] == f"arn:aws:kms:us-east-1:123456789012:key/{sm.kms_key_id}"


def test_a_template_too_large_to_send_inline_goes_through_s3(aws, clients, cloud_config):
    wide = replace(cloud_config.data, numeric=tuple(f"feature_{i:02d}" for i in range(70)), categorical=())
    result = deploy(replace(cloud_config, data=wide), clients)
    assert result.stack.status == "executed"
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert any(k.endswith("/monitoring.template.json") for k in keys)
    assert sum(c.logical_id.startswith("FeatureDriftAlarm") for c in result.stack.changes) == 70


def test_security_settings_the_checks_cannot_honour_fully_are_warned_about(aws, clients, cloud_config):
    sm = replace(
        cloud_config.sagemaker, enable_network_isolation=True, subnets=("subnet-1",), security_group_ids=("sg-1",)
    )
    result = deploy(replace(cloud_config, sagemaker=sm), clients, dry_run=True)
    assert any("network isolation blocks" in w for w in result.warnings)
    assert any("VPC endpoints" in w for w in result.warnings)
