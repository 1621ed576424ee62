"""What the SageMaker execution role is used for, as IAM needs (iam_recorder.Need), read from the pipeline definition
run-pipeline upserted, not assumed: SageMaker Pipelines creates, follows, tags and (on a stopped execution) stops
each step's job with it and passes it to them; each job pulls its image, reads its inputs, writes its outputs (SSE-KMS
with the bucket's key), encrypts its volume with the configured key, writes logs and SageMaker's job metrics, and
inside a VPC makes its network interfaces; the condition step reads the evaluation report and Register creates the
model package. The endpoint (mlops deploy passes the same role) pulls the image, reads the registered model, writes
capture and its logs and metrics. The monitoring jobs' own PutMetricData calls are recorded, not listed here.

Job names follow SageMaker Pipelines' ``pipelines-<execution id>-<step>-<suffix>``; ARNs as IAM sees them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from tests.infrastructure.iam_recorder import ACCOUNT, REGION, Need

EXECUTION = "a1b2c3d4e5f6"
ENI = f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/eni-0123456789abcdef0"


@dataclass(frozen=True)
class Account:
    """What the needs depend on beyond the definition: the role, the bucket's key, the network."""

    role_arn: str
    key_arn: str
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()


def flat_steps(steps: list[dict]) -> Iterator[dict]:
    for step in steps:
        yield step
        arguments = step.get("Arguments", {})
        if step["Type"] == "Condition":
            yield from flat_steps(arguments.get("IfSteps", []) + arguments.get("ElseSteps", []))


def _job(step: dict) -> str:
    return f"pipelines-{EXECUTION}-{step['Name']}-x1y2z3".lower()


class Expressions:
    """The definition's S3 URIs with this execution's values (parameters' defaults, the steps' outputs)."""

    def __init__(self, definition: dict) -> None:
        self.parameters = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
        self.steps = {s["Name"]: s for s in flat_steps(definition["Steps"])}

    def value(self, expression) -> str:
        if isinstance(expression, str):
            return expression
        if "Std:Join" in expression:
            join = expression["Std:Join"]
            return join["On"].join(self.value(v) for v in join["Values"])
        path = expression["Get"]
        if path == "Execution.PipelineExecutionId":
            return EXECUTION
        if path.startswith("Parameters."):
            return str(self.parameters[path.split(".", 1)[1]])
        step, rest = re.fullmatch(r"Steps\.([^.]+)\.(.+)", path).groups()
        arguments = self.steps[step]["Arguments"]
        if rest == "ModelArtifacts.S3ModelArtifacts":
            return f"{arguments['OutputDataConfig']['S3OutputPath']}/{_job(self.steps[step])}/output/model.tar.gz"
        output = re.fullmatch(r"ProcessingOutputConfig\.Outputs\['(.+)'\]\.S3Output\.S3Uri", rest).group(1)
        (found,) = [o for o in arguments["ProcessingOutputConfig"]["Outputs"] if o["OutputName"] == output]
        return self.value(found["S3Output"]["S3Uri"])


def _via(service: str) -> tuple[tuple[str, str], ...]:
    return (("kms:ViaService", f"{service}.{REGION}.amazonaws.com"),)


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read(uri: str, key_arn: str, origin: str) -> list[Need]:
    """An S3 prefix (or object) downloaded: listed, read, decrypted through S3."""
    bucket, key = _split(uri)
    return [
        Need("s3:ListBucket", f"arn:aws:s3:::{bucket}", (("s3:prefix", key),), origin),
        Need("s3:GetObject", f"arn:aws:s3:::{bucket}/{key.rstrip('/')}/part-0", (), origin),
        Need("kms:Decrypt", key_arn, _via("s3"), origin),
    ]


def write(uri: str, key_arn: str, origin: str) -> list[Need]:
    bucket, key = _split(uri)
    return [
        Need("s3:PutObject", f"arn:aws:s3:::{bucket}/{key.rstrip('/')}/part-0", (), origin),
        Need("kms:GenerateDataKey", key_arn, _via("s3"), origin),
    ]


def pull(image: str, origin: str) -> list[Need]:
    account, region, repository = re.fullmatch(
        r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+).*", image
    ).groups()
    arn = f"arn:aws:ecr:{region}:{account}:repository/{repository}"
    layers = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
    return [Need("ecr:GetAuthorizationToken", "*", (), origin), *(Need(a, arn, (), origin) for a in layers)]


def logs_and_metrics(group: str, stream: str, namespace: str, origin: str) -> list[Need]:
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    return [
        Need("logs:CreateLogGroup", arn, (), origin),
        *(Need(a, f"{arn}:log-stream:{stream}", (), origin) for a in ("logs:CreateLogStream", "logs:PutLogEvents")),
        Need("logs:DescribeLogStreams", f"{arn}:log-stream:", (), origin),
        Need("cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", namespace),), origin),
    ]


def network(account: Account, origin: str) -> list[Need]:
    """A job's or endpoint's network interface in the given subnets (SageMaker's documented VPC permissions)."""
    ec2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
    describe = ("DescribeDhcpOptions", "DescribeNetworkInterfaces", "DescribeSecurityGroups", "DescribeSubnets")
    needs = [Need(f"ec2:{a}", "*", (), origin) for a in (*describe, "DescribeVpcs")]
    needs += [
        Need("ec2:CreateNetworkInterface", f"{ec2}:subnet/{s}", (("ec2:SubnetID", s),), origin) for s in account.subnets
    ]
    needs += [
        Need("ec2:CreateNetworkInterface", f"{ec2}:security-group/{g}", (("ec2:SecurityGroupID", g),), origin)
        for g in account.security_groups
    ]
    actions = ("CreateNetworkInterface", "CreateNetworkInterfacePermission", "DeleteNetworkInterface")
    return needs + [Need(f"ec2:{a}", ENI, (), origin) for a in (*actions, "DeleteNetworkInterfacePermission")]


def _job_needs(kind: str, step: dict, account: Account, volume_key: str | None, vpc: bool) -> list[Need]:
    """What Pipelines does to start, follow and stop one job, and what the job's platform does with the role."""
    job, origin = _job(step), f"{kind} {step['Name']}"
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind.lower()}-job/{job}"
    needs = [Need(f"sagemaker:{verb}{kind}Job", arn, (), origin) for verb in ("Create", "Describe", "Stop")]
    needs += [
        Need("sagemaker:AddTags", arn, (), f"{origin}: the pipeline's tags"),
        Need("iam:PassRole", account.role_arn, (("iam:PassedToService", "sagemaker.amazonaws.com"),), origin),
    ]
    if volume_key:
        needs += [Need(a, volume_key, _via("sagemaker"), origin) for a in ("kms:CreateGrant", "kms:DescribeKey")]
    namespace = f"/aws/sagemaker/{kind}Jobs"
    needs += logs_and_metrics(namespace, f"{job}/algo-1-1700000000", namespace, origin)
    return needs + (network(account, origin) if vpc else [])


def _processing(step: dict, exprs: Expressions, account: Account) -> list[Need]:
    a = step["Arguments"]
    vpc = "VpcConfig" in a.get("NetworkConfig", {})
    needs = _job_needs(
        "Processing", step, account, a["ProcessingResources"]["ClusterConfig"].get("VolumeKmsKeyId"), vpc
    )
    needs += pull(a["AppSpecification"]["ImageUri"], step["Name"])
    for i in a.get("ProcessingInputs", []):
        needs += read(exprs.value(i["S3Input"]["S3Uri"]), account.key_arn, f"{step['Name']} input {i['InputName']}")
    for o in a["ProcessingOutputConfig"]["Outputs"]:
        needs += write(exprs.value(o["S3Output"]["S3Uri"]), account.key_arn, f"{step['Name']} output {o['OutputName']}")
    for f in step.get("PropertyFiles", []):  # the condition step reads it (Std:JsonGet)
        (o,) = [o for o in a["ProcessingOutputConfig"]["Outputs"] if o["OutputName"] == f["OutputName"]]
        needs += read(f"{exprs.value(o['S3Output']['S3Uri'])}/{f['FilePath']}", account.key_arn, "condition JsonGet")
    return needs


def _training(step: dict, exprs: Expressions, account: Account) -> list[Need]:
    a = step["Arguments"]
    needs = _job_needs("Training", step, account, a["ResourceConfig"].get("VolumeKmsKeyId"), "VpcConfig" in a)
    needs += pull(a["AlgorithmSpecification"]["TrainingImage"], step["Name"])
    for c in a["InputDataConfig"]:
        uri = exprs.value(c["DataSource"]["S3DataSource"]["S3Uri"])
        needs += read(uri, account.key_arn, f"{step['Name']} channel {c['ChannelName']}")
    return needs + write(a["OutputDataConfig"]["S3OutputPath"], account.key_arn, f"{step['Name']} model")


def _register(step: dict, exprs: Expressions, account: Account) -> list[Need]:
    group = step["Arguments"]["ModelPackageGroupName"]
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group.lower()}/1"
    return [Need(f"sagemaker:{v}ModelPackage", arn, (), "Register") for v in ("Create", "Describe")]


# a QualityCheck step (monitoring.engine model-monitor) is a processing job on the Model Monitor analyzer image
STEPS = {"Processing": _processing, "QualityCheck": _processing, "Training": _training, "RegisterModel": _register}


def pipeline_needs(definition: dict, account: Account) -> list[Need]:
    """Everything the pipeline's execution does with the role."""
    exprs = Expressions(definition)
    needs: list[Need] = []
    for step in flat_steps(definition["Steps"]):
        if step["Type"] in STEPS:
            needs += STEPS[step["Type"]](step, exprs, account)
        else:
            assert step["Type"] in ("Condition", "Fail"), f"step type {step['Type']}: add what it needs here"
    return needs


def endpoint_needs(definition: dict, account: Account, endpoint: str, capture_uri: str) -> list[Need]:
    """The registered model served by an endpoint with data capture (mlops deploy passes the role)."""
    exprs = Expressions(definition)
    (register,) = [s for s in flat_steps(definition["Steps"]) if s["Type"] == "RegisterModel"]
    (container,) = register["Arguments"]["InferenceSpecification"]["Containers"]
    needs = pull(container["Image"], "endpoint") + read(
        exprs.value(container["ModelDataUrl"]), account.key_arn, "model"
    )
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    needs += logs_and_metrics(group, "AllTraffic/i-0abc", "/aws/sagemaker/Endpoints", "endpoint")
    needs += write(f"{capture_uri}/{endpoint}/AllTraffic/2025/03/04/13", account.key_arn, "endpoint data capture")
    return needs + (network(account, "endpoint") if account.subnets else [])
