"""What an alert says: an alarm's state change on an endpoint, the model version it serves, and what the check
behind it found (the drifted features of a drift alarm, the metrics against their thresholds of a model-quality
alarm) and where its report is. The sinks that deliver alerts are in ``alerts``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from monitoring.local.alarm_state import Transition
from monitoring.local.errors import AlertError


@dataclass(frozen=True)
class DriftedFeature:
    name: str
    distance: float
    threshold: float
    method: str = ""


@dataclass(frozen=True)
class QualityMetric:
    """One alarmed model-quality metric of the check behind an alert, with its constraint."""

    name: str
    value: float
    threshold: float
    comparison_operator: str

    @property
    def breached(self) -> bool:
        greater = self.comparison_operator.startswith("Greater")
        equal = "OrEqualTo" in self.comparison_operator
        if self.value == self.threshold:
            return equal
        return self.value > self.threshold if greater else self.value < self.threshold

    def describe(self) -> str:
        """``rmse 3.412 > 2.5`` when breached, ``rmse 2.1 within 2.5`` otherwise."""
        sign = ">" if self.comparison_operator.startswith("Greater") else "<"
        return f"{self.name} {self.value:.4g} {sign if self.breached else 'within'} {self.threshold:.4g}"


@dataclass(frozen=True)
class Alert:
    """What happened (an alarm's state change), where, to which model version, and where the report is."""

    endpoint: str
    model_version: str
    alarm_name: str
    new_state: str
    old_state: str
    reason: str
    features: tuple[DriftedFeature, ...] = ()
    report: str = ""
    time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    details: Mapping[str, object] = field(default_factory=dict)
    model_quality: tuple[QualityMetric, ...] | None = None  # None: not a model-quality alarm

    @property
    def summary(self) -> str:
        """One line for people: state change, endpoint, model version, drifted features or model-quality metrics
        against their thresholds, report."""
        text = f"{self.alarm_name} is {self.new_state} (was {self.old_state}) on endpoint {self.endpoint}"
        text += f", model version {self.model_version}"
        if self.features:
            shown = ", ".join(f"{f.name} {f.distance:.3f} > {f.threshold:g}" for f in self.features)
            text += f"; drifted: {shown}"
        if self.model_quality is not None:
            shown = ", ".join(m.describe() for m in self.model_quality) or "no metrics in this check"
            text += f"; model quality: {shown}"
        return text + (f"; report: {self.report}" if self.report else "")

    def to_json(self) -> dict:
        return {
            "endpoint": self.endpoint,
            "model_version": self.model_version,
            "alarm_name": self.alarm_name,
            "new_state": self.new_state,
            "old_state": self.old_state,
            "reason": self.reason,
            "features": [
                {"name": f.name, "distance": f.distance, "threshold": f.threshold, "method": f.method}
                for f in self.features
            ],
            "model_quality": None
            if self.model_quality is None
            else [
                {
                    "name": m.name,
                    "value": m.value,
                    "threshold": m.threshold,
                    "comparison_operator": m.comparison_operator,
                    "breached": m.breached,
                }
                for m in self.model_quality
            ],
            "report": self.report,
            "time": self.time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "summary": self.summary,
            "details": dict(self.details),
        }


def drifted_features(summary: Mapping | str | Path) -> tuple[DriftedFeature, ...]:
    """Features over their drift threshold in an analysis_summary.json (a path or the parsed document)."""
    source = str(summary) if isinstance(summary, (str, Path)) else "analysis summary"
    if isinstance(summary, (str, Path)):
        try:
            summary = json.loads(Path(summary).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AlertError(f"Cannot read the analysis summary {source}: {exc}") from exc
    entries = summary.get("drift", []) if isinstance(summary, Mapping) else None
    if not isinstance(entries, list):
        raise AlertError(f"{source}: 'drift' must be a list of {{feature, distance, threshold, method}}")
    found = []
    for i, entry in enumerate(entries):
        try:
            feature = DriftedFeature(
                str(entry["feature"]), float(entry["distance"]), float(entry["threshold"]), str(entry.get("method", ""))
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AlertError(f"{source}: drift[{i}] needs feature, distance and threshold, got {entry!r}") from exc
        if feature.distance > feature.threshold:
            found.append(feature)
    return tuple(sorted(found, key=lambda f: -f.distance))


def alert_from_transition(
    transition: Transition,
    endpoint: str,
    model_version: str,
    summary: Mapping | str | Path | None = None,
    report: str = "",
    details: Mapping[str, object] | None = None,
    model_quality: Sequence[QualityMetric] | None = None,
) -> Alert:
    """The alert for an alarm's state change, with the drifted features (``summary``: an analysis summary) or the
    model-quality metrics against their thresholds (``model_quality``) of the check that caused it."""
    return Alert(
        endpoint=endpoint,
        model_version=model_version,
        alarm_name=transition.alarm_name,
        new_state=transition.new_state,
        old_state=transition.old_state,
        reason=transition.reason,
        features=drifted_features(summary) if summary is not None else (),
        report=str(report),
        time=transition.timestamp,
        details=dict(details or {}),
        model_quality=None if model_quality is None else tuple(model_quality),
    )
