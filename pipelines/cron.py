"""``monitoring.schedule``: one five-field cron expression, evaluated for the local loop and translated to AWS.

The configuration holds a standard cron expression (minute hour day-of-month month day-of-week, in UTC). The local
loop evaluates it with cronsim (Debian cron semantics: when neither day field starts with ``*``, a day matching
either one fires). The grammar accepted everywhere is the part both dialects share: in each field a comma list of
``*``, ``N`` or ``N-M``, each with an optional ``/S`` step; JAN-DEC in the month, SUN-SAT in the day of week; ``?``
for a whole day field, read as ``*``. cron's ``L``, ``W`` and ``#``, a seconds field and ``@hourly`` are refused.
The minute field must be one value: a data-quality check covers a whole hour of capture (a complete hour),
and a window is never checked twice, so a schedule firing more than once an hour (``*/15 * * * *``) would run checks
that only skip; it is refused for both engines (Model Monitor itself runs hourly at the most).

Translation to AWS's six-field ``cron(...)``, with these rules:

EventBridge Scheduler (engine ``processing``). EventBridge Scheduler User Guide, "Schedule types", cron-based
schedules (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based), whose fields are
EventBridge's (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html): "Cron
expressions have six required fields": minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12, day-of-week 1-7
or SUN-SAT, year 1970-2199; "You can't specify the Day-of-month and Day-of-week fields in the same cron
expression. If you specify a value or a * (asterisk) in one of the fields, you must use a ? (question mark) in the
other."
- the year field is added as ``*``;
- day-of-week numbers 0-6 (and cron's 7, Sunday again) become 1-7: Sunday is 1;
- the day field that does not restrict becomes ``?``; an expression that restricts both (cron fires when either
  matches) has no AWS equivalent and is refused;
- every field is written from the set of values cronsim evaluates, as AWS reads it: ``*``, ``start/step`` for a
  step that runs to the end of the field, else values and ranges (``*/15`` -> ``0/15``, ``MON-FRI`` -> ``2-6``).

Model Monitor (engine ``model-monitor``). SageMaker Developer Guide, "The cron expression for monitoring schedule"
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-schedule-expression.html) and the API's
``ScheduleConfig.ScheduleExpression``: the only supported expressions are hourly ``cron(0 * ? * * *)``, daily
``cron(0 [00-23] ? * * *)`` and every few hours ``cron(0 [00-23]/[01-24] ? * * *)`` (e.g. ``cron(0 0/2 ? * * *)``).
So only minute 0, every day of every month, and an hour that is ``*``, one hour or ``H/S`` pass, written in
exactly that form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import pairwise
from typing import cast

from cronsim import CronSim, CronSimError

from mlops_errors import MlopsError

ENGINES = ("processing", "model-monitor")
FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_EXPECTED = {
    "minute": "0-59",
    "hour": "0-23",
    "day-of-month": "1-31",
    "month": "1-12 or JAN-DEC",
    "day-of-week": "0-7 (0 and 7: Sunday) or SUN-SAT",
}
_VALUE = r"([0-9]+|[A-Z]{3})"  # a number, or a name (JAN-DEC, SUN-SAT: cronsim checks which field allows it)
_ITEM = re.compile(rf"^(\*|{_VALUE}(-{_VALUE})?)(/[0-9]+)?$")
_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_MODEL_MONITOR_HOURS = re.compile(r"^(\*|[0-9]+|[0-9]+/[0-9]+)$")


class CronError(MlopsError, ValueError):
    """A schedule that is not a valid cron expression, or that the chosen AWS engine cannot run."""


def _fields(expression: str) -> list[str]:
    """The five fields, upper-cased, ``?`` read as ``*``; CronError for anything outside the shared grammar."""
    if not isinstance(expression, str):
        raise CronError(f"must be a five-field cron expression such as '0 * * * *', got {expression!r}")
    fields = expression.upper().split()
    if len(fields) != 5:
        raise CronError(
            f"must be five cron fields (minute hour day-of-month month day-of-week) such as '0 * * * *', "
            f"got {expression!r}"
        )
    for index, (name, text) in enumerate(zip(FIELDS, fields, strict=True)):
        if text == "?" and name in ("day-of-month", "day-of-week"):
            fields[index] = "*"
            continue
        if not all(_ITEM.match(item) for item in text.split(",")):
            raise CronError(
                f"{name} must be *, N or N-M, each with an optional /step, or a comma list of them "
                f"(values {_EXPECTED[name]}), got {text!r} in {expression!r}"
            )
    return fields


def _evaluate(expression: str) -> tuple[list[str], CronSim]:
    fields = _fields(expression)
    try:
        cron = CronSim(" ".join(fields), _EPOCH)
    except CronSimError as exc:
        name = str(exc).removeprefix("Bad ")
        if name not in _EXPECTED:
            raise CronError(f"is not a valid cron expression ({exc}), got {expression!r}") from exc
        text = fields[FIELDS.index(name)]
        days = ", on a day the chosen months have" if name == "day-of-month" else ""
        raise CronError(
            f"{name} must use values {_EXPECTED[name]}, ascending ranges and steps of at least 1{days}, "
            f"got {text!r} in {expression!r}"
        ) from exc
    if len(cron.minutes) > 1:
        raise CronError(
            f"minute must be one value (the schedule fires at most once an hour): each check covers a whole hour, "
            f"so a second run in the same hour would check the same hour again, got {fields[0]!r} in {expression!r}"
        )
    return fields, cron


def _aws_field(values: Iterable[int], low: int, high: int, steps: bool = True) -> str:
    """A set of values in AWS's notation: ``*``, ``start/step`` running to ``high`` (where AWS has steps), else
    values and ranges."""
    ordered = sorted(set(values))
    if ordered == list(range(low, high + 1)):
        return "*"
    gaps = {b - a for a, b in pairwise(ordered)}
    if steps and len(gaps) == 1 and (step := gaps.pop()) > 1 and ordered[0] - step < low and ordered[-1] + step > high:
        return f"{ordered[0]}/{step}"
    runs: list[list[int]] = []
    for value in ordered:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return ",".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs)


def _aws_days(fields: list[str], cron: CronSim, expression: str) -> tuple[str, str]:
    """Day-of-month and day-of-week in AWS's notation, one of them ``?``; CronError when both restrict."""
    all_days = set(cron.days) >= set(range(1, 32))
    weekdays = {cast(int, day) % 7 for day in cron.weekdays}  # cron: 0 and 7 are Sunday (no L or #: ints)
    all_weekdays = weekdays == set(range(7))
    if cron.day_and:  # a day field starts with *: a day must match both
        if all_weekdays:
            return _aws_field(cron.days, 1, 31), "?"
        if all_days:
            # AWS: 1-7, Sunday is 1; EventBridge lists no / for day-of-week
            return "?", _aws_field((day + 1 for day in weekdays), 1, 7, steps=False)
    elif all_days or all_weekdays:  # either field matching is enough, and one matches every day
        return "*", "?"
    raise CronError(
        f"restricts both day-of-month ({fields[2]!r}) and day-of-week ({fields[4]!r}); AWS needs '?' in one of "
        f"them, so use '*' in one, got {expression!r}"
    )


def aws_cron(expression: str, engine: str = "processing") -> str:
    """``0 * * * *`` -> ``cron(0 * * * ? *)`` (processing) or ``cron(0 * ? * * *)`` (model-monitor); CronError
    naming the field when the expression is invalid or the engine's AWS schedule cannot express it."""
    if engine not in ENGINES:
        raise CronError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    fields, cron = _evaluate(expression)
    minute, hour = _aws_field(cron.minutes, 0, 59), _aws_field(cron.hours, 0, 23)
    month = _aws_field(cron.months, 1, 12)
    day, weekday = _aws_days(fields, cron, expression)
    if engine == "processing":
        return f"cron({minute} {hour} {day} {month} {weekday} *)"
    if minute != "0" or month != "*" or (day, weekday) != ("*", "?") or not _MODEL_MONITOR_HOURS.match(hour):
        raise CronError(
            "the model-monitor engine runs only the schedules Model Monitor accepts: hourly '0 * * * *', daily "
            f"'0 H * * *' or every S hours from H '0 H/S * * *' (also '0 */S * * *'), got {expression!r}"
        )
    return f"cron(0 {hour} ? * * *)"


def validate_cron(expression: str, engine: str = "processing") -> str:
    """The expression with single spaces if the local loop and the engine's AWS schedule both accept it, else
    CronError saying what is wrong (the configuration's validator adds the field's path)."""
    aws_cron(expression, engine)
    return " ".join(expression.split())


@dataclass(frozen=True)
class Cron:
    """A validated cron expression, evaluated in UTC by the local loop."""

    expression: str

    def __post_init__(self) -> None:
        _evaluate(self.expression)

    @classmethod
    def parse(cls, expression: str) -> Cron:
        """CronError naming the field unless ``expression`` is in the grammar both the loop and AWS share."""
        return cls(" ".join(expression.split()) if isinstance(expression, str) else expression)

    def _iterate(self, moment: datetime) -> CronSim:
        return CronSim(" ".join(_fields(self.expression)), moment.astimezone(timezone.utc))

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after ``moment`` (UTC)."""
        return next(self._iterate(moment))

    def fires_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Every firing time in (start, end]."""
        times: list[datetime] = []
        for fired in self._iterate(start):
            if fired > end:
                return times
            times.append(fired)
        return times
