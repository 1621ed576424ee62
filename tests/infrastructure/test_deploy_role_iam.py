"""DeployRole (infrastructure/deploy-on-approval.yaml) grants exactly what the approval build needs.

The build's own command line (read from the template's buildspec) runs the whole `mlops deploy --backend sagemaker`
against moto and botocore's Stubber, repoint included, with both monitoring engines (and autoscaling in run 4):
  1. processing engine, a new endpoint, no KMS key (moto);
  2. model-monitor engine, a blue/green update, SSE-KMS objects, an encrypted alert topic, and a repoint (a
     parameters-only update of the monitoring stack) whose stack update rolls back, so the repoint alerts and the
     build exits 3 (Stubber for SageMaker and CloudFormation, moto for S3, SNS, CloudWatch);
  3. `mlops monitor repoint`, the retry of that repoint alone, twice: executed, then nothing to change;
  4. serving.autoscaling on (EndpointAutoscaling=true): a blue/green update that changes the instance type of a
     registered variant (deploy_runs_autoscaling.py): DescribeScalableTargets, DeregisterScalableTarget,
     RegisterScalableTarget, PutScalingPolicy, and what Application Auto Scaling checks the caller may do.
Every AWS operation is recorded and mapped to IAM actions and resources (tests/infrastructure/iam_recorder.py),
CodeBuild's own calls are added from the DeployProject resource, what CloudFormation does with the build's
credentials when it executes the change set is added from the resource handlers' declared permissions
(deploy_runs_model_monitor.on_behalf), and all of it is evaluated against DeployRole's
statements resolved for the run's parameters: a missing permission fails, and so does a granted (Sid, action,
resource) nothing uses. Removing any one grant makes a need go missing (checked for every grant).
"""

from __future__ import annotations

import pytest

from tests.infrastructure.cfn_resolve import Resolver
from tests.infrastructure.deploy_runs import ATTRIBUTES, TOPIC, Run, processing_create_run, template
from tests.infrastructure.deploy_runs_autoscaling import LIVE_COUNT, autoscaled_update_run
from tests.infrastructure.deploy_runs_model_monitor import model_monitor_update_run, repoint_retry_run
from tests.infrastructure.iam_recorder import ACCOUNT, REGION, Call, Need, State, entries, evaluate, needs_of

BUCKET = "mlops-artifacts"


def codebuild_needs(resolver: Resolver) -> list[Need]:
    """What CodeBuild itself does with the service role: fetch the S3 source, write the build log, use the project's
    encryption key (read from the DeployProject resource, not assumed)."""
    project = resolver.properties("DeployProject")
    bucket, key = project["Source"]["Location"].split("/", 1)
    group = project["LogsConfig"]["CloudWatchLogs"]["GroupName"]
    stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:build-1"
    needs = [
        Need(a, f"arn:aws:s3:::{bucket}/{key}", (), "CodeBuild source") for a in ("s3:GetObject", "s3:GetObjectVersion")
    ]
    needs += [Need(a, stream, (), "CodeBuild logs") for a in ("logs:CreateLogStream", "logs:PutLogEvents")]
    key_arn = project["EncryptionKey"]
    return needs + [
        Need(a, key_arn, (), "CodeBuild key") for a in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Run]:
    doc = template()
    makers = (processing_create_run, model_monitor_update_run, repoint_retry_run, autoscaled_update_run)
    return [make(doc, tmp_path_factory.mktemp("run")) for make in makers]


def evaluation(runs: list[Run], drop: tuple[str, str, str] | None = None):
    """(missing needs per run, unmapped operations, used grants, all grants), optionally without one grant."""
    doc = template()
    missing, unmapped, used, granted = {}, [], set(), set()
    for run in runs:
        resolver = Resolver(doc, run.parameters, ATTRIBUTES)
        statements = resolver.policy_statements("DeployRole")
        granted |= entries(statements)
        if drop is not None:
            statements = _without(statements, drop)
        needs, unknown = needs_of(run.calls, run.state)
        unmapped += unknown
        lacking, hit = evaluate(statements, needs + codebuild_needs(resolver))
        missing[run.name] = lacking
        used |= hit
    return missing, unmapped, used, granted


def _without(statements: list[dict], drop: tuple[str, str, str]) -> list[dict]:
    sid, action, resource = drop
    kept = []
    for statement in statements:
        if statement["Sid"] != sid:
            kept.append(statement)
            continue
        as_list = lambda v: v if isinstance(v, list) else [v]  # noqa: E731
        for a in as_list(statement["Action"]):
            for r in as_list(statement["Resource"]):
                if (a, r) != (action, resource):
                    kept.append({**statement, "Action": a, "Resource": r})
    return kept


def test_the_runs_are_the_whole_deploy_with_its_repoint(runs):
    created, updated, retried, autoscaled = runs
    assert created.exit_code == 0 and "Deployed abalone/1" in created.out and "live pointer" in created.out
    assert updated.exit_code == 3  # REPOINT_FAILED: the endpoint changed, its monitoring did not
    assert "Deployed abalone/2" in updated.out  # the endpoint's new state is reported first
    assert "abalone-endpoint-monitoring did not reach UPDATE_COMPLETE: ModelQualityJobDefinition" in updated.err
    assert f"alert sent to {TOPIC}" in updated.err and "monitor repoint --backend sagemaker" in updated.err
    assert retried.exit_code == 0 and retried.out.count("now checks against abalone/2's baselines") == 2
    assert "monitoring executed; job definitions abalone-endpoint-dq-v2-" in retried.out
    assert "monitoring no-changes" in retried.out
    operations = {(c.service, c.operation) for run in runs for c in run.calls}
    assert {
        ("sagemaker", "UpdateEndpoint"),
        ("sagemaker", "CreateEndpoint"),
        ("s3", "PutObject"),
        ("cloudformation", "ExecuteChangeSet"),
        ("cloudformation", "DeleteChangeSet"),
        ("sns", "Publish"),
    } <= operations
    assert autoscaled.exit_code == 0 and "Deployed abalone/2" in autoscaled.out, autoscaled.err
    scaling = [c.operation for c in autoscaled.calls if c.service == "application-autoscaling"]
    assert scaling == [
        "DescribeScalableTargets",
        "DeregisterScalableTarget",  # before UpdateEndpoint: the instance type changes
        "RegisterScalableTarget",  # once InService
        "PutScalingPolicy",
    ]
    (made,) = [c for c in autoscaled.calls if c.operation == "CreateEndpointConfig"]
    assert made.params["ProductionVariants"][0]["InitialInstanceCount"] == LIVE_COUNT  # not scaled down
    assert not any(c.service == "application-autoscaling" for run in runs[:3] for c in run.calls)
    processing = runs[0]
    assert not any(c.service == "cloudformation" for c in processing.calls)  # the pointer alone repoints it
    assert not any(c.operation.endswith("MonitoringSchedule") for run in runs for c in run.calls)  # the stack's


def test_autoscaling_grants_only_when_the_endpoint_autoscales(runs):
    doc = template()
    for run in runs:
        statements = Resolver(doc, run.parameters, ATTRIBUTES).policy_statements("DeployRole")
        actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
        scaling = {a for a in actions if a.startswith("application-autoscaling:") or a == "iam:CreateServiceLinkedRole"}
        assert bool(scaling) == (run.parameters["EndpointAutoscaling"] == "true"), (run.name, scaling)


def test_deploy_role_grants_every_call_and_nothing_unused(runs):
    missing, unmapped, used, granted = evaluation(runs)
    assert not unmapped, f"operations without an IAM mapping in iam_recorder.TABLE: {sorted(set(unmapped))}"
    problems = [
        f"{name}: {n.action} on {n.resource} {dict(n.context)} ({n.origin})"
        for name, lacking in missing.items()
        for n in lacking
    ]
    assert not problems, "DeployRole lacks:\n" + "\n".join(problems)
    assert not granted - used, f"DeployRole grants what no call uses: {sorted(granted - used)}"


def test_removing_any_one_grant_fails(runs):
    _, _, _, granted = evaluation(runs)
    for grant in sorted(granted):
        missing, _, _, _ = evaluation(runs, drop=grant)
        assert any(missing.values()), f"removing {grant} from DeployRole went unnoticed"


def test_an_operation_the_table_does_not_know_fails():
    needs, unmapped = needs_of([Call("s3", "DeleteObject", {"Bucket": BUCKET, "Key": "k"})], State())
    assert (needs, unmapped) == ([], ["s3:DeleteObject"])
