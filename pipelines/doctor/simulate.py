"""iam:SimulatePrincipalPolicy over groups of (actions, resources): which of them the principal is not allowed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Need:
    """Actions a principal must be allowed on resources (with optional condition context keys)."""

    what: str
    actions: tuple[str, ...]
    resources: tuple[str, ...] = ("*",)
    context: tuple[tuple[str, str], ...] = field(default=())


def denied(iam, principal_arn: str, needs: Sequence[Need]) -> list[str]:
    """``action on resource`` for every needed pair the principal's policies do not allow (raises the AWS error)."""
    missing: list[str] = []
    for need in needs:
        kwargs: dict = {"PolicySourceArn": principal_arn, "ActionNames": list(need.actions)}
        if need.resources != ("*",):
            kwargs["ResourceArns"] = list(need.resources)
        if need.context:
            kwargs["ContextEntries"] = [
                {"ContextKeyName": key, "ContextKeyValues": [value], "ContextKeyType": "string"}
                for key, value in need.context
            ]
        for page in iam.get_paginator("simulate_principal_policy").paginate(**kwargs):
            for result in page["EvaluationResults"]:
                missing.extend(_not_allowed(result, need))
    return missing


def _not_allowed(result: dict, need: Need) -> list[str]:
    action = result["EvalActionName"]
    per_resource = result.get("ResourceSpecificResults") or []
    if per_resource:
        return [
            f"{action} on {r['EvalResourceName']} ({need.what})"
            for r in per_resource
            if r["EvalResourceDecision"] != "allowed"
        ]
    if result["EvalDecision"] != "allowed":
        return [f"{action} on {result.get('EvalResourceName', '*')} ({need.what})"]
    return []


@dataclass(frozen=True)
class Target:
    """Where the pipeline's jobs run: account, region, partition, bucket, image account, key ARN and subnets."""

    account: str
    region: str
    bucket: str | None
    image_account: str
    key_arn: str | None = None
    subnets: tuple[str, ...] = ()
    partition: str = "aws"


def pipeline_needs(t: Target) -> list[Need]:
    """What the pipeline's jobs do with the execution role: the bucket, ECR pull, logs, metrics, the key, VPC
    interfaces; conditions the role's policies may set (kms:ViaService, cloudwatch:namespace, ec2:SubnetID) are
    given as the context the real calls carry."""
    arn = f"arn:{t.partition}"
    needs = (
        [
            Need("bucket objects", ("s3:GetObject", "s3:PutObject"), (f"{arn}:s3:::{t.bucket}/*",)),
            Need("bucket listing", ("s3:ListBucket",), (f"{arn}:s3:::{t.bucket}",)),
        ]
        if t.bucket
        else []
    )
    needs += [
        Need("ECR login", ("ecr:GetAuthorizationToken",)),
        Need(
            "ECR pull",
            ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"),
            (f"{arn}:ecr:{t.region}:{t.image_account}:repository/sagemaker-xgboost",),
        ),
        Need(
            "job logs",
            ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
            (f"{arn}:logs:{t.region}:{t.account}:log-group:/aws/sagemaker/*",),
        ),
        Need("monitoring metrics", ("cloudwatch:PutMetricData",), context=((NAMESPACE, DATA_METRICS),)),
    ]
    if t.key_arn:
        via = (("kms:ViaService", f"s3.{t.region}.amazonaws.com"),)
        needs.append(Need("KMS key via S3", ("kms:Decrypt", "kms:GenerateDataKey"), (t.key_arn,), via))
    if t.subnets:
        needs.append(Need("VPC description", VPC_DESCRIBE))
        needs += [
            Need(
                f"network interfaces in {subnet}",
                ("ec2:CreateNetworkInterface",),
                (f"{arn}:ec2:{t.region}:{t.account}:subnet/{subnet}",),
                (("ec2:SubnetID", subnet),),
            )
            for subnet in t.subnets
        ]
    return needs


NAMESPACE, DATA_METRICS = "cloudwatch:namespace", "aws/sagemaker/Endpoints/data-metrics"
VPC_DESCRIBE = (
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
)
