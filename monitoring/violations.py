"""The six Model Monitor data-quality checks: current statistics against baseline statistics and constraints."""

from __future__ import annotations

import math
from dataclasses import dataclass

from monitoring.constraints import Constraints, FeatureConstraints
from monitoring.drift import categorical_chi_squared, categorical_linf, numeric_distance
from monitoring.statistics import DatasetStatistics, FeatureStatistics
from monitoring.type_names import FRACTIONAL, INTEGRAL, STRING

DATA_TYPE = "data_type_check"
COMPLETENESS = "completeness_check"
BASELINE_DRIFT = "baseline_drift_check"
MISSING_COLUMN = "missing_column_check"
EXTRA_COLUMN = "extra_column_check"
CATEGORICAL_VALUES = "categorical_values_check"


@dataclass(frozen=True)
class Violation:
    feature_name: str
    constraint_check_type: str
    description: str

    def to_json(self) -> dict:
        return {
            "feature_name": self.feature_name,
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
        }


@dataclass(frozen=True)
class FeatureDrift:
    """A feature's drift distance with the threshold and method it was judged by."""

    feature_name: str
    distance: float
    threshold: float
    method: str

    @property
    def drifted(self) -> bool:
        return self.distance > self.threshold


def _pct(fraction: float) -> str:
    return f"{fraction * 100!r}%"


def type_match(feature: FeatureStatistics, expected: str) -> float | None:
    """Fraction of the current non-null values that are of the expected type (None when nothing to judge)."""
    counts = feature.type_counts
    present = sum(counts.values())
    if not present or expected not in (INTEGRAL, FRACTIONAL):
        return None
    matching = counts.get(INTEGRAL, 0) + (counts.get(FRACTIONAL, 0) if expected == FRACTIONAL else 0)
    return matching / present


def drift_of(base: FeatureStatistics, cur: FeatureStatistics, rule: FeatureConstraints) -> FeatureDrift | None:
    """Distance between the baseline and current distributions of one feature, if both are known."""
    cfg = rule.config
    if base.is_numeric and base.sketch is not None and cur.sketch is not None and cur.sketch.count:
        distance = numeric_distance(base.sketch, cur.sketch, cfg.comparison_method)
        return FeatureDrift(base.name, distance, cfg.comparison_threshold, cfg.comparison_method)
    if base.inferred_type == STRING and base.categories and cur.categories:
        if cfg.categorical_drift_method == "ChiSquared":
            distance = categorical_chi_squared(base.categories, cur.categories)
            if math.isnan(distance):
                return None
        else:
            distance = categorical_linf(base.categories, cur.categories, cfg.comparison_method)
        return FeatureDrift(base.name, distance, cfg.categorical_comparison_threshold, cfg.categorical_drift_method)
    return None


def _type_check(cur: FeatureStatistics, rule: FeatureConstraints) -> Violation | None:
    threshold, expected_type = rule.config.datatype_check_threshold, rule.inferred_type
    match = type_match(cur, expected_type)
    if match is None or match >= threshold:
        return None
    return Violation(
        cur.name,
        DATA_TYPE,
        (
            f"Data type match requirement is not met. Expected data type: {expected_type}, "
            f"Expected match: {_pct(threshold)}. "
            f"Observed: Only {_pct(match)} of data is {expected_type}."
        ),
    )


def _completeness_check(cur: FeatureStatistics, rule: FeatureConstraints) -> Violation | None:
    if rule.completeness is None or not cur.num_present + cur.num_missing or cur.completeness >= rule.completeness:
        return None
    return Violation(
        cur.name,
        COMPLETENESS,
        (
            f"Data completeness requirement is not met. Expected completeness: {_pct(rule.completeness)}. "
            f"Observed: Only {_pct(cur.completeness)} of data is complete."
        ),
    )


def _domain_check(cur: FeatureStatistics, rule: FeatureConstraints) -> Violation | None:
    categories, threshold = cur.categories, rule.config.domain_content_threshold
    if rule.domains is None or categories is None or not cur.num_present:
        return None
    domain = set(rule.domains)
    fraction = sum(count for value, count in categories.items() if value in domain) / cur.num_present
    if fraction >= threshold:
        return None
    unknown = sorted((v for v in categories if v not in domain), key=lambda v: -categories[v])[:5]
    return Violation(
        cur.name,
        CATEGORICAL_VALUES,
        (
            "Categorical value match requirement is not met. "
            f"Expected match: {_pct(threshold)}. "
            f"Observed: Only {_pct(fraction)} of data is within the baseline domain; "
            f"values outside it include {', '.join(repr(v) for v in unknown)}."
        ),
    )


def _feature_checks(
    base: FeatureStatistics | None, cur: FeatureStatistics, rule: FeatureConstraints, drifts: list[FeatureDrift]
) -> list[Violation]:
    """One feature's data type, completeness, domain and drift checks; its drift (if comparable) joins ``drifts``."""
    found = [v for v in (_type_check(cur, rule), _completeness_check(cur, rule), _domain_check(cur, rule)) if v]
    if base is not None and rule.config.perform_comparison:
        drift = drift_of(base, cur, rule)
        if drift is not None:
            drifts.append(drift)
            if drift.drifted:
                message = f"Baseline drift distance: {drift.distance!r} exceeds threshold: {drift.threshold!r}"
                found.append(Violation(cur.name, BASELINE_DRIFT, message))
    return found


def check(
    baseline: DatasetStatistics, constraints: Constraints, current: DatasetStatistics
) -> tuple[list[Violation], list[FeatureDrift]]:
    """All violations of ``current`` against the baseline, and the drift distance of every comparable feature."""
    violations: list[Violation] = []
    drifts: list[FeatureDrift] = []
    expected = [f.name for f in constraints.features] or baseline.names
    current_names = current.names
    missing = [name for name in expected if name not in current_names]
    extra = [name for name in current_names if name not in expected]
    sizes = (
        f"Number of columns in current dataset: {len(current_names)}, "
        f"Number of columns in baseline constraints: {len(expected)}"
    )
    for name in missing:
        violations.append(Violation(name, MISSING_COLUMN, f"There are missing columns in current dataset. {sizes}"))
    for name in extra:
        violations.append(Violation(name, EXTRA_COLUMN, f"There are extra columns in current dataset. {sizes}"))
    for rule in constraints.features:
        cur = current.feature(rule.name)
        if cur is None or not rule.config.evaluate_constraints:
            continue
        violations.extend(_feature_checks(baseline.feature(rule.name), cur, rule, drifts))
    return violations, drifts
