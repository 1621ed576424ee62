"""The configuration's five-field cron (``monitoring.schedule``) as the six-field ``cron(...)`` expression of
EventBridge Scheduler and SageMaker monitoring schedules.

Differences handled: AWS adds a year field, needs ``?`` in one of day-of-month / day-of-week, and numbers the
days of the week 1-7 from Sunday (cron: 0-7, both 0 and 7 Sunday). Both run in UTC here.
"""

from __future__ import annotations

import re

_NAMES = re.compile(r"^[A-Za-z]{3}([-,][A-Za-z]{3})*$")


def _day_of_week(field: str) -> str:
    """Days of the week in AWS's numbering (1-7 from Sunday), as a list; names (MON-FRI) pass through."""
    if _NAMES.match(field):
        return field.upper()
    days: set[int] = set()
    for part in field.split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(
                f"monitoring.schedule: day of week must be N, N-M or lists of them (0-7, or names), got {field!r}"
            )
        first, last = int(low), int(high) if dash else int(low)
        if not 0 <= first <= last <= 7:
            raise ValueError(f"monitoring.schedule: day of week must be an ascending range within 0-7, got {part!r}")
        days.update(day % 7 for day in range(first, last + 1))
    return ",".join(str(day + 1) for day in sorted(days))


def aws_cron(expression: str) -> str:
    """``0 * * * *`` -> ``cron(0 * * * ? *)``; ValueError naming the field otherwise."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"monitoring.schedule: must be five cron fields (minute hour day-of-month month day-of-week), "
            f"got {expression!r}"
        )
    minute, hour, day, month, weekday = fields
    if weekday in ("*", "?"):
        weekday = "?"
    elif day in ("*", "?"):
        day, weekday = "?", _day_of_week(weekday)
    else:
        raise ValueError(
            f"monitoring.schedule: AWS cannot restrict both day of month and day of week, got {expression!r}"
        )
    return f"cron({minute} {hour} {day} {month} {weekday} *)"


def is_hourly(expression: str) -> bool:
    """True for a once-an-hour schedule (what Model Monitor's hourly analysis expects)."""
    fields = expression.split()
    return len(fields) == 5 and fields[0].isdigit() and fields[1:] == ["*", "*", "*", "*"]
