"""CloudWatch composite alarms: PutCompositeAlarm's name and AlarmRule, and the state the children put it in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from monitoring.local.alarm_rule import ALARM, OK, atom_true, evaluate_rule, parse_rule, rule_children
from monitoring.local.alarm_state import AlarmState, iso_time
from monitoring.local.errors import AlarmError


@dataclass(frozen=True)
class CompositeAlarm:
    """PutCompositeAlarm's name and AlarmRule (validated when created)."""

    name: str
    rule: str
    tree: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not self.name.isascii():
            raise AlarmError(f"Composite alarm {self.name!r}: the name must be non-empty ASCII")
        object.__setattr__(self, "tree", parse_rule(self.rule))

    @property
    def children(self) -> list[str]:
        return rule_children(self.tree)


def evaluate_composite(alarm: CompositeAlarm, children: Mapping[str, AlarmState], now: datetime) -> AlarmState:
    """ALARM when the rule is TRUE, else OK; the reason names the child alarms that decided it."""
    result = evaluate_rule(alarm.tree, {name: state.value for name, state in children.items()})
    deciding = alarm.children
    if result:
        deciding = [n for n in deciding if atom_true(alarm.tree, n, children[n].value)] or deciding
    listed = ", ".join(f"{n} is {children[n].value}" for n in deciding[:10])
    more = f" and {len(deciding) - 10} more" if len(deciding) > 10 else ""
    reason = f"Alarm rule {alarm.rule} is {'TRUE' if result else 'FALSE'}: {listed}{more}"
    triggering = [
        {
            "name": n,
            "state": {"value": children[n].value, "timestamp": iso_time(children[n].timestamp or now)},
            "reason": children[n].reason,
        }
        for n in deciding
    ]
    return AlarmState(ALARM if result else OK, reason, {"triggeringAlarms": triggering}, now)


def composite_order(composites: Sequence[CompositeAlarm], known: set[str]) -> list[CompositeAlarm]:
    """Composites ordered children first; an unknown child or a cycle is an error naming the alarm."""
    by_name = {c.name: c for c in composites}
    ordered: list[CompositeAlarm] = []
    visiting: set[str] = set()

    def visit(alarm: CompositeAlarm) -> None:
        if alarm in ordered:
            return
        if alarm.name in visiting:
            raise AlarmError(f"Composite alarm {alarm.name!r}: its AlarmRule refers back to itself (a cycle)")
        visiting.add(alarm.name)
        for child in alarm.children:
            if child not in known:
                raise AlarmError(
                    f"Composite alarm {alarm.name!r} refers to alarm {child!r}, which is not defined; "
                    f"defined alarms are: {', '.join(sorted(known))}"
                )
            if child in by_name:
                visit(by_name[child])
        ordered.append(alarm)

    for alarm in composites:
        visit(alarm)
    return ordered
