"""The autoscaled run of the approval build's deploy for test_deploy_role_iam.py: serving.autoscaling on, a blue/green
update from version 1 on 3 x ml.c5.xlarge (registered with Application Auto Scaling) to version 2 on ml.m5.large, so
the deploy finds the registration, deregisters it before UpdateEndpoint (the instance type changes), carries the 3
instances into the new endpoint config, and registers the variant and puts its policy once InService. SageMaker and
Application Auto Scaling through botocore's Stubber; S3, CloudWatch and the runtime's smoke test on moto."""

from __future__ import annotations

import boto3
import yaml
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.sagemakerruntime.models import sagemakerruntime_backends

from pipelines.build import config_from_kwargs
from pipelines.deploy.sagemaker_requests import data_capture_config, resource_name
from pipelines.deploy.sagemaker_scaling import DIMENSION, resource_id
from tests.conftest import ROOT
from tests.infrastructure import deploy_runs as runs
from tests.infrastructure.iam_recorder import ACCOUNT, REGION, Recorder, State
from tests.pipelines.deploy.test_sagemaker import STATISTICS_KEY, described_package

LIVE_TYPE, LIVE_COUNT = "ml.c5.xlarge", 3
OLD_CONFIG, OLD_MODEL = f"{runs.ENDPOINT}-v1-0123abcd", f"{runs.ENDPOINT}-v1-89abcdef"
KEY = {"ServiceNamespace": "sagemaker", "ResourceId": resource_id(runs.ENDPOINT, "AllTraffic")}
KEY["ScalableDimension"] = DIMENSION


def autoscaled_config(tmp_path):
    raw = yaml.safe_load((ROOT / "mlops.yaml").read_text())
    raw["data"]["input"] = str(ROOT / "data" / "abalone.csv")
    raw["serving"]["autoscaling"] = {"enabled": True, "min_instances": 1, "max_instances": 4}
    path = tmp_path / "mlops-autoscaled.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, config_from_kwargs({"role_arn": runs.ROLE, "bucket": runs.BUCKET}, str(path))


def _names(config) -> tuple[str, str]:
    model = {"PrimaryContainer": {"ModelPackageName": runs.ARN2}, "ExecutionRoleArn": runs.ROLE}
    model_name = resource_name(runs.ENDPOINT, 2, model | {"EnableNetworkIsolation": False})
    variant = {"VariantName": "AllTraffic", "ModelName": model_name, "InstanceType": config.serving.instance_type}
    variant |= {"InitialInstanceCount": LIVE_COUNT, "InitialVariantWeight": 1.0}
    request = {"ProductionVariants": [variant], "DataCaptureConfig": data_capture_config(config)}
    return model_name, resource_name(runs.ENDPOINT, 2, request)


def _endpoint(config_name: str, status: str = "InService") -> dict:
    variant = {"VariantName": "AllTraffic", "CurrentInstanceCount": LIVE_COUNT, "DesiredInstanceCount": LIVE_COUNT}
    return runs.endpoint(config_name, status) | {"ProductionVariants": [variant]}


def _stub_sagemaker(sm: Stubber, model_name: str, config_name: str) -> None:
    sm.add_response("describe_model_package", described_package(runs.ARN2, 2), {"ModelPackageName": runs.ARN2})
    sm.add_response("describe_endpoint", _endpoint(OLD_CONFIG), {"EndpointName": runs.ENDPOINT})
    variants = [{"VariantName": "AllTraffic", "ModelName": OLD_MODEL, "InstanceType": LIVE_TYPE}]
    sm.add_response(
        "describe_endpoint_config",
        {"EndpointConfigName": OLD_CONFIG, "EndpointConfigArn": f"{runs.SM_ARN}:endpoint-config/{OLD_CONFIG}"}
        | {"ProductionVariants": variants, "CreationTime": "2025-01-01T00:00:00Z"},
        {"EndpointConfigName": OLD_CONFIG},
    )
    sm.add_response(
        "describe_model",
        {"ModelName": OLD_MODEL, "ModelArn": f"{runs.SM_ARN}:model/{OLD_MODEL}"}
        | {"PrimaryContainer": {"ModelPackageName": runs.ARN1}, "CreationTime": "2025-01-01T00:00:00Z"},
        {"ModelName": OLD_MODEL},
    )
    sm.add_response("describe_model_package", described_package(runs.ARN1, 1), {"ModelPackageName": runs.ARN1})
    sm.add_client_error("describe_model", "ValidationException", "Could not find model", 400, {"ModelName": model_name})
    sm.add_response("create_model", {"ModelArn": f"{runs.SM_ARN}:model/{model_name}"}, None)
    sm.add_client_error(
        "describe_endpoint_config", "ValidationException", "Could not find endpoint configuration", 400, None
    )
    sm.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": f"{runs.SM_ARN}:endpoint-config/{config_name}"},
        {"EndpointConfigName": config_name, "ProductionVariants": ANY, "DataCaptureConfig": ANY, "Tags": ANY},
    )
    sm.add_response(
        "update_endpoint",
        {"EndpointArn": f"{runs.SM_ARN}:endpoint/{runs.ENDPOINT}"},
        {"EndpointName": runs.ENDPOINT, "EndpointConfigName": config_name}
        | {"RetainAllVariantProperties": False, "DeploymentConfig": ANY},
    )
    sm.add_response("describe_endpoint", _endpoint(OLD_CONFIG, "Updating"), {"EndpointName": runs.ENDPOINT})
    sm.add_response("describe_endpoint", _endpoint(config_name), {"EndpointName": runs.ENDPOINT})


def _stub_autoscaling(aas: Stubber) -> None:
    target = KEY | {"MinCapacity": 1, "MaxCapacity": 4, "RoleARN": "arn:aws:iam::1:role/r", "CreationTime": 0}
    aas.add_response(
        "describe_scalable_targets",
        {"ScalableTargets": [target]},
        {"ServiceNamespace": "sagemaker", "ResourceIds": [KEY["ResourceId"]], "ScalableDimension": DIMENSION},
    )
    aas.add_response("deregister_scalable_target", {}, KEY)
    aas.add_response("register_scalable_target", {}, KEY | {"MinCapacity": 1, "MaxCapacity": 4})
    aas.add_response("put_scaling_policy", {"PolicyARN": "arn:aws:autoscaling:policy/p"}, None)


def _account(session) -> None:
    session.client("s3").create_bucket(Bucket=runs.BUCKET)
    session.client("s3").put_object(Bucket=runs.BUCKET, Key=STATISTICS_KEY, Body=runs.STATISTICS)
    runs.put_rollback_alarms(session)
    sagemakerruntime_backends[ACCOUNT][REGION].results_queue.append(("9.8765\n", "text/csv", "AllTraffic", ""))


def autoscaled_update_run(doc, tmp_path) -> runs.Run:
    path, config = autoscaled_config(tmp_path)
    params = runs.parameters("processing", "", "", "", config) | {"EndpointAutoscaling": "true"}
    model_name, config_name = _names(config)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        _account(session)
        sagemaker, autoscaling = session.client("sagemaker"), session.client("application-autoscaling")
        recorder = Recorder()
        clients = runs.recorded_clients(session, recorder, sagemaker=sagemaker, autoscaling=autoscaling)
        sm, aas = Stubber(sagemaker), Stubber(autoscaling)
        _stub_sagemaker(sm, model_name, config_name)
        _stub_autoscaling(aas)
        with sm, aas:
            words = [*runs.build_command(doc, params, runs.ARN2), "--config", str(path), "--poll-seconds", "0"]
            code, out, err = runs.run_cli(words, clients)
        for stub in (sm, aas):
            assert not stub._queue, f"stubbed calls not made: {[q['operation_name'] for q in stub._queue]}\n{out}{err}"
    return runs.Run("autoscaled blue/green update, new instance type", params, recorder.calls, State(), code, out, err)
