"""constraints.json in SageMaker Model Monitor's format: suggesting it from baseline statistics,
reading it (with per-feature overrides) and validating every field it uses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from monitoring.errors import AnalyzerInputError
from monitoring.statistics import DatasetStatistics, FeatureStatistics, object_field, read_json_file
from monitoring.type_names import FRACTIONAL, INTEGRAL, STRING, TYPES

COMPARISON_METHODS = ("Robust", "Simple")
CATEGORICAL_METHODS = ("LInfinity", "ChiSquared")
SWITCH = ("Enabled", "Disabled")
# Deequ suggests a domain constraint for columns with at most this many distinct values ...
MAX_DOMAIN_SIZE = 120
# ... of which at most this fraction occur only once (``CategoricalRangeRule``).
MAX_UNIQUE_VALUE_RATIO = 0.1


@dataclass(frozen=True)
class MonitoringConfig:
    """The ``monitoring_config`` block (and, merged with overrides, one feature's effective settings)."""

    evaluate_constraints: bool = True
    emit_metrics: bool = True
    datatype_check_threshold: float = 1.0
    domain_content_threshold: float = 1.0
    perform_comparison: bool = True
    comparison_threshold: float = 0.1
    comparison_method: str = "Robust"
    categorical_comparison_threshold: float = 0.1
    categorical_drift_method: str = "LInfinity"

    def to_json(self) -> dict:
        return {
            "evaluate_constraints": _switch(self.evaluate_constraints),
            "emit_metrics": _switch(self.emit_metrics),
            "datatype_check_threshold": self.datatype_check_threshold,
            "domain_content_threshold": self.domain_content_threshold,
            "distribution_constraints": {
                "perform_comparison": _switch(self.perform_comparison),
                "comparison_threshold": self.comparison_threshold,
                "comparison_method": self.comparison_method,
                "categorical_comparison_threshold": self.categorical_comparison_threshold,
                "categorical_drift_method": self.categorical_drift_method,
            },
        }


@dataclass(frozen=True)
class FeatureConstraints:
    """One feature of constraints.json."""

    name: str
    inferred_type: str
    completeness: float | None = None
    is_non_negative: bool | None = None
    domains: tuple[str, ...] | None = None
    config: MonitoringConfig = field(default_factory=MonitoringConfig)


@dataclass(frozen=True)
class Constraints:
    features: tuple[FeatureConstraints, ...]
    config: MonitoringConfig

    def feature(self, name: str) -> FeatureConstraints | None:
        return next((f for f in self.features if f.name == name), None)


def _switch(flag: bool) -> str:
    return "Enabled" if flag else "Disabled"


def suggested_completeness(completeness: float, count: int) -> float:
    """Deequ's completeness suggestion: 1.0 when complete, else the lower 95% bound rounded down to 0.01."""
    if completeness >= 1.0:
        return 1.0
    if count <= 0:
        return 0.0
    bound = completeness - 1.96 * math.sqrt(completeness * (1 - completeness) / count)
    return max(0.0, math.floor(bound * 100 + 1e-9) / 100)


def suggest_feature(feat: FeatureStatistics, item_count: int) -> dict:
    """Suggested constraints for one baseline feature."""
    entry: dict = {"name": feat.name, "inferred_type": feat.inferred_type}
    entry["completeness"] = suggested_completeness(feat.completeness, item_count)
    if feat.inferred_type in (INTEGRAL, FRACTIONAL) and feat.min is not None:
        entry["num_constraints"] = {"is_non_negative": feat.min >= 0}
    elif feat.inferred_type == STRING and feat.categories:
        counts = list(feat.categories.values())
        unique_ratio = sum(1 for c in counts if c == 1) / len(counts)
        if len(counts) <= MAX_DOMAIN_SIZE and unique_ratio <= MAX_UNIQUE_VALUE_RATIO:
            entry["string_constraints"] = {"domains": sorted(feat.categories)}
    return entry


def suggest_constraints(stats: DatasetStatistics, config: MonitoringConfig | None = None) -> dict:
    """The constraints.json document Model Monitor's baseline job suggests for these statistics."""
    return {
        "version": 0.0,
        "features": [suggest_feature(f, stats.item_count) for f in stats.features],
        "monitoring_config": (config or MonitoringConfig()).to_json(),
    }


# -- reading ---------------------------------------------------------------------------------------
def _read_switch(block: dict, key: str, default: bool, where: str) -> bool:
    if key not in block:
        return default
    value = block[key]
    if isinstance(value, bool):
        return value
    if value not in SWITCH:
        raise AnalyzerInputError(f"{where}.{key}: must be Enabled or Disabled, got {value!r}")
    return value == "Enabled"


def _read_fraction(block: dict, key: str, default: float, where: str) -> float:
    if key not in block:
        return default
    value = block[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise AnalyzerInputError(f"{where}.{key}: must be a number between 0 and 1, got {value!r}")
    return float(value)


def _read_choice(block: dict, key: str, default: str, choices: tuple[str, ...], where: str) -> str:
    value = block.get(key, default)
    if value not in choices:
        raise AnalyzerInputError(f"{where}.{key}: must be one of {', '.join(choices)}, got {value!r}")
    return value


def read_monitoring_config(block: dict, base: MonitoringConfig, where: str) -> MonitoringConfig:
    """Apply a ``monitoring_config`` (or override) block onto ``base``, validating each field."""
    if not isinstance(block, dict):
        raise AnalyzerInputError(f"{where}: expected an object, got {block!r}")
    dist = block.get("distribution_constraints", {})
    if not isinstance(dist, dict):
        raise AnalyzerInputError(f"{where}.distribution_constraints: expected an object, got {dist!r}")
    dwhere = f"{where}.distribution_constraints"
    perform = _read_switch(dist, "perform_comparison", base.perform_comparison, dwhere)
    if "enable_comparisons" in dist:  # the older spelling
        perform = _read_switch(dist, "enable_comparisons", perform, dwhere)
    return MonitoringConfig(
        evaluate_constraints=_read_switch(block, "evaluate_constraints", base.evaluate_constraints, where),
        emit_metrics=_read_switch(block, "emit_metrics", base.emit_metrics, where),
        datatype_check_threshold=_read_fraction(
            block, "datatype_check_threshold", base.datatype_check_threshold, where
        ),
        domain_content_threshold=_read_fraction(
            block, "domain_content_threshold", base.domain_content_threshold, where
        ),
        perform_comparison=perform,
        comparison_threshold=_read_fraction(dist, "comparison_threshold", base.comparison_threshold, dwhere),
        comparison_method=_read_choice(dist, "comparison_method", base.comparison_method, COMPARISON_METHODS, dwhere),
        categorical_comparison_threshold=_read_fraction(
            dist, "categorical_comparison_threshold", base.categorical_comparison_threshold, dwhere
        ),
        categorical_drift_method=_read_choice(
            dist, "categorical_drift_method", base.categorical_drift_method, CATEGORICAL_METHODS, dwhere
        ),
    )


def _overrides(raw: dict, where: str) -> list[dict]:
    found = []
    for holder in (raw, object_field(raw, "num_constraints", where), object_field(raw, "string_constraints", where)):
        for key in ("monitoring_config_overrides", "monitoringConfigOverrides"):
            if key in holder:
                found.append(holder[key])
    return found


def constraints_from_json(doc: dict, source: str) -> Constraints:
    """Parse a constraints.json document; errors name ``source`` and the offending field."""
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
        raise AnalyzerInputError(f"{source}: not a constraints file: expected an object with a 'features' list")
    config = read_monitoring_config(
        doc.get("monitoring_config", {}), MonitoringConfig(), f"{source}: monitoring_config"
    )
    features = []
    for i, raw in enumerate(doc["features"]):
        where = f"{source}: features[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise AnalyzerInputError(f"{where}: expected an object with a string 'name'")
        where = f"{where} ({raw['name']})"
        kind = raw.get("inferred_type", STRING)
        if kind not in TYPES:
            raise AnalyzerInputError(f"{where}.inferred_type: must be one of {', '.join(TYPES)}, got {kind!r}")
        feature_config = config
        for block in _overrides(raw, where):
            feature_config = read_monitoring_config(block, feature_config, f"{where}.monitoring_config_overrides")
        domains = object_field(raw, "string_constraints", where).get("domains")
        if domains is not None and not isinstance(domains, list):
            raise AnalyzerInputError(f"{where}.string_constraints.domains: expected a list of values, got {domains!r}")
        non_negative = object_field(raw, "num_constraints", where).get("is_non_negative")
        if non_negative is not None and not isinstance(non_negative, bool):
            raise AnalyzerInputError(
                f"{where}.num_constraints.is_non_negative: expected true or false, got {non_negative!r}"
            )
        completeness = _read_fraction(raw, "completeness", 1.0, where) if "completeness" in raw else None
        features.append(
            FeatureConstraints(
                name=raw["name"],
                inferred_type=kind,
                completeness=completeness,
                is_non_negative=non_negative,
                domains=tuple(str(d) for d in domains) if domains is not None else None,
                config=feature_config,
            )
        )
    return Constraints(tuple(features), config)


def read_constraints(path: str | Path) -> Constraints:
    """Load a constraints.json file with a clear error if it is missing or invalid."""
    return constraints_from_json(read_json_file(path, "constraints"), str(path))
