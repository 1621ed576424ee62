"""CloudWatch alarm semantics: M out of N, missing-data treatments, composite rules, persisted transitions."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from monitoring.local.alarms import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    AlarmState,
    AlarmStore,
    CompositeAlarm,
    MetricAlarm,
    evaluate_alarms,
    evaluate_composite,
    evaluate_datapoints,
    evaluate_rule,
    feature_drift_alarms,
    model_quality_alarms,
    parse_rule,
)
from monitoring.local.metrics_store import MetricsStore
from monitoring.metrics import NAMESPACE
from tests.monitoring.drift_checks import DRIFTED, make_baseline, make_check, write_sample

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
KEEP = "keep"
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


def states_for(pattern: str, m: int, n: int, previous: str = OK) -> list[str]:
    """The state per treatment for a row of AWS's tables (0 = not breaching, X = breaching, - = missing)."""
    values = {"0": 0.0, "X": 2.0, "-": None}
    points = [(NOW - timedelta(minutes=5 * (4 - i)), values[c]) for i, c in enumerate(pattern.split())]
    result = []
    for treatment in TREATMENTS:
        alarm = MetricAlarm(
            "a", "m", 1.0, period=300, evaluation_periods=n, datapoints_to_alarm=m, treat_missing_data=treatment
        )
        state = evaluate_datapoints(alarm, points, previous, NOW)
        result.append(KEEP if state is None else state.value)
    return result


# The two tables of "How alarm state is evaluated when data is missing" (AWS CloudWatch user guide):
# columns MISSING, IGNORE, BREACHING, NOT BREACHING; the evaluation range holds 5 datapoints.
THREE_OF_THREE = [
    ("0 - X - X", [OK, OK, OK, OK]),
    ("0 - - - -", [OK, OK, OK, OK]),
    ("- - - - -", [INSUFFICIENT_DATA, KEEP, ALARM, OK]),
    ("0 X X - X", [ALARM, ALARM, ALARM, ALARM]),
    ("- - - - X", [INSUFFICIENT_DATA, KEEP, ALARM, OK]),
    # A later version of the page adds "X - - - -" with ALARM under MISSING, contradicting the row above by
    # position alone; we keep the rule the rest of both tables follows (see monitoring/local/metric_alarm.py).
    ("X - - - -", [INSUFFICIENT_DATA, KEEP, ALARM, OK]),
]
TWO_OF_THREE = [
    ("0 - X - X", [ALARM, ALARM, ALARM, ALARM]),
    ("0 0 X 0 X", [ALARM, ALARM, ALARM, ALARM]),
    ("0 - X - -", [OK, OK, ALARM, OK]),
    ("- - - - 0", [OK, OK, ALARM, OK]),
    ("- - - - X", [INSUFFICIENT_DATA, KEEP, ALARM, OK]),
]


@pytest.mark.parametrize(("pattern", "expected"), THREE_OF_THREE)
def test_aws_table_three_out_of_three(pattern, expected):
    assert states_for(pattern, 3, 3) == expected


@pytest.mark.parametrize(("pattern", "expected"), TWO_OF_THREE)
def test_aws_table_two_out_of_three(pattern, expected):
    assert states_for(pattern, 2, 3) == expected


@pytest.mark.parametrize(
    ("operator", "below", "at", "above"),
    [
        ("GreaterThanThreshold", OK, OK, ALARM),
        ("GreaterThanOrEqualToThreshold", OK, ALARM, ALARM),
        ("LessThanThreshold", ALARM, OK, OK),
        ("LessThanOrEqualToThreshold", ALARM, ALARM, OK),
    ],
)
def test_comparison_operators_at_the_threshold(operator, below, at, above):
    alarm = MetricAlarm("a", "m", 0.1, comparison_operator=operator)
    got = [evaluate_datapoints(alarm, [(NOW, v)], OK, NOW).value for v in (0.05, 0.1, 0.2)]
    assert got == [below, at, above]


def test_reasons_read_like_cloudwatch_state_reasons():
    alarm = MetricAlarm("a", "m", 1.0, period=300, evaluation_periods=3, datapoints_to_alarm=2)
    points = [(NOW - timedelta(minutes=5 * (2 - i)), v) for i, v in enumerate([0.5, 2.0, 3.0])]
    state = evaluate_datapoints(alarm, points, OK, NOW)
    assert state.reason == (
        "Threshold Crossed: 2 out of the last 3 datapoints [3.0 (01/05/24 12:00:00), 2.0 (01/05/24 11:55:00)] "
        "were greater than the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition)."
    )
    assert state.reason_data["recentDatapoints"] == [0.5, 2.0, 3.0]
    assert [p["value"] for p in state.reason_data["evaluatedDatapoints"]] == [3.0, 2.0, 0.5]
    quiet = MetricAlarm("q", "m", 1.0, treat_missing_data="notBreaching")
    state = evaluate_datapoints(quiet, [(NOW, None)], ALARM, NOW)
    assert state.value == OK
    assert state.reason == (
        "Threshold Crossed: no datapoints were received for 3 periods and 1 missing datapoint was treated as "
        "[NonBreaching] (minimum 1 datapoint for ALARM -> OK transition)."
    )
    unknown = evaluate_datapoints(MetricAlarm("u", "m", 1.0), [(NOW, None)], OK, NOW)
    assert (unknown.value, unknown.reason) == (INSUFFICIENT_DATA, "Insufficient Data: 1 datapoint was unknown.")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"comparison_operator": "Above"}, "comparison_operator must be one of GreaterThanThreshold"),
        ({"statistic": "p90"}, "statistic must be one of"),
        ({"treat_missing_data": "zero"}, "treat_missing_data must be one of missing, notBreaching, breaching"),
        ({"period": 90}, "period must be 10, 30 or a multiple of 60 seconds, got 90"),
        ({"evaluation_periods": 2, "datapoints_to_alarm": 3}, "datapoints_to_alarm must be 1..2, got 3"),
        ({"threshold": float("inf")}, "threshold must be a finite number"),
        ({"name": "dérive"}, "the name must be non-empty ASCII"),
    ],
)
def test_invalid_metric_alarms_are_rejected(fields, message):
    with pytest.raises(ValueError, match=message):
        MetricAlarm(**{"name": "a", "metric_name": "m", "threshold": 1.0, **fields})


def test_rule_grammar_functions_operators_precedence_and_quoting():
    states = {"a": ALARM, "b": OK, "c": INSUFFICIENT_DATA, "name with (parens)": ALARM}
    cases = {
        "ALARM(a)": True,
        'ALARM("b")': False,
        "ALARM(a) OR ALARM(b)": True,
        "ALARM(a) AND ALARM(b)": False,
        "NOT ALARM(b)": True,
        "OK(b) AND INSUFFICIENT_DATA(c)": True,
        "ALARM(b) AND ALARM(a) OR OK(b)": True,  # AND binds tighter than OR
        "ALARM(b) AND (ALARM(a) OR OK(b))": False,
        "NOT ALARM(a) AND ALARM(b)": False,  # NOT binds tighter than AND
        "NOT (ALARM(a) AND ALARM(b))": True,
        'ALARM("name with (parens)") AND TRUE': True,
        "FALSE OR NOT NOT OK( b )": True,
    }
    assert {rule: evaluate_rule(parse_rule(rule), states) for rule in cases} == cases
    assert CompositeAlarm("c", "ALARM(a) OR (OK(b) AND NOT ALARM(a))").children == ["a", "b"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("ALARM(a) OR", "expected ALARM\\(name\\).* at position 11, found the end of the rule"),
        ("alarm(a)", "at position 0, found 'alarm\\(a\\)'"),
        ("ALARM(a) XOR ALARM(b)", "expected AND, OR or the end of the rule at position 9, found 'XOR ALARM"),
        ("(ALARM(a)", "expected '\\)' at position 9"),
        ("ALARM()", "expected an alarm name, bare or in double quotes"),
        ("   ", "expected a non-empty expression"),
    ],
)
def test_invalid_rules_name_the_position(rule, message):
    with pytest.raises(ValueError, match=message):
        parse_rule(rule)


def test_composite_reason_names_the_children_that_decided():
    composite = CompositeAlarm("drift", "ALARM(a) OR ALARM(b)")
    since = NOW - timedelta(hours=1)
    children = {"a": AlarmState(OK, "fine", {}, since), "b": AlarmState(ALARM, "Threshold Crossed: ...", {}, since)}
    state = evaluate_composite(composite, children, NOW)
    assert (state.value, state.reason) == (ALARM, "Alarm rule ALARM(a) OR ALARM(b) is TRUE: b is ALARM")
    (trigger,) = state.reason_data["triggeringAlarms"]
    assert trigger == {
        "name": "b",
        "state": {"value": ALARM, "timestamp": "2024-05-01T11:00:00.000+0000"},
        "reason": "Threshold Crossed: ...",
    }
    calm = evaluate_composite(composite, {**children, "b": AlarmState(OK, "fine", {}, since)}, NOW)
    assert (calm.value, calm.reason) == (OK, "Alarm rule ALARM(a) OR ALARM(b) is FALSE: a is OK, b is OK")


@pytest.fixture(scope="module")
def check_metrics(tmp_path_factory) -> dict:
    """Metric data of a clean check and a drifted check of real abalone data, and the drift thresholds."""
    root = tmp_path_factory.mktemp("alarm-checks")
    baseline = make_baseline(root / "baseline")
    clean = make_check(baseline, write_sample(root / "clean.csv"), root / "clean", NOW)
    drifted = make_check(baseline, write_sample(root / "drift.csv", scale=1.3), root / "drift", NOW)
    thresholds = {d.feature_name: d.threshold for d in drifted.drifts}
    return {"clean": clean.metrics, "drift": drifted.metrics, "thresholds": thresholds, "drifts": drifted.drifts}


def put_check(store: MetricsStore, data, when: datetime) -> None:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    store.put_metric_data(NAMESPACE, [{**d, "Timestamp": stamp} for d in data])


def test_one_drift_event_is_one_composite_transition_across_processes(tmp_path, check_metrics):
    alarms, composite = feature_drift_alarms(check_metrics["thresholds"], "ep", "hourly")
    assert composite.name == "ep-drift"  # CloudWatch's name, alarm_names.drift_alarm_name
    metrics = MetricsStore(tmp_path / "metrics")
    hours = [NOW + timedelta(hours=h, minutes=5) for h in range(8)]

    def evaluate(hour: int):  # a fresh AlarmStore each time: what the next process sees
        return evaluate_alarms(alarms, [composite], metrics, AlarmStore(tmp_path / "alarms"), clock=lambda: hours[hour])

    put_check(metrics, check_metrics["clean"], hours[0])
    first = evaluate(0)
    assert first.transition_of(composite.name).new_state == OK
    assert {t.new_state for t in first.transitions} == {OK}

    put_check(metrics, check_metrics["drift"], hours[1])
    second = evaluate(1)
    drifted = {d.feature_name for d in check_metrics["drifts"] if d.drifted}
    assert drifted >= set(DRIFTED)
    changed = {t.alarm_name for t in second.transitions if t.new_state == ALARM}
    assert changed == {f"ep-drift-{f}" for f in drifted} | {composite.name}
    alert = second.transition_of(composite.name)
    assert (alert.old_state, alert.new_state) == (OK, ALARM)
    assert alert.reason.startswith('Alarm rule ALARM("ep-drift-')
    assert {t["name"] for t in alert.reason_data["triggeringAlarms"]} == {f"ep-drift-{f}" for f in drifted}
    length = second.states["ep-drift-length"]
    assert length.reason.startswith("Threshold Crossed: 1 out of the last 1 datapoints [")
    assert "was greater than the threshold (0.1)" in length.reason

    assert evaluate(1).transitions == ()  # the same evaluation again: nothing changes
    put_check(metrics, check_metrics["drift"], hours[2])
    assert evaluate(2).transitions == ()  # drift persists: no second alert
    assert evaluate(4).states[composite.name].value == ALARM
    silent = evaluate(6)  # no check in the last three hours: 'ignore' keeps the per-feature alarms in ALARM
    assert silent.transitions == ()
    assert silent.states["ep-drift-length"].value == ALARM

    put_check(metrics, check_metrics["clean"], hours[7])
    recovered = evaluate(7)
    assert recovered.transition_of(composite.name).new_state == OK
    history = AlarmStore(tmp_path / "alarms").history(composite.name)
    assert [(t.old_state, t.new_state) for t in history] == [(ALARM, OK), (OK, ALARM), (INSUFFICIENT_DATA, OK)]
    assert json.loads(json.dumps(history[1].to_json()))["timestamp"] == "2024-05-01T13:05:00.000+0000"


def test_missing_treatment_goes_to_insufficient_data_after_the_range_and_partial_periods_count(tmp_path):
    metrics, store = MetricsStore(tmp_path), AlarmStore(tmp_path)
    alarm = MetricAlarm("a", "m", 0.1, dimensions={"Endpoint": "ep"}, namespace="ns")
    dims = [{"Name": "Endpoint", "Value": "ep"}]
    metrics.put_metric_data(
        "ns", [{"MetricName": "m", "Dimensions": dims, "Timestamp": NOW + timedelta(minutes=30), "Value": 0.5}]
    )

    def at(delta: timedelta) -> str:
        evaluate_alarms([alarm], [], metrics, store, clock=lambda: NOW + delta)
        return store.state("a").value

    assert at(timedelta(minutes=29)) == INSUFFICIENT_DATA  # data stamped after 'now' is not seen
    assert at(timedelta(minutes=31)) == ALARM  # the current, partial hour counts
    assert at(timedelta(hours=2, minutes=59)) == ALARM  # still within the 3-period evaluation range
    assert at(timedelta(hours=3)) == INSUFFICIENT_DATA
    assert [(t.old_state, t.new_state) for t in store.history()] == [
        (ALARM, INSUFFICIENT_DATA),
        (INSUFFICIENT_DATA, ALARM),
    ]


def test_racing_evaluators_record_one_transition(tmp_path):
    AlarmStore(tmp_path)
    results = []
    barrier = threading.Barrier(6)

    def racer() -> None:
        store = AlarmStore(tmp_path)
        barrier.wait()
        results.append(store.record("drift", AlarmState(ALARM, "drifted", {}, NOW)))

    threads = [threading.Thread(target=racer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 6
    assert sum(r is not None for r in results) == 1
    assert len(AlarmStore(tmp_path).history("drift")) == 1


def test_definition_errors_name_the_alarm(tmp_path):
    metrics, store = MetricsStore(tmp_path), AlarmStore(tmp_path)
    a = MetricAlarm("a", "m", 1.0)
    with pytest.raises(ValueError, match="Composite alarm 'c' refers to alarm 'b', which is not defined; defined"):
        evaluate_alarms([a], [CompositeAlarm("c", "ALARM(a) OR ALARM(b)")], metrics, store)
    with pytest.raises(ValueError, match="Composite alarm 'x': its AlarmRule refers back to itself"):
        evaluate_alarms([a], [CompositeAlarm("x", "ALARM(y)"), CompositeAlarm("y", "ALARM(x)")], metrics, store)
    with pytest.raises(ValueError, match="Alarm names must be unique; repeated: a"):
        evaluate_alarms([a, a], [], metrics, store)
    with pytest.raises(ValueError, match="no features given"):
        feature_drift_alarms({}, "ep", "hourly")


def test_composites_of_composites_evaluate_in_dependency_order(tmp_path):
    metrics, store = MetricsStore(tmp_path), AlarmStore(tmp_path)
    metrics.put_metric_data("ns", [{"MetricName": "m", "Timestamp": NOW, "Value": 5.0}])
    a = MetricAlarm("a", "m", 1.0, namespace="ns")
    outer = CompositeAlarm("outer", "ALARM(inner) AND NOT OK(a)")
    inner = CompositeAlarm("inner", "ALARM(a)")
    result = evaluate_alarms([a], [outer, inner], metrics, store, clock=lambda: NOW)
    assert [t.alarm_name for t in result.transitions] == ["a", "inner", "outer"]
    assert result.states["outer"].value == ALARM


def test_model_quality_alarms_take_threshold_and_operator_from_the_reference_constraints(tmp_path):
    from monitoring.local.alarm_names import metric_alarm_name, model_quality_alarm_name
    from monitoring.local.endpoint_alarms import MODEL_METRICS_NAMESPACE
    from tests.conftest import REFERENCE

    constraints = json.loads(
        (REFERENCE / "model-quality" / "regression-baseline" / "good_cases_constraints.json").read_text()
    )
    alarms, composite = model_quality_alarms(
        constraints, ["rmse", "r2"], "Abalone-EP", "hourly-model-quality", evaluation_periods=3, datapoints_to_alarm=2
    )
    rmse, r2 = alarms
    assert (rmse.name, rmse.metric_name, rmse.threshold) == (
        "abalone-ep-model-quality-rmse",
        "rmse",
        0.5776238707827177,
    )
    assert (rmse.comparison_operator, rmse.statistic) == ("GreaterThanThreshold", "Maximum")
    assert (r2.comparison_operator, r2.statistic, r2.threshold) == ("LessThanThreshold", "Minimum", -3.208758170289026)
    assert rmse.namespace == MODEL_METRICS_NAMESPACE == "aws/sagemaker/Endpoints/model-metrics"
    assert rmse.dimensions == {"Endpoint": "Abalone-EP", "MonitoringSchedule": "hourly-model-quality"}
    assert (rmse.evaluation_periods, rmse.datapoints_to_alarm) == (3, 2)
    assert composite.name == model_quality_alarm_name("abalone-ep") == "abalone-ep-model-quality"
    assert composite.children == [metric_alarm_name("abalone-ep", "rmse"), "abalone-ep-model-quality-r2"]
    # two of three hours worse than the threshold: ALARM, as CloudWatch would
    metrics, store = MetricsStore(tmp_path), AlarmStore(tmp_path)
    for hours, value in ((2, 0.9), (1, 0.5), (0, 0.8)):
        datum = {"MetricName": "rmse", "Dimensions": [{"Name": k, "Value": v} for k, v in rmse.dimensions.items()]}
        metrics.put_metric_data(
            MODEL_METRICS_NAMESPACE, [{**datum, "Timestamp": NOW - timedelta(hours=hours), "Value": value}]
        )
    result = evaluate_alarms(
        [rmse], [CompositeAlarm(composite.name, f'ALARM("{rmse.name}")')], metrics, store, lambda: NOW
    )
    assert result.states[rmse.name].value == ALARM and result.states[composite.name].value == ALARM


def test_model_quality_alarms_name_what_is_missing():
    constraints = {"regression_constraints": {"mae": {"threshold": 1.0, "comparison_operator": "GreaterThanThreshold"}}}
    with pytest.raises(ValueError, match=r"alarmed metric\(s\) \['rmse'\] have no constraint; .* have mae"):
        model_quality_alarms(constraints, ["rmse"], "ep", "s")
    auc = {"threshold": 0.7, "comparison_operator": "LessThanThreshold"}
    binary = {"binary_classification_constraints": {"auc": auc}}
    with pytest.raises(ValueError, match=r"they are binary-classification constraints; the alarmed metrics are regr"):
        model_quality_alarms(binary, ["rmse"], "ep", "s")
    with pytest.raises(ValueError, match=r"they are regression constraints; the alarmed metrics are binary-class"):
        model_quality_alarms(constraints, ["auc"], "ep", "s")
    with pytest.raises(ValueError, match="expected a regression_constraints or binary_classification_constraints"):
        model_quality_alarms({"version": 0.0}, ["rmse"], "ep", "s")
    bad = {
        "binary_classification_constraints": {"auc": {"threshold": "high", "comparison_operator": "LessThanThreshold"}}
    }
    with pytest.raises(ValueError, match=r"binary_classification_constraints\.auc: threshold must be a number"):
        model_quality_alarms(bad, ["auc"], "ep", "s")
