"""One step of an execution: its cache lookup, its attempts under the step's retry policies, and what the
execution record and the progress callback learn of it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipelines.local import quality_check
from pipelines.local.cache import CACHEABLE, StepCache, cache_key, expire_after
from pipelines.local.cluster import hosts_of
from pipelines.local.expressions import Context, ExpressionError
from pipelines.local.plan import StepNode
from pipelines.local.reasons import sources_named
from pipelines.local.record import EXECUTING, FAILED, SUCCEEDED, ExecutionRecord, now
from pipelines.local.steps import StepEnvironment, run_step
from pipelines.local.store import StepFailure

Progress = Callable[[str, str, dict], None]
Fault = Callable[[str, int], StepFailure | None]
Outcome = tuple[dict | None, str | None]  # (properties, None) or (None, the failure's first line)


def retry_delay(policies: list[dict], kind: str, attempt: int) -> float | None:
    """Seconds to wait before the next attempt, or None when no policy covers this failure."""
    for policy in policies:
        if kind in policy.get("ExceptionType", []):
            max_attempts = policy.get("MaxAttempts")
            if max_attempts is not None and attempt >= max_attempts:
                return None
            return float(policy.get("IntervalSeconds", 1)) * float(policy.get("BackoffRate", 2.0)) ** (attempt - 1)
    return None


@dataclass
class StepRun:
    """Runs steps of one execution; shared by the runner's worker threads (the record has its own lock)."""

    env: StepEnvironment
    cache: StepCache
    record: ExecutionRecord
    progress: Progress
    sleep: Callable[[float], None]
    fault: Fault | None
    lock: threading.Lock

    def __call__(self, node: StepNode, ctx: Context) -> Outcome:
        """Run one step (from cache when it may): its properties, or the reason it failed."""
        name, step = node.name, node.step
        started = time.monotonic()
        log = self.record.directory / "steps" / name / "log.txt"
        self.record.update_step(name, status=EXECUTING, started=now(), log=str(log))
        self.progress(name, EXECUTING, {})
        try:
            with self.lock:
                snapshot = Context(ctx.parameters, ctx.execution, dict(ctx.properties), ctx.read_property_file)
            key = self._cache_key(step, snapshot)
            hit = self._cached(name, step, key, started)
        except (ExpressionError, StepFailure, ValueError) as exc:
            return self._fail(name, started, 0, str(exc))
        if hit is not None:
            return hit, None
        return self._attempts(node, snapshot, key, started)

    def _cache_key(self, step: dict, snapshot: Context) -> str | None:
        config = step.get("CacheConfig") or {}
        if step["Type"] not in CACHEABLE or not config.get("Enabled"):
            return None
        key = cache_key(step, snapshot)
        if step["Type"] == "QualityCheck":  # the outcome also depends on the baseline checked against
            key = quality_check.cache_key(key, step, snapshot, self.env.registry)
        return key

    def _cached(self, name: str, step: dict, key: str | None, started: float) -> dict | None:
        """The properties of an earlier run with the same key, recorded as this step's, or None."""
        if key is None:
            return None
        hit = self.cache.lookup(key, expire_after((step.get("CacheConfig") or {}).get("ExpireAfter")))
        if hit is None:
            return None
        elapsed = time.monotonic() - started
        self.record.update_step(
            name,
            status=SUCCEEDED,
            ended=now(),
            duration_s=round(elapsed, 3),
            attempts=0,
            cache_hit_from=hit["execution_id"],
            properties=hit["properties"],
        )
        self.progress(name, SUCCEEDED, {"cached_from": hit["execution_id"], "seconds": elapsed})
        return hit["properties"]

    def _attempts(self, node: StepNode, snapshot: Context, key: str | None, started: float) -> Outcome:
        """Run the step until it succeeds or no retry policy covers its failure."""
        name, step = node.name, node.step
        log = self.record.directory / "steps" / name / "log.txt"
        attempt = 0
        while True:
            attempt += 1
            try:
                injected = self.fault(name, attempt) if self.fault else None
                if injected is not None:
                    raise injected
                properties = run_step(step, snapshot, self.env, log)
            except (StepFailure, ExpressionError, ValueError) as exc:
                delay = retry_delay(step.get("RetryPolicies", []), getattr(exc, "kind", "ClientError"), attempt)
                if delay is None:
                    reason = sources_named(str(exc), step, snapshot, self.record.directory)
                    return self._fail(name, started, attempt, reason)
                self.record.update_step(name, attempts=attempt, last_error=str(exc))
                info = {"attempt": attempt, "error": str(exc).splitlines()[0], "delay": delay}
                self.progress(name, "Retrying", info)
                self.sleep(delay)
                continue
            return self._succeed(name, started, attempt, key, properties), None

    def _succeed(self, name: str, started: float, attempts: int, key: str | None, properties: dict) -> dict:
        elapsed = time.monotonic() - started
        if key is not None:
            self.cache.store(key, self.env.execution_id, properties)
        self.record.update_step(
            name,
            status=SUCCEEDED,
            ended=now(),
            duration_s=round(elapsed, 3),
            attempts=attempts,
            cache_hit_from=None,
            properties=properties,
            **self._hosts(name),
        )
        outcome = {"outcome": properties["Outcome"]} if "Outcome" in properties else {}
        self.progress(name, SUCCEEDED, {"seconds": elapsed, **outcome})
        return properties

    def _hosts(self, name: str) -> dict:
        """``hosts``: each host of the step's multi-instance jobs (timing, outcome, log); nothing for one host."""
        hosts = hosts_of(self.record.directory / "steps" / name)
        return {"hosts": hosts} if hosts else {}

    def _fail(self, name: str, started: float, attempts: int, reason: str) -> tuple[None, str]:
        elapsed = time.monotonic() - started
        self.record.update_step(
            name,
            status=FAILED,
            ended=now(),
            duration_s=round(elapsed, 3),
            attempts=attempts,
            failure_reason=reason,
            **self._hosts(name),
        )
        self.progress(name, FAILED, {"seconds": elapsed, "reason": reason})
        return None, reason.splitlines()[0] if reason else "failed"
