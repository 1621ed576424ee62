"""Lambda target of the composite alarms' state changes: apply the retraining rule and maybe start a run.

EventBridge delivers "CloudWatch Alarm State Change" events (state ALARM) of the composite drift alarm and of the
composite model-quality alarm (``MODEL_QUALITY_ALARM_NAME``): two alarm families, one decision path, so one cool-down
and one decision log hold across both; records, alerts and the run's description name the family. For each event
the function hashes the retraining data, finds the training data hash of the serving model version, applies
``retrain_rules.decide`` and, when it says so, calls StartPipelineExecution with ``InputDataUrl`` = the retraining
location. The serving version is the one the live pointer names (``LIVE_POINTER_URI``, written by every SageMaker
deploy and read with ``check_settings.read_pointer``, as the check function does); the stack's
``SERVING_MODEL_PACKAGE_ARN``, which a deploy does not update, is only the fallback while no pointer exists yet. A
pointer that cannot be read (denied) or is malformed fails the invocation like any other failed call: Lambda retries
it, then the event goes to the dead-letter queue, whose alarm alerts. Every decision is kept in S3 with its reason
(and where the serving version came from):

- ``<decisions>/decisions/yyyy-mm-dd/<HHMMSS>-<event id>.json``: one per event; a second delivery of the same event
  finds it and returns it without acting again (the function runs with reserved concurrency 1, so deliveries are
  handled one at a time);
- ``<decisions>/state.json``: the last started run (the cool-down's reference);
- ``<decisions>/executions/<execution id>.json``: the data hash each started run trained on, which is how a later
  decision knows the serving version's training data.

StartPipelineExecution gets a client request token derived from the event id, so a retry after a crash between
starting and recording starts nothing new. "No new data" and "no data" are alerted on the SNS topic, as is a start.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from monitoring.cloud.check_settings import read_pointer
from monitoring.cloud.datahash import is_content_addressed, s3_content_hash
from monitoring.cloud.retrain_rules import NO_DATA, NO_NEW_DATA, STARTED, RetrainDecision, decide
from monitoring.cloud.retrain_store import DecisionStore
from monitoring.cloud.s3util import aws_call, split_s3_uri

log = logging.getLogger(__name__)
ALERTED = (STARTED, NO_NEW_DATA, NO_DATA)


@dataclass(frozen=True)
class RetrainSettings:
    """The Lambda's environment, set by the stack's parameters."""

    pipeline_name: str
    enabled: bool
    data_uri: str
    cooldown_hours: float
    decisions_uri: str
    topic_arn: str
    endpoint_name: str
    serving_model_package_arn: str = ""  # the stack's value: only the fallback while no live pointer exists
    kms_key_id: str = ""
    live_pointer_uri: str = ""  # where the deploy writes the live version (preferred when present)
    model_quality_alarm_name: str = ""  # the composite model-quality alarm; any other alarm is the drift family

    def alarm_family(self, alarm_name: str) -> str:
        """``model quality`` for the model-quality alarm, else ``drift``."""
        return "model quality" if alarm_name and alarm_name == self.model_quality_alarm_name else "drift"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RetrainSettings:
        """Read and check the environment; ValueError naming the variable and what it must be."""

        def need(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ValueError(f"environment variable {name} is not set (it comes from the monitoring stack)")
            return value

        enabled = env.get("RETRAIN_ENABLED", "").strip().lower()
        if enabled not in ("true", "false"):
            raise ValueError(f"environment variable RETRAIN_ENABLED must be true or false, got {enabled!r}")
        try:
            cooldown = float(need("COOLDOWN_HOURS"))
        except ValueError as exc:
            raise ValueError(
                f"environment variable COOLDOWN_HOURS must be a number, got {env.get('COOLDOWN_HOURS')!r}"
            ) from exc
        settings = cls(
            pipeline_name=need("PIPELINE_NAME"),
            enabled=enabled == "true",
            data_uri=need("RETRAIN_DATA_URI"),
            cooldown_hours=cooldown,
            decisions_uri=need("DECISIONS_S3_URI").rstrip("/"),
            topic_arn=need("ALERTS_TOPIC_ARN"),
            endpoint_name=need("ENDPOINT_NAME"),
            serving_model_package_arn=env.get("SERVING_MODEL_PACKAGE_ARN", "").strip(),
            kms_key_id=env.get("KMS_KEY_ID", "").strip(),
            live_pointer_uri=env.get("LIVE_POINTER_URI", "").strip(),
            model_quality_alarm_name=env.get("MODEL_QUALITY_ALARM_NAME", "").strip(),
        )
        split_s3_uri(settings.data_uri, "RETRAIN_DATA_URI")
        split_s3_uri(settings.decisions_uri, "DECISIONS_S3_URI")
        if settings.live_pointer_uri:
            split_s3_uri(settings.live_pointer_uri, "LIVE_POINTER_URI")
        return settings


def serving_version(settings: RetrainSettings, s3) -> tuple[str, str]:
    """(model package ARN of the version live on the endpoint, or ""; where it came from).

    The live pointer when there is one; else the stack's SERVING_MODEL_PACKAGE_ARN. A denied read raises RuntimeError
    naming the call (ListObjectsV2 / GetObject) and the error code; a malformed pointer, or one written for another
    endpoint, raises ValueError naming the pointer and the field: never a silent fallback."""
    uri = settings.live_pointer_uri
    if uri:
        pointer = read_pointer(s3, uri)
        if pointer is not None:
            if pointer.endpoint_name != settings.endpoint_name:
                expected = settings.endpoint_name
                raise ValueError(
                    f"live pointer {uri}: endpoint_name is {pointer.endpoint_name!r}, expected {expected!r}"
                )
            return pointer.model_package_arn, f"the live pointer {uri} ({pointer.reference}, {pointer.updated_at})"
        missing = f"no live pointer at {uri} yet"
    else:
        missing = "LIVE_POINTER_URI is not set"
    if settings.serving_model_package_arn:
        return settings.serving_model_package_arn, f"the monitoring stack's SERVING_MODEL_PACKAGE_ARN ({missing})"
    return "", f"{missing}, and the monitoring stack records no serving version"


def serving_training_hash(arn: str, sagemaker, s3, store: DecisionStore) -> tuple[str | None, str]:
    """(content hash of the data the serving version ``arn`` was trained on, or None; how it was found or why not)."""
    described = aws_call(f"DescribeModelPackage {arn}", sagemaker.describe_model_package, ModelPackageName=arn)
    execution = (described.get("MetadataProperties") or {}).get("GeneratedBy") or (
        described.get("CustomerMetadataProperties") or {}
    ).get("source", "")
    if ":pipeline/" not in execution or "/execution/" not in execution:
        return None, f"{arn} names no pipeline execution that trained it"
    recorded = store.execution_hash(execution)
    if recorded:
        return recorded, f"recorded when retraining run {execution} started"
    parameters, token = {}, None
    while True:
        page = aws_call(
            f"ListPipelineParametersForExecution {execution}",
            sagemaker.list_pipeline_parameters_for_execution,
            PipelineExecutionArn=execution,
            **({"NextToken": token} if token else {}),
        )
        parameters.update({p["Name"]: p["Value"] for p in page.get("PipelineParameters", [])})
        token = page.get("NextToken")
        if not token:
            break
    url = parameters.get("InputDataUrl", "")
    if not url.startswith("s3://"):
        return None, f"{execution} has no s3:// InputDataUrl parameter"
    if not is_content_addressed(url):
        return None, f"{url} (the training data of {execution}) may have changed since, and no hash was recorded"
    hashed = s3_content_hash(s3, url)
    if hashed is None:
        return None, f"the staged training data {url} is gone"
    return hashed[0], f"hash of the staged training data {url}"


def _alert(
    sns, settings: RetrainSettings, decision: RetrainDecision, execution_arn: str, serving: str, family: str
) -> str:
    """Publish the decision; returns an error text instead of raising (an alert never blocks the decision)."""
    from botocore.exceptions import BotoCoreError, ClientError

    subjects = {
        STARTED: f"retraining started ({family})",
        NO_NEW_DATA: f"{family}, but no new data to retrain on",
        NO_DATA: f"{family}, but no retraining data",
    }
    lines = [
        f"Endpoint {settings.endpoint_name}: {decision.reason}.",
        f"Retraining data: {settings.data_uri}",
        f"Pipeline: {settings.pipeline_name}",
    ]
    if serving:
        lines.append(f"Serving version: {serving}")
    if execution_arn:
        lines.append(f"Execution: {execution_arn}")
    try:
        sns.publish(
            TopicArn=settings.topic_arn,
            Subject=f"[{settings.endpoint_name}] {subjects[decision.action]}"[:100],
            Message="\n".join(lines),
        )
    except (ClientError, BotoCoreError) as exc:
        log.error("could not publish the retraining alert to %s: %s", settings.topic_arn, exc)
        return str(exc)
    return ""


def _for_family(decision: RetrainDecision, family: str) -> RetrainDecision:
    """The shared rule's decision, its reason naming the alarm family that fired (as the local loop words it)."""
    return replace(
        decision, reason=decision.reason.replace("drift alarm with new data", f"{family} alarm with new data")
    )


def _start_run(settings: RetrainSettings, sagemaker, description: str, event_id: str, now: datetime) -> str:
    """StartPipelineExecution on the retraining data, with a token of the event: a retried event starts no new run."""
    execution_arn = aws_call(
        f"StartPipelineExecution {settings.pipeline_name}",
        sagemaker.start_pipeline_execution,
        PipelineName=settings.pipeline_name,
        PipelineParameters=[{"Name": "InputDataUrl", "Value": settings.data_uri}],
        PipelineExecutionDisplayName=f"retrain-{now:%Y%m%d-%H%M%S}",
        PipelineExecutionDescription=description[:3072],
        ClientRequestToken=hashlib.sha256(f"retrain:{event_id}".encode()).hexdigest(),
    )["PipelineExecutionArn"]
    log.info("started retraining %s on %s", execution_arn, settings.data_uri)
    return execution_arn


def handle_alarm(settings: RetrainSettings, event: Mapping, sagemaker, s3, sns, now: datetime) -> dict:
    """Decide on one alarm state-change event (idempotent per event id); returns the decision record."""
    if not event.get("id"):
        raise ValueError("the event has no id: expected an EventBridge 'CloudWatch Alarm State Change' event")
    detail = event.get("detail") or {}
    state = (detail.get("state") or {}).get("value")
    if state != "ALARM":
        return {"action": "ignored", "reason": f"alarm state is {state!r}, not ALARM", "event_id": event["id"]}
    store = DecisionStore(s3, settings.decisions_uri, settings.kms_key_id)
    key = store.decision_key(event)
    previous = store.get(key)
    if previous is not None:
        log.info("event %s was already decided (%s): duplicate delivery", event["id"], previous.get("action"))
        return {**previous, "duplicate": True}
    hashed = aws_call(f"Hashing {settings.data_uri}", s3_content_hash, s3=s3, uri=settings.data_uri)
    data_hash = hashed[0] if hashed else None
    last_started = store.last_started()
    rule = (now, settings.enabled, timedelta(hours=settings.cooldown_hours), last_started, data_hash)
    family = settings.alarm_family(detail.get("alarmName", ""))
    decision = _for_family(decide(*rule, None, settings.data_uri), family)
    trained_on, trained_note, serving_arn, serving_source = None, "", "", ""
    if decision.action == STARTED:  # only now does the serving version (and its training data) matter
        serving_arn, serving_source = serving_version(settings, s3)
        if serving_arn:
            trained_on, trained_note = serving_training_hash(serving_arn, sagemaker, s3, store)
        else:
            trained_note = serving_source
        decision = _for_family(decide(*rule, trained_on, settings.data_uri), family)
    execution_arn = ""
    if decision.action == STARTED:
        description = f"{family.capitalize()} alarm {detail.get('alarmName', '')}: {decision.reason}"
        execution_arn = _start_run(settings, sagemaker, description, event["id"], now)
        store.record_start(execution_arn, settings.data_uri, decision.data_hash, now, event["id"])
    serving = f"{serving_arn}, from {serving_source}" if serving_arn else ""
    alerted = decision.action in ALERTED
    alert_error = _alert(sns, settings, decision, execution_arn, serving, family) if alerted else ""
    record = {
        **decision.to_json(),
        "event_id": event["id"],
        "alarm_name": detail.get("alarmName", ""),
        "alarm_family": family,
        "data_uri": settings.data_uri,
        "serving_model_package": serving_arn,
        "serving_model_package_from": serving_source,
        "trained_on_hash": trained_on or "",
        "trained_on": trained_note,
        "execution_arn": execution_arn,
        "alert_error": alert_error,
    }
    store.put(key, record)
    log.info("retraining decision %s: %s", decision.action, decision.reason)
    return record


def handler(event, context) -> dict:
    """Lambda entry point (``monitoring.cloud.retrain_job.handler``)."""
    import boto3

    logging.getLogger().setLevel(logging.INFO)
    settings = RetrainSettings.from_env(os.environ)
    return handle_alarm(
        settings,
        event,
        boto3.client("sagemaker"),
        boto3.client("s3"),
        boto3.client("sns"),
        datetime.now(timezone.utc),
    )
