"""Stubbed answers for the calls moto does not implement (iam simulate, Service Quotas) and a config to check."""

from __future__ import annotations

import boto3
from botocore.stub import ANY, Stubber

from pipelines.config import Config, SageMakerConfig

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/abalone-execution"
REGION = "us-east-1"


def config(**sagemaker) -> Config:
    """The default configuration with a role and a bucket (and any other sagemaker fields given)."""
    fields = {"role_arn": ROLE_ARN, "bucket": "abalone-artefacts", **sagemaker}
    return Config(sagemaker=SageMakerConfig(**fields))


def stubbed(service: str) -> tuple[object, Stubber]:
    """An activated Stubber on a fresh client (no call reaches AWS)."""
    client = boto3.client(service, region_name=REGION)
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def simulation(actions, decision: str = "allowed", resource: str = "*") -> dict:
    """A SimulatePrincipalPolicy answer with one decision for every action."""
    results = [{"EvalActionName": a, "EvalResourceName": resource, "EvalDecision": decision} for a in actions]
    return {"EvaluationResults": results, "IsTruncated": False}


def add_simulations(stubber: Stubber, needs, deny: str | None = None) -> None:
    """One stubbed simulation per need, every action allowed except ``deny``."""
    for need in needs:
        results = simulation(need.actions)
        for result in results["EvaluationResults"]:
            if result["EvalActionName"] == deny:
                result["EvalDecision"] = "implicitDeny"
        stubber.add_response(
            "simulate_principal_policy",
            results,
            {
                "PolicySourceArn": ANY,
                "ActionNames": ANY,
                **({"ResourceArns": ANY} if need.resources != ("*",) else {}),
                **({"ContextEntries": ANY} if need.context else {}),
            },
        )


def quota(name: str, value: float, code: str = "L-1") -> dict:
    return {"ServiceCode": "sagemaker", "QuotaName": name, "QuotaCode": code, "Value": value}


def add_quotas(stubber: Stubber, applied: list[dict], defaults: list[dict] | None = None) -> None:
    """The applied and default SageMaker quota listings."""
    stubber.add_response("list_service_quotas", {"Quotas": applied}, {"ServiceCode": "sagemaker"})
    stubber.add_response("list_aws_default_service_quotas", {"Quotas": defaults or []}, {"ServiceCode": "sagemaker"})


def default_quotas(value: float = 2) -> list[dict]:
    """Quotas for the default config's instance types: processing, training (ml.m5.xlarge), endpoint (ml.m5.large)."""
    return [
        quota("ml.m5.xlarge for processing job usage", value, "L-P"),
        quota("ml.m5.xlarge for training job usage", value, "L-T"),
        quota("ml.m5.large for endpoint usage", value, "L-E"),
    ]
