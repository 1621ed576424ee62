"""The HTML report on real analyzer output: self-contained, every image decodes, everything named."""

from __future__ import annotations

import base64
import copy
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from monitoring.local.charts import BASELINE_COLOR, CURRENT_COLOR
from monitoring.local.html_report import render_report, write_report
from tests.monitoring.drift_checks import make_baseline, make_check, write_sample

NOW = datetime(2024, 5, 1, 13, 5, tzinfo=timezone.utc)
SVG = "{http://www.w3.org/2000/svg}"
DATA_URI = "data:image/svg+xml;base64,"


class Page(HTMLParser):
    """Tags with their attributes, element ids, and the text of the page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data) -> None:
        self.text.append(data)

    def images(self) -> list[dict]:
        return [attrs for tag, attrs in self.tags if tag == "img"]

    def svg(self, alt: str) -> ET.Element:
        (img,) = [i for i in self.images() if i["alt"] == alt]
        return ET.fromstring(base64.b64decode(img["src"][len(DATA_URI) :], validate=True))


@pytest.fixture(scope="module")
def check(tmp_path_factory) -> dict:
    """A baseline, two earlier checks for the trend, and a drifted check with malformed rows."""
    root = tmp_path_factory.mktemp("report")
    baseline = make_baseline(root / "baseline")
    history = []
    for hour, scale in enumerate((1.0, 1.1)):
        earlier = make_check(
            baseline, write_sample(root / f"w{hour}.csv", scale=scale, seed=hour), root / f"c{hour}", NOW
        )
        history.append((NOW - timedelta(hours=2 - hour), {d.feature_name: d.distance for d in earlier.drifts}))
    data = write_sample(root / "drift.csv", scale=1.3)
    with open(data, "a") as handle:
        handle.write("M,0.5,0.4\nF,0.1\n")  # two rows with too few fields
    result = make_check(baseline, data, root / "check", NOW)
    history.append((NOW, {d.feature_name: d.distance for d in result.drifts}))
    return {"baseline": baseline, "result": result, "history": history, "out": result.output}


def inputs(check: dict, **overrides) -> dict:
    out = check["out"]
    return {
        "baseline_statistics": check["baseline"] / "statistics.json",
        "current_statistics": out / "statistics.json",
        "violations": out / "constraint_violations.json",
        "summary": out / "analysis_summary.json",
        "history": check["history"],
        "title": "Data quality: ep",
        "context": {"endpoint": "ep", "model version": "abalone/3"},
        "generated_at": NOW,
        **overrides,
    }


@pytest.fixture(scope="module")
def html(check) -> str:
    return render_report(**inputs(check))


def test_report_is_self_contained(html):
    page = Page(html)
    assert not [tag for tag, _ in page.tags if tag in ("script", "link", "iframe", "object", "embed", "base")]
    assert "@import" not in html and "url(" not in html.lower() and "://" not in html
    ids = {attrs["id"] for _, attrs in page.tags if "id" in attrs}
    for tag, attrs in page.tags:
        for key in ("src", "href", "srcset", "poster", "action", "data"):
            value = attrs.get(key)
            if value is None:
                continue
            assert not re.match(r"\s*(https?:|//|file:)", value, re.I), f"<{tag} {key}={value[:60]!r}>"
            if key == "href":
                assert value.startswith("#") and value[1:] in ids, f"link to a missing anchor: {value}"
            else:
                assert (tag, key) == ("img", "src") and value.startswith(DATA_URI)


def test_every_embedded_image_is_a_valid_svg_with_no_outside_reference(html):
    images = Page(html).images()
    assert len(images) > 20
    for img in images:
        svg_text = base64.b64decode(img["src"][len(DATA_URI) :], validate=True).decode("utf-8")
        root = ET.fromstring(svg_text)
        assert root.tag == f"{SVG}svg" and float(root.get("width")) > 0 and img["alt"]
        assert "href" not in svg_text and "url(" not in svg_text and "<script" not in svg_text
        assert {element.tag for element in root.iter()} <= {
            f"{SVG}{name}" for name in ("svg", "title", "rect", "line", "text", "polyline", "circle")
        }


def test_report_names_every_feature_violation_and_the_read_summary(html, check):
    result = check["result"]
    page = Page(html)
    text = " ".join(page.text)
    headings = [t for t in page.text if t.strip()]
    stats = json.loads((check["out"] / "statistics.json").read_text())
    names = [f["name"] for f in stats["features"]]
    assert len(names) == 9
    for name in names:
        assert name in headings, name
    violations = json.loads((check["out"] / "constraint_violations.json").read_text())["violations"]
    assert {v["feature_name"] for v in violations} >= {"length", "diameter", "whole_weight"}
    for v in violations:
        assert v["description"] in text and v["constraint_check_type"] in text
    assert "malformed records skipped" in text and "wrong_column_count" in text
    assert result.read["malformed_records"] == 2
    assert "CompletedWithViolations" in text and "abalone/3" in text
    for drift in result.drifts:
        assert f"{drift.distance:.4f} {'>' if drift.drifted else '≤'} {drift.threshold:g}" in text


def test_numeric_charts_draw_both_sides_buckets_and_cdfs(html, check):
    page = Page(html)
    histogram = page.svg("length: baseline and current distribution")
    bars = {
        color: [r for r in histogram.iter(f"{SVG}rect") if r.get("fill") == color and r.find(f"{SVG}title") is not None]
        for color in (BASELINE_COLOR, CURRENT_COLOR)
    }
    for rects in bars.values():
        assert len(rects) == 10
        shares = [float(r.find(f"{SVG}title").text.rsplit(" ", 1)[1].rstrip("%")) for r in rects]
        assert sum(shares) == pytest.approx(100.0, abs=0.1)
    cdf = page.svg("length: CDFs")
    lines = cdf.findall(f"{SVG}polyline")
    assert [line.get("stroke") for line in lines] == [BASELINE_COLOR, CURRENT_COLOR]
    assert all(len(line.get("points").split()) == 200 for line in lines)
    assert any((t.text or "").startswith("largest gap") for t in cdf.iter(f"{SVG}text"))
    categories = page.svg("sex: baseline and current categories")
    labels = [t.text for t in categories.iter(f"{SVG}text")]
    assert {"M", "F", "I"} <= set(labels)


def test_trend_has_one_chart_per_feature_with_its_threshold(html, check):
    page = Page(html)
    trend = page.svg("length: drift trend")
    (line,) = trend.findall(f"{SVG}polyline")
    assert len(line.get("points").split()) == 3
    assert any(t.text == "threshold 0.1" for t in trend.iter(f"{SVG}text"))
    assert len([i for i in page.images() if i["alt"].endswith(": drift trend")]) == 9
    quiet = Page(render_report(**inputs(check, history=())))
    assert not [i for i in quiet.images() if i["alt"].endswith(": drift trend")]
    assert "No earlier executions were given." in " ".join(quiet.text)


def test_names_are_escaped_and_missing_or_extra_columns_noted(check):
    weird = 'size <script>alert("x")</script> & co'
    base = json.loads((check["baseline"] / "statistics.json").read_text())
    cur = json.loads((check["out"] / "statistics.json").read_text())
    base_doc, cur_doc = copy.deepcopy(base), copy.deepcopy(cur)
    base_doc["features"][1]["name"] = cur_doc["features"][1]["name"] = weird
    cur_doc["features"] = [f for f in cur_doc["features"] if f["name"] != "rings"]
    extra = copy.deepcopy(cur_doc["features"][2])
    extra["name"] = "colour"
    cur_doc["features"].append(extra)
    out = render_report(base_doc, cur_doc, {"violations": []}, None, generated_at=NOW)
    page = Page(out)
    assert not [tag for tag, _ in page.tags if tag == "script"]
    text = " ".join(page.text)
    assert weird in page.text and "No violations." in text
    assert "Not in the current data (a missing column)." in text and "Not in the baseline (an extra column)." in text


def test_inputs_errors_name_the_file(tmp_path, check):
    with pytest.raises(FileNotFoundError, match=r"Report input 'current statistics' not found: .*nothing\.json"):
        render_report(**inputs(check, current_statistics=tmp_path / "nothing.json"))
    bad = tmp_path / "summary.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"Report input 'analysis summary' \(.*summary.json\) is not valid JSON"):
        render_report(**inputs(check, summary=bad))


def test_write_report_is_deterministic(tmp_path, check, html):
    path = write_report(tmp_path / "reports" / "report.html", **inputs(check))
    assert path.read_text(encoding="utf-8") == html == render_report(**inputs(check))
    assert not list((tmp_path / "reports").glob("*.tmp"))
    assert isinstance(path, Path)
