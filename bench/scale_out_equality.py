"""Are the N-host results of bench/scale_out.py the 1-host ones, as the README's equality table defines it?

- statistics.json: item count, every count, min, max, inferred types and the string statistics identical; sum, mean
  and std_dev within 1e-12 relative; KLL bucket counts within 2 (W1 + W2), W the sketches' error weights (W1 from a
  1-host profile of the same data, W2 summed over the N hosts' partial profiles);
- constraint_violations.json: the same (feature, check) pairs;
- training: the leader's test RMSE within 2 % of the 1-host model's (the README's tolerance at scale).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from monitoring.partial_profile import read_partial

FLOAT_TOLERANCE = 1e-12
RMSE_TOLERANCE = 0.02
FLOATS = ("sum", "mean", "std_dev")


def error_weights(partials: Path) -> dict[str, int]:
    """Per column, the summed KLL error weight of every partial profile under ``partials``."""
    total: dict[str, int] = {}
    for path in sorted(partials.glob("partial_profile-*.json")):
        for name, column in read_partial(path).profile.columns.items():
            total[name] = total.get(name, 0) + column.sketch.error_weight
    return total


def _relative(a: float, b: float) -> float:
    return 0.0 if a == b else abs(a - b) / max(abs(a), abs(b))


def _numeric(name: str, a: dict, b: dict, bound: int, out: dict) -> None:
    exact = ("common", "min", "max")
    if any(a.get(k) != b.get(k) for k in exact):
        out["exact"].append(name)
    for key in FLOATS:
        out["float"] = max(out["float"], _relative(a[key], b[key]))
    buckets_a = a.get("distribution", {}).get("kll", {}).get("buckets", [])
    buckets_b = b.get("distribution", {}).get("kll", {}).get("buckets", [])
    if [(x["lower_bound"], x["upper_bound"]) for x in buckets_a] != [
        (x["lower_bound"], x["upper_bound"]) for x in buckets_b
    ]:
        out["exact"].append(f"{name} buckets")
        return
    worst = max((abs(x["count"] - y["count"]) for x, y in zip(buckets_a, buckets_b, strict=True)), default=0)
    if worst > 2 * bound:
        out["kll"].append(f"{name}: bucket count off by {worst:g} > 2 x {bound}")
    out["kll_worst"] = max(out["kll_worst"], worst)
    out["kll_bound"] = max(out["kll_bound"], 2 * bound)


def compare_statistics(one: Path, merged: Path, w1: dict[str, int], w2: dict[str, int]) -> list[str]:
    """Lines saying whether ``merged``'s statistics.json equals ``one``'s (directories holding it)."""
    a = json.loads((one / "statistics.json").read_text(encoding="utf-8"))
    b = json.loads((merged / "statistics.json").read_text(encoding="utf-8"))
    out: dict = {"exact": [], "float": 0.0, "kll": [], "kll_worst": 0.0, "kll_bound": 0}
    if a["dataset"] != b["dataset"] or [f["name"] for f in a["features"]] != [f["name"] for f in b["features"]]:
        out["exact"].append("dataset / feature list")
    for fa, fb in zip(a["features"], b["features"], strict=False):
        name = fa["name"]
        if fa.get("inferred_type") != fb.get("inferred_type") or fa.get("string_statistics") != fb.get(
            "string_statistics"
        ):
            out["exact"].append(name)
        if "numerical_statistics" in fa and "numerical_statistics" in fb:
            bound = w1.get(name, 0) + w2.get(name, 0)
            _numeric(name, fa["numerical_statistics"], fb["numerical_statistics"], bound, out)
    constraints = [json.loads((d / "constraints.json").read_text(encoding="utf-8")) for d in (one, merged)]
    if constraints[0] != constraints[1]:
        out["exact"].append("constraints.json")
    exact = "identical" if not out["exact"] else "DIFFER: " + ", ".join(out["exact"])
    within = "within" if out["float"] <= FLOAT_TOLERANCE else "ABOVE"
    return [
        f"exact fields (counts, min, max, types, strings, constraints): {exact}",
        f"sum / mean / std_dev: worst relative difference {out['float']:.2e} ({within} 1e-12)",
        f"KLL buckets: worst count difference {out['kll_worst']:g}, bound 2(W1 + W2) = {out['kll_bound']} "
        f"({'within' if not out['kll'] else 'ABOVE: ' + '; '.join(out['kll'])})",
    ]


def compare_violations(one: Path, merged: Path) -> str:
    """A line saying whether both checks found the same (feature, check) violations."""

    def pairs(directory: Path) -> set[tuple[str, str]]:
        doc = json.loads((directory / "constraint_violations.json").read_text(encoding="utf-8"))
        return {(v["feature_name"], v["constraint_check_type"]) for v in doc.get("violations", [])}

    a, b = pairs(one), pairs(merged)
    if a == b:
        return f"violations: identical ({len(a)}: {', '.join(sorted(f for f, _ in a))})"
    return f"violations: DIFFER (1 host only: {sorted(a - b)}; N hosts only: {sorted(b - a)})"


def model_rmse(model_dir: Path, test_csv: Path) -> float:
    """The model's RMSE on the test split (target first)."""
    booster = xgb.Booster(model_file=str(model_dir / "xgboost-model.json"))
    test = pd.read_csv(test_csv, header=None, dtype=np.float64).to_numpy()
    predictions = booster.predict(xgb.DMatrix(test[:, 1:]))
    return math.sqrt(float(np.mean((predictions - test[:, 0]) ** 2)))


def compare_models(one: Path, merged: Path, test_csv: Path) -> str:
    """A line comparing the 1-host and N-host models' test RMSE with the stated tolerance."""
    a, b = model_rmse(one, test_csv), model_rmse(merged, test_csv)
    within = _relative(a, b) <= RMSE_TOLERANCE
    return (
        f"training: test RMSE {a:.6f} (1 host) vs {b:.6f} (N hosts), relative difference {_relative(a, b):.2e} "
        f"({'within' if within else 'ABOVE'} the 2 % tolerance)"
    )
