"""statistics.json in SageMaker Model Monitor's format: writing it from a profile, reading it back."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from monitoring.errors import AnalyzerFileNotFoundError, AnalyzerInputError, AnalyzerOutputError
from monitoring.kll import KLLSketch
from monitoring.profile import ColumnProfile, DatasetProfile
from monitoring.type_names import FRACTIONAL, INTEGRAL, STRING, TYPES, UNKNOWN

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
    parsed = statistics_from_json(profile_to_json(profile), "profile", finite=False)
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


def _number(value, where: str, finite: bool = True) -> float:
    """A JSON number; ``finite``: not NaN or Infinity (which ``json`` reads, though they are not JSON)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (finite and not math.isfinite(value)):
        raise AnalyzerInputError(f"{where}: expected a {'finite ' if finite else ''}number, got {value!r}")
    return float(value)


def _count(value, where: str) -> int:
    """A count: a whole number, not negative (``100`` or ``100.0``)."""
    number = _number(value, where)
    if number < 0 or not number.is_integer():
        raise AnalyzerInputError(f"{where}: expected a whole number >= 0, got {value!r}")
    return int(number)


def object_field(holder: dict, key: str, where: str) -> dict:
    """``holder[key]`` when it is a JSON object, ``{}`` when absent; anything else is refused naming the field."""
    value = holder.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnalyzerInputError(f"{where}.{key}: expected an object, got {type(value).__name__}")
    return value


def _categories(block: dict, where: str) -> dict[str, int] | None:
    """A string feature's categorical buckets as value -> count, or None when the file has none."""
    distribution = object_field(block, "distribution", where)
    buckets = object_field(distribution, "categorical", f"{where}.distribution").get("buckets")
    if buckets is None:
        return None
    where = f"{where}.distribution.categorical.buckets"
    if not isinstance(buckets, list) or not all(isinstance(b, dict) and "value" in b for b in buckets):
        raise AnalyzerInputError(f"{where}: expected a list of objects with a value and a count")
    return {str(b["value"]): _count(b.get("count"), f"{where}[{i}].count") for i, b in enumerate(buckets)}


def _numerical(block: dict, where: str, finite: bool) -> dict:
    """The numbers and sketch of a numerical_statistics block (``where`` names it)."""
    values: dict = {
        key: _number(block[key], f"{where}.{key}", finite)
        for key in ("mean", "sum", "std_dev", "min", "max")
        if key in block
    }
    distribution = object_field(block, "distribution", where)
    sketch = object_field(distribution, "kll", f"{where}.distribution").get("sketch")
    if sketch is not None:
        values["sketch"] = KLLSketch.from_dict(sketch, f"{where}.distribution.kll.sketch")
        if finite and not all(np.isfinite(level).all() for level in values["sketch"].levels):
            raise AnalyzerInputError(
                f"{where}.distribution.kll.sketch.data: expected finite numbers, got NaN or Infinity"
            )
    return values


def _feature(raw, where: str, finite: bool) -> FeatureStatistics:
    """One entry of ``features``, every field it uses checked."""
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise AnalyzerInputError(f"{where}: expected an object with a string 'name'")
    where = f"{where} ({raw['name']})"
    kind = raw.get("inferred_type", UNKNOWN)
    if kind not in TYPES:
        raise AnalyzerInputError(f"{where}: inferred_type must be one of {', '.join(TYPES)}, got {kind!r}")
    section = "numerical_statistics" if raw.get("numerical_statistics") else "string_statistics"
    block = object_field(raw, section, where)
    common = object_field(block, "common", f"{where}.{section}")
    values: dict = {
        "name": raw["name"],
        "inferred_type": kind,
        "num_present": _count(common.get("num_present", 0), f"{where}.common.num_present"),
        "num_missing": _count(common.get("num_missing", 0), f"{where}.common.num_missing"),
    }
    if "numerical_statistics" in raw:
        values.update(_numerical(block, f"{where}.numerical_statistics", finite))
    if "string_statistics" in raw:
        swhere = f"{where}.string_statistics"
        if "distinct_count" in block:
            values["distinct_count"] = _number(block["distinct_count"], f"{swhere}.distinct_count")
        categories = _categories(block, swhere)
        if categories is not None:
            values["categories"] = categories
    return FeatureStatistics(**values)


def statistics_from_json(doc: dict, source: str, finite: bool = False) -> DatasetStatistics:
    """Parse a statistics.json document; errors name ``source`` and the offending field. ``finite``: every number must
    be finite, as in a baseline (``read_statistics``); a profile of data holding infinities has them."""
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
        raise AnalyzerInputError(f"{source}: not a statistics file: expected an object with a 'features' list")
    dataset = doc.get("dataset") or {}
    if not isinstance(dataset, dict):
        raise AnalyzerInputError(f"{source}: dataset: expected an object, got {type(dataset).__name__}")
    item_count = _count(dataset.get("item_count", 0), f"{source}: dataset.item_count")
    features = tuple(_feature(raw, f"{source}: features[{i}]", finite) for i, raw in enumerate(doc["features"]))
    return DatasetStatistics(item_count, features)


def read_statistics(path: str | Path) -> DatasetStatistics:
    """Load a baseline statistics.json file with a clear error if it is missing or invalid (a number that is not
    finite included: json reads bare NaN and Infinity, and no check can compare with them)."""
    return statistics_from_json(read_json_file(path, "statistics"), str(path), finite=True)


def read_json_file(path: str | Path, what: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise AnalyzerFileNotFoundError(f"Baseline {what} file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnalyzerInputError(f"Baseline {what} file {path} is not valid JSON: {exc}") from exc


def check_output_dir(output: str | Path, names: Iterable[str]) -> Path:
    """Refuse, before any work, an output folder the results cannot be written to: a file, a path under a file, or
    one whose result names (``names``) are taken by folders. The user hears it in one line, and nothing is half
    written."""
    output = Path(output)
    existing = next((p for p in (output, *output.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = "is a file" if existing == output else f"is under {existing}, which is a file"
        raise AnalyzerOutputError(f"output {output} {where}; expected a folder (new or existing) for the results")
    for name in names:
        if (output / name).is_dir():
            raise AnalyzerOutputError(
                f"output {output / name} is a folder; expected the file {name} to be written there"
            )
    return output


def write_json(doc: dict, path: str | Path, compact: bool = False) -> Path:
    """Write a JSON document atomically (a reader never sees half a file); ``compact`` for large files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(doc, separators=(",", ":")) if compact else json.dumps(doc, indent=2)
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
