"""SageMaker deploy: create against moto (Model from the package, EndpointConfig with DataCaptureConfig and KMS,
Endpoint, smoke test), idempotence and refusals, and UpdateEndpoint with blue/green + auto-rollback through botocore's
Stubber (moto has no UpdateEndpoint with DeploymentConfig)."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.sagemakerruntime.models import sagemakerruntime_backends

from pipelines.build import config_from_kwargs
from pipelines.deploy.local import DeployError
from pipelines.deploy.sagemaker import Clients, SageMakerDeployer, WaitPolicy, data_capture_config
from pipelines.deploy.sagemaker_requests import resource_name as _name
from pipelines.deploy.smoke import row_from_statistics
from pipelines.registry.sagemaker import SageMakerRegistry
from tests.conftest import ROOT
from tests.inference.test_server_model import trained_state

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
BUCKET = "mlops-artifacts"
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
STATISTICS_KEY = "abalone-pipeline/baseline/statistics.json"
NO_WAIT = WaitPolicy(poll_seconds=0, timeout_seconds=60, sleep=lambda _: None)


def statistics() -> dict:
    path = next((trained_state() / "s3").rglob("baseline/statistics.json"))
    return json.loads(path.read_text())


@pytest.fixture()
def config():
    base = config_from_kwargs({"role_arn": ROLE, "bucket": BUCKET}, str(ROOT / "mlops.yaml"))
    return replace(base, sagemaker=replace(base.sagemaker, kms_key_id=KMS))


def package_request(status: str) -> dict:
    return {
        "ModelPackageGroupName": "abalone",
        "ModelApprovalStatus": status,
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
                    "ModelDataUrl": f"s3://{BUCKET}/models/model.tar.gz",
                    "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
                }
            ],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["text/csv", "application/json"],
        },
        "DriftCheckBaselines": {
            "ModelDataQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{STATISTICS_KEY}"},
                "Constraints": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/constraints.json"},
            }
        },
    }


@pytest.fixture()
def aws():
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        s3 = session.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=STATISTICS_KEY, Body=json.dumps(statistics()).encode())
        runtime = sagemakerruntime_backends["123456789012"]["us-east-1"]
        runtime.results_queue.append(("9.8765\n", "text/csv", "AllTraffic", ""))
        yield Clients.from_session(session)


def test_smoke_row_comes_from_the_baseline_statistics():
    row = row_from_statistics(statistics())
    fields = row.split(",")
    assert len(fields) == 8 and fields[0] in ("M", "F", "I")
    assert all(0 < float(value) < 2 for value in fields[1:])
    with pytest.raises(ValueError, match="no 'features' list"):
        row_from_statistics({})


def test_create_against_moto_then_idempotent(aws, config):
    registry = SageMakerRegistry(aws.sagemaker, aws.s3, BUCKET, "abalone-pipeline")
    registry.register(package_request("Approved"))
    progress: list[str] = []
    deployer = SageMakerDeployer(config, aws, wait=NO_WAIT, progress=progress.append)
    result = deployer.deploy()
    assert (result.action, result.version, result.previous) == ("deployed", "abalone/1", None)
    assert "smoke test answered 9.8765" in result.message
    endpoint = aws.sagemaker.describe_endpoint(EndpointName="abalone-endpoint")
    assert endpoint["EndpointStatus"] == "InService"
    endpoint_config = aws.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    (variant,) = endpoint_config["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic" and variant["InstanceType"] == "ml.m5.large"
    capture = endpoint_config["DataCaptureConfig"]
    assert capture == {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{BUCKET}/abalone-pipeline/datacapture",
        "KmsKeyId": KMS,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
    }
    assert endpoint_config["KmsKeyId"] == KMS
    model = aws.sagemaker.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["ModelPackageName"] == registry.get("abalone", 1).arn
    assert model["ExecutionRoleArn"] == ROLE
    assert any(line.startswith("Smoke test: ") for line in progress)
    again = SageMakerDeployer(config, aws, wait=NO_WAIT, progress=progress.append).deploy()
    assert again.action == "unchanged" and "already live on SageMaker endpoint abalone-endpoint" in again.message


def test_refusals_against_moto(aws, config):
    registry = SageMakerRegistry(aws.sagemaker, aws.s3, BUCKET, "abalone-pipeline")
    with pytest.raises(DeployError, match="No Approved version in model package group 'abalone'"):
        registry.register(package_request("PendingManualApproval"))
        SageMakerDeployer(config, aws, wait=NO_WAIT).deploy()
    first = registry.get("abalone", 1)
    with pytest.raises(DeployError, match="abalone/1 is PendingManualApproval, not Approved"):
        SageMakerDeployer(config, aws, wait=NO_WAIT).deploy(arn=first.arn)
    registry.register(package_request("Approved"))
    assert SageMakerDeployer(config, aws, wait=NO_WAIT).deploy().version == "abalone/2"
    registry.set_status("abalone", 1, "Approved", "tests", "older")
    with pytest.raises(DeployError, match="serves abalone/2, newer than abalone/1"):
        SageMakerDeployer(config, aws, wait=NO_WAIT).deploy(version=1)
    no_bucket = replace(config, sagemaker=replace(config.sagemaker, bucket=None))
    with pytest.raises(DeployError, match=r"data capture needs serving\.capture\.destination or sagemaker\.bucket"):
        SageMakerDeployer(no_bucket, aws, endpoint="other", wait=NO_WAIT).deploy(version=2, force=True)
    no_role = replace(config, sagemaker=replace(config.sagemaker, role_arn=None))
    with pytest.raises(DeployError, match=r"needs sagemaker\.role_arn"):
        SageMakerDeployer(no_role, aws, endpoint="other", wait=NO_WAIT).deploy()


# -- UpdateEndpoint through the Stubber -------------------------------------------------------------------
ARN1 = "arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/1"
ARN2 = "arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/2"
ALARMS = [
    "abalone-endpoint-invocation-5xx-rate",
    "abalone-endpoint-invocation-4xx-rate",
    "abalone-endpoint-model-latency-p99",
]


def described_package(arn: str, version: int) -> dict:
    request = package_request("Approved")
    return {
        "ModelPackageName": "abalone",
        "ModelPackageGroupName": "abalone",
        "ModelPackageVersion": version,
        "ModelPackageArn": arn,
        "CreationTime": "2024-01-01T00:00:00Z",
        "ModelPackageStatus": "Completed",
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": request["InferenceSpecification"],
        "DriftCheckBaselines": request["DriftCheckBaselines"],
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
    }


def not_found(stub: Stubber, method: str, params: dict) -> None:
    stub.add_client_error(method, "ValidationException", "Could not find it", 400, expected_params=params)


def endpoint(status: str, config_name: str, desired: int | None = None) -> dict:
    """A DescribeEndpoint answer; ``desired``: the variant's desired (and current) instance count."""
    variants = [{"VariantName": "AllTraffic", "CurrentInstanceCount": desired, "DesiredInstanceCount": desired}]
    return ({"ProductionVariants": variants} if desired else {}) | {
        "EndpointName": "abalone-endpoint",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/abalone-endpoint",
        "EndpointConfigName": config_name,
        "EndpointStatus": status,
        "CreationTime": "2024-01-01T00:00:00Z",
        "LastModifiedTime": "2024-01-01T00:00:00Z",
    }


def stub_update(
    sm: Stubber,
    cw: Stubber,
    config,
    final_config: str | None,
    count: int = 1,
    live: tuple = (None, None),
    retain: bool = False,
) -> None:
    """The calls of an update from abalone/1 to abalone/2 (by ARN), in order; ``count``: the new config's instance
    count; ``live``: (desired instance count, instance type) of the live variant (None: not described)."""
    desired, live_type = live
    sm.add_response("describe_model_package", described_package(ARN2, 2), {"ModelPackageName": ARN2})
    sm.add_response(
        "describe_endpoint", endpoint("InService", "old-config", desired), {"EndpointName": "abalone-endpoint"}
    )
    sm.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": "old-config",
            "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/old-config",
            "ProductionVariants": [
                {"VariantName": "AllTraffic", "ModelName": "old-model"}
                | ({"InstanceType": live_type} if live_type else {})
            ],
            "CreationTime": "2024-01-01T00:00:00Z",
        },
        {"EndpointConfigName": "old-config"},
    )
    sm.add_response(
        "describe_model",
        {
            "ModelName": "old-model",
            "ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/old-model",
            "PrimaryContainer": {"ModelPackageName": ARN1},
            "CreationTime": "2024-01-01T00:00:00Z",
        },
        {"ModelName": "old-model"},
    )
    sm.add_response("describe_model_package", described_package(ARN1, 1), {"ModelPackageName": ARN1})
    not_found(sm, "describe_model", {"ModelName": ANY})
    sm.add_response(
        "create_model",
        {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/new-model"},
        {
            "ModelName": ANY,
            "PrimaryContainer": {"ModelPackageName": ARN2},
            "ExecutionRoleArn": ROLE,
            "EnableNetworkIsolation": False,
            "Tags": [
                {"Key": "mlops:model-package-arn", "Value": ARN2},
                {"Key": "mlops:endpoint", "Value": "abalone-endpoint"},
            ],
        },
    )
    not_found(sm, "describe_endpoint_config", {"EndpointConfigName": ANY})
    sm.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/new"},
        {
            "EndpointConfigName": ANY,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",  # the variant name is kept: the capture path contains it
                    "ModelName": ANY,
                    "InstanceType": config.serving.instance_type,
                    "InitialInstanceCount": count,
                    "InitialVariantWeight": 1.0,
                }
            ],
            "DataCaptureConfig": data_capture_config(config),
            "KmsKeyId": KMS,
            "Tags": ANY,
        },
    )
    cw.add_response(
        "describe_alarms",
        {"MetricAlarms": [{"AlarmName": name} for name in ALARMS], "CompositeAlarms": []},
        {"AlarmNames": ALARMS},
    )
    sm.add_response(
        "update_endpoint",
        {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/abalone-endpoint"},
        {
            "EndpointName": "abalone-endpoint",
            "EndpointConfigName": ANY,
            **update_retains(retain),
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300},
                    "TerminationWaitInSeconds": 300,
                    "MaximumExecutionTimeoutInSeconds": 600,  # the least SageMaker accepts
                },
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in ALARMS]},
            },
        },
    )
    sm.add_response("describe_endpoint", endpoint("Updating", "old-config"), {"EndpointName": "abalone-endpoint"})
    sm.add_response("describe_endpoint", endpoint("Updating", "old-config"), {"EndpointName": "abalone-endpoint"})
    sm.add_response(
        "describe_endpoint", endpoint("InService", final_config or "old-config"), {"EndpointName": "abalone-endpoint"}
    )


def update_retains(retain: bool) -> dict:
    """UpdateEndpoint's variant-property arguments: retained (an autoscaled variant whose registration is kept)."""
    if not retain:
        return {"RetainAllVariantProperties": False}
    return {
        "RetainAllVariantProperties": True,
        "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DataCaptureConfig"}],
    }


def stubbed_clients(config, rolled_back: bool, count: int = 1, live: tuple = (None, None), retain: bool = False):
    session = boto3.Session(region_name="us-east-1")
    sm, cw, runtime = session.client("sagemaker"), session.client("cloudwatch"), session.client("sagemaker-runtime")
    s3 = session.client("s3")
    model_request = {
        "PrimaryContainer": {"ModelPackageName": ARN2},
        "ExecutionRoleArn": ROLE,
        "EnableNetworkIsolation": False,
    }
    model_name = _name("abalone-endpoint", 2, model_request)
    config_request = {
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": model_name,
                "InstanceType": config.serving.instance_type,
                "InitialInstanceCount": count,
                "InitialVariantWeight": 1.0,
            }
        ],
        "DataCaptureConfig": data_capture_config(config),
        "KmsKeyId": KMS,
    }
    config_name = _name("abalone-endpoint", 2, config_request)
    sm_stub, cw_stub, runtime_stub, s3_stub = Stubber(sm), Stubber(cw), Stubber(runtime), Stubber(s3)
    stub_update(sm_stub, cw_stub, config, None if rolled_back else config_name, count, live, retain)
    body = json.dumps(statistics()).encode()
    s3_stub.add_response(
        "get_object", {"Body": StreamingBody(io.BytesIO(body), len(body))}, {"Bucket": BUCKET, "Key": STATISTICS_KEY}
    )
    runtime_stub.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(b"10.25\n"), 6), "ContentType": "text/csv"},
        {
            "EndpointName": "abalone-endpoint",
            "ContentType": "text/csv",
            "Accept": "text/csv",
            "Body": row_from_statistics(statistics()).encode(),
        },
    )
    stubs = (sm_stub, cw_stub, runtime_stub, s3_stub)
    for stub in stubs:
        stub.activate()
    autoscaling = session.client("application-autoscaling")
    return Clients(sm, runtime, s3, cw, autoscaling=autoscaling), stubs


def test_update_is_blue_green_with_rollback_alarms_and_keeps_the_variant(config):
    clients, stubs = stubbed_clients(config, rolled_back=False)
    progress: list[str] = []
    wait = WaitPolicy(poll_seconds=0, timeout_seconds=60, sleep=lambda _: None)
    result = SageMakerDeployer(config, clients, wait=wait, progress=progress.append).deploy(arn=ARN2)
    assert (result.action, result.version, result.previous) == ("deployed", "abalone/2", "abalone/1")
    assert "smoke test answered 10.25" in result.message
    assert [p for p in progress if p.startswith("Endpoint abalone-endpoint:")] == [
        "Endpoint abalone-endpoint: Updating (0 s)",
        "Endpoint abalone-endpoint: Updating (0 s)",
        "Endpoint abalone-endpoint: InService (0 s)",
    ]
    for stub in stubs:
        stub.assert_no_pending_responses()


def test_an_update_rolled_back_by_an_alarm_is_an_error(config):
    clients, stubs = stubbed_clients(config, rolled_back=True)
    with pytest.raises(DeployError, match="rolled back to old-config: an alarm fired while abalone/2 took traffic"):
        SageMakerDeployer(config, clients, wait=NO_WAIT).deploy(arn=ARN2)
    stubs[0].assert_no_pending_responses()  # every SageMaker call happened, up to the last DescribeEndpoint
    with pytest.raises(AssertionError):  # and no smoke test was sent to the rolled-back endpoint
        stubs[2].assert_no_pending_responses()


def test_describing_the_endpoint_without_credentials_is_a_deploy_error():
    """mlops deploy / monitor repoint with no credentials: one line naming the call, not botocore's traceback."""
    from botocore.exceptions import NoCredentialsError

    from pipelines.config import load_config
    from pipelines.deploy.sagemaker_endpoint import Endpoint
    from pipelines.deploy.sagemaker_requests import Clients, WaitPolicy
    from pipelines.deploy.versions import DeployError

    class NoCredentials:
        def describe_endpoint(self, **kwargs):
            raise NoCredentialsError()

    config = load_config(ROOT / "mlops.yaml")
    endpoint = Endpoint("ep", config, Clients(NoCredentials(), None, None, None), WaitPolicy(), print)
    with pytest.raises(DeployError, match=r"DescribeEndpoint ep failed: Unable to locate credentials"):
        endpoint.describe()
