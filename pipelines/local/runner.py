"""Executes a pipeline definition JSON: dependencies, parallel steps, caching, retries, resume, records."""

from __future__ import annotations

import json
import random
import string
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.errors import StateError, UsageError
from pipelines.local import quality_check
from pipelines.local.cache import CACHEABLE, StepCache, cache_key, expire_after
from pipelines.local.expressions import Context, ExpressionError, execution_variables, parameter_value, references
from pipelines.local.record import EXECUTING, FAILED, NOT_RUN, PENDING, SUCCEEDED, ExecutionRecord, now
from pipelines.local.steps import StepEnvironment, read_property_file, run_step
from pipelines.local.store import ObjectStore, StepFailure

Progress = Callable[[str, str, dict], None]
# a QualityCheck step's fields outside its Arguments that may refer to other steps' properties
QUALITY_CHECK_FIELDS = (
    "SkipCheck",
    "RegisterNewBaseline",
    "FailOnViolation",
    "ModelPackageGroupName",
    "SuppliedBaselineStatistics",
    "SuppliedBaselineConstraints",
)


@dataclass(frozen=True)
class StepNode:
    """A step of the definition with everything it waits for."""

    name: str
    step: dict
    needs: frozenset[str]
    branch_of: tuple[str, bool] | None = None  # (condition step, outcome that runs it)


@dataclass(frozen=True)
class ExecutionResult:
    execution_id: str
    status: str
    failure_reason: str | None
    directory: Path
    steps: dict = field(default_factory=dict)


def plan(definition: dict) -> dict[str, StepNode]:
    """Every step (condition branches included) with its dependencies: DependsOn, data references, branches."""
    nodes: dict[str, StepNode] = {}

    def add(steps: list, branch: tuple[str, bool] | None) -> None:
        for step in steps:
            name = step["Name"]
            needs = set(step.get("DependsOn", [])) | references(step.get("Arguments", {}))
            for key in QUALITY_CHECK_FIELDS:
                needs |= references(step.get(key))
            if branch:
                needs.add(branch[0])
            needs.discard(name)
            nodes[name] = StepNode(name, step, frozenset(needs), branch)
            if step["Type"] == "Condition":
                add(step["Arguments"].get("IfSteps", []), (name, True))
                add(step["Arguments"].get("ElseSteps", []), (name, False))

    add(definition.get("Steps", []), None)
    for node in nodes.values():
        unknown = node.needs - set(nodes)
        if unknown:
            raise ValueError(f"step {node.name} depends on unknown step(s): {', '.join(sorted(unknown))}")
    return nodes


def typed_parameters(definition: dict, overrides: dict[str, str]) -> dict:
    """Parameter values: defaults of the definition, overridden (and converted) by ``--param``."""
    declared = {p["Name"]: p for p in definition.get("Parameters", [])}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise UsageError(f"unknown parameter(s) {', '.join(unknown)}; declared: {', '.join(sorted(declared))}")
    values = {}
    for name, spec in declared.items():
        raw = overrides.get(name, spec.get("DefaultValue"))
        kind = spec.get("Type", "String")
        try:
            if raw is None:
                raise ValueError("no value and no default")
            values[name] = parameter_value(kind, raw)
        except ValueError as exc:
            raise UsageError(f"parameter {name} must be {kind}, got {raw!r} ({exc})") from exc
    return values


def sources_named(reason: str, step: dict, ctx: Context, execution_dir: Path) -> str:
    """``reason`` with a job's local copies of its S3 inputs (under ``execution_dir``) named by their S3 URIs.

    A job reads its inputs from ``/opt/ml/...``, which the runner maps under the execution's directory; an error
    naming that copy means nothing to the user, who gave the input's URI (e.g. ``InputDataUrl``). The job log's
    tail after the message stays verbatim."""
    import re

    reason, tail_mark, tail = reason.partition("\n--- last lines of ")

    from pipelines.local.expressions import evaluate

    container = Path(execution_dir) / "steps" / step["Name"] / "container"
    arguments = step.get("Arguments") or {}
    inputs = [
        (item["S3Input"]["LocalPath"], item["S3Input"].get("S3Uri"))
        for item in arguments.get("ProcessingInputs", [])
        if item.get("S3Input", {}).get("LocalPath")
    ] + [
        (f"/opt/ml/input/data/{c['ChannelName']}", c.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri"))
        for c in arguments.get("InputDataConfig", [])
    ]
    for local, source in inputs:
        try:
            uri = str(evaluate(source, ctx)).rstrip("/")
        except (ExpressionError, KeyError, TypeError):
            continue
        copy = re.escape(f"{container}{local.rstrip('/')}")

        def named(match: re.Match, uri: str = uri) -> str:
            rest = match.group(1) or ""
            return uri if rest.strip("/") in ("", uri.rsplit("/", 1)[-1]) else uri + rest  # a file input: its URI

        reason = re.sub(copy + r"(/[^\s;,:'\"]*)?", named, reason)
    return reason + tail_mark + tail


def new_execution_id() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=12))


class LocalRunner:
    """Runs definitions against a state directory (object store, registry, records, cache)."""

    def __init__(
        self,
        state_dir: Path,
        registry,
        max_parallel: int = 2,
        progress: Progress | None = None,
        sleep: Callable[[float], None] = time.sleep,
        fault: Callable[[str, int], StepFailure | None] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()  # jobs run in their own directory: paths must be absolute
        self.store = ObjectStore(self.state_dir)
        self.registry = registry
        self.max_parallel = max_parallel
        self.progress = progress or (lambda step, status, info: None)
        self.sleep = sleep
        self.fault = fault  # test hook: an injected failure for (step, attempt)

    # -- entry points --------------------------------------------------------------------------
    def start(self, definition_json: str, pipeline: str, overrides: dict[str, str] | None = None) -> ExecutionResult:
        """Start a new execution of the definition with parameter overrides."""
        definition = json.loads(definition_json)
        nodes = plan(definition)
        parameters = typed_parameters(definition, overrides or {})
        record = ExecutionRecord.create(
            self.state_dir,
            new_execution_id(),
            pipeline,
            parameters,
            {n: node.step["Type"] for n, node in nodes.items()},
            definition_json,
        )
        return self._execute(definition, nodes, record, {})

    def resume(self, execution_id: str) -> ExecutionResult:
        """Re-run a failed execution from its failed (and not run) steps; succeeded steps keep their outputs."""
        record = ExecutionRecord.load(self.state_dir, execution_id)
        if record.data["status"] != FAILED:
            raise StateError(f"execution {execution_id} is {record.data['status']}: only a Failed execution resumes")
        definition = json.loads(record.definition)
        nodes = plan(definition)
        done = {n: s["properties"] for n, s in record.data["steps"].items() if s["status"] == SUCCEEDED}
        for name, step in record.data["steps"].items():
            if step["status"] != SUCCEEDED:
                record.data["steps"][name] = {
                    "type": step["type"],
                    "status": PENDING,
                    "previous_attempts": step.get("attempts", 0),
                }
        record.update(status=EXECUTING, failure_reason=None, ended=None, resumed=[*record.data["resumed"], now()])
        return self._execute(definition, nodes, record, done)

    # -- execution -----------------------------------------------------------------------------
    def _execute(
        self, definition: dict, nodes: dict[str, StepNode], record: ExecutionRecord, done: dict[str, dict]
    ) -> ExecutionResult:
        execution_id = record.data["execution_id"]
        pipeline = record.data["pipeline_name"]
        ctx = Context(
            parameters=record.data["parameters"],
            execution=execution_variables(execution_id, pipeline, record.data["created"]),
            properties=dict(done),
        )
        ctx.read_property_file = lambda step, file: read_property_file(
            nodes[step].step, ctx.properties[step], file, self.store
        )
        env = StepEnvironment(self.store, record.directory, execution_id, pipeline, self.registry)
        cache = StepCache(self.state_dir, pipeline)
        lock = threading.Lock()
        status = {n: (SUCCEEDED if n in done else PENDING) for n in nodes}
        failures: list[str] = []

        def runnable(node: StepNode) -> bool | None:
            """True: ready; False: never (branch not taken / dependency failed); None: wait."""
            if node.branch_of:
                condition, wanted = node.branch_of
                if status[condition] == SUCCEEDED and ctx.properties[condition].get("Outcome") != wanted:
                    return False
            for need in node.needs:
                if status[need] in (FAILED, NOT_RUN):
                    return False
                if status[need] != SUCCEEDED:
                    return None
            return True

        with ThreadPoolExecutor(max_workers=self.max_parallel) as pool:
            running: dict[Future, str] = {}
            while True:
                for name, node in nodes.items():
                    if status[name] != PENDING:
                        continue
                    if failures:  # as in SageMaker: after a failure no new step starts
                        status[name] = NOT_RUN
                        record.update_step(name, status=NOT_RUN, reason="the execution failed before it started")
                        continue
                    ready = runnable(node)
                    if ready is False:
                        status[name] = NOT_RUN
                        branch = node.branch_of
                        reason = (
                            f"condition {branch[0]} took the other branch"
                            if branch and all(status[n] == SUCCEEDED for n in node.needs)
                            else "a step it depends on did not succeed"
                        )
                        record.update_step(name, status=NOT_RUN, reason=reason)
                        self.progress(name, NOT_RUN, {"reason": reason})
                    elif ready:
                        status[name] = EXECUTING
                        running[pool.submit(self._run_one, node, ctx, env, cache, record, lock)] = name
                if not running:
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    properties, failure = future.result()
                    if failure is None:
                        with lock:
                            ctx.properties[name] = properties
                        status[name] = SUCCEEDED
                    else:
                        status[name] = FAILED
                        failures.append(f"{name}: {failure}")
        final = FAILED if failures else SUCCEEDED
        record.update(status=final, ended=now(), failure_reason="; ".join(failures) or None)
        return ExecutionResult(
            execution_id, final, record.data["failure_reason"], record.directory, record.data["steps"]
        )

    def _run_one(
        self,
        node: StepNode,
        ctx: Context,
        env: StepEnvironment,
        cache: StepCache,
        record: ExecutionRecord,
        lock: threading.Lock,
    ) -> tuple[dict | None, str | None]:
        name, step = node.name, node.step
        log = record.directory / "steps" / name / "log.txt"
        started = time.monotonic()
        record.update_step(name, status=EXECUTING, started=now(), log=str(log))
        self.progress(name, EXECUTING, {})
        key = None
        config = step.get("CacheConfig") or {}
        try:
            with lock:
                snapshot = Context(ctx.parameters, ctx.execution, dict(ctx.properties), ctx.read_property_file)
            if step["Type"] in CACHEABLE and config.get("Enabled"):
                key = cache_key(step, snapshot)
                if step["Type"] == "QualityCheck":  # the outcome also depends on the baseline checked against
                    key = quality_check.cache_key(key, step, snapshot, env.registry)
                hit = cache.lookup(key, expire_after(config.get("ExpireAfter")))
                if hit is not None:
                    elapsed = time.monotonic() - started
                    record.update_step(
                        name,
                        status=SUCCEEDED,
                        ended=now(),
                        duration_s=round(elapsed, 3),
                        attempts=0,
                        cache_hit_from=hit["execution_id"],
                        properties=hit["properties"],
                    )
                    self.progress(name, SUCCEEDED, {"cached_from": hit["execution_id"], "seconds": elapsed})
                    return hit["properties"], None
        except (ExpressionError, StepFailure, ValueError) as exc:
            return self._fail(record, name, started, 0, str(exc))
        attempt = 0
        while True:
            attempt += 1
            try:
                injected = self.fault(name, attempt) if self.fault else None
                if injected is not None:
                    raise injected
                properties = run_step(step, snapshot, env, log)
            except (StepFailure, ExpressionError, ValueError) as exc:
                kind = getattr(exc, "kind", "ClientError")
                delay = self._retry_delay(step.get("RetryPolicies", []), kind, attempt)
                if delay is not None:
                    record.update_step(name, attempts=attempt, last_error=str(exc))
                    self.progress(
                        name, "Retrying", {"attempt": attempt, "error": str(exc).splitlines()[0], "delay": delay}
                    )
                    self.sleep(delay)
                    continue
                reason = sources_named(str(exc), step, snapshot, record.directory)
                return self._fail(record, name, started, attempt, reason)
            elapsed = time.monotonic() - started
            if key is not None:
                cache.store(key, env.execution_id, properties)
            record.update_step(
                name,
                status=SUCCEEDED,
                ended=now(),
                duration_s=round(elapsed, 3),
                attempts=attempt,
                cache_hit_from=None,
                properties=properties,
            )
            self.progress(
                name,
                SUCCEEDED,
                {"seconds": elapsed, **({"outcome": properties["Outcome"]} if "Outcome" in properties else {})},
            )
            return properties, None

    def _fail(self, record: ExecutionRecord, name: str, started: float, attempts: int, reason: str) -> tuple[None, str]:
        elapsed = time.monotonic() - started
        record.update_step(
            name, status=FAILED, ended=now(), duration_s=round(elapsed, 3), attempts=attempts, failure_reason=reason
        )
        self.progress(name, FAILED, {"seconds": elapsed, "reason": reason})
        return None, reason.splitlines()[0] if reason else "failed"

    @staticmethod
    def _retry_delay(policies: list[dict], kind: str, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None when no policy covers this failure."""
        for policy in policies:
            if kind in policy.get("ExceptionType", []):
                max_attempts = policy.get("MaxAttempts")
                if max_attempts is not None and attempt >= max_attempts:
                    return None
                return float(policy.get("IntervalSeconds", 1)) * float(policy.get("BackoffRate", 2.0)) ** (attempt - 1)
        return None
