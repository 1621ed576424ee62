"""The retraining function's records in S3: one decision per alarm event, the last started run (the cool-down's
reference, shared by every alarm family) and the data hash each started run trained on."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from monitoring.cloud.s3util import aws_call, get_json, put_json, split_s3_uri


class DecisionStore:
    """Decisions, the last started run and the started runs' data hashes, as JSON objects under one S3 prefix."""

    def __init__(self, s3, uri: str, kms_key_id: str = "") -> None:
        self.s3, self.kms_key_id = s3, kms_key_id
        self.bucket, prefix = split_s3_uri(uri, "decisions location")
        self.prefix = prefix.rstrip("/")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def decision_key(self, event: Mapping) -> str:
        when = event.get("time") or "unknown-time"
        day, _, clock = when.partition("T")
        return self._key(f"decisions/{day}/{clock[:8].replace(':', '')}-{event['id']}.json")

    def get(self, key: str) -> dict | None:
        return aws_call(f"Reading s3://{self.bucket}/{key}", get_json, s3=self.s3, bucket=self.bucket, key=key)

    def put(self, key: str, value: dict) -> None:
        aws_call(
            f"Writing s3://{self.bucket}/{key}",
            put_json,
            s3=self.s3,
            bucket=self.bucket,
            key=key,
            value=value,
            kms_key_id=self.kms_key_id,
        )

    def last_started(self) -> datetime | None:
        state = self.get(self._key("state.json"))
        return datetime.fromisoformat(state["last_started"]) if state and state.get("last_started") else None

    def record_start(self, execution_arn: str, data_uri: str, data_hash: str, at: datetime, event_id: str) -> None:
        record = {"execution_arn": execution_arn, "data_uri": data_uri, "data_hash": data_hash, "event_id": event_id}
        self.put(
            self._key(f"executions/{execution_arn.rsplit('/', 1)[-1]}.json"), {**record, "started": at.isoformat()}
        )
        self.put(self._key("state.json"), {**record, "last_started": at.isoformat()})

    def execution_hash(self, execution_arn: str) -> str | None:
        record = self.get(self._key(f"executions/{execution_arn.rsplit('/', 1)[-1]}.json"))
        return record.get("data_hash") if record else None
