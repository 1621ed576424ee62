"""CloudWatch alarm semantics over the local metrics store: one evaluation round of metric and composite alarms.

The parts, one job each: ``metric_alarm`` (a metric alarm and its evaluation range, missing-data treatments),
``composite_alarm`` (AlarmRule over child states; the rule language is ``alarm_rule``), ``alarm_state`` (states,
transitions and ``AlarmStore``, the SQLite file that keeps them) and ``endpoint_alarms`` (an endpoint's drift and
model-quality alarms). ``evaluate_alarms`` is the thin shell that reads the metrics, evaluates at the clock's time
and records what changed. The names below stay importable from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitoring.local.alarm_rule import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    evaluate_rule,
    parse_rule,
)
from monitoring.local.alarm_state import STATES, AlarmState, AlarmStore, Transition, utc_now
from monitoring.local.composite_alarm import CompositeAlarm, composite_order, evaluate_composite
from monitoring.local.endpoint_alarms import feature_drift_alarms, model_quality_alarms
from monitoring.local.errors import AlarmError
from monitoring.local.metric_alarm import (
    COMPARISONS,
    TREATMENTS,
    MetricAlarm,
    evaluate_datapoints,
    read_datapoints,
)
from monitoring.local.metrics_store import MetricsStore, to_utc

__all__ = [
    "ALARM",
    "COMPARISONS",
    "INSUFFICIENT_DATA",
    "OK",
    "STATES",
    "TREATMENTS",
    "AlarmState",
    "AlarmStore",
    "CompositeAlarm",
    "Evaluation",
    "MetricAlarm",
    "Transition",
    "evaluate_alarms",
    "evaluate_composite",
    "evaluate_datapoints",
    "evaluate_rule",
    "feature_drift_alarms",
    "model_quality_alarms",
    "parse_rule",
    "read_datapoints",
]


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation round saw: every alarm's state after it and the transitions it caused."""

    states: dict[str, AlarmState]
    transitions: tuple[Transition, ...]

    def transition_of(self, name: str) -> Transition | None:
        return next((t for t in self.transitions if t.alarm_name == name), None)


def evaluate_alarms(
    metric_alarms: Sequence[MetricAlarm],
    composite_alarms: Sequence[CompositeAlarm],
    metrics: MetricsStore,
    store: AlarmStore,
    clock: Callable[[], datetime] = utc_now,
) -> Evaluation:
    """Evaluate every metric alarm, then the composite alarms over them, at ``clock()``; record the results."""
    now = to_utc(clock(), "clock")
    names = [a.name for a in metric_alarms] + [c.name for c in composite_alarms]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AlarmError(f"Alarm names must be unique; repeated: {', '.join(duplicates)}")
    ordered = composite_order(composite_alarms, set(names))
    states: dict[str, AlarmState] = {}
    transitions: list[Transition] = []
    for alarm in metric_alarms:
        previous = store.state(alarm.name)
        new = evaluate_datapoints(alarm, read_datapoints(alarm, metrics, now), previous.value, now)
        states[alarm.name] = _apply(store, alarm.name, new, transitions)
    for composite in ordered:
        new = evaluate_composite(composite, {n: states[n] for n in composite.children}, now)
        states[composite.name] = _apply(store, composite.name, new, transitions)
    return Evaluation(states, tuple(transitions))


def _apply(store: AlarmStore, name: str, new: AlarmState | None, transitions: list[Transition]) -> AlarmState:
    if new is not None:
        change = store.record(name, new)
        if change is not None:
            transitions.append(change)
    return store.state(name)
