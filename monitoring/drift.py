"""Distribution distances between a baseline and the current data, as Deequ computes them.

- numeric: L-infinity distance between the two CDFs read off the KLL sketches, evaluated at every item of
  either sketch (``Simple``); ``Robust`` subtracts the two-sample Kolmogorov-Smirnov allowance
  ``1.8 * sqrt((n + m) / (n * m))`` and floors at 0, so small samples do not raise false alarms;
- categorical ``LInfinity``: the largest difference between the two category frequencies (same correction
  for ``Robust``);
- categorical ``ChiSquared``: Pearson's chi-squared test of the current counts against the baseline
  proportions, with Deequ's regrouping of small categories; reported as ``1 - p``, so that, like the
  other distances, it grows with drift and a violation fires when it passes the threshold.
"""

from __future__ import annotations

import math

import numpy as np

from monitoring.kll import KLLSketch

C_ALPHA = 1.8


def robust(distance: float, n: float, m: float) -> float:
    """Deequ's small-sample correction of an L-infinity distance."""
    if n <= 0 or m <= 0:
        return 0.0
    return max(0.0, distance - C_ALPHA * math.sqrt((n + m) / (n * m)))


def numeric_distance(baseline: KLLSketch, current: KLLSketch, method: str = "Robust") -> float:
    """L-infinity distance between the CDFs of two sketches."""
    b_values, b_weights = baseline.weighted_items()
    c_values, c_weights = current.weighted_items()
    if b_values.size == 0 or c_values.size == 0:
        return 0.0
    points = np.union1d(b_values, c_values)
    b_cum, c_cum = np.cumsum(b_weights), np.cumsum(c_weights)
    n, m = float(b_cum[-1]), float(c_cum[-1])

    def cdf(values: np.ndarray, cumulative: np.ndarray, total: float) -> np.ndarray:
        idx = np.searchsorted(values, points, side="right")
        return np.where(idx > 0, cumulative[np.maximum(idx - 1, 0)], 0) / total

    simple = float(np.max(np.abs(cdf(b_values, b_cum, n) - cdf(c_values, c_cum, m))))
    return simple if method == "Simple" else robust(simple, n, m)


def categorical_linf(baseline: dict[str, int], current: dict[str, int], method: str = "Robust") -> float:
    """Largest absolute difference between category frequencies."""
    n, m = float(sum(baseline.values())), float(sum(current.values()))
    if n == 0 or m == 0:
        return 0.0
    simple = max(abs(baseline.get(k, 0) / n - current.get(k, 0) / m) for k in set(baseline) | set(current))
    return simple if method == "Simple" else robust(simple, n, m)


def _regroup(sample: dict[str, float], expected: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """Merge the smallest expected categories until the chi-squared test's size rules hold (Deequ)."""
    while len(expected) >= 2:
        if len(expected) > 2:
            threshold, allowed = 5.0, int(0.2 * len(expected))
        else:
            threshold, allowed = 10.0, 0
        if sum(1 for v in expected.values() if v < threshold) <= allowed:
            break
        smallest = min(expected, key=expected.__getitem__)
        small_expected, small_sample = expected.pop(smallest), sample.pop(smallest, 0.0)
        second = min(expected, key=expected.__getitem__)
        expected[second] += small_expected
        sample[second] = sample.get(second, 0.0) + small_sample
    return sample, expected


def chi2_survival(statistic: float, dof: int) -> float:
    """P(X >= statistic) for a chi-squared variable: the regularised upper incomplete gamma Q(dof/2, x/2)."""
    if statistic <= 0:
        return 1.0
    a, x = dof / 2.0, statistic / 2.0
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:  # series for P, then Q = 1 - P
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    # continued fraction for Q (modified Lentz)
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_prefix) * h)


def categorical_chi_squared(baseline: dict[str, int], current: dict[str, int]) -> float:
    """``1 - p`` of Pearson's test of the current counts against the baseline proportions (NaN if untestable)."""
    expected_total = float(sum(baseline.values()))
    sample_total = float(sum(v for k, v in current.items() if k in baseline))
    if expected_total == 0 or sample_total == 0:
        return math.nan
    expected = {k: v / expected_total * sample_total for k, v in baseline.items()}
    sample = {k: float(v) for k, v in current.items()}
    sample, expected = _regroup(sample, expected)
    if len(expected) < 2:
        return math.nan
    statistic = sum((sample.get(k, 0.0) - e) ** 2 / e for k, e in expected.items() if e > 0)
    return 1.0 - chi2_survival(statistic, len(expected) - 1)
