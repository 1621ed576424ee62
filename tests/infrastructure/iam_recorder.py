"""Record the AWS operations a run makes (botocore's ``provide-client-params`` / ``after-call`` events), map each to the
IAM actions and resources it needs through an explicit table, and evaluate those against a template's policy.

The table is deliberately explicit: an operation it does not list fails the test, so a new AWS call in the deploy
cannot go unchecked. Implicit permissions are part of the mapping: iam:PassRole for every role ARN an operation
passes, sagemaker:AddTags for tags on create, KMS for SSE-KMS objects, encrypted topics and encrypted endpoints.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field

REGION, ACCOUNT, PARTITION = "us-east-1", "123456789012", "aws"


@dataclass
class Call:
    service: str
    operation: str
    params: dict
    response: dict | None = None


@dataclass(frozen=True)
class Need:
    """One permission one call needs: an action on a resource, with the request's condition keys."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    origin: str = ""


class Recorder:
    """Attach to clients; ``calls`` is every operation made through them, in order."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def attach(self, client):
        client.meta.events.register("provide-client-params.*.*", self._params)
        client.meta.events.register("after-call.*.*", self._after)
        return client

    def _params(self, params, model, **_):
        self.calls.append(Call(model.service_model.service_name, model.name, copy.deepcopy(params)))

    def _after(self, parsed, model, **_):
        for call in reversed(self.calls):
            if call.operation == model.name and call.response is None:
                call.response = parsed
                return


@dataclass
class State:
    """What the mapping learns along a run (endpoint configs' KMS keys) and knows about the account (topic keys)."""

    topic_keys: dict[str, str] = field(default_factory=dict)
    config_keys: dict[str, set[str]] = field(default_factory=dict)
    # what CloudFormation does with the caller's credentials when it executes a change set, per stack name
    on_behalf: dict[str, list[Need]] = field(default_factory=dict)
    endpoint_configs: dict[str, str] = field(default_factory=dict)  # endpoint -> the config it was last given


def _sm(kind: str, name: str) -> str:
    return f"arn:{PARTITION}:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name.lower()}"


def _via(service: str) -> tuple[tuple[str, str], ...]:
    return (("kms:ViaService", f"{service}.{REGION}.amazonaws.com"),)


def _pass_role(role: str, origin: str) -> Need:
    return Need("iam:PassRole", role, (("iam:PassedToService", "sagemaker.amazonaws.com"),), origin)


def _tags(call: Call, resource: str) -> list[Need]:
    return [Need("sagemaker:AddTags", resource, (), f"{call.operation} Tags")] if call.params.get("Tags") else []


def _endpoint_keys(call: Call, state: State) -> list[Need]:
    """SageMaker creates grants on the endpoint config's KMS keys when it builds the endpoint's fleet."""
    keys = sorted(state.config_keys.get(call.params["EndpointConfigName"], set()))
    return [
        Need(action, key, _via("sagemaker"), f"{call.operation} with an encrypted endpoint config")
        for key in keys
        for action in ("kms:CreateGrant", "kms:DescribeKey")
    ]


def _create_endpoint_config(call: Call, state: State) -> list[Need]:
    p = call.params
    keys = {k for k in (p.get("KmsKeyId"), (p.get("DataCaptureConfig") or {}).get("KmsKeyId")) if k}
    state.config_keys[p["EndpointConfigName"]] = keys
    resource = _sm("endpoint-config", p["EndpointConfigName"])
    return [Need("sagemaker:CreateEndpointConfig", resource), *_tags(call, resource)]


def _endpoint_change(action: str) -> Callable[[Call, State], list[Need]]:
    def needs(call: Call, state: State) -> list[Need]:
        endpoint = _sm("endpoint", call.params["EndpointName"])
        state.endpoint_configs[call.params["EndpointName"]] = call.params["EndpointConfigName"]
        found = [
            Need(action, endpoint),
            Need(action, _sm("endpoint-config", call.params["EndpointConfigName"])),
            *_endpoint_keys(call, state),
        ]
        return found + (_tags(call, endpoint) if action == "sagemaker:CreateEndpoint" else [])

    return needs


def _s3_object(call: Call) -> str:
    return f"arn:{PARTITION}:s3:::{call.params['Bucket']}/{call.params['Key']}"


def _get_object(call: Call, state: State) -> list[Need]:
    needs = [Need("s3:GetObject", _s3_object(call))]
    key = (call.response or {}).get("SSEKMSKeyId")
    return needs + ([Need("kms:Decrypt", key, _via("s3"), f"GetObject {_s3_object(call)}")] if key else [])


def _put_object(call: Call, state: State) -> list[Need]:
    needs = [Need("s3:PutObject", _s3_object(call))]
    key = call.params.get("SSEKMSKeyId")
    return needs + ([Need("kms:GenerateDataKey", key, _via("s3"), f"PutObject {_s3_object(call)}")] if key else [])


def _publish(call: Call, state: State) -> list[Need]:
    topic = call.params["TopicArn"]
    key = state.topic_keys.get(topic)
    needs = [Need("sns:Publish", topic)]
    if key:
        needs += [Need(a, key, _via("sns"), f"Publish to {topic}") for a in ("kms:GenerateDataKey", "kms:Decrypt")]
    return needs


def _one(action: str, resource: Callable[[dict], str]) -> Callable[[Call, State], list[Need]]:
    return lambda call, state: [Need(action, resource(call.params))]


def stack_arn(name: str) -> str:
    return f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/5f4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c"


def _execute_change_set(call: Call, state: State) -> list[Need]:
    name = call.params["StackName"]
    return [Need("cloudformation:ExecuteChangeSet", stack_arn(name)), *state.on_behalf.get(name, [])]


AUTOSCALING_SLR = (
    f"arn:{PARTITION}:iam::{ACCOUNT}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


def _scalable_target(action: str) -> Callable[[Call, State], list[Need]]:
    """An Application Auto Scaling call on an endpoint variant, with what it checks the caller may do on SageMaker
    and CloudWatch (the service's documented list for SageMaker endpoints) and the service-linked role it creates."""

    def needs(call: Call, state: State) -> list[Need]:
        p = call.params
        context = (
            ("application-autoscaling:service-namespace", p["ServiceNamespace"]),
            ("application-autoscaling:scalable-dimension", p["ScalableDimension"]),
        )
        target = f"arn:{PARTITION}:application-autoscaling:{REGION}:{ACCOUNT}:scalable-target/056ab2c4d6e8f0a1b3c5d7e9"
        found = [Need(f"application-autoscaling:{action}", target, context)]
        endpoint = p["ResourceId"].split("/")[1]
        alarm = f"arn:{PARTITION}:cloudwatch:{REGION}:{ACCOUNT}:alarm:TargetTracking-{p['ResourceId']}-AlarmHigh-1a2b"
        if action == "RegisterScalableTarget":
            slr = (("iam:AWSServiceName", "sagemaker.application-autoscaling.amazonaws.com"),)
            found += [
                Need("sagemaker:DescribeEndpoint", _sm("endpoint", endpoint)),
                Need("sagemaker:DescribeEndpointConfig", _sm("endpoint-config", state.endpoint_configs[endpoint])),
                Need("sagemaker:UpdateEndpointWeightsAndCapacities", _sm("endpoint", endpoint)),
                Need("iam:CreateServiceLinkedRole", AUTOSCALING_SLR, slr),
            ]
        if action == "PutScalingPolicy":
            found += [Need(f"cloudwatch:{a}", alarm) for a in ("DescribeAlarms", "PutMetricAlarm", "DeleteAlarms")]
        if action == "DeregisterScalableTarget":  # deleting the target deletes its policies and their alarms
            found += [Need("cloudwatch:DeleteAlarms", alarm)]
        return found

    return needs


CHANGE_SET_OPERATIONS = ("DescribeStacks", "CreateChangeSet", "DescribeChangeSet", "DeleteChangeSet")


TABLE: dict[tuple[str, str], Callable[[Call, State], list[Need]]] = {
    ("sagemaker", "DescribeModelPackage"): _one("sagemaker:DescribeModelPackage", lambda p: p["ModelPackageName"]),
    ("sagemaker", "DescribeEndpoint"): _one("sagemaker:DescribeEndpoint", lambda p: _sm("endpoint", p["EndpointName"])),
    ("sagemaker", "DescribeEndpointConfig"): _one(
        "sagemaker:DescribeEndpointConfig", lambda p: _sm("endpoint-config", p["EndpointConfigName"])
    ),
    ("sagemaker", "DescribeModel"): _one("sagemaker:DescribeModel", lambda p: _sm("model", p["ModelName"])),
    ("sagemaker", "CreateModel"): lambda call, state: [
        Need("sagemaker:CreateModel", _sm("model", call.params["ModelName"])),
        *_tags(call, _sm("model", call.params["ModelName"])),
        _pass_role(call.params["ExecutionRoleArn"], "CreateModel ExecutionRoleArn"),
    ],
    ("sagemaker", "CreateEndpointConfig"): _create_endpoint_config,
    ("sagemaker", "CreateEndpoint"): _endpoint_change("sagemaker:CreateEndpoint"),
    ("sagemaker", "UpdateEndpoint"): _endpoint_change("sagemaker:UpdateEndpoint"),
    ("sagemaker", "DescribeMonitoringSchedule"): _one(
        "sagemaker:DescribeMonitoringSchedule", lambda p: _sm("monitoring-schedule", p["MonitoringScheduleName"])
    ),
    ("sagemaker", "UpdateMonitoringSchedule"): lambda call, state: [
        Need("sagemaker:UpdateMonitoringSchedule", _sm("monitoring-schedule", call.params["MonitoringScheduleName"])),
        _pass_role(
            call.params["MonitoringScheduleConfig"]["MonitoringJobDefinition"]["RoleArn"],
            "UpdateMonitoringSchedule RoleArn",
        ),
    ],
    ("sagemaker-runtime", "InvokeEndpoint"): _one(
        "sagemaker:InvokeEndpoint", lambda p: _sm("endpoint", p["EndpointName"])
    ),
    ("cloudwatch", "DescribeAlarms"): lambda call, state: [
        Need("cloudwatch:DescribeAlarms", f"arn:{PARTITION}:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}")
        for name in call.params["AlarmNames"]
    ],
    ("s3", "GetObject"): _get_object,
    ("s3", "HeadObject"): lambda call, state: [Need("s3:GetObject", _s3_object(call))],
    ("s3", "PutObject"): _put_object,
    ("s3", "ListObjectsV2"): lambda call, state: [
        Need(
            "s3:ListBucket",
            f"arn:{PARTITION}:s3:::{call.params['Bucket']}",
            (("s3:prefix", call.params.get("Prefix", "")),),
        )
    ],
    ("sns", "Publish"): _publish,
    ("sagemaker", "CreateProcessingJob"): lambda call, state: [
        Need("sagemaker:CreateProcessingJob", _sm("processing-job", call.params["ProcessingJobName"])),
        *_tags(call, _sm("processing-job", call.params["ProcessingJobName"])),
        _pass_role(call.params["RoleArn"], "CreateProcessingJob RoleArn"),
    ],
    # PutMetricData has no resource-level permission: IAM scopes it by the namespace condition key
    ("cloudwatch", "PutMetricData"): lambda call, state: [
        Need("cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", call.params["Namespace"]),))
    ],
    ("sts", "GetCallerIdentity"): lambda call, state: [],  # needs no permission
    # run-pipeline (buildspec.yml): the model package group, then the pipeline's upsert and start
    ("sagemaker", "DescribeModelPackageGroup"): _one(
        "sagemaker:DescribeModelPackageGroup", lambda p: _sm("model-package-group", p["ModelPackageGroupName"])
    ),
    ("sagemaker", "CreateModelPackageGroup"): lambda call, state: [
        Need("sagemaker:CreateModelPackageGroup", _sm("model-package-group", call.params["ModelPackageGroupName"])),
        *_tags(call, _sm("model-package-group", call.params["ModelPackageGroupName"])),
    ],
    ("sagemaker", "DescribePipeline"): _one("sagemaker:DescribePipeline", lambda p: _sm("pipeline", p["PipelineName"])),
    ("sagemaker", "CreatePipeline"): lambda call, state: [
        Need("sagemaker:CreatePipeline", _sm("pipeline", call.params["PipelineName"])),
        *_tags(call, _sm("pipeline", call.params["PipelineName"])),
        _pass_role(call.params["RoleArn"], "CreatePipeline RoleArn"),
    ],
    ("sagemaker", "UpdatePipeline"): lambda call, state: [
        Need("sagemaker:UpdatePipeline", _sm("pipeline", call.params["PipelineName"])),
        _pass_role(call.params["RoleArn"], "UpdatePipeline RoleArn"),
    ],
    ("sagemaker", "AddTags"): _one("sagemaker:AddTags", lambda p: p["ResourceArn"]),
    ("sagemaker", "StartPipelineExecution"): _one(
        "sagemaker:StartPipelineExecution", lambda p: _sm("pipeline", p["PipelineName"])
    ),
    **{
        ("cloudformation", operation): _one(f"cloudformation:{operation}", lambda p: stack_arn(p["StackName"]))
        for operation in (*CHANGE_SET_OPERATIONS, "DescribeStackEvents")
    },
    ("cloudformation", "ExecuteChangeSet"): _execute_change_set,
    # DescribeScalableTargets has no resource-level permission
    ("application-autoscaling", "DescribeScalableTargets"): lambda call, state: [
        Need("application-autoscaling:DescribeScalableTargets", "*")
    ],
    **{
        ("application-autoscaling", operation): _scalable_target(operation)
        for operation in ("RegisterScalableTarget", "DeregisterScalableTarget", "PutScalingPolicy")
    },
}


def needs_of(calls: list[Call], state: State) -> tuple[list[Need], list[str]]:
    """(every permission the calls need, the operations the table does not know)."""
    needs, unmapped = [], []
    for call in calls:
        mapping = TABLE.get((call.service, call.operation))
        if mapping is None:
            unmapped.append(f"{call.service}:{call.operation}")
            continue
        for need in mapping(call, state):
            needs.append(need if need.origin else Need(need.action, need.resource, need.context, call.operation))
    return needs, unmapped


# -- evaluating a policy -----------------------------------------------------------------------------------------
def _glob(pattern: str, value: str, case: bool = True) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


OPERATORS = {
    "StringEquals": lambda pattern, value: pattern == value,
    "StringLike": _glob,
    "ArnEquals": lambda pattern, value: pattern == value,
    "ArnLike": _glob,
}


def _conditions_hold(condition: dict, context: dict[str, str]) -> bool:
    for operator, keys in condition.items():
        if operator not in OPERATORS:
            raise AssertionError(f"condition operator {operator} is not evaluated by this test: add it to OPERATORS")
        for key, patterns in keys.items():
            if key not in context or not any(OPERATORS[operator](p, context[key]) for p in _as_list(patterns)):
                return False
    return True


def evaluate(statements: list[dict], needs: list[Need]) -> tuple[list[Need], set[tuple[str, str, str]]]:
    """(needs no Allow statement grants, the (Sid, action, resource) entries some need used)."""
    missing, used = [], set()
    for statement in statements:
        assert statement.get("Effect") == "Allow" and statement.get("Sid"), f"statement without Sid/Allow: {statement}"
        assert "NotAction" not in statement and "NotResource" not in statement, statement["Sid"]
    for need in needs:
        granted = False
        for statement in statements:
            if not _conditions_hold(statement.get("Condition", {}), dict(need.context)):
                continue
            for action in _as_list(statement["Action"]):
                for resource in _as_list(statement["Resource"]):
                    if _glob(action, need.action, case=False) and _glob(resource, need.resource):
                        used.add((statement["Sid"], action, resource))
                        granted = True
        if not granted:
            missing.append(need)
    return missing, used


def entries(statements: list[dict]) -> set[tuple[str, str, str]]:
    """Every (Sid, action, resource) a policy grants."""
    return {
        (s["Sid"], action, resource)
        for s in statements
        for action in _as_list(s["Action"])
        for resource in _as_list(s["Resource"])
    }


def without(statements: list[dict], grant: tuple[str, str, str]) -> list[dict]:
    """The statements with one (Sid, action, resource) grant taken out (the statement's other grants kept)."""
    sid, action, resource = grant
    kept = []
    for statement in statements:
        if statement["Sid"] != sid:
            kept.append(statement)
            continue
        for a in _as_list(statement["Action"]):
            for r in _as_list(statement["Resource"]):
                if (a, r) != (action, resource):
                    kept.append({**statement, "Action": a, "Resource": r})
    return kept


def assert_every_grant_needed(statements: list[dict], needs: list[Need], used, skipped: set[str]) -> None:
    """Each grant of ``statements`` (Sid ``skipped`` aside: the runtime's own calls) is used by ``needs`` (``used``,
    from ``evaluate``), and taking any one out leaves a need ungranted."""
    for sid, action, resource in entries(statements):
        if sid in skipped:
            continue
        assert (sid, action, resource) in used, f"{sid} grants {action} on {resource}, which no call uses"
        lacking, _ = evaluate(without(statements, (sid, action, resource)), needs)
        assert lacking, f"removing {action} on {resource} ({sid}) went unnoticed"
