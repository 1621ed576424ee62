"""The model-quality part of the HTML report: each metric over time against its threshold, the latest check's
metrics and violations, and, for the latest check, the confusion matrix with ROC and precision-recall curves
(binary) or the residual histogram (regression).

Inputs are Model Monitor's files of each model-quality check as parsed documents: ``(time, statistics.json,
constraints.json, constraint_violations.json or its list of violations)`` or a mapping with those four keys, in any
order (a check without metrics, NoData, is counted, not drawn), and optionally the latest check's residual
histogram (``monitoring.local.residuals``: Model Monitor's statistics carry no residuals).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from monitoring.local.charts import BASELINE_COLOR, CURRENT_COLOR, Series, bar_chart, image, line_chart, metric_chart
from monitoring.local.html_parts import CSS, e, pairs, table
from monitoring.local.metrics_store import to_utc

QualityCheck = tuple[datetime | str, Mapping[str, Any], Mapping[str, Any], Sequence[Mapping] | Mapping | None]
FAMILIES = {
    "regression_metrics": "regression_constraints",
    "binary_classification_metrics": "binary_classification_constraints",
    "multiclass_classification_metrics": "multiclass_classification_constraints",
}
BREACHES: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanThreshold": (">", operator.gt),
    "GreaterThanOrEqualToThreshold": ("≥", operator.ge),
    "LessThanThreshold": ("<", operator.lt),
    "LessThanOrEqualToThreshold": ("≤", operator.le),
}
R2_NOTE = (
    "r2 is Model Monitor's: 1 - SSE / Σ(prediction - mean prediction)², as its container computes it; the textbook "
    "r2 of the pipeline's evaluation.json divides by the labels' spread instead."
)


def _number(value: object) -> float | None:
    """A finite float, or None for "NaN", missing and non-numbers."""
    try:
        number = float(value)  # type: ignore[arg-type]  # anything else is not a number: None
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _family(statistics: Mapping[str, Any]) -> str | None:
    return next((key for key in FAMILIES if isinstance(statistics.get(key), Mapping)), None)


def metric_values(statistics: Mapping[str, Any]) -> dict[str, float]:
    """The scalar metrics of a model-quality statistics.json (``{name: {"value": ...}}``), finite ones only."""
    family = _family(statistics)
    metrics = statistics.get(family, {}) if family else {}
    values = {k: _number(v.get("value")) for k, v in metrics.items() if isinstance(v, Mapping) and "value" in v}
    return {k: v for k, v in values.items() if v is not None}


def thresholds(constraints: Mapping[str, Any]) -> dict[str, tuple[float, str]]:
    """``{metric: (threshold, comparison_operator)}`` of a model-quality constraints.json."""
    found: dict[str, tuple[float, str]] = {}
    for key in FAMILIES.values():
        for name, rule in (constraints.get(key) or {}).items():
            threshold = _number(rule.get("threshold")) if isinstance(rule, Mapping) else None
            if threshold is not None and rule.get("comparison_operator") in BREACHES:
                found[name] = (threshold, rule["comparison_operator"])
    return found


def breaches(value: float, rule: tuple[float, str]) -> bool:
    """Whether ``value`` breaks the constraint ``(threshold, comparison_operator)``."""
    threshold, comparison = rule
    return BREACHES[comparison][1](value, threshold)


def _violations(found: Sequence[Mapping] | Mapping | None) -> list[Mapping]:
    if isinstance(found, Mapping):
        return list(found.get("violations", []))
    return list(found or [])


def _ticks(times: list[datetime]) -> list[tuple[float, str]]:
    ticks = [(times[0].timestamp(), f"{times[0]:%m-%d %H:%M}")]
    return ticks + ([(times[-1].timestamp(), f"{times[-1]:%m-%d %H:%M}")] if times[-1] > times[0] else [])


def _trend(checks: list[tuple[datetime, dict[str, float], dict[str, tuple[float, str]]]]) -> str:
    """One chart per metric with a threshold (every metric if none has one): its value per check."""
    latest = checks[-1][2]
    names = list(latest) or list(checks[-1][1])
    ticks = _ticks([t for t, _, _ in checks])
    figures = []
    for name in names:
        points = [(t.timestamp(), v[name], r.get(name)) for t, v, r in checks if name in v]
        if not points:
            continue
        rule = latest.get(name)
        flags = [r is not None and breaches(value, r) for _, value, r in points]
        svg = metric_chart(
            [x for x, _, _ in points],
            [v for _, v, _ in points],
            f"{name} per check",
            ticks,
            None if rule is None else rule[0],
            flags,
        )
        figures.append(
            f"<figure>{image(svg, f'{name}: model quality trend')}<figcaption>{e(name)}</figcaption></figure>"
        )
    return f"<div class='row'>{''.join(figures)}</div>"


def _latest_table(statistics: Mapping[str, Any], rules: dict[str, tuple[float, str]]) -> str:
    family = _family(statistics)
    metrics = statistics.get(family, {}) if family else {}
    rows = []
    for name, value in metric_values(statistics).items():
        std = _number(metrics[name].get("standard_deviation"))
        rule = rules.get(name)
        if rule is None:
            status = '<span class="badge na">not constrained</span>'
        else:
            bad = breaches(value, rule)
            text = f"{BREACHES[rule[1]][0] if bad else 'not ' + BREACHES[rule[1]][0]} {rule[0]:.4g}"
            status = f'<span class="badge {"bad" if bad else "good"}">{e(text)}</span>'
        rows.append(
            (e(name), f"<span class='num'>{value:.4g}</span>", e("NaN" if std is None else f"{std:.3g}"), status)
        )
    return table(["metric", "value", "standard deviation", "against the threshold"], rows)


def _confusion(matrix: Mapping[str, Mapping[str, Any]]) -> str:
    """Model Monitor's confusion_matrix is ``{actual: {predicted: count}}``; cells shaded by their share."""
    labels = sorted({str(k) for k in matrix} | {str(p) for row in matrix.values() for p in row})
    total = sum(float(c) for row in matrix.values() for c in row.values()) or 1.0
    head = "<tr><th>actual \\ predicted</th>" + "".join(f"<th>{e(p)}</th>" for p in labels) + "</tr>"
    body = ""
    for actual in labels:
        cells = ""
        for predicted in labels:
            count = float((matrix.get(actual) or {}).get(predicted, 0))
            color = "85,168,104" if actual == predicted else "196,78,82"
            cells += f"<td class='num' style='background:rgba({color},{0.15 + 0.6 * count / total:.2f})'>{count:g}</td>"
        body += f"<tr><th>{e(actual)}</th>{cells}</tr>"
    return f"<table>{head}{body}</table>"


def _curve(xs: Sequence[float], ys: Sequence[float], name: str, title: str, reference: Series) -> str:
    ticks = [(0.0, "0"), (0.5, "0.5"), (1.0, "1")]
    series = [reference, Series(name, [float(y) for y in ys], CURRENT_COLOR, [float(x) for x in xs])]
    return image(line_chart(series, title, (0.0, 1.0), ticks, 1.0, width=300, height=240), title)


def _binary(metrics: Mapping[str, Any]) -> str:
    """Confusion matrix, ROC curve (with chance) and precision-recall curve (with the positive share)."""
    parts = []
    matrix = metrics.get("confusion_matrix")
    if isinstance(matrix, Mapping) and matrix:
        parts.append(f"<figure>{_confusion(matrix)}<figcaption>confusion matrix (counts)</figcaption></figure>")
        positives = sum(float(c) for c in (matrix.get("1") or {}).values())
        share = positives / (sum(float(c) for row in matrix.values() for c in row.values()) or 1.0)
    else:
        share = None
    roc = metrics.get("receiver_operating_characteristic_curve") or {}
    if roc.get("false_positive_rates"):
        chance = Series("chance", [0.0, 1.0], BASELINE_COLOR, [0.0, 1.0], dashed=True)
        fpr, tpr = roc["false_positive_rates"], roc["true_positive_rates"]
        parts.append(_curve(fpr, tpr, "ROC", "ROC curve: true against false positive rate", chance))
    pr = metrics.get("precision_recall_curve") or {}
    if pr.get("recalls"):
        constant = Series("positive share", [share or 0.0] * 2, BASELINE_COLOR, [0.0, 1.0], dashed=True)
        parts.append(_curve(pr["recalls"], pr["precisions"], "PR", "Precision against recall", constant))
    if not parts:
        return "<p class='note'>The latest check's statistics have no confusion matrix or curves.</p>"
    return f"<div class='row'>{''.join(parts)}</div>"


def _residuals(residuals: Mapping[str, Any] | None, metrics: Mapping[str, float]) -> str:
    if not residuals or not residuals.get("counts"):
        known = ", ".join(f"{k} {metrics[k]:.4g}" for k in ("mae", "rmse") if k in metrics)
        note = f"No residuals were kept with the latest check; from its statistics: {known or 'none'}."
        return f"<p class='note'>{e(note)}</p>"
    edges, counts = residuals["bin_edges"], residuals["counts"]
    total = sum(counts) or 1
    labels = [f"{x:.3g}" for x in edges[:-1]]
    shares = Series("labelled pairs", [c / total for c in counts], CURRENT_COLOR)
    title = "Residuals (label - prediction): share per bin (from lower bound)"
    facts = [
        ("pairs", e(residuals.get("count", total))),
        ("mean residual", e(f"{float(residuals.get('mean', 0.0)):.4g}")),
        ("standard deviation", e(f"{float(residuals.get('std_dev', 0.0)):.4g}")),
    ]
    chart = image(bar_chart(labels, [shares], title, width=520), "residual histogram")
    return f"<div class='row'>{chart}{pairs(facts)}</div>"


def _as_tuple(check: QualityCheck | Mapping[str, Any]) -> QualityCheck:
    """A check given as a tuple, or as a mapping with ``time``, ``statistics``, ``constraints``, ``violations``."""
    if isinstance(check, Mapping):
        return check["time"], check.get("statistics") or {}, check.get("constraints") or {}, check.get("violations")
    return check


def render_model_quality_section(
    checks: Sequence[QualityCheck | Mapping[str, Any]], residuals: Mapping[str, Any] | None = None
) -> str:
    """The section's HTML (from its ``<h2>``): trend over ``checks`` and the latest check's detail."""
    heading = "<h2>Model quality</h2>"
    timed = [(to_utc(t, "model-quality check time"), s, c, v) for t, s, c, v in map(_as_tuple, checks)]
    ordered = sorted((check for check in timed if _family(check[1])), key=lambda x: x[0])
    if not ordered:
        return heading + "<p class='note'>No model-quality checks with results yet.</p>"
    trend = [(t, metric_values(s), thresholds(c)) for t, s, c, _ in ordered]
    when, statistics, _, found = ordered[-1]
    family = _family(statistics) or "unknown"
    violations = _violations(found)
    items = "".join(
        f"<li><b>{e(v.get('metric_name', ''))}</b> ({e(v.get('constraint_check_type', ''))}): "
        f"{e(v.get('description', ''))}</li>"
        for v in violations
    )
    span = f"{len(ordered)} checks, {ordered[0][0].isoformat()} to {when.isoformat()}."
    if len(timed) > len(ordered):
        span += f" {len(timed) - len(ordered)} more had no statistics (NoData: too few labelled pairs)."
    parts = [
        heading,
        f"<p class='meta'>{e(family.replace('_', ' '))}; {e(span)}</p>",
        "<h3>Each metric per check against its threshold</h3>",
        _trend(trend),
        f"<h3>Latest check ({e(when.isoformat())})</h3>",
        _latest_table(statistics, trend[-1][2]),
        f"<ul>{items}</ul>" if items else "<p class='note'>No model-quality violations in the latest check.</p>",
    ]
    if family == "binary_classification_metrics":
        parts += ["<h3>Confusion matrix and curves</h3>", _binary(statistics[family])]
    elif family == "regression_metrics":
        parts += ["<h3>Residuals</h3>", _residuals(residuals, trend[-1][1]), f"<p class='note'>{e(R2_NOTE)}</p>"]
    return "".join(parts)


def render_model_quality_report(
    checks: Sequence[QualityCheck | Mapping[str, Any]],
    residuals: Mapping[str, Any] | None = None,
    title: str = "Model quality report",
    context: Mapping[str, str] | None = None,
    generated_at: datetime | None = None,
) -> str:
    """A whole self-contained page holding only the model-quality section."""
    stamp = (generated_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title><style>{CSS}</style></head><body>\n'
        f"<h1>{e(title)}</h1>\n<p class='meta'>Generated {stamp:%Y-%m-%d %H:%M:%S} UTC</p>\n"
        + pairs((k, e(v)) for k, v in (context or {}).items())
        + "\n"
        + render_model_quality_section(checks, residuals)
        + "\n</body></html>\n"
    )
