"""bootstrap.yaml's two roles grant exactly what they are used for (#7's recorded-operations test, for #11).

BuildRole: buildspec.yml's own run-pipeline line, expanded with the variables the stack gives the CodeBuild project,
runs against moto with every AWS call recorded (iam_recorder): staging with the project's key, the model package
group, the pipeline's create (first push) and update (second push) and start; CodeBuild's own needs (its log, its
source: CodeCommit, the CodePipeline artifact, or the S3 zip) are added from the stack's source.
ExecutionRole: what the pipeline that run-pipeline upserted does with it, read from that very definition
(bootstrap_needs), the endpoint mlops deploy creates with it, and the monitoring jobs' PutMetricData (the analyzer's
publish_metrics, recorded) and their reads of capture and ground truth and writes of reports.
Three stacks: CodeConnections (two pushes), CodeCommit with subnets and a project id, the S3 zip with
monitoring.engine model-monitor (QualityCheck steps on the Model Monitor image). Both roles are evaluated against
their policies as each stack resolves them: every need is granted, every granted (Sid, action, resource) is used,
removing any one grant makes a need go missing, and the key policy's statements for each role cover its KMS needs."""

from __future__ import annotations

import json
import shlex
import warnings
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from monitoring.metrics import MODEL_QUALITY_NAMESPACE, NAMESPACE, publish_metrics
from pipelines.config import Config, load_config
from pipelines.entrypoints import run_pipeline
from tests.conftest import ROOT
from tests.infrastructure.bootstrap_needs import Account, endpoint_needs, pipeline_needs, read, write
from tests.infrastructure.bootstrap_stack import NETWORK, SOURCES, Stack, create_stack, moto_build_types
from tests.infrastructure.iam_recorder import ACCOUNT, REGION, Call, Need, Recorder, State, entries, evaluate, needs_of
from tests.infrastructure.iam_recorder import without as without_grant


@dataclass(frozen=True)
class Scenario:
    name: str
    stack: Stack
    build_calls: list[Call]
    definition: dict
    config: Config
    metric_calls: list[Call]


def _config_file(tmp: Path, key_arn: str, network: bool, engine: str) -> Path:
    """mlops.yaml as `mlops bootstrap` leaves it: the project's key (and the subnets when there are)."""
    raw = yaml.safe_load((ROOT / "mlops.yaml").read_text(encoding="utf-8"))
    raw["monitoring"]["engine"] = engine
    raw["data"]["input"] = str(ROOT / raw["data"]["input"])
    raw["sagemaker"]["kms_key_id"] = key_arn
    if network:
        raw["sagemaker"]["subnets"] = NETWORK["SubnetIds"].split(",")
        raw["sagemaker"]["security_group_ids"] = NETWORK["SecurityGroupIds"].split(",")
    path = tmp / "mlops.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _build_argv(stack: Stack) -> list[str]:
    """buildspec.yml's run-pipeline line with the CodeBuild project's variables (and CodeBuild's AWS_REGION)."""
    (project,) = boto3.client("codebuild", region_name=REGION).batch_get_projects(
        names=[stack.outputs["BuildProjectName"]]
    )["projects"]
    env = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]} | {"AWS_REGION": REGION}
    spec = yaml.safe_load((ROOT / "buildspec.yml").read_text(encoding="utf-8"))
    (line,) = [c for p in spec["phases"].values() for c in p["commands"] if c.startswith("run-pipeline")]
    for name, value in env.items():
        line = line.replace("${" + name + "}", value)
    return shlex.split(line)[1:]


def _monitoring_metrics(recorder: Recorder) -> None:
    """The analyzer publishes data-quality and model-quality metrics from the monitoring jobs."""
    cloudwatch = recorder.attach(boto3.client("cloudwatch", region_name=REGION))
    datum = {"MetricName": "m", "Timestamp": "2025-03-04T13:00:00Z", "Value": 0.1, "Dimensions": []}
    publish_metrics([datum], cloudwatch, namespace=NAMESPACE)
    publish_metrics([datum], cloudwatch, namespace=MODEL_QUALITY_NAMESPACE)


def _scenario(name: str, parameters: dict[str, str], tmp: Path, pushes: int, engine: str = "processing") -> Scenario:
    with mock_aws(), moto_build_types(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)
        stack = create_stack(parameters)
        config_path = _config_file(tmp, stack.outputs["KmsKeyArn"], "SubnetIds" in parameters, engine)
        argv = [*_build_argv(stack), "--config", str(config_path)]
        recorder = Recorder()
        s3 = recorder.attach(boto3.client("s3", region_name=REGION))
        sagemaker = recorder.attach(boto3.client("sagemaker", region_name=REGION))
        for _ in range(pushes):
            assert run_pipeline(argv, sagemaker, s3) == 0
        metrics = Recorder()
        _monitoring_metrics(metrics)
    upserts = [c for c in recorder.calls if c.operation in ("CreatePipeline", "UpdatePipeline")]
    config = load_config(config_path).with_overrides(sagemaker={"bucket": stack.outputs["ArtifactBucketName"]})
    definition = json.loads(upserts[-1].params["PipelineDefinition"])
    return Scenario(name, stack, recorder.calls, definition, config, metrics.calls)


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory) -> list[Scenario]:
    connections = _scenario("codeconnections", SOURCES["codeconnections"], tmp_path_factory.mktemp("a"), pushes=2)
    vpc = {**SOURCES["codecommit"], **NETWORK, "ProjectId": "p-9"}
    codecommit = _scenario("codecommit, VPC, project id", vpc, tmp_path_factory.mktemp("b"), pushes=1)
    zip_source = _scenario("s3 zip, model-monitor", {}, tmp_path_factory.mktemp("c"), 1, engine="model-monitor")
    return [connections, codecommit, zip_source]


def codebuild_needs(stack: Stack) -> list[Need]:
    """What CodeBuild itself does with the build role: write the build log, fetch the source."""
    bucket, project = stack.outputs["ArtifactBucketName"], stack.outputs["BuildProjectName"]
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/codebuild/{project}:log-stream:build-1"
    needs = [Need(a, group, (), "CodeBuild log") for a in ("logs:CreateLogStream", "logs:PutLogEvents")]
    source = stack.parameters.get("CodeSource", "none")
    if source == "codecommit":
        repository = stack.parameters["CodeCommitRepositoryName"]
        return [*needs, Need("codecommit:GitPull", f"arn:aws:codecommit:{REGION}:{ACCOUNT}:{repository}", (), "source")]
    # CodePipeline's artifact: <first 20 characters of the pipeline name>/<artifact name>/<id>
    key = f"{project[:20]}/SourceCode/Ab12Cd3" if source == "codeconnections" else "abalone-pipeline/source.zip"
    needs += [Need(a, f"arn:aws:s3:::{bucket}/{key}", (), "source") for a in ("s3:GetObject", "s3:GetObjectVersion")]
    return [*needs, Need("kms:Decrypt", stack.outputs["KmsKeyArn"], _s3_via(), "source")]


def _s3_via() -> tuple[tuple[str, str], ...]:
    return (("kms:ViaService", f"s3.{REGION}.amazonaws.com"),)


def execution_needs(scenario: Scenario) -> list[Need]:
    stack, config = scenario.stack, scenario.config
    account = Account(
        stack.outputs["ExecutionRoleArn"],
        stack.outputs["KmsKeyArn"],
        tuple(config.sagemaker.subnets),
        tuple(config.sagemaker.security_group_ids),
    )
    needs = pipeline_needs(scenario.definition, account)
    needs += endpoint_needs(scenario.definition, account, config.endpoint_name, config.capture_destination)
    metrics, unknown = needs_of(scenario.metric_calls, State())
    assert not unknown, unknown
    key = account.key_arn
    checks = read(config.capture_destination, key, "check: capture") + read(config.ground_truth_destination, key, "gt")
    return needs + metrics + checks + write(config.reports_destination, key, "check: reports")


def evaluation(scenarios: list[Scenario], role: str, drop: tuple[str, str, str] | None = None):
    """(missing needs per scenario, unmapped operations, used grants, all grants) of one role."""
    missing, unmapped, used, granted = {}, [], set(), set()
    for scenario in scenarios:
        statements = scenario.stack.role_statements(role)
        granted |= entries(statements)
        if drop is not None:
            statements = without_grant(statements, drop)
        if role == "BuildRole":
            needs, unknown = needs_of(scenario.build_calls, State())
            needs += codebuild_needs(scenario.stack)
            unmapped += unknown
        else:
            needs = execution_needs(scenario)
        lacking, hit = evaluate(statements, needs)
        missing[scenario.name] = lacking
        used |= hit
    return missing, unmapped, used, granted


def test_the_build_is_buildspecs_run_pipeline(scenarios):
    operations = [c.operation for c in scenarios[0].build_calls if c.service == "sagemaker"]
    assert operations.count("StartPipelineExecution") == 2
    assert {"CreatePipeline", "UpdatePipeline", "CreateModelPackageGroup", "AddTags"} <= set(operations)
    assert any(c.operation == "PutObject" and c.params.get("SSEKMSKeyId") for c in scenarios[0].build_calls)
    (group,) = [c for c in scenarios[1].build_calls if c.operation == "CreateModelPackageGroup"]
    assert group.params["ModelPackageGroupName"] == "abalone-p-9"
    steps = {s["Type"] for s in scenarios[1].definition["Steps"]}
    assert {"Processing", "Training", "Condition"} <= steps
    assert "QualityCheck" in {s["Type"] for s in scenarios[2].definition["Steps"]}  # monitoring.engine model-monitor


@pytest.mark.parametrize("role", ["BuildRole", "ExecutionRole"])
def test_every_need_is_granted_and_every_grant_used(scenarios, role):
    missing, unmapped, used, granted = evaluation(scenarios, role)
    assert not unmapped, f"operations without an IAM mapping in iam_recorder.TABLE: {sorted(set(unmapped))}"
    problems = [
        f"{name}: {n.action} on {n.resource} {dict(n.context)} ({n.origin})" for name, ns in missing.items() for n in ns
    ]
    assert not problems, f"{role} lacks:\n" + "\n".join(sorted(set(problems)))
    assert not granted - used, f"{role} grants what nothing uses: {sorted(granted - used)}"


@pytest.mark.parametrize("role", ["BuildRole", "ExecutionRole"])
def test_removing_any_one_grant_fails(scenarios, role):
    _, _, _, granted = evaluation(scenarios, role)
    for grant in sorted(granted):
        missing, _, _, _ = evaluation(scenarios, role, drop=grant)
        assert any(missing.values()), f"removing {grant} from {role} went unnoticed"


def test_network_permissions_exist_only_with_subnets(scenarios):
    with_vpc = {s["Sid"] for s in scenarios[1].stack.role_statements("ExecutionRole")}
    without_vpc = {s["Sid"] for s in scenarios[0].stack.role_statements("ExecutionRole")}
    assert {"DescribeTheNetwork", "NetworkInterfacesInTheGivenSubnets"} <= with_vpc - without_vpc
    assert not any(sid.startswith(("Describe", "Network", "Manage")) for sid in without_vpc)
    assert "VpcConfig" in scenarios[1].definition["Steps"][0]["Arguments"]["NetworkConfig"]


def _key_statements(stack: Stack, principal: str) -> list[dict]:
    """The key policy's statements for one principal, as identity statements on this key ("*" is the key)."""
    key = stack.outputs["KmsKeyArn"]
    statements = stack.resolver().properties("ArtifactKey")["KeyPolicy"]["Statement"]
    return [
        {k: v for k, v in s.items() if k != "Principal"} | {"Resource": key}
        for s in statements
        if s["Principal"] == {"AWS": principal}
    ]


def test_the_key_policy_grants_each_roles_key_use_and_no_more(scenarios):
    """The roles' own statements in the key policy cover their KMS needs, and each of them is used."""
    for scenario in scenarios:
        stack = scenario.stack
        build, _ = needs_of(scenario.build_calls, State())
        for role, needs in (
            ("BuildRoleArn", build + codebuild_needs(stack)),
            ("ExecutionRoleArn", execution_needs(scenario)),
        ):
            statements = _key_statements(stack, stack.outputs[role])
            key_needs = [n for n in needs if n.action.startswith("kms:")]
            missing, used = evaluate(statements, key_needs)
            assert not missing and key_needs, (scenario.name, role, missing)
            assert used == entries(statements), (scenario.name, role, entries(statements) - used)
