"""The recorded runs of the approval build's deploy that test_deploy_role_iam.py evaluates against DeployRole: the
build's own `mlops deploy` command line (from the template's buildspec) against moto and botocore's Stubber, and
`mlops monitor repoint`, with every AWS call recorded by iam_recorder.Recorder. This module: the processing engine's
run and the helpers; deploy_runs_model_monitor.py: the model-monitor engine's runs."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from dataclasses import dataclass

import boto3
import yaml
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from cfnlint.decode import decode_str
from moto import mock_aws
from moto.sagemakerruntime.models import sagemakerruntime_backends

from pipelines.build import config_from_kwargs
from pipelines.cli import build_parser
from pipelines.deploy.sagemaker import default_rollback_alarms
from pipelines.deploy.sagemaker_requests import Clients, data_capture_config, resource_name
from pipelines.monitoring_stack.names import model_quality_schedule_name, name_prefix, schedule_name, stack_name
from pipelines.registry.sagemaker import SageMakerRegistry
from tests.conftest import ROOT
from tests.infrastructure.cfn_resolve import Resolver
from tests.infrastructure.iam_recorder import ACCOUNT, REGION, Call, Recorder, State
from tests.infrastructure.templates import plain
from tests.pipelines.deploy.test_sagemaker import STATISTICS_KEY, described_package, package_request

TEMPLATE = ROOT / "infrastructure" / "deploy-on-approval.yaml"
ENDPOINT, BUCKET, PIPELINE, GROUP = "abalone-endpoint", "mlops-artifacts", "abalone-pipeline", "abalone"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ALERTS_KEY = "arn:aws:kms:us-east-1:123456789012:key/aaaaaaaa-12ab-34cd-56ef-1234567890ab"
TOPIC = f"arn:aws:sns:us-east-1:123456789012:{ENDPOINT}-monitoring-alerts"
ARN1, ARN2 = (f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/{n}" for n in (1, 2))
LOG_GROUP = f"/aws/codebuild/{ENDPOINT}-deploy-on-approval"
STATISTICS = (ROOT / "tests" / "fixtures" / "model-monitor" / "quality-check-baseline" / "statistics.json").read_bytes()
SM_ARN = "arn:aws:sagemaker:us-east-1:123456789012"
ATTRIBUTES = {
    "DeployKey.Arn": "arn:aws:kms:us-east-1:123456789012:key/dddddddd-12ab-34cd-56ef-1234567890ab",
    "BuildLogGroup": LOG_GROUP,
    "BuildLogGroup.Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}:*",
    "DeployRole.Arn": "arn:aws:iam::123456789012:role/deploy-role",
}


@dataclass
class Run:
    name: str
    parameters: dict[str, str]
    calls: list[Call]
    state: State
    exit_code: int
    out: str
    err: str


def template() -> dict:
    decoded, problems = decode_str(TEMPLATE.read_text())
    assert not problems, problems
    return plain(decoded)


def write_config(tmp_path, engine: str, kms: str | None):
    raw = yaml.safe_load((ROOT / "mlops.yaml").read_text())
    raw["data"]["input"] = str(ROOT / "data" / "abalone.csv")
    raw["monitoring"]["engine"] = engine
    raw["sagemaker"]["kms_key_id"] = kms
    path = tmp_path / f"mlops-{engine}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, config_from_kwargs({"role_arn": ROLE, "bucket": BUCKET}, str(path))


def parameters(engine: str, kms: str, topic: str, alerts_key: str, config) -> dict[str, str]:
    return {
        "ModelPackageGroupName": GROUP,
        "EndpointName": ENDPOINT,
        "PipelineName": PIPELINE,
        "ArtifactBucket": BUCKET,
        "SageMakerExecutionRoleArn": ROLE,
        "CaptureKmsKeyArn": kms,
        "MonitoringEngine": engine,
        "MonitoringScheduleName": schedule_name(config),
        "ModelQualityScheduleName": model_quality_schedule_name(config),
        "MonitoringStackName": stack_name(config),
        "MonitoringNamePrefix": name_prefix(config),
        "AlertsTopicArn": topic,
        "AlertsKeyArn": alerts_key,
        "EndpointAutoscaling": "false",
    }


def build_command(doc: dict, params: dict[str, str], model_package_arn: str) -> list[str]:
    """The buildspec's `mlops deploy` line with CodeBuild's environment substituted, as the build runs it."""
    project = Resolver(doc, params, ATTRIBUTES).properties("DeployProject")
    environment = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
    environment |= {"MODEL_PACKAGE_ARN": model_package_arn, "AWS_REGION": REGION}
    buildspec = yaml.safe_load(project["Source"]["BuildSpec"])
    line = next(c for c in buildspec["phases"]["build"]["commands"] if c.startswith("mlops deploy"))
    return [re.sub(r"\$(\w+)", lambda m: environment[m.group(1)], w) for w in shlex.split(line)][1:]


def run_cli(words: list[str], clients: Clients) -> tuple[int, str, str]:
    """``mlops <words>`` with these clients: (exit code, stdout, stderr)."""
    args = build_parser().parse_args(words)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = args.handler(args, clients)
    return code, out.getvalue(), err.getvalue()


def recorded_clients(session, recorder: Recorder, **replacements) -> Clients:
    names = {"sagemaker": "sagemaker", "runtime": "sagemaker-runtime", "s3": "s3", "cloudwatch": "cloudwatch"}
    names |= {"sns": "sns", "cloudformation": "cloudformation", "autoscaling": "application-autoscaling"}
    made = {field: replacements.get(field) or session.client(service) for field, service in names.items()}
    return Clients(**{k: recorder.attach(v) for k, v in made.items()})


def processing_create_run(doc, tmp_path) -> Run:
    path, config = write_config(tmp_path, "processing", None)
    params = parameters("processing", "", "", "", config)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket=BUCKET)
        session.client("s3").put_object(Bucket=BUCKET, Key=STATISTICS_KEY, Body=STATISTICS)
        arn = (
            SageMakerRegistry(session.client("sagemaker"), session.client("s3"), BUCKET, PIPELINE)
            .register(package_request("Approved"))
            .arn
        )
        sagemakerruntime_backends[ACCOUNT][REGION].results_queue.append(("9.8765\n", "text/csv", "AllTraffic", ""))
        recorder = Recorder()
        words = [*build_command(doc, params, arn), "--config", str(path), "--poll-seconds", "0"]
        code, out, err = run_cli(words, recorded_clients(session, recorder))
    return Run("processing engine, new endpoint", params, recorder.calls, State(), code, out, err)


def endpoint(config_name: str, status: str = "InService") -> dict:
    return {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{ENDPOINT}",
        "EndpointConfigName": config_name,
        "EndpointStatus": status,
        "CreationTime": "2025-01-01T00:00:00Z",
        "LastModifiedTime": "2025-01-01T00:00:00Z",
    }


def live(sm: Stubber, config_name: str, model_name: str, arn: str, described: dict) -> None:
    """DescribeEndpointConfig -> DescribeModel -> DescribeModelPackage of what the variant serves."""
    variants = [{"VariantName": "AllTraffic", "ModelName": model_name}]
    sm.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": config_name,
            "EndpointConfigArn": f"{SM_ARN}:endpoint-config/{config_name}",
            "ProductionVariants": variants,
            "CreationTime": "2025-01-01T00:00:00Z",
        },
        {"EndpointConfigName": config_name},
    )
    sm.add_response(
        "describe_model",
        {
            "ModelName": model_name,
            "ModelArn": f"{SM_ARN}:model/{model_name}",
            "PrimaryContainer": {"ModelPackageName": arn},
            "CreationTime": "2025-01-01T00:00:00Z",
        },
        {"ModelName": model_name},
    )
    sm.add_response("describe_model_package", described, {"ModelPackageName": arn})


def names_of(config) -> tuple[str, str]:
    """The model and endpoint-config names the deployer derives for version 2 (its content-hashed names)."""
    model = {"PrimaryContainer": {"ModelPackageName": ARN2}, "ExecutionRoleArn": ROLE, "EnableNetworkIsolation": False}
    model_name = resource_name(ENDPOINT, 2, model)
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": model_name,
        "InstanceType": config.serving.instance_type,
        "InitialInstanceCount": config.serving.instance_count,
        "InitialVariantWeight": 1.0,
    }
    request = {"ProductionVariants": [variant], "DataCaptureConfig": data_capture_config(config), "KmsKeyId": KMS}
    return model_name, resource_name(ENDPOINT, 2, request)


def put_rollback_alarms(session) -> None:
    """The endpoint's default rollback alarms, as the deploy expects to find them."""
    for alarm in default_rollback_alarms(ENDPOINT):
        session.client("cloudwatch").put_metric_alarm(
            AlarmName=alarm,
            MetricName="Invocation5XXErrors",
            Namespace="AWS/SageMaker",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )


def encrypted_account(session) -> None:
    s3 = session.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    body = STATISTICS
    s3.put_object(Bucket=BUCKET, Key=STATISTICS_KEY, Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=KMS)
    session.client("sns").create_topic(Name=TOPIC.rsplit(":", 1)[1], Attributes={"KmsMasterKeyId": ALERTS_KEY})
    put_rollback_alarms(session)


def stub_blue_green(sm: Stubber, rt: Stubber, old_config: str, old_model: str, model_name: str, config_name: str):
    """The SageMaker and runtime calls of a blue/green update from version 1 to version 2, through the smoke test."""
    sm.add_response("describe_endpoint", endpoint(old_config), {"EndpointName": ENDPOINT})
    live(sm, old_config, old_model, ARN1, described_package(ARN1, 1))
    sm.add_client_error("describe_model", "ValidationException", "Could not find model", 400, {"ModelName": model_name})
    sm.add_response("create_model", {"ModelArn": f"{SM_ARN}:model/{model_name}"}, {"ModelName": model_name, **ANY_KEYS})
    sm.add_client_error(
        "describe_endpoint_config",
        "ValidationException",
        "Could not find endpoint configuration",
        400,
        {"EndpointConfigName": config_name},
    )
    sm.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": f"{SM_ARN}:endpoint-config/{config_name}"},
        {"EndpointConfigName": config_name, **ANY_CONFIG_KEYS},
    )
    sm.add_response("update_endpoint", {"EndpointArn": f"{SM_ARN}:endpoint/{ENDPOINT}"}, None)
    sm.add_response("describe_endpoint", endpoint(old_config, "Updating"), {"EndpointName": ENDPOINT})
    sm.add_response("describe_endpoint", endpoint(config_name), {"EndpointName": ENDPOINT})
    rt.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(b"10.25\n"), 6), "ContentType": "text/csv"})


ANY_KEYS = {"PrimaryContainer": ANY, "ExecutionRoleArn": ANY, "EnableNetworkIsolation": ANY, "Tags": ANY}
ANY_CONFIG_KEYS = {"ProductionVariants": ANY, "DataCaptureConfig": ANY, "KmsKeyId": ANY, "Tags": ANY}
