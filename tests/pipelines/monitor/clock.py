"""A settable clock for the monitor, the capture writer and alarms."""

from __future__ import annotations

from datetime import datetime, timedelta


class Clock:
    """A settable clock for the monitor, the capture writer and alarms."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)
