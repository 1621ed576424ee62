"""When a model-quality check looks: Model Monitor's offsets, the windows of a check at time T, the schedule's name
beside data quality's, and which check kinds a command runs.

A check at T covers capture with inferenceTime in [T + start_time_offset, T + end_time_offset] and labels from the
ground-truth hour folders in [T + start_time_offset, T] (``monitoring.model_quality``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipelines.config import Config
from pipelines.monitor.executions import DATA_QUALITY, MODEL_QUALITY, MonitorError

SUFFIX = "-model-quality"
_OFFSET = re.compile(r"^-P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


class ModelQualityError(MonitorError):
    """A model-quality check that cannot run as configured (no model-quality baseline, an unknown metric)."""


def parse_offset(text: str) -> timedelta:
    """A negative ISO 8601 duration (``-P1D``, ``-PT1H``, ``-P1DT12H``, ``-PT30M``) as a timedelta."""
    match = _OFFSET.match(text or "")
    if not match or not any(match.groups()):
        raise ModelQualityError(f"offset must be a negative ISO 8601 duration such as -P1D or -PT1H, got {text!r}")
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return -timedelta(days=days, hours=hours, minutes=minutes)


def model_quality_schedule(schedule: str) -> str:
    """The model-quality schedule's name beside a data-quality schedule's (``hourly`` -> ``hourly-model-quality``):
    its reports, executions and metrics' MonitoringSchedule dimension stay apart from data quality's."""
    return schedule if schedule.endswith(SUFFIX) else f"{schedule}{SUFFIX}"


@dataclass(frozen=True)
class CheckWindow:
    """A model-quality check's time ``at`` (T), its capture window and the hours of its ground-truth folders."""

    at: datetime
    capture_start: datetime
    capture_end: datetime
    labels_start: datetime
    labels_end: datetime


def window_at(config: Config, at: datetime) -> CheckWindow:
    """The windows of a check at ``at`` with the configured offsets."""
    quality = config.monitoring.model_quality
    start, end = at + parse_offset(quality.start_time_offset), at + parse_offset(quality.end_time_offset)
    return CheckWindow(at, start, end, start, at)


def window_from_capture(config: Config, start: datetime, end: datetime) -> CheckWindow:
    """The check whose capture window is [start, end] (``--window``): T = end - end_time_offset, labels from the
    folders of [start, T]."""
    at = end - parse_offset(config.monitoring.model_quality.end_time_offset)
    return CheckWindow(at, start, end, start, at)


def check_kinds(config: Config, kind: str | None, scheduled: bool = False) -> tuple[str, ...]:
    """The check kinds ``--kind`` asks for: ``data-quality``, ``model-quality`` or ``all``; unset, a schedule runs
    both when model quality is enabled, a one-off run data quality. Model quality must be enabled to run."""
    enabled = config.monitoring.model_quality.enabled
    if kind is None:
        kind = "all" if scheduled and enabled else DATA_QUALITY
    kinds = (DATA_QUALITY, MODEL_QUALITY) if kind == "all" else (kind,)
    if kind not in ("all", DATA_QUALITY, MODEL_QUALITY):
        raise ModelQualityError(f"--kind must be data-quality, model-quality or all, got {kind!r}")
    if MODEL_QUALITY in kinds and not enabled:
        raise ModelQualityError(
            f"--kind {kind}: model-quality monitoring is disabled in the configuration "
            "(monitoring.model_quality.enabled: false)"
        )
    return kinds
