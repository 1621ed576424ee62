"""The SageMaker Model Registry behind the registry interface (boto3).

Approval history is what the service keeps (status, ApprovalDescription, LastModifiedBy) plus the project's
own approvals log in S3: one JSON object per status change under
``s3://<bucket>/<prefix>/approvals/<group>/<version>/``, so who approved what, when and why survives.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from botocore.exceptions import BotoCoreError, ClientError

from pipelines.registry.model import (
    STATUSES,
    ApprovalEvent,
    ModelVersion,
    RegistryError,
    check_approval,
    version_from_request,
)


def _iso(value) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="microseconds")
    return str(value or "")


class SageMakerRegistry:
    """Model package groups and versions in SageMaker; approvals also logged to S3."""

    def __init__(self, sagemaker_client, s3_client, bucket: str, prefix: str = "mlops") -> None:
        self.sm, self.s3 = sagemaker_client, s3_client
        self.bucket, self.prefix = bucket, prefix.strip("/")

    def _call(self, what: str, func, **kwargs):
        try:
            return func(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise RegistryError(f"{what} failed: {exc}") from exc

    def _ensure_group(self, group: str) -> None:
        try:
            self.sm.describe_model_package_group(ModelPackageGroupName=group)
        except BotoCoreError as exc:  # no credentials, no endpoint: nothing to create a group with either
            raise RegistryError(f"DescribeModelPackageGroup {group} failed: {exc}") from exc
        except ClientError:
            self._call(
                f"CreateModelPackageGroup {group}",
                self.sm.create_model_package_group,
                ModelPackageGroupName=group,
                ModelPackageGroupDescription=f"Models of {group}",
            )

    def _require_group(self, group: str) -> None:
        try:
            self.sm.describe_model_package_group(ModelPackageGroupName=group)
        except BotoCoreError as exc:  # no credentials, no endpoint
            raise RegistryError(f"DescribeModelPackageGroup {group} failed: {exc}") from exc
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") in ("ValidationException", "ResourceNotFound"):
                where = getattr(getattr(self.sm, "meta", None), "region_name", None) or "its region"
                raise RegistryError(
                    f"Unknown model package group {group!r} in the SageMaker Model Registry ({where}): {exc}"
                ) from exc
            code, message = error.get("Code", "unknown"), error.get("Message", exc)
            raise RegistryError(f"DescribeModelPackageGroup {group} failed ({code}): {message}") from exc

    def _to_version(self, described: dict) -> ModelVersion:
        request = {
            "ModelPackageGroupName": described["ModelPackageGroupName"],
            "ModelApprovalStatus": described.get("ModelApprovalStatus", "PendingManualApproval"),
            "InferenceSpecification": described.get("InferenceSpecification", {}),
            "ModelMetrics": described.get("ModelMetrics", {}),
            "DriftCheckBaselines": described.get("DriftCheckBaselines", {}),
            "CustomerMetadataProperties": described.get("CustomerMetadataProperties", {}),
        }
        fields = version_from_request(request)
        return ModelVersion(
            group=fields.pop("group"),
            version=int(described["ModelPackageVersion"]),
            status=fields.pop("status"),
            created=_iso(described.get("CreationTime")),
            arn=described["ModelPackageArn"],
            approval_note=described.get("ApprovalDescription") or "",
            source=(described.get("CustomerMetadataProperties") or {}).get("source", ""),
            **fields,
        )

    def register(self, request: dict, source: str = "") -> ModelVersion:
        group = version_from_request(request)["group"]
        self._ensure_group(group)
        request = dict(request)
        if source:
            request["CustomerMetadataProperties"] = {**request.get("CustomerMetadataProperties", {}), "source": source}
        arn = self._call(f"CreateModelPackage in {group}", self.sm.create_model_package, **request)["ModelPackageArn"]
        return self._to_version(
            self._call("DescribeModelPackage", self.sm.describe_model_package, ModelPackageName=arn)
        )

    def _summaries(self, group: str, status: str | None) -> list[dict]:
        kwargs = {"ModelPackageGroupName": group, "SortBy": "CreationTime", "SortOrder": "Descending"}
        if status:
            kwargs["ModelApprovalStatus"] = status
        summaries, token = [], None
        while True:
            page = self._call(
                f"ListModelPackages {group}",
                self.sm.list_model_packages,
                **kwargs,
                **({"NextToken": token} if token else {}),
            )
            summaries.extend(page.get("ModelPackageSummaryList", []))
            token = page.get("NextToken")
            if not token:
                return summaries

    def list_versions(self, group: str | None = None, status: str | None = None) -> list[ModelVersion]:
        if status is not None and status not in STATUSES:
            raise RegistryError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        if group is not None:
            self._require_group(group)
            groups = [group]
        else:
            listed = self._call("ListModelPackageGroups", self.sm.list_model_package_groups, MaxResults=100)
            groups = sorted(g["ModelPackageGroupName"] for g in listed.get("ModelPackageGroupSummaryList", []))
        versions = []
        for name in groups:
            for summary in self._summaries(name, status):
                described = self._call(
                    "DescribeModelPackage", self.sm.describe_model_package, ModelPackageName=summary["ModelPackageArn"]
                )
                versions.append(self._to_version(described))
        return sorted(versions, key=lambda v: (v.group, -v.version))

    def get(self, group: str, version: int) -> ModelVersion:
        self._require_group(group)
        for summary in self._summaries(group, None):
            if int(summary.get("ModelPackageVersion", 0)) == version:
                return self._to_version(
                    self._call(
                        "DescribeModelPackage",
                        self.sm.describe_model_package,
                        ModelPackageName=summary["ModelPackageArn"],
                    )
                )
        raise RegistryError(f"Unknown version {group}/{version}")

    def _log_key(self, group: str, version: int) -> str:
        return f"{self.prefix}/approvals/{group}/{version}/"

    def set_status(self, group: str, version: int, status: str, by: str, note: str = "") -> ModelVersion:
        check_approval(status, by, note)
        current = self.get(group, version)
        self._call(
            f"UpdateModelPackage {current.arn}",
            self.sm.update_model_package,
            ModelPackageArn=current.arn,
            ModelApprovalStatus=status,
            ApprovalDescription=note or f"{status} by {by}",
        )
        at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        event = ApprovalEvent(group, version, current.status, status, by, at, note)
        key = f"{self._log_key(group, version)}{at}-{uuid.uuid4().hex[:8]}.json"
        self._call(
            f"PutObject s3://{self.bucket}/{key}",
            self.s3.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(event.__dict__).encode(),
        )
        return self.get(group, version)

    def history(self, group: str, version: int) -> list[ApprovalEvent]:
        self.get(group, version)
        listed = self._call(
            "ListObjectsV2", self.s3.list_objects_v2, Bucket=self.bucket, Prefix=self._log_key(group, version)
        )
        events = []
        for item in sorted(listed.get("Contents", []), key=lambda o: o["Key"]):
            body = self._call("GetObject", self.s3.get_object, Bucket=self.bucket, Key=item["Key"])["Body"].read()
            events.append(ApprovalEvent(**json.loads(body)))
        return events
