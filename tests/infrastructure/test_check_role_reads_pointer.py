"""The check and retraining functions (infrastructure/monitoring.yaml) may read the live pointer the deploy writes:
their environments name the same object ``mlops deploy`` writes, and every call ``read_pointer`` makes, recorded
against moto, is granted by their roles, with and without a KMS key (and the KMS grant is used only with one). A
whole retraining decision after a deploy (pointer, serving version, hashes, start, records, alert) is granted by
RetrainFunctionRole, and every statement of that role but the runtime's own is used by it."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from monitoring.cloud.check_settings import read_pointer
from monitoring.cloud.retrain_job import RetrainSettings, handle_alarm
from monitoring.cloud.s3util import encryption_args, split_s3_uri
from pipelines.build import config_from_kwargs
from pipelines.monitoring_stack.names import model_quality_metrics, monitored_features
from pipelines.monitoring_stack.parameters import Artifacts, Baselines, stack_parameters
from pipelines.monitoring_stack.repoint import RepointClients, live_pointer_uri, repoint
from pipelines.monitoring_stack.template import render_template
from pipelines.registry.model import ModelVersion
from tests.conftest import ROOT
from tests.infrastructure import iam_recorder
from tests.infrastructure.cfn_resolve import Resolver
from tests.infrastructure.iam_recorder import Need, Recorder, State, evaluate, needs_of

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
BUCKET = "mlops-project-bucket"
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ALERTS_KEY = "arn:aws:kms:us-east-1:123456789012:key/0000aaaa-12ab-34cd-56ef-1234567890ab"
ATTRIBUTES = {
    "CheckFunctionLogGroup.Arn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/x:*",
    "AlertsTopic": "arn:aws:sns:us-east-1:123456789012:abalone-endpoint-monitoring-alerts",
}
POINTER_SIDS = {"ReadTheLivePointer", "TellAMissingLivePointerFromADeniedOne"}
# (function, its role, the statement that decrypts the pointer with the project's key, only with one)
FUNCTIONS = [
    ("CheckFunction", "CheckFunctionRole", "DecryptTheLivePointer"),
    ("RetrainFunction", "RetrainFunctionRole", "UseTheProjectsDataKey"),  # the role's S3-only use of the key
]
TRAINED_BY = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/abalone-pipeline/execution/train0002"


def version() -> ModelVersion:
    base = f"s3://{BUCKET}/abalone-pipeline/executions/e1/baseline"
    return ModelVersion(
        group="abalone",
        version=1,
        status="Approved",
        created="2025-03-01T00:00:00+00:00",
        arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/1",
        model_data_url=f"s3://{BUCKET}/abalone-pipeline/models/1/model.tar.gz",
        image_uri="xgboost-image",
        drift_baselines={"statistics": f"{base}/statistics.json", "constraints": f"{base}/constraints.json"},
    )


def stack(kms: str, attributes: dict[str, str] = ATTRIBUTES):
    """(the configuration, the rendered template resolved for it) as ``mlops monitor deploy`` deploys it."""
    config = config_from_kwargs({"role": ROLE, "default_bucket": BUCKET}, str(ROOT / "mlops.yaml"))
    config = config.with_overrides(sagemaker={"kms_key_id": kms or None})
    # what monitor deploy deploys
    template = render_template(monitored_features(config), (), (), model_quality_metrics=model_quality_metrics(config))
    artifacts = Artifacts("code/x/monitoring-lambdas.zip", f"s3://{BUCKET}/abalone-pipeline/code/x/lib", "image")
    resolver = Resolver(template, stack_parameters(config, artifacts, Baselines(), kms), attributes, placeholders=True)
    return config, template, resolver


@pytest.mark.parametrize("kms", ["", KMS])
@pytest.mark.parametrize(("function", "role", "decrypt_sid"), FUNCTIONS)
def test_the_role_reads_the_pointer_the_deploy_writes(function, role, decrypt_sid, kms):
    config, template, resolver = stack(kms)
    environment = resolver.resolve(template["Resources"][function]["Properties"]["Environment"])["Variables"]
    assert environment["LIVE_POINTER_URI"] == live_pointer_uri(config)  # the object mlops deploy writes
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        recorder = Recorder()
        recorder.attach(s3)
        assert read_pointer(s3, environment["LIVE_POINTER_URI"]) is None  # none yet: listed, not a denied read
        repoint(config, version(), RepointClients(boto3.client("s3", region_name="us-east-1"), None))
        assert read_pointer(s3, environment["LIVE_POINTER_URI"]).reference == "abalone/1"
    needs, unmapped = needs_of(recorder.calls, State())
    assert not unmapped
    statements = resolver.policy_statements(role)
    missing, used = evaluate(statements, needs)
    assert not missing, missing
    assert POINTER_SIDS | ({decrypt_sid} if kms else set()) == {sid for sid, _, _ in used}
    assert (decrypt_sid in {s["Sid"] for s in statements}) == bool(kms)


def _sagemaker_table(monkeypatch) -> None:
    """The two retraining calls the deploy's table has no use for, mapped the same explicit way."""
    arn = iam_recorder._sm
    monkeypatch.setitem(
        iam_recorder.TABLE,
        ("sagemaker", "ListPipelineParametersForExecution"),
        lambda call, state: [Need("sagemaker:ListPipelineParametersForExecution", call.params["PipelineExecutionArn"])],
    )
    monkeypatch.setitem(
        iam_recorder.TABLE,
        ("sagemaker", "StartPipelineExecution"),
        lambda call, state: [Need("sagemaker:StartPipelineExecution", arn("pipeline", call.params["PipelineName"]))],
    )


@pytest.mark.parametrize("kms", ["", KMS])
def test_a_retraining_decision_after_a_deploy_is_granted_by_the_retrain_role(monkeypatch, kms):
    _sagemaker_table(monkeypatch)
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        topic = sns.create_topic(Name="abalone-endpoint-monitoring-alerts")["TopicArn"]
        config, template, resolver = stack(kms, {"AlertsTopic": topic, "AlertsKey.Arn": ALERTS_KEY})
        environment = resolver.resolve(template["Resources"]["RetrainFunction"]["Properties"]["Environment"])
        settings = RetrainSettings.from_env(environment["Variables"])
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        live = version()
        repoint(config, live, RepointClients(s3, None))  # the deploy
        staged = f"s3://{BUCKET}/abalone-pipeline/data/{'ab' * 32}/abalone.csv"  # what the live version trained on
        for uri, body in ((staged, b"older data\n"), (config.retrain_data_uri + "abalone.csv", b"new data\n")):
            bucket, key = split_s3_uri(uri)
            s3.put_object(Bucket=bucket, Key=key, Body=body, **encryption_args(kms))
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        recorder = Recorder()
        for client in (s3, sagemaker, sns):
            recorder.attach(client)
        with Stubber(sagemaker) as stub:
            stub.add_response(
                "describe_model_package",
                {
                    "ModelPackageName": "abalone",
                    "ModelPackageArn": live.arn,
                    "CreationTime": datetime(2025, 3, 1, tzinfo=timezone.utc),
                    "ModelPackageStatus": "Completed",
                    "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
                    "MetadataProperties": {"GeneratedBy": TRAINED_BY},
                },
                {"ModelPackageName": live.arn},  # the live pointer's version, not the stack's parameter
            )
            stub.add_response(
                "list_pipeline_parameters_for_execution",
                {"PipelineParameters": [{"Name": "InputDataUrl", "Value": staged}]},
                {"PipelineExecutionArn": TRAINED_BY},
            )
            run = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/abalone-pipeline/execution/new00001"
            stub.add_response("start_pipeline_execution", {"PipelineExecutionArn": run})
            event = {
                "id": "6a7e8b9c-0000-1111-2222-333344445555",
                "time": "2025-03-04T13:04:59Z",
                "detail": {"alarmName": "abalone-endpoint-drift", "state": {"value": "ALARM"}},
            }
            record = handle_alarm(settings, event, sagemaker, s3, sns, datetime(2025, 3, 4, 13, 5, tzinfo=timezone.utc))
            stub.assert_no_pending_responses()
    assert record["action"] == "started" and record["serving_model_package"] == live.arn
    needs, unmapped = needs_of(recorder.calls, State(topic_keys={topic: ALERTS_KEY}))
    assert not unmapped, unmapped
    statements = resolver.policy_statements("RetrainFunctionRole")
    missing, used = evaluate(statements, needs)
    assert not missing, missing
    runtime = {"WriteItsLogs", "DeadLetterItsFailedInvocations"}  # Lambda's own calls, not the handler's
    runtime |= {"FindTheDecisions"}  # lets a missing decision answer 404 rather than 403; the handler lists nothing
    assert {sid for sid, _, _ in used} == {s["Sid"] for s in statements} - runtime
    assert {sid for sid, _, _ in used} >= POINTER_SIDS
