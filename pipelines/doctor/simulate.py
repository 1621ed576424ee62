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


def pipeline_needs(
    bucket: str | None, region: str, account: str, image_account: str, key_arn: str | None, vpc: bool
) -> list[Need]:
    """What the pipeline's jobs do with the execution role: the bucket, ECR pull, logs, the key, VPC interfaces."""
    needs = (
        [
            Need("bucket objects", ("s3:GetObject", "s3:PutObject"), (f"arn:aws:s3:::{bucket}/*",)),
            Need("bucket listing", ("s3:ListBucket",), (f"arn:aws:s3:::{bucket}",)),
        ]
        if bucket
        else []
    )
    needs += [
        Need("ECR login", ("ecr:GetAuthorizationToken",)),
        Need(
            "ECR pull",
            ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"),
            (f"arn:aws:ecr:{region}:{image_account}:repository/sagemaker-xgboost",),
        ),
        Need(
            "job logs",
            ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
            (f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/*",),
        ),
    ]
    if key_arn:
        needs.append(Need("KMS key", ("kms:Decrypt", "kms:GenerateDataKey"), (key_arn,)))
    if vpc:
        needs.append(
            Need(
                "VPC network interfaces",
                (
                    "ec2:CreateNetworkInterface",
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeDhcpOptions",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                ),
            )
        )
    return needs
