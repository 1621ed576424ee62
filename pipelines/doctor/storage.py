"""The artefact bucket (exists, in the region, default encryption, versioning) and the KMS key's grants to the role."""

from __future__ import annotations

import json

from pipelines.doctor.result import AWS_ERRORS, FAIL, PASS, CheckResult, error_code, unknown

BUCKET = "bucket"
ENCRYPTION = "bucket default encryption"
VERSIONING = "bucket versioning"
KEY_POLICY = "KMS key policy"
NO_BUCKET_FIX = "run mlops bootstrap --backend sagemaker, or set sagemaker.bucket in mlops.yaml"
KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")


def check_bucket(s3, bucket: str | None, region: str) -> CheckResult:
    """The bucket exists, the caller can reach it, and it is in the project's region."""
    if not bucket:
        return CheckResult(BUCKET, FAIL, "no bucket configured (sagemaker.bucket)", NO_BUCKET_FIX)
    try:
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except AWS_ERRORS as exc:
        if error_code(exc) in ("NoSuchBucket", "404"):
            return CheckResult(BUCKET, FAIL, f"bucket {bucket} does not exist", NO_BUCKET_FIX)
        return unknown(BUCKET, f"s3 get-bucket-location {bucket}", exc, "grant the caller s3:GetBucketLocation")
    actual = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
    if actual != region:
        fix = f"use a bucket in {region} (jobs read and write it), or set project.region: {actual}"
        return CheckResult(BUCKET, FAIL, f"bucket {bucket} is in {actual}, the project in {region}", fix)
    return CheckResult(BUCKET, PASS, f"bucket {bucket} in {region}")


def check_encryption(s3, bucket: str, key_arn: str | None, kms=None) -> CheckResult:
    """Default encryption is on; with a configured key, SSE-KMS with that key (``kms`` resolves an alias)."""
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except AWS_ERRORS as exc:
        if error_code(exc) == "ServerSideEncryptionConfigurationNotFoundError":
            rules = []
        else:
            return unknown(ENCRYPTION, f"s3 get-bucket-encryption {bucket}", exc, "grant s3:GetEncryptionConfiguration")
    default = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
    algorithm, key = default.get("SSEAlgorithm"), default.get("KMSMasterKeyID")
    put = f"aws s3api put-bucket-encryption --bucket {bucket}"
    if algorithm is None:
        return CheckResult(ENCRYPTION, FAIL, f"{bucket} has no default encryption", f"{put} (SSE-KMS or SSE-S3)")
    if key_arn and (algorithm != "aws:kms" or not _same_key(key, key_arn, kms)):
        found = f"{algorithm} {key or ''}".strip()
        return CheckResult(
            ENCRYPTION, FAIL, f"{bucket} encrypts with {found}, not {key_arn}", f"{put}: SSE-KMS {key_arn}"
        )
    return CheckResult(ENCRYPTION, PASS, f"{bucket}: {algorithm}" + (f" with {key}" if key else ""))


def _same_key(found: str | None, key_arn: str, kms) -> bool:
    """The bucket's key (an id, alias or ARN) is the configured key's ARN."""
    if not found:
        return False
    if found == key_arn or key_arn.endswith(f"/{found}"):
        return True
    try:
        return kms is not None and kms.describe_key(KeyId=found)["KeyMetadata"]["Arn"] == key_arn
    except AWS_ERRORS:
        return False


def check_versioning(s3, bucket: str) -> CheckResult:
    """Versioning is on (the registry's artefacts and baselines must survive an overwrite)."""
    try:
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except AWS_ERRORS as exc:
        return unknown(VERSIONING, f"s3 get-bucket-versioning {bucket}", exc, "grant s3:GetBucketVersioning")
    if status != "Enabled":
        fix = f"aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled"
        return CheckResult(VERSIONING, FAIL, f"{bucket} versioning is {status or 'off'}", fix)
    return CheckResult(VERSIONING, PASS, f"{bucket} versioning is on")


def resolve_key(kms, key_id: str) -> tuple[str | None, CheckResult | None]:
    """The key's ARN, or the row saying why it cannot be used (missing, disabled, unreadable)."""
    try:
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    except AWS_ERRORS as exc:
        if error_code(exc) == "NotFoundException":
            fix = "run mlops bootstrap, or set sagemaker.kms_key_id to an existing key"
            return None, CheckResult(KEY_POLICY, FAIL, f"key {key_id} does not exist", fix)
        return None, unknown(KEY_POLICY, f"kms describe-key {key_id}", exc, "grant the caller kms:DescribeKey")
    if meta.get("KeyState") != "Enabled":
        fix = f"aws kms enable-key --key-id {meta['KeyId']} (or cancel its deletion)"
        return meta["Arn"], CheckResult(KEY_POLICY, FAIL, f"key {meta['Arn']} is {meta.get('KeyState')}", fix)
    return meta["Arn"], None


def check_key_policy(kms, key_arn: str, role_arn: str | None, account: str) -> CheckResult:
    """The key policy lets the role use the key, directly or by delegating to the account's IAM policies."""
    try:
        policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    except AWS_ERRORS as exc:
        return unknown(KEY_POLICY, f"kms get-key-policy {key_arn}", exc, "grant the caller kms:GetKeyPolicy")
    grantees = {role_arn, f"arn:aws:iam::{account}:root", account}
    for statement in _listed(policy.get("Statement", [])):
        principal = statement.get("Principal", {})
        aws = _listed(principal.get("AWS", [])) if isinstance(principal, dict) else [principal]
        actions = _listed(statement.get("Action", []))
        if statement.get("Effect") == "Allow" and grantees & set(aws) and all(_grants(actions, a) for a in KEY_ACTIONS):
            how = "the role" if role_arn in aws else "the account's IAM policies (see the permissions row)"
            return CheckResult(KEY_POLICY, PASS, f"key policy grants {', '.join(KEY_ACTIONS)} to {how}")
    fix = f"add to the key policy: Allow {', '.join(KEY_ACTIONS)} to {role_arn}"
    return CheckResult(KEY_POLICY, FAIL, f"key policy grants {role_arn} neither directly nor via the account", fix)


def _grants(actions: list, action: str) -> bool:
    return any(a in ("*", "kms:*", action) or (a.endswith("*") and action.startswith(a[:-1])) for a in actions)


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]
