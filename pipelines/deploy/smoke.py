"""A plausible request row for smoke-testing a deployed endpoint, built from the version's baseline statistics
(the analyzer's / Model Monitor's ``statistics.json`` of the raw training features, in column order)."""

from __future__ import annotations

import csv
import io

from pipelines.errors import InputError


def row_from_statistics(statistics: dict, where: str = "statistics.json") -> str:
    """One CSV line: the mean of each numeric feature (rounded for integral ones), the most frequent category
    of each string feature. ValueError naming the file and feature when the statistics cannot give a value."""
    features = statistics.get("features") if isinstance(statistics, dict) else None
    if not isinstance(features, list) or not features:
        raise InputError(f"{where}: no 'features' list; expected the baseline statistics of the training features")
    values: list[str] = []
    for feature in features:
        name = feature.get("name", "?")
        kind = feature.get("inferred_type")
        if kind in ("Fractional", "Integral"):
            mean = (feature.get("numerical_statistics") or {}).get("mean")
            if not isinstance(mean, (int, float)):
                raise InputError(f"{where}: feature {name!r} ({kind}) has no numerical_statistics.mean")
            values.append(str(round(mean)) if kind == "Integral" else f"{mean:.6g}")
            continue
        buckets = (((feature.get("string_statistics") or {}).get("distribution") or {}).get("categorical") or {}).get(
            "buckets"
        ) or []
        counted = [b for b in buckets if isinstance(b, dict) and "value" in b]
        if not counted:
            raise InputError(f"{where}: feature {name!r} ({kind}) has no categorical buckets to pick a value from")
        values.append(str(max(counted, key=lambda b: b.get("count", 0))["value"]))
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()
