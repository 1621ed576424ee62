"""A self-contained HTML report of one data-quality check: distributions, drift, violations, reads, trend.

Inputs are the check's own files (or their parsed documents): the baseline and current statistics.json,
constraint_violations.json and analysis_summary.json, plus the drift history of recent executions as
``(time, {feature: distance})`` pairs. The output has no external script, stylesheet, font or URL: charts are
SVG documents embedded as data URIs, and nothing runs in the page.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from monitoring.local.charts import BASELINE_COLOR, CURRENT_COLOR, Series, bar_chart, distance_bar, image, line_chart
from monitoring.local.html_parts import CSS, Document
from monitoring.local.html_parts import e as _e
from monitoring.local.html_parts import load as _load
from monitoring.local.html_parts import pairs as _pairs
from monitoring.local.html_parts import read as _read
from monitoring.local.html_parts import table as _table
from monitoring.local.metrics_store import to_utc
from monitoring.local.model_quality_report import QualityCheck, render_model_quality_section
from monitoring.statistics import DatasetStatistics, FeatureStatistics, statistics_from_json

History = Sequence[tuple[datetime | str, Mapping[str, float]]]
TOP_CATEGORIES = 12
CDF_POINTS = 200


def _statistics(document: Document, what: str) -> DatasetStatistics:
    source = str(document) if isinstance(document, (str, Path)) else what
    return statistics_from_json(_read(document, what), source)


def _sides(base: FeatureStatistics | None, cur: FeatureStatistics | None) -> list[tuple[FeatureStatistics, str, str]]:
    return [
        (f, label, color)
        for f, label, color in ((base, "baseline", BASELINE_COLOR), (cur, "current", CURRENT_COLOR))
        if f
    ]


def _numeric_charts(name: str, base: FeatureStatistics | None, cur: FeatureStatistics | None) -> list[str]:
    """The 10 KLL buckets of both sides over their common range, and both CDFs with the largest gap marked."""
    sides = [
        (f, sketch, label, color)
        for f, label, color in _sides(base, cur)
        if (sketch := f.sketch) is not None and sketch.count
    ]
    if not sides:
        return []
    lo = min(f.min for f, _, _, _ in sides if f.min is not None)
    hi = max(f.max for f, _, _, _ in sides if f.max is not None)
    buckets = [sketch.buckets(lo, hi, 10) for _, sketch, _, _ in sides]
    bars = [
        Series(label, [b["count"] / sketch.count for b in counts], color)
        for (_, sketch, label, color), counts in zip(sides, buckets, strict=True)
    ]
    labels = [f"{b['lower_bound']:.3g}" for b in buckets[0]]
    histogram = bar_chart(labels, bars, f"{name}: share per bucket (from lower bound)")
    xs = np.linspace(lo, hi, CDF_POINTS) if hi > lo else np.array([lo, lo + 1.0])
    curves = [Series(label, sketch.cdf(xs).tolist(), color, xs.tolist()) for _, sketch, label, color in sides]
    marker = None
    if len(curves) == 2:
        gaps = np.abs(np.subtract(curves[0].values, curves[1].values))
        marker = (float(xs[int(np.argmax(gaps))]), f"largest gap {float(gaps.max()):.3f}")
    ticks = [(float(x), f"{x:.3g}") for x in np.linspace(xs[0], xs[-1], 5)]
    span = (float(xs[0]), float(xs[-1]))
    cdf = line_chart(curves, f"{name}: cumulative share", span, ticks, 1.0, marker=marker, percent=True)
    return [image(histogram, f"{name}: baseline and current distribution"), image(cdf, f"{name}: CDFs")]


def _categorical_chart(name: str, base: FeatureStatistics | None, cur: FeatureStatistics | None) -> list[str]:
    """Bars per category (the most frequent ones, the rest as '(other)'), shares of each side's total."""
    sides = [(f.categories, label, color) for f, label, color in _sides(base, cur) if f.categories]
    if not sides:
        return []
    shares = [{k: v / (sum(c.values()) or 1) for k, v in c.items()} for c, _, _ in sides]
    order = sorted({k for s in shares for k in s}, key=lambda k: (-sum(s.get(k, 0.0) for s in shares), k))
    shown, rest = order[:TOP_CATEGORIES], order[TOP_CATEGORIES:]
    series = [
        Series(label, [s.get(k, 0.0) for k in shown] + ([sum(s.get(k, 0.0) for k in rest)] if rest else []), color)
        for s, (_, label, color) in zip(shares, sides, strict=True)
    ]
    svg = bar_chart(shown + (["(other)"] if rest else []), series, f"{name}: share per category", width=520)
    return [image(svg, f"{name}: baseline and current categories")]


def _stats_table(base: FeatureStatistics | None, cur: FeatureStatistics | None) -> str:
    fields = ["inferred_type", "num_present", "num_missing"]
    if any(f.is_numeric for f, _, _ in _sides(base, cur)):
        fields += ["mean", "std_dev", "min", "max"]

    def cell(feature: FeatureStatistics | None, key: str) -> str:
        value = getattr(feature, key) if feature else "—"
        return (
            f"<td class='num'>{_e(f'{value:.4g}' if isinstance(value, float) else '' if value is None else value)}</td>"
        )

    rows = "".join(f"<tr><th>{_e(k)}</th>{cell(base, k)}{cell(cur, k)}</tr>" for k in fields)
    if any(f.categories for f, _, _ in _sides(base, cur)):
        counts = [_e(len(f.categories)) if f and f.categories else "" for f in (base, cur)]
        rows += f"<tr><th>categories</th><td class='num'>{counts[0]}</td><td class='num'>{counts[1]}</td></tr>"
    return f"<table><tr><th></th><th>baseline</th><th>current</th></tr>{rows}</table>"


def _drift_cell(drift: Mapping | None, scale: float | None = None) -> str:
    if drift is None:
        return '<span class="badge na">not compared</span>'
    distance, threshold = float(drift["distance"]), float(drift["threshold"])
    bad = distance > threshold
    text = f"{distance:.4f} {'>' if bad else '≤'} {threshold:g} ({drift.get('method', '')})"
    bar = image(distance_bar(distance, threshold, scale), "distance against threshold", "bar")
    return f'<span class="badge {"bad" if bad else "good"}">{_e(text)}</span> {bar}'


def _anchor(name: str) -> str:
    return "f-" + "".join(c if c.isalnum() else "-" for c in name) + f"-{zlib.crc32(name.encode()):08x}"


def _feature_section(name: str, base, cur, drift: Mapping | None, violations: list[dict], scale: float) -> str:
    reference = base or cur
    charts = _numeric_charts(name, base, cur) if reference.is_numeric else _categorical_chart(name, base, cur)
    notes = []
    if base is None:
        notes.append("Not in the baseline (an extra column).")
    if cur is None:
        notes.append("Not in the current data (a missing column).")
    if base and cur and base.inferred_type != cur.inferred_type:
        notes.append(f"Type changed: baseline {base.inferred_type}, current {cur.inferred_type}.")
    if not charts:
        notes.append("No distribution to draw: no sketch or categories in the statistics.")
    items = "".join(f"<li><b>{_e(v['constraint_check_type'])}</b>: {_e(v['description'])}</li>" for v in violations)
    return (
        f'<div class="card" id="{_anchor(name)}"><h3>{_e(name)}</h3><p>{_drift_cell(drift, scale)}</p>'
        f'<div class="row">{"".join(charts)}{_stats_table(base, cur)}</div>'
        + "".join(f'<p class="note">{_e(n)}</p>' for n in notes)
        + (f"<ul>{items}</ul>" if items else "")
        + "</div>"
    )


def _trend_section(history: History, thresholds: Mapping[str, float], names: list[str]) -> str:
    """One small line chart per feature: its drift distance per execution, with its threshold."""
    points = sorted((to_utc(t, "history time"), dict(d)) for t, d in history)
    if not points:
        return "<p class='note'>No earlier executions were given.</p>"
    times = [t.timestamp() for t, _ in points]
    ticks = [(times[0], f"{points[0][0]:%m-%d %H:%M}")]
    ticks += [(times[-1], f"{points[-1][0]:%m-%d %H:%M}")] if times[-1] > times[0] else []
    figures = []
    for name in [n for n in names if any(n in d for _, d in points)]:
        xs = [t.timestamp() for t, d in points if name in d]
        ys = [float(d[name]) for t, d in points if name in d]
        threshold = thresholds.get(name)
        top = max([*ys, threshold or 0.0, 0.05]) * 1.1
        series = [Series("distance", ys, CURRENT_COLOR, xs)]
        svg = line_chart(
            series, f"{name}: drift distance", (times[0], times[-1]), ticks, top, threshold, None, False, True, 300, 170
        )
        figures.append(f"<figure>{image(svg, f'{name}: drift trend')}<figcaption>{_e(name)}</figcaption></figure>")
    span = f"{len(points)} executions, {points[0][0].isoformat()} to {points[-1][0].isoformat()}."
    return f"<p class='meta'>{_e(span)}</p><div class='row'>{''.join(figures)}</div>"


def _read_section(read: Mapping) -> str:
    labels = {
        "files": "files read",
        "records": "records read",
        "rows": "rows analysed",
        "records_outside_window": "records outside the window",
        "malformed_records": "malformed records skipped",
    }
    counts = _pairs((label, f"<span class='num'>{_e(read.get(key, 0))}</span>") for key, label in labels.items())
    examples = read.get("malformed_examples", {})
    reasons = [(_e(r), _e(n), _e(examples.get(r, ""))) for r, n in read.get("malformed_by_reason", {}).items()]
    return counts + (
        _table(["reason", "count", "example"], reasons) if reasons else "<p class='note'>No malformed records.</p>"
    )


def _link(name: str, names: Sequence[str]) -> str:
    """The feature's name, linked to its section when it has one."""
    return f"<a href='#{_anchor(name)}'>{_e(name)}</a>" if name in names else _e(name)


def _facts(
    context: Mapping[str, str] | None,
    base: DatasetStatistics,
    cur: DatasetStatistics,
    found: Sequence[dict],
    drift: Mapping[str, Mapping],
) -> list[tuple[str, str]]:
    """The header's labelled facts: the caller's context, then item counts, violations and drifted features."""
    drifted = [n for n, d in drift.items() if d["distance"] > d["threshold"]]
    return [(k, _e(v)) for k, v in (context or {}).items()] + [
        ("baseline items", _e(base.item_count)),
        ("current items", _e(cur.item_count)),
        ("violations", _e(len(found))),
        ("drifted features", _e(", ".join(drifted) or "none")),
    ]


def _feature_parts(
    base: DatasetStatistics,
    cur: DatasetStatistics,
    found: Sequence[dict],
    drift: Mapping[str, Mapping],
    names: Sequence[str],
) -> tuple[str, str]:
    """(the features overview table, every feature's section); drift bars share one scale."""
    # every name is a feature of one side or the other
    kinds = {n: f.inferred_type for n in names if (f := base.feature(n) or cur.feature(n)) is not None}
    counts = {n: sum(v["feature_name"] == n for v in found) for n in names}
    scale = max([float(v) for d in drift.values() for v in (d["distance"], d["threshold"])] + [1e-9]) * 1.1
    overview = [(_link(n, names), _e(kinds[n]), _drift_cell(drift.get(n), scale), _e(counts[n])) for n in names]
    sections = "".join(
        _feature_section(
            n, base.feature(n), cur.feature(n), drift.get(n), [v for v in found if v["feature_name"] == n], scale
        )
        for n in names
    )
    return _table(["feature", "type", "drift distance against threshold", "violations"], overview), sections


def render_report(
    baseline_statistics: Document,
    current_statistics: Document,
    violations: Document | None = None,
    summary: Document | None = None,
    history: History = (),
    title: str = "Data quality report",
    context: Mapping[str, str] | None = None,
    generated_at: datetime | None = None,
    model_quality: Sequence[QualityCheck | Mapping] = (),
    residuals: Mapping | None = None,
) -> str:
    """The report as one HTML string; inputs are paths or parsed documents of the check's files.

    ``context`` adds labelled facts to the header (endpoint, model version, window, execution...);
    ``model_quality`` (the endpoint's model-quality checks, oldest first) and ``residuals`` add the model-quality
    section (``render_model_quality_section``).
    """
    base = _statistics(baseline_statistics, "baseline statistics")
    cur = _statistics(current_statistics, "current statistics")
    found = (_load(violations, "constraint violations") or {}).get("violations", [])
    info = _load(summary, "analysis summary") or {}
    drift = {d["feature"]: d for d in info.get("drift", [])}
    names = base.names + [n for n in cur.names if n not in base.names]
    status = str(info.get("status", "unknown"))
    badge = "bad" if found else ("good" if status.startswith("Completed") else "na")
    stamp = (generated_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    overview, sections = _feature_parts(base, cur, found, drift, names)
    rows = [(_link(v["feature_name"], names), _e(v["constraint_check_type"]), _e(v["description"])) for v in found]
    thresholds = {n: float(d["threshold"]) for n, d in drift.items()}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Generated {stamp:%Y-%m-%d %H:%M:%S} UTC · <span class="badge {badge}">{_e(status)}</span> '
        f"{_e(info.get('message', ''))}</p>",
        _pairs(_facts(context, base, cur, found, drift)),
        "<h2>Features</h2>",
        overview,
        "<h2>Violations</h2>",
        _table(["feature", "check", "description"], rows) if rows else "<p class='note'>No violations.</p>",
        "<h2>Data read</h2>",
        _read_section(info.get("read", {})),
        "<h2>Drift trend over recent executions</h2>",
        _trend_section(history, thresholds, names),
        render_model_quality_section(model_quality, residuals) if model_quality else "",
        "<h2>Distributions: baseline and current</h2>",
        sections,
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(path: str | Path, **inputs) -> Path:
    """Render the report (``render_report``'s keyword arguments) and write it atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_report(**inputs), encoding="utf-8")
    tmp.replace(path)
    return path
