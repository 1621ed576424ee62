"""Five-field cron expressions (minute hour day-of-month month day-of-week), evaluated in UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))


def _parse_field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"cron {name}: step must be a positive integer, got {part!r}")
            step = int(step_text)
        if body in ("*", "?"):
            start, end = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise ValueError(f"cron {name}: range must be N-M, got {part!r}")
            start, end = int(a), int(b)
        elif body.isdigit():
            start = int(body)
            end = high if step_text else start
        else:
            raise ValueError(f"cron {name}: expected *, N, N-M, */S or lists of them, got {part!r}")
        if name == "day of week" and end == 7:
            end = 6 if start <= 6 else 7
            values.add(0)
        if not (low <= start <= end <= high):
            raise ValueError(f"cron {name}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> Cron:
        parts = expression.split()
        if len(parts) != 5:
            raise ValueError(f"cron expression must have 5 fields (minute hour day month weekday), got {expression!r}")
        sets = [_parse_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
        return cls(expression, *sets, parts[2] in ("*", "?"), parts[4] in ("*", "?"))

    def matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7  # cron: 0 = Sunday
        day_ok = moment.day in self.days
        weekday_ok = weekday in self.weekdays
        # both restricted: either one matching is enough, as cron does
        restricted_both = not (self.any_day or self.any_weekday)
        day_match = (day_ok or weekday_ok) if restricted_both else (day_ok and weekday_ok)
        return moment.minute in self.minutes and moment.hour in self.hours and moment.month in self.months and day_match

    def next_after(self, moment: datetime) -> datetime:
        """The first matching minute strictly after ``moment`` (UTC)."""
        candidate = moment.astimezone(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(366 * 24 * 60):
            if self.matches(candidate):
                return candidate
            candidate += timedelta(minutes=1)
        raise ValueError(f"cron {self.expression!r} never fires within a year")

    def fires_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Every firing time in (start, end]."""
        times = []
        current = start
        while True:
            current = self.next_after(current)
            if current > end:
                return times
            times.append(current)
