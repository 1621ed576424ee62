"""Endpoint autoscaling of the SageMaker deploy (serving.autoscaling): off by default (no Application Auto Scaling
call), registered with its target-tracking policy on a first deploy (moto), kept across a blue/green update with
the live desired count carried into the new endpoint config and retained by UpdateEndpoint, deregistered before an
update that changes the instance type and registered again after (botocore's Stubber), and bad configuration."""

from __future__ import annotations

from dataclasses import replace

import boto3
import pytest
from botocore.stub import Stubber

from pipelines.config_sections import AutoscalingConfig, parse_serving
from pipelines.config_values import ConfigError
from pipelines.deploy.local import DeployError
from pipelines.deploy.sagemaker import Clients, SageMakerDeployer
from pipelines.deploy.sagemaker_scaling import DIMENSION, METRIC, resource_id
from pipelines.registry.sagemaker import SageMakerRegistry
from tests.pipelines.deploy.test_sagemaker import (  # noqa: F401  (fixtures)
    ARN2,
    BUCKET,
    NO_WAIT,
    aws,
    config,
    package_request,
    stubbed_clients,
)

RESOURCE = resource_id("abalone-endpoint", "AllTraffic")
KEY = {"ServiceNamespace": "sagemaker", "ResourceId": RESOURCE, "ScalableDimension": DIMENSION}
POLICY = "abalone-endpoint-AllTraffic-invocations-per-instance"


def scaled(base, **fields):
    scaling = AutoscalingConfig(**({"enabled": True, "max_instances": 4} | fields))
    return replace(base, serving=replace(base.serving, autoscaling=scaling))


def policy(target: float = 70.0, scale_in: int = 300, scale_out: int = 60) -> dict:
    return {
        "TargetValue": target,
        "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
        "ScaleInCooldown": scale_in,
        "ScaleOutCooldown": scale_out,
    }


def test_disabled_by_default_calls_no_autoscaling(aws, config):  # noqa: F811
    assert not config.serving.autoscaling.enabled
    SageMakerRegistry(aws.sagemaker, aws.s3, BUCKET, "abalone-pipeline").register(package_request("Approved"))
    clients = replace(aws, autoscaling=None)  # any Application Auto Scaling call would fail on None
    assert SageMakerDeployer(config, clients, wait=NO_WAIT).deploy().action == "deployed"


def test_first_deploy_registers_the_variant_and_a_later_deploy_updates_its_policy(aws, config):  # noqa: F811
    SageMakerRegistry(aws.sagemaker, aws.s3, BUCKET, "abalone-pipeline").register(package_request("Approved"))
    progress: list[str] = []
    on = scaled(config, min_instances=2, target_invocations_per_instance=50.0, scale_in_cooldown_seconds=600)
    SageMakerDeployer(on, aws, wait=NO_WAIT, progress=progress.append).deploy()
    endpoint = aws.sagemaker.describe_endpoint(EndpointName="abalone-endpoint")
    endpoint_config = aws.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert endpoint_config["ProductionVariants"][0]["InitialInstanceCount"] == 2  # instance_count 1 raised to min
    (target,) = aws.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (RESOURCE, 2, 4)
    (found,) = aws.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert found["PolicyName"] == POLICY and found["PolicyType"] == "TargetTrackingScaling"
    assert found["TargetTrackingScalingPolicyConfiguration"] == policy(50.0, 600, 60)
    assert f"Autoscaling {RESOURCE}: 2 to 4 instances, target 50 invocations per instance" in progress[-2]
    wider = scaled(config, min_instances=2, max_instances=8, target_invocations_per_instance=80.0)
    again = SageMakerDeployer(wider, aws, wait=NO_WAIT).deploy()  # same version: only the scaling changes
    assert again.action == "unchanged"
    (target,) = aws.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["MaxCapacity"] == 8
    (found,) = aws.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert found["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 80.0


def stub_registration(stub: Stubber, registered: bool, deregister: bool = False) -> None:
    stub.add_response(
        "describe_scalable_targets",
        {"ScalableTargets": [target()] if registered else []},
        {"ServiceNamespace": "sagemaker", "ResourceIds": [RESOURCE], "ScalableDimension": DIMENSION},
    )
    if deregister:
        stub.add_response("deregister_scalable_target", {}, KEY)
    stub.add_response("register_scalable_target", {}, {**KEY, "MinCapacity": 1, "MaxCapacity": 4})
    stub.add_response(
        "put_scaling_policy",
        {"PolicyARN": "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:1:resource/p"},
        {**KEY, "PolicyName": POLICY, "PolicyType": "TargetTrackingScaling", **tracking()},
    )


def target() -> dict:
    return {**KEY, "MinCapacity": 1, "MaxCapacity": 4, "RoleARN": "arn:aws:iam::1:role/r", "CreationTime": 0}


def tracking() -> dict:
    return {"TargetTrackingScalingPolicyConfiguration": policy()}


def deploy_stubbed(settings, live: tuple, count: int, retain: bool, registered: bool, deregister: bool = False):
    clients, stubs = stubbed_clients(settings, rolled_back=False, count=count, live=live, retain=retain)
    scaling = Stubber(clients.autoscaling)
    stub_registration(scaling, registered, deregister)
    scaling.activate()
    progress: list[str] = []
    result = SageMakerDeployer(settings, clients, wait=NO_WAIT, progress=progress.append).deploy(arn=ARN2)
    for stub in (*stubs, scaling):
        stub.assert_no_pending_responses()
    return result, progress


def test_blue_green_update_keeps_the_registration_and_the_current_count(config):  # noqa: F811
    # 3 instances serve now (scaled out): the new config starts with 3, UpdateEndpoint retains the desired count
    result, progress = deploy_stubbed(scaled(config), (3, "ml.m5.large"), 3, retain=True, registered=True)
    assert result.action == "deployed"
    assert not any(line.startswith("Deregistered") for line in progress)


def test_update_clamps_the_carried_count_into_the_bounds(config):  # noqa: F811
    deploy_stubbed(scaled(config), (9, "ml.m5.large"), 4, retain=True, registered=True)


def test_update_that_changes_the_instance_type_deregisters_first(config):  # noqa: F811
    _, progress = deploy_stubbed(scaled(config), (2, "ml.c5.large"), 2, retain=False, registered=True, deregister=True)
    assert any("instance type changes from ml.c5.large to ml.m5.large" in line for line in progress)


def test_update_of_an_endpoint_not_yet_autoscaled_registers_it_after(config):  # noqa: F811
    deploy_stubbed(scaled(config), (1, "ml.m5.large"), 1, retain=False, registered=False)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"enabled": True}, "serving.autoscaling.max_instances: must be a number of instances when autoscaling"),
        ({"min_instances": 0, "max_instances": 2}, "serving.autoscaling.min_instances: must be an integer >= 1"),
        (
            {"min_instances": 5, "max_instances": 2},
            "max_instances: must be at least min_instances (5, from autoscaling.min_instances), got 2",
        ),
        ({"max_instances": 2, "_count": 3}, "(3, from serving.instance_count), got 2"),
        ({"target_invocations_per_instance": 0}, "serving.autoscaling.target_invocations_per_instance"),
        ({"scale_in_cooldown_seconds": -1}, "serving.autoscaling.scale_in_cooldown_seconds"),
        ({"max_instance": 2}, "serving.autoscaling: unknown key(s) max_instance"),
    ],
)
def test_bad_autoscaling_configuration_names_the_field(raw, message):
    count = raw.pop("_count", 1)
    with pytest.raises(ConfigError) as caught:
        parse_serving({"serving": {"instance_count": count, "autoscaling": raw}}, "mlops.yaml: ")
    assert message in str(caught.value)


def roll_out_clients(alarms_found: bool, update_fails: bool):
    """Stubbed clients for one UpdateEndpoint of a registered variant whose instance type changes."""
    session = boto3.Session(region_name="us-east-1")
    sm, cw, scaling = (
        session.client("sagemaker"),
        session.client("cloudwatch"),
        session.client("application-autoscaling"),
    )
    stubs = Stubber(sm), Stubber(cw), Stubber(scaling)
    alarms = ["abalone-endpoint-invocation-5xx-rate", "abalone-endpoint-invocation-4xx-rate"]
    found = [{"AlarmName": a} for a in alarms] if alarms_found else []
    stubs[1].add_response("describe_alarms", {"MetricAlarms": found, "CompositeAlarms": []}, {"AlarmNames": alarms})
    if alarms_found:
        stubs[2].add_response("describe_scalable_targets", {"ScalableTargets": [target()]}, None)
        stubs[2].add_response("deregister_scalable_target", {}, KEY)
        if update_fails:
            stubs[0].add_client_error("update_endpoint", "ResourceLimitExceeded", "no ml.m5.large capacity", 400)
            stubs[2].add_response("register_scalable_target", {}, {**KEY, "MinCapacity": 1, "MaxCapacity": 4})
            stubs[2].add_response("put_scaling_policy", {"PolicyARN": "arn:p"}, None)
    for stub in stubs:
        stub.activate()
    return Clients(sm, None, None, cw, autoscaling=scaling), alarms, stubs


@pytest.mark.parametrize(("alarms_found", "message"), [(False, "not found in CloudWatch"), (True, "UpdateEndpoint")])
def test_a_refused_update_leaves_the_variant_registered(config, alarms_found, message):  # noqa: F811
    """Missing alarms: refused before the registration is touched; UpdateEndpoint refused after the deregistration
    (a new instance type): the variant, still serving on the old fleet, is registered again."""
    clients, alarms, stubs = roll_out_clients(alarms_found, update_fails=True)
    deployer = SageMakerDeployer(scaled(config), clients, rollback_alarms=alarms, wait=NO_WAIT)
    live = {"ProductionVariants": [{"VariantName": "AllTraffic", "InstanceType": "ml.c5.xlarge"}]}
    with pytest.raises(DeployError, match=message):
        deployer._roll_out(None, "new-config", live)  # type: ignore[arg-type]  # chosen is for CreateEndpoint's tags
    for stub in stubs:
        stub.assert_no_pending_responses()
