"""Just enough of CloudWatch metric math and alarm evaluation to test the rendered alarms on sample data points.

Expressions are parsed with Python's ``ast`` (the subset used here, IF, FILL, comparisons and + - * /, is written the
same in both languages) and evaluated datapoint by datapoint; a missing datapoint is ``None``. Alarm evaluation is
CloudWatch's "M out of N" with TreatMissingData: a missing result is not breaching (notBreaching) or breaching.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping, Sequence

Value = float | None
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_COMPARE = {
    ast.GtE: operator.ge,
    ast.Gt: operator.gt,
    ast.LtE: operator.le,
    ast.Lt: operator.lt,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def _evaluate(node: ast.AST, values: Mapping[str, Value]) -> Value:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise ValueError(f"the expression names {node.id!r}, not one of the alarm's metrics {list(values)}")
        return values[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left, values), _evaluate(node.right, values)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Div) and right == 0:
            return None  # CloudWatch drops a division by zero from the result
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        left, right = _evaluate(node.left, values), _evaluate(node.comparators[0], values)
        if left is None or right is None:
            return None
        return 1.0 if _COMPARE[type(node.ops[0])](left, right) else 0.0
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        args = node.args
        if node.func.id == "IF" and len(args) == 3:
            condition = _evaluate(args[0], values)
            if condition is None:
                return None
            return _evaluate(args[1] if condition != 0 else args[2], values)
        if node.func.id == "FILL" and len(args) == 2:
            value = _evaluate(args[0], values)
            return _evaluate(args[1], values) if value is None else value
    raise ValueError(f"unsupported metric math: {ast.dump(node)}")


def evaluate(expression: str, series: Mapping[str, Sequence[Value]]) -> list[Value]:
    """The expression's result for each period, given each metric id's datapoints (``None``: no datapoint)."""
    tree = ast.parse(expression, mode="eval").body
    lengths = {len(points) for points in series.values()}
    if len(lengths) != 1:
        raise ValueError(f"every metric needs the same number of periods, got {lengths}")
    (periods,) = lengths
    return [_evaluate(tree, {name: points[i] for name, points in series.items()}) for i in range(periods)]


def breaching(value: Value, threshold: float, comparison: str, treat_missing: str) -> bool:
    """Whether one datapoint breaches the alarm's threshold."""
    if value is None:
        if treat_missing not in ("notBreaching", "breaching"):
            raise ValueError(f"only notBreaching and breaching are modelled here, got {treat_missing}")
        return treat_missing == "breaching"
    compare = {
        "GreaterThanOrEqualToThreshold": operator.ge,
        "GreaterThanThreshold": operator.gt,
        "LessThanThreshold": operator.lt,
        "LessThanOrEqualToThreshold": operator.le,
    }[comparison]
    return compare(value, threshold)


def in_alarm(values: Sequence[Value], alarm: Mapping, threshold: float) -> bool:
    """CloudWatch's verdict on the last EvaluationPeriods datapoints: ALARM when DatapointsToAlarm of them breach."""
    window = list(values)[-int(alarm["EvaluationPeriods"]) :]
    hits = sum(
        breaching(v, threshold, alarm["ComparisonOperator"], alarm.get("TreatMissingData", "missing")) for v in window
    )
    return hits >= int(alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"]))
