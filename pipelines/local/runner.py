"""Executes a pipeline definition JSON: dependencies, parallel steps, caching, retries, resume, records.

The parts: ``plan`` (the steps and their dependencies, the parameters), ``step_run`` (one step: cache, attempts,
its record), ``steps`` / ``jobs`` (what each step type does); this module schedules the steps of an execution.

An interrupt (Ctrl-C; SIGTERM where ``mlops run`` turns it into one) never leaves an execution Executing: the record
becomes Failed ("interrupted"), the running jobs' processes are stopped (``processes``), the steps that were running
are recorded as stopped, and ``Interrupted`` (a KeyboardInterrupt) carries the result; the execution resumes like any
failed one. Any other exception escaping the schedule (a bug) ends the record the same way before it propagates."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.errors import StateError, UsageError
from pipelines.local import processes
from pipelines.local.cache import StepCache
from pipelines.local.expressions import Context, execution_variables
from pipelines.local.plan import QUALITY_CHECK_FIELDS, StepNode, new_execution_id, plan, typed_parameters
from pipelines.local.reasons import sources_named
from pipelines.local.record import (
    EXECUTING,
    FAILED,
    NOT_RUN,
    PENDING,
    SUCCEEDED,
    ExecutionRecord,
    now,
    runner_gone,
    this_runner,
)
from pipelines.local.step_run import Fault, Progress, StepRun, retry_delay
from pipelines.local.steps import StepEnvironment, read_property_file
from pipelines.local.store import ObjectStore

__all__ = [
    "QUALITY_CHECK_FIELDS",
    "ExecutionResult",
    "Interrupted",
    "LocalRunner",
    "StepNode",
    "new_execution_id",
    "plan",
    "retry_delay",
    "sources_named",
    "typed_parameters",
]


@dataclass(frozen=True)
class ExecutionResult:
    execution_id: str
    status: str
    failure_reason: str | None
    directory: Path
    steps: dict = field(default_factory=dict)


class Interrupted(KeyboardInterrupt):
    """An execution stopped by an interrupt: its record is Failed (``result``) and it resumes."""

    def __init__(self, result: ExecutionResult) -> None:
        super().__init__(result.failure_reason)
        self.result = result


def _stop_reason(exc: BaseException) -> str:
    """Why an execution stopped: ``interrupted (SIGINT)`` (or the signal ``mlops run`` named), or the bug."""
    if isinstance(exc, KeyboardInterrupt):
        return f"interrupted ({str(exc) or 'SIGINT'})"
    return f"the local runner failed: {type(exc).__name__}: {exc}"


class _Schedule:
    """The status of every step of one execution, and which may start now."""

    def __init__(self, nodes: dict[str, StepNode], done: dict[str, dict], ctx: Context) -> None:
        self.nodes = nodes
        self.ctx = ctx
        self.status = {n: (SUCCEEDED if n in done else PENDING) for n in nodes}
        self.failures: list[str] = []

    def runnable(self, node: StepNode) -> bool | None:
        """True: ready; False: never (branch not taken / dependency failed); None: wait."""
        if node.branch_of:
            condition, wanted = node.branch_of
            if self.status[condition] == SUCCEEDED and self.ctx.properties[condition].get("Outcome") != wanted:
                return False
        for need in node.needs:
            if self.status[need] in (FAILED, NOT_RUN):
                return False
            if self.status[need] != SUCCEEDED:
                return None
        return True

    def never_reason(self, node: StepNode) -> str:
        """Why a step that will never run does not."""
        branch = node.branch_of
        if branch and all(self.status[n] == SUCCEEDED for n in node.needs):
            return f"condition {branch[0]} took the other branch"
        return "a step it depends on did not succeed"


class LocalRunner:
    """Runs definitions against a state directory (object store, registry, records, cache)."""

    def __init__(
        self,
        state_dir: Path,
        registry,
        max_parallel: int = 2,
        progress: Progress | None = None,
        sleep: Callable[[float], None] | None = None,
        fault: Fault | None = None,
    ) -> None:
        if isinstance(max_parallel, bool) or not isinstance(max_parallel, int) or max_parallel < 1:
            raise UsageError(f"--parallel (steps run at once) must be 1 or more, got {max_parallel!r}")
        self.state_dir = Path(state_dir).resolve()  # jobs run in their own directory: paths must be absolute
        self.store = ObjectStore(self.state_dir)
        self.registry = registry
        self.max_parallel = max_parallel
        self.progress = progress or (lambda step, status, info: None)
        self.sleep = sleep or processes.pause  # a retry's wait; an interrupt ends it
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
        return self._execute(nodes, record, {})

    def resume(self, execution_id: str) -> ExecutionResult:
        """Re-run a failed execution from its failed (and not run) steps; succeeded steps keep their outputs."""
        record = ExecutionRecord.load(self.state_dir, execution_id)
        status = record.data["status"]
        if status != FAILED and not (status == EXECUTING and runner_gone(record.data)):
            raise StateError(f"execution {execution_id} is {status}: only a Failed execution resumes")
        nodes = plan(json.loads(record.definition))
        done = {n: s["properties"] for n, s in record.data["steps"].items() if s["status"] == SUCCEEDED}
        for name, step in record.data["steps"].items():
            if step["status"] != SUCCEEDED:
                record.data["steps"][name] = {
                    "type": step["type"],
                    "status": PENDING,
                    "previous_attempts": step.get("attempts", 0),
                }
        record.update(
            status=EXECUTING,
            failure_reason=None,
            ended=None,
            resumed=[*record.data["resumed"], now()],
            runner=this_runner(),
        )
        return self._execute(nodes, record, done)

    # -- execution -----------------------------------------------------------------------------
    def _execute(self, nodes: dict[str, StepNode], record: ExecutionRecord, done: dict[str, dict]) -> ExecutionResult:
        pool = ThreadPoolExecutor(max_workers=self.max_parallel)
        try:
            schedule = self._schedule(pool, nodes, record, done)
            final = FAILED if schedule.failures else SUCCEEDED
            record.update(status=final, ended=now(), failure_reason="; ".join(schedule.failures) or None)
        except BaseException as exc:  # an interrupt (or a bug): the record must not stay Executing
            result = self._stopped(pool, record, _stop_reason(exc))
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(result) from exc
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            processes.reset()
        return self._result(record)

    def _schedule(
        self, pool: ThreadPoolExecutor, nodes: dict[str, StepNode], record: ExecutionRecord, done: dict[str, dict]
    ) -> _Schedule:
        """Run the steps, each as soon as what it needs has succeeded, until none is left to start."""
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
        lock = threading.Lock()
        cache = StepCache(self.state_dir, pipeline)
        run = StepRun(env, cache, record, self.progress, self.sleep, self.fault, lock)
        schedule = _Schedule(nodes, done, ctx)
        running: dict[Future, str] = {}
        while True:
            for name in self._ready(schedule, record):
                running[pool.submit(run, nodes[name], ctx)] = name
            if not running:
                return schedule
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                self._finished(schedule, running.pop(future), future, lock)

    def _stopped(self, pool: ThreadPoolExecutor, record: ExecutionRecord, reason: str) -> ExecutionResult:
        """End an execution whose schedule was interrupted: the record Failed first (so that a second Ctrl-C still
        leaves it resumable), then every job's processes stopped, the running steps waited for, and the steps that
        were running (or had not started) recorded as such."""
        if record.data["status"] == EXECUTING:
            record.update(status=FAILED, ended=now(), failure_reason=reason)
        else:  # the interrupt came as the final status was written: make sure the file holds it
            record.save()
        processes.stop(reason)
        pool.shutdown(wait=True, cancel_futures=True)
        for name, step in list(record.data["steps"].items()):
            if step["status"] == EXECUTING:
                record.update_step(name, status=FAILED, ended=now(), failure_reason=f"stopped: {reason}")
            elif step["status"] == PENDING:
                record.update_step(name, status=NOT_RUN, reason=f"not started: {reason}")
        return self._result(record)

    @staticmethod
    def _result(record: ExecutionRecord) -> ExecutionResult:
        data = record.data
        return ExecutionResult(
            data["execution_id"], data["status"], data["failure_reason"], record.directory, data["steps"]
        )

    def _ready(self, schedule: _Schedule, record: ExecutionRecord) -> list[str]:
        """The pending steps that start now (marked Executing); steps that never will are recorded NotRun."""
        ready = []
        for name, node in schedule.nodes.items():
            if schedule.status[name] != PENDING:
                continue
            if schedule.failures:  # as in SageMaker: after a failure no new step starts
                schedule.status[name] = NOT_RUN
                record.update_step(name, status=NOT_RUN, reason="the execution failed before it started")
                continue
            runnable = schedule.runnable(node)
            if runnable is False:
                schedule.status[name] = NOT_RUN
                reason = schedule.never_reason(node)
                record.update_step(name, status=NOT_RUN, reason=reason)
                self.progress(name, NOT_RUN, {"reason": reason})
            elif runnable:
                schedule.status[name] = EXECUTING
                ready.append(name)
        return ready

    @staticmethod
    def _finished(schedule: _Schedule, name: str, future: Future, lock: threading.Lock) -> None:
        """Record a finished step's outcome: its properties become visible to the steps after it."""
        properties, failure = future.result()
        if failure is None:
            with lock:
                schedule.ctx.properties[name] = properties
            schedule.status[name] = SUCCEEDED
        else:
            schedule.status[name] = FAILED
            schedule.failures.append(f"{name}: {failure}")
