"""statistics.json in SageMaker Model Monitor's format: writing it from a profile, reading it back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from monitoring.datatypes import FRACTIONAL, INTEGRAL, STRING, TYPES, UNKNOWN
from monitoring.errors import AnalyzerFileNotFoundError, AnalyzerInputError
from monitoring.kll import KLLSketch
from monitoring.profile import ColumnProfile, DatasetProfile

NUM_BUCKETS = 10


@dataclass(frozen=True)
class FeatureStatistics:
    """One feature of a statistics.json, as the checks need it."""

    name: str
    inferred_type: str
    num_present: int
    num_missing: int
    mean: float | None = None
    sum: float | None = None
    std_dev: float | None = None
    min: float | None = None
    max: float | None = None
    sketch: KLLSketch | None = None
    distinct_count: float | None = None
    categories: dict[str, int] | None = None
    # Type counts of the values (only known for freshly profiled data, not for a loaded file).
    type_counts: dict[str, int] = field(default_factory=dict)

    @property
    def completeness(self) -> float:
        total = self.num_present + self.num_missing
        return self.num_present / total if total else 0.0

    @property
    def is_numeric(self) -> bool:
        return self.inferred_type in (INTEGRAL, FRACTIONAL)


@dataclass(frozen=True)
class DatasetStatistics:
    """A whole statistics.json: item count and features in column order."""

    item_count: int
    features: tuple[FeatureStatistics, ...]

    def feature(self, name: str) -> FeatureStatistics | None:
        return next((f for f in self.features if f.name == name), None)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]


def _common(col: ColumnProfile) -> dict:
    return {"num_present": col.num_present, "num_missing": col.num_missing}


def feature_to_json(col: ColumnProfile) -> dict:
    """The statistics.json entry of one profiled column."""
    kind = col.inferred_type
    entry: dict = {"name": col.name, "inferred_type": kind}
    if kind in (INTEGRAL, FRACTIONAL) and col.count:
        numeric = {
            "common": _common(col),
            "mean": col.mean,
            "sum": col.sum,
            "std_dev": col.std_dev,
            "min": col.min,
            "max": col.max,
            "distribution": {
                "kll": {
                    "buckets": col.sketch.buckets(col.min, col.max, NUM_BUCKETS),
                    "sketch": col.sketch.to_dict(),
                }
            },
        }
        entry["numerical_statistics"] = numeric
    elif kind in (INTEGRAL, FRACTIONAL):
        entry["numerical_statistics"] = {"common": _common(col)}
    else:
        strings: dict = {"common": _common(col), "distinct_count": float(col.distinct_count())}
        if col.frequencies:
            ordered = sorted(col.frequencies.items(), key=lambda kv: (-kv[1], kv[0]))
            strings["distribution"] = {"categorical": {"buckets": [{"value": v, "count": c} for v, c in ordered]}}
        entry["string_statistics"] = strings
    return entry


def profile_to_json(profile: DatasetProfile) -> dict:
    """The whole statistics.json document for a profile."""
    return {
        "version": 0.0,
        "dataset": {"item_count": profile.item_count},
        "features": [feature_to_json(col) for col in profile.columns.values()],
    }


def profile_to_statistics(profile: DatasetProfile) -> DatasetStatistics:
    """Statistics of freshly profiled data, keeping the per-type counts the checks use."""
    parsed = statistics_from_json(profile_to_json(profile), "profile")
    features = []
    for feat in parsed.features:
        col = profile.columns[feat.name]
        counts = {
            INTEGRAL: col.num_integral,
            FRACTIONAL: col.num_fractional,
            STRING: col.num_string + col.num_boolean,
        }
        extra: dict = {"type_counts": counts}
        if col.frequencies is not None:  # domain checks need the values even when they look numeric
            # in statistics.json's order, so checks do not depend on the order values were first seen (or merged)
            extra["categories"] = dict(sorted(col.frequencies.items(), key=lambda kv: (-kv[1], kv[0])))
        if col.count and not feat.is_numeric:  # a numeric feature turned string: keep its numbers for drift
            extra.update(mean=col.mean, sum=col.sum, std_dev=col.std_dev, min=col.min, max=col.max, sketch=col.sketch)
        features.append(replace(feat, **extra))
    return DatasetStatistics(parsed.item_count, tuple(features))


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AnalyzerInputError(f"{where}: expected a number, got {value!r}")
    return float(value)


def statistics_from_json(doc: dict, source: str) -> DatasetStatistics:
    """Parse a statistics.json document; errors name ``source`` and the offending field."""
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
        raise AnalyzerInputError(f"{source}: not a statistics file: expected an object with a 'features' list")
    item_count = doc.get("dataset", {}).get("item_count", 0)
    features = []
    for i, raw in enumerate(doc["features"]):
        where = f"{source}: features[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise AnalyzerInputError(f"{where}: expected an object with a string 'name'")
        kind = raw.get("inferred_type", UNKNOWN)
        if kind not in TYPES:
            raise AnalyzerInputError(
                f"{where} ({raw['name']}): inferred_type must be one of {', '.join(TYPES)}, got {kind!r}"
            )
        block = raw.get("numerical_statistics") or raw.get("string_statistics") or {}
        common = block.get("common", {})
        values: dict = {
            "name": raw["name"],
            "inferred_type": kind,
            "num_present": int(_number(common.get("num_present", 0), f"{where}.common.num_present")),
            "num_missing": int(_number(common.get("num_missing", 0), f"{where}.common.num_missing")),
        }
        if "numerical_statistics" in raw:
            for key in ("mean", "sum", "std_dev", "min", "max"):
                if key in block:
                    values[key] = _number(block[key], f"{where}.numerical_statistics.{key}")
            sketch = block.get("distribution", {}).get("kll", {}).get("sketch")
            if sketch is not None:
                values["sketch"] = KLLSketch.from_dict(sketch, f"{where}.numerical_statistics.distribution.kll.sketch")
        if "string_statistics" in raw:
            if "distinct_count" in block:
                values["distinct_count"] = _number(block["distinct_count"], f"{where}.string_statistics.distinct_count")
            buckets = block.get("distribution", {}).get("categorical", {}).get("buckets")
            if buckets is not None:
                try:
                    values["categories"] = {str(b["value"]): int(b["count"]) for b in buckets}
                except (KeyError, TypeError, ValueError) as exc:
                    raise AnalyzerInputError(
                        f"{where}.string_statistics.distribution.categorical: bad bucket ({exc})"
                    ) from exc
        features.append(FeatureStatistics(**values))
    return DatasetStatistics(int(_number(item_count, f"{source}: dataset.item_count")), tuple(features))


def read_statistics(path: str | Path) -> DatasetStatistics:
    """Load a statistics.json file with a clear error if it is missing or invalid."""
    return statistics_from_json(read_json_file(path, "statistics"), str(path))


def read_json_file(path: str | Path, what: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise AnalyzerFileNotFoundError(f"Baseline {what} file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnalyzerInputError(f"Baseline {what} file {path} is not valid JSON: {exc}") from exc


def write_json(doc: dict, path: str | Path, compact: bool = False) -> Path:
    """Write a JSON document atomically (a reader never sees half a file); ``compact`` for large files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(doc, separators=(",", ":")) if compact else json.dumps(doc, indent=2)
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
