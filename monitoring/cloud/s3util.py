"""S3 locations for the Lambda functions (standard library and botocore): URIs, listing, small JSON objects,
and AWS calls whose errors say what was being done."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any


def split_s3_uri(uri: str, what: str = "S3 URI") -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); ValueError naming ``what`` otherwise."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"{what} must be an s3:// URI, got {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"{what} has no bucket: {uri!r}")
    return bucket, key


def list_keys(s3, bucket: str, prefix: str, limit: int | None = None) -> Iterator[tuple[str, int]]:
    """(key, size) of every object under ``prefix``, in key order (ListObjectsV2 pages)."""
    token = None
    seen = 0
    while True:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if token:
            kwargs["ContinuationToken"] = token
        if limit is not None:
            kwargs["MaxKeys"] = max(1, min(1000, limit - seen))
        page = s3.list_objects_v2(**kwargs)
        for item in page.get("Contents", []):
            if item["Key"].endswith("/"):
                continue  # "folder" placeholder objects hold no data
            yield item["Key"], int(item.get("Size", 0))
            seen += 1
            if limit is not None and seen >= limit:
                return
        if not page.get("IsTruncated"):
            return
        token = page.get("NextContinuationToken")


def encryption_args(kms_key_id: str | None) -> dict[str, str]:
    """PutObject encryption: SSE-KMS with the project's key when there is one, else SSE-S3."""
    if kms_key_id:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
    return {"ServerSideEncryption": "AES256"}


def get_json(s3, bucket: str, key: str) -> dict | None:
    """A JSON object from S3, or None when the key does not exist."""
    from botocore.exceptions import ClientError

    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    return json.loads(body)


def put_json(s3, bucket: str, key: str, value: dict, kms_key_id: str | None = None) -> None:
    """Write a JSON object (indented, sorted keys), encrypted at rest."""
    body = json.dumps(value, indent=2, sort_keys=True).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", **encryption_args(kms_key_id))


def aws_call(what: str, func: Callable, *args, **kwargs):
    """``func(*args, **kwargs)``; a botocore error becomes a RuntimeError saying what failed (the original chained)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return func(*args, **kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise RuntimeError(f"{what} failed: {exc}") from exc
