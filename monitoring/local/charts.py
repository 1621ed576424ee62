"""Small charts as standalone SVG documents (no plotting library: this is container code), and their data URIs.

Every chart is a complete SVG file with its own axes, ticks and legend; ``data_uri`` embeds one in HTML as an
``<img>`` source, so a report needs no external file, script or font.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

BASELINE_COLOR = "#4c72b0"
CURRENT_COLOR = "#dd8452"
THRESHOLD_COLOR = "#c44e52"
OK_COLOR = "#55a868"
_FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'
_LEFT, _RIGHT, _TOP, _BOTTOM = 46, 12, 26, 40


@dataclass(frozen=True)
class Series:
    """One named series: bar heights, or line ys over ``xs``."""

    name: str
    values: Sequence[float]
    color: str
    xs: Sequence[float] = ()
    dashed: bool = False


def data_uri(svg: str) -> str:
    """``data:image/svg+xml;base64,...`` for an ``<img src>``."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _document(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">'
        f"<title>{escape(title)}</title>"
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>' + "".join(body) + "</svg>"
    )


def _text(
    x: float, y: float, text: str, size: int = 11, anchor: str = "middle", color: str = "#333333", halo: bool = False
) -> str:
    outline = ' stroke="#ffffff" stroke-width="3" paint-order="stroke"' if halo else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" {_FONT} font-size="{size}" text-anchor="{anchor}" '
        f'fill="{color}"{outline}>{escape(text)}</text>'
    )


def _threshold_line(width: int, y: float, label: str) -> list[str]:
    """A dashed threshold line across the plot at ``y`` with its label at the right end."""
    line = (
        f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{width - _RIGHT}" y2="{y:.1f}" stroke="{THRESHOLD_COLOR}" '
        f'stroke-dasharray="5,4"/>'
    )
    return [line, _text(width - _RIGHT - 2, y - 4, label, 10, "end", THRESHOLD_COLOR, True)]


def _legend(series: Sequence[Series], width: int) -> list[str]:
    parts, x = [], width - _RIGHT
    for item in reversed(series):
        label_width = 7 * len(item.name) + 18
        x -= label_width
        parts.append(f'<rect x="{x:.1f}" y="8" width="10" height="10" fill="{item.color}"/>')
        parts.append(_text(x + 14, 17, item.name, 11, "start"))
    return parts


def nice_top(value: float, intervals: int = 4) -> float:
    """The smallest axis top >= ``value`` whose ``intervals`` equal steps are 1, 2, 2.5 or 5 times a power of 10."""
    raw = max(value, 1e-12) / intervals
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(f for f in (1.0, 2.0, 2.5, 5.0, 10.0) if f * power >= raw * (1 - 1e-9)) * power
    return step * intervals


def _y_axis(height: int, width: int, y_max: float, percent: bool) -> list[str]:
    parts, plot_h = [], height - _TOP - _BOTTOM
    for i in range(5):
        value = y_max * i / 4
        y = height - _BOTTOM - plot_h * i / 4
        label = f"{round(value * 100, 1):g}%" if percent else f"{value:.3g}"
        parts.append(f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{width - _RIGHT}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(_text(_LEFT - 4, y + 4, label, 10, "end"))
    return parts


def bar_chart(labels: Sequence[str], series: Sequence[Series], title: str, width: int = 420, height: int = 220) -> str:
    """Grouped bars of shares (0..1) per label, one colour per series, with a legend."""
    y_max = min(1.0, nice_top(max([max(s.values, default=0.0) for s in series] + [0.01]) * 1.05))
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    slot = plot_w / max(len(labels), 1)
    bar = slot * 0.8 / max(len(series), 1)
    body = _y_axis(height, width, y_max, percent=True)
    for i, label in enumerate(labels):
        for j, item in enumerate(series):
            value = item.values[i]
            h = plot_h * min(value, y_max) / y_max
            x = _LEFT + slot * i + slot * 0.1 + bar * j
            body.append(
                f'<rect x="{x:.1f}" y="{height - _BOTTOM - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{item.color}"><title>{escape(f"{item.name} {label}: {value:.1%}")}</title></rect>'
            )
        step = max(1, round(len(labels) / 10))
        if i % step == 0:
            short = label if len(label) <= 12 else label[:11] + "…"
            body.append(_text(_LEFT + slot * (i + 0.5), height - _BOTTOM + 14, short, 10))
    body.append(
        f'<line x1="{_LEFT}" y1="{height - _BOTTOM}" x2="{width - _RIGHT}" y2="{height - _BOTTOM}" stroke="#666"/>'
    )
    body += _legend(series, width)
    return _document(width, height, body, title)


def line_chart(
    series: Sequence[Series],
    title: str,
    x_range: tuple[float, float],
    x_ticks: Sequence[tuple[float, str]],
    y_max: float,
    threshold: float | None = None,
    marker: tuple[float, str] | None = None,
    percent: bool = False,
    points: bool = False,
    width: int = 420,
    height: int = 220,
) -> str:
    """Lines over a numeric x axis, an optional dashed threshold and an optional vertical marker."""
    lo, hi = x_range
    span = (hi - lo) or 1.0
    y_max = nice_top(y_max or 1.0)
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM

    def sx(x: float) -> float:
        return _LEFT + plot_w * (x - lo) / span

    def sy(y: float) -> float:
        return height - _BOTTOM - plot_h * min(max(y, 0.0), y_max) / y_max

    body = _y_axis(height, width, y_max, percent)
    for x, label in x_ticks:
        at = sx(x)
        anchor = "start" if at < _LEFT + 24 else "end" if at > width - _RIGHT - 24 else "middle"
        body.append(_text(at, height - _BOTTOM + 14, label, 10, anchor))
    body.append(
        f'<line x1="{_LEFT}" y1="{height - _BOTTOM}" x2="{width - _RIGHT}" y2="{height - _BOTTOM}" stroke="#666"/>'
    )
    if threshold is not None:
        body.extend(_threshold_line(width, sy(threshold), f"threshold {threshold:g}"))
    if marker is not None:
        x = sx(marker[0])
        bottom = height - _BOTTOM
        body.append(f'<line x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" y2="{bottom}" stroke="#888" stroke-dasharray="2,3"/>')
        left = x > _LEFT + plot_w * 0.6
        body.append(
            _text(x - 4 if left else x + 4, _TOP + 26, marker[1], 10, "end" if left else "start", "#555555", True)
        )
    for item in series:
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(item.xs, item.values, strict=True))
        dash = ' stroke-dasharray="6,3"' if item.dashed else ""
        body.append(f'<polyline points="{coords}" fill="none" stroke="{item.color}" stroke-width="2"{dash}/>')
        if points:
            for x, y in zip(item.xs, item.values, strict=True):
                tip = escape(f"{item.name}: {y:.4g}")
                body.append(
                    f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{item.color}"><title>{tip}</title></circle>'
                )
    body += _legend(series, width)
    return _document(width, height, body, title)


def _y_range(values: Sequence[float]) -> tuple[float, float]:
    """A y range holding every value with some padding, in four steps of 1, 2, 2.5 or 5 times a power of 10."""
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    step = nice_top(hi - lo) / 4
    start = math.floor(lo / step) * step
    while start + 4 * step < hi:  # flooring the start may leave the top short: a step up
        step = nice_top(hi - start) / 4
        start = math.floor(lo / step) * step
    return start, start + 4 * step


def metric_chart(
    xs: Sequence[float],
    values: Sequence[float],
    title: str,
    x_ticks: Sequence[tuple[float, str]],
    threshold: float | None = None,
    breaching: Sequence[bool] = (),
    width: int = 300,
    height: int = 170,
) -> str:
    """One metric over time as points on a line, any sign, with its threshold dashed; points that breach it are red."""
    lo, hi = _y_range([*values, *([threshold] if threshold is not None else [])])
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    x_span = (x_hi - x_lo) or 1.0
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM

    def sx(x: float) -> float:
        return _LEFT + plot_w * ((x - x_lo) / x_span if x_hi > x_lo else 0.5)

    def sy(y: float) -> float:
        return height - _BOTTOM - plot_h * (y - lo) / (hi - lo)

    body = []
    for i in range(5):
        value = lo + (hi - lo) * i / 4
        body.append(
            f'<line x1="{_LEFT}" y1="{sy(value):.1f}" x2="{width - _RIGHT}" y2="{sy(value):.1f}" stroke="#e5e5e5"/>'
        )
        body.append(_text(_LEFT - 4, sy(value) + 4, f"{value:.3g}", 10, "end"))
    for x, label in x_ticks:
        at = sx(x)
        anchor = "start" if at < _LEFT + 24 else "end" if at > width - _RIGHT - 24 else "middle"
        body.append(_text(at, height - _BOTTOM + 14, label, 10, anchor))
    if threshold is not None:
        body.extend(_threshold_line(width, sy(threshold), f"threshold {threshold:.4g}"))
    coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, values, strict=True))
    body.append(f'<polyline points="{coords}" fill="none" stroke="{CURRENT_COLOR}" stroke-width="2"/>')
    flags = list(breaching) or [False] * len(values)
    for x, y, bad in zip(xs, values, flags, strict=True):
        color = THRESHOLD_COLOR if bad else CURRENT_COLOR
        tip = escape(f"{y:.4g}{' (breaches the threshold)' if bad else ''}")
        body.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{color}"><title>{tip}</title></circle>')
    return _document(width, height, body, title)


def distance_bar(
    distance: float, threshold: float, scale: float | None = None, width: int = 160, height: int = 14
) -> str:
    """A small horizontal bar of a drift distance (red past the threshold) with the threshold marked; bars that
    share a ``scale`` (the value at the right end) compare by length."""
    scale = max(scale or 0.0, distance, threshold, 1e-9) * (1.0 if scale else 1.25)
    fill = THRESHOLD_COLOR if distance > threshold else OK_COLOR
    x = width * threshold / scale
    body = [
        f'<rect x="0" y="2" width="{width}" height="{height - 4}" fill="#eeeeee"/>',
        f'<rect x="0" y="2" width="{width * distance / scale:.1f}" height="{height - 4}" fill="{fill}"/>',
        f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" stroke="#222222" stroke-width="2"/>',
    ]
    return _document(width, height, body, f"distance {distance:.4g}, threshold {threshold:g}")


def image(svg: str, alt: str, css_class: str = "chart") -> str:
    """An ``<img>`` element embedding the SVG."""
    return f"<img class={quoteattr(css_class)} alt={quoteattr(alt)} src={quoteattr(data_uri(svg))}>"
