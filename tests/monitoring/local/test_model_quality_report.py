"""The model-quality section of the HTML report, on the reference Model Monitor files and on statistics of real
labelled pairs (the reference regression CSV)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error

from monitoring.local.charts import CURRENT_COLOR, THRESHOLD_COLOR
from monitoring.local.html_report import render_report
from monitoring.local.model_quality_report import (
    breaches,
    render_model_quality_report,
    render_model_quality_section,
    thresholds,
)
from monitoring.local.residuals import read_residuals, residual_histogram, write_residuals
from tests.conftest import ROOT
from tests.monitoring.local.test_html_report import DATA_URI, SVG, Page, check, inputs  # noqa: F401

FIXTURES = ROOT / "tests" / "fixtures" / "model-monitor" / "model-quality"
NOW = datetime(2024, 5, 1, 13, 5, tzinfo=timezone.utc)
ALLOWED = {f"{SVG}{name}" for name in ("svg", "title", "rect", "line", "text", "polyline", "circle")}


def statistics(labels: np.ndarray, predictions: np.ndarray) -> dict:
    """Model Monitor's regression statistics of the pairs (r2 with Model Monitor's swapped arguments)."""
    from sklearn.metrics import r2_score

    mse = mean_squared_error(labels, predictions)
    values = {
        "mae": mean_absolute_error(labels, predictions),
        "mse": mse,
        "rmse": mse**0.5,
        "r2": r2_score(predictions, labels),
    }
    return {
        "version": 0.0,
        "dataset": {"item_count": len(labels)},
        "regression_metrics": {k: {"value": float(v), "standard_deviation": "NaN"} for k, v in values.items()},
    }


@pytest.fixture(scope="module")
def regression() -> dict:
    """Three hourly checks of the reference CSV's pairs, the later ones with predictions worse and worse."""
    frame = pd.read_csv(FIXTURES / "regression-baseline" / "baseline_dataset.csv")
    labels, predictions = frame["Label"].to_numpy(float), frame["Prediction"].to_numpy(float)
    constraints = json.loads((FIXTURES / "regression-baseline" / "good_cases_constraints.json").read_text())
    checks = []
    for hour, shift in enumerate((0.0, 0.2, 0.5)):
        stats = statistics(labels, predictions + shift)
        rules = thresholds(constraints)
        found = [
            {
                "metric_name": name,
                "constraint_check_type": rule[1],
                "description": f"Metric {name} with {value} was {rule[1]} '{rule[0]}'",
            }
            for name, rule in rules.items()
            if breaches(value := stats["regression_metrics"][name]["value"], rule)
        ]
        checks.append((NOW - timedelta(hours=2 - hour), stats, constraints, {"violations": found}))
    residuals = residual_histogram(labels, predictions + 0.5)
    return {"checks": checks, "residuals": residuals, "labels": labels, "predictions": predictions + 0.5}


def test_each_metric_is_charted_per_check_against_its_threshold(regression):
    page = Page(render_model_quality_report(regression["checks"], regression["residuals"], generated_at=NOW))
    trends = [i["alt"] for i in page.images() if i["alt"].endswith(": model quality trend")]
    assert trends == [f"{m}: model quality trend" for m in ("mae", "mse", "rmse", "r2")]
    constraints = regression["checks"][0][2]["regression_constraints"]
    for metric in ("mae", "mse", "rmse", "r2"):
        chart = page.svg(f"{metric}: model quality trend")
        (line,) = chart.findall(f"{SVG}polyline")
        assert len(line.get("points").split()) == 3
        assert f"threshold {constraints[metric]['threshold']:.4g}" in [t.text for t in chart.iter(f"{SVG}text")]
        values = [c[1]["regression_metrics"][metric]["value"] for c in regression["checks"]]
        expected = [
            breaches(v, (constraints[metric]["threshold"], constraints[metric]["comparison_operator"])) for v in values
        ]
        colors = [c.get("fill") for c in chart.iter(f"{SVG}circle")]
        assert colors == [THRESHOLD_COLOR if bad else CURRENT_COLOR for bad in expected]
        tips = [float(c.find(f"{SVG}title").text.split(" ")[0]) for c in chart.iter(f"{SVG}circle")]
        assert tips == pytest.approx(values, rel=1e-3)
    # the first check is the baseline itself: on the threshold, not past it; the shifted ones breach the errors
    mae = [c.get("fill") for c in page.svg("mae: model quality trend").iter(f"{SVG}circle")]
    assert mae == [CURRENT_COLOR, THRESHOLD_COLOR, THRESHOLD_COLOR]


def test_latest_check_lists_its_metrics_violations_and_residuals(regression):
    html = render_model_quality_report(regression["checks"], regression["residuals"], generated_at=NOW)
    page = Page(html)
    text = " ".join(page.text)
    for violation in regression["checks"][-1][3]["violations"]:
        assert violation["description"] in text
    assert "> 0.504" in text and "Model Monitor's" in text and "textbook" in text
    histogram = page.svg("residual histogram")
    bars = [r for r in histogram.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    residuals = regression["labels"] - regression["predictions"]
    counts, _ = np.histogram(residuals, bins=20)
    shares = [float(r.find(f"{SVG}title").text.rsplit(" ", 1)[1].rstrip("%")) for r in bars]
    assert shares == pytest.approx(list(counts / counts.sum() * 100), abs=0.051)
    assert regression["residuals"]["count"] == 100
    assert regression["residuals"]["mean"] == pytest.approx(residuals.mean())


def test_residuals_kept_beside_a_check_are_read_back(tmp_path, regression):
    path = write_residuals(tmp_path / "check", regression["labels"], regression["predictions"])
    assert path.name == "residuals.json" and read_residuals(path.parent) == regression["residuals"]
    assert read_residuals(tmp_path / "elsewhere") is None


def test_without_residuals_the_section_says_so_and_uses_the_statistics(regression):
    text = " ".join(Page(render_model_quality_section(regression["checks"])).text)
    mae = regression["checks"][-1][1]["regression_metrics"]["mae"]["value"]
    assert f"No residuals were kept with the latest check; from its statistics: mae {mae:.4g}" in text


def test_binary_shows_the_confusion_matrix_and_both_curves():
    stats = json.loads((FIXTURES / "metric-shapes" / "binary_classification_statistics.json").read_text())
    constraints = {
        "binary_classification_constraints": {
            "f1": {"threshold": 0.7, "comparison_operator": "LessThanThreshold"},
            "auc": {"threshold": 0.8, "comparison_operator": "LessThanThreshold"},
        }
    }
    page = Page(render_model_quality_section([(NOW, stats, constraints, [])]))
    cells = [t for t in page.text if t.strip()]
    start = cells.index("actual \\ predicted")
    assert cells[start : start + 9] == ["actual \\ predicted", "0", "1", "0", "1", "2", "1", "0", "1"]
    roc = page.svg("ROC curve: true against false positive rate")
    chance, curve = roc.findall(f"{SVG}polyline")
    assert len(curve.get("points").split()) == 6 and chance.get("stroke-dasharray")
    pr = page.svg("Precision against recall")
    assert len(pr.findall(f"{SVG}polyline")[1].get("points").split()) == 5
    assert [i["alt"] for i in page.images() if i["alt"].endswith("trend")] == [
        "f1: model quality trend",
        "auc: model quality trend",
    ]
    text = " ".join(page.text)
    assert "< 0.7" in text and "not < 0.8" in text  # f1 0.5 breaches, auc 1 does not


def test_the_section_is_self_contained_svg_only(regression):
    html = render_model_quality_report(regression["checks"], regression["residuals"], generated_at=NOW)
    assert "://" not in html and "<script" not in html
    for img in Page(html).images():
        assert img["src"].startswith(DATA_URI)
    page = Page(html)
    for img in page.images():
        assert {el.tag for el in page.svg(img["alt"]).iter()} <= ALLOWED


def test_data_quality_report_carries_the_section_only_when_given(check, regression):  # noqa: F811
    with_section = render_report(**inputs(check, model_quality=regression["checks"], residuals=regression["residuals"]))
    assert "<h2>Model quality</h2>" in with_section and "residual histogram" in with_section
    assert "<h2>Model quality</h2>" not in render_report(**inputs(check))


def test_no_checks_and_bad_times_are_named(regression):
    assert "No model-quality checks with results yet." in render_model_quality_section([])
    assert "No model-quality checks with results yet." in render_model_quality_section([(NOW, {}, {}, [])])
    as_records = [
        {"time": t.isoformat(), "statistics": s, "constraints": c, "violations": v["violations"], "status": "x"}
        for t, s, c, v in regression["checks"]
    ]
    assert render_model_quality_section(as_records) == render_model_quality_section(regression["checks"])
    no_data = [*regression["checks"], (NOW + timedelta(hours=1), {}, regression["checks"][0][2], [])]
    text = " ".join(Page(render_model_quality_section(no_data)).text)
    assert "3 checks," in text and "1 more had no statistics (NoData: too few labelled pairs)." in text
    with pytest.raises(ValueError, match=r"model-quality check time: expected an ISO-8601 time.*'yesterday'"):
        render_model_quality_section([("yesterday", {}, {}, None)])
