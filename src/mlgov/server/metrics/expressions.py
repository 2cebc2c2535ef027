"""Metric math: a small, safe subset of CloudWatch's expressions over time series.

Supported: numbers, query ids, ``+ - * /`` and unary minus, arrays ``[m1, m2]``, the functions
``SUM``, ``AVG``, ``MIN``, ``MAX`` and ``SEARCH('{Namespace,Dim,...} MetricName="x"', 'Stat',
period)``. Semantics follow CloudWatch: arithmetic between two series keeps the timestamps both
have; a series and a number combine point by point; an array combines with a series or a number
element by element; an aggregate over an array works per timestamp (over the series that have a
value there) and over a single series returns one number for the whole range. Division by zero
leaves the point out.

Expressions are parsed with Python's ``ast`` and then checked node by node against this subset, so
nothing is ever evaluated by Python itself.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from mlgov.errors import ErrorCode, InvalidRequest

MAX_EXPRESSION_LENGTH = 1024
QUERY_ID = re.compile(r"^[a-z][A-Za-z0-9_]{0,254}$")
AGGREGATES = ("SUM", "AVG", "MIN", "MAX")


@dataclass
class Series:
    """One time series: epoch seconds -> value, with a label for display."""

    label: str
    points: dict[int, float] = field(default_factory=dict)


Value: TypeAlias = "float | Series | list[Series]"


@dataclass(frozen=True)
class Search:
    """A parsed ``SEARCH``: metrics of ``namespace`` with exactly ``dimension_names``."""

    namespace: str
    dimension_names: tuple[str, ...]
    metric_name: str | None
    dimension_values: tuple[tuple[str, str], ...]
    statistic: str
    period: int


SearchRunner = Callable[[Search], list[Series]]


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=ErrorCode.INVALID_QUERY)


def parse(expression: str) -> ast.expr:
    """Parse and check ``expression``; raise ``INVALID_QUERY`` naming what is not allowed."""
    if not expression.strip():
        raise _invalid("expression is empty")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise _invalid(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError as exc:
        raise _invalid(f"expression {expression!r} does not parse: {exc.msg}") from exc
    _check(tree)
    return tree


def references(tree: ast.expr) -> set[str]:
    """The query ids an expression reads."""
    functions = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and id(node) not in functions
    }


def _check(node: ast.expr) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise _invalid(f"{node.value!r} is not a number (text is allowed only in SEARCH)")
    elif isinstance(node, ast.Name):
        if not QUERY_ID.match(node.id):
            raise _invalid(f"{node.id!r} is not a query id (ids start with a lowercase letter)")
    elif isinstance(node, ast.BinOp):
        if not isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
            raise _invalid(f"operator {type(node.op).__name__} is not supported; use + - * /")
        _check(node.left)
        _check(node.right)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd):
            raise _invalid(f"operator {type(node.op).__name__} is not supported")
        _check(node.operand)
    elif isinstance(node, ast.List):
        if not node.elts:
            raise _invalid("an array needs at least one element")
        for element in node.elts:
            _check(element)
    elif isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if node.keywords or name not in (*AGGREGATES, "SEARCH"):
            raise _invalid(
                f"function {ast.unparse(node.func)!r} is not supported; "
                f"use {', '.join(AGGREGATES)} or SEARCH"
            )
        if name == "SEARCH":
            _search_from(node)
        else:
            if len(node.args) != 1:
                raise _invalid(f"{name} takes one argument: an array, a SEARCH or a series")
            _check(node.args[0])
    else:
        raise _invalid(f"{ast.unparse(node)!r} is not allowed in a metric math expression")


_SCHEMA = re.compile(r"^\s*\{(?P<schema>[^{}]*)\}(?P<terms>.*)$", re.S)
_TERM = re.compile(r'\s*(?P<key>[^\s=]+)\s*=\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*')


def _search_from(node: ast.Call) -> Search:
    args = node.args
    if len(args) != 3 or not all(isinstance(a, ast.Constant) for a in args):
        raise _invalid("SEARCH takes three literal arguments: 'query', 'Statistic', period")
    query, statistic, period = (a.value for a in args if isinstance(a, ast.Constant))
    if not isinstance(query, str) or not isinstance(statistic, str):
        raise _invalid("SEARCH's query and statistic are quoted text")
    if isinstance(period, bool) or not isinstance(period, int) or period < 60 or period % 60:
        raise _invalid("SEARCH's period is a whole number of seconds, a multiple of 60")
    matched = _SCHEMA.match(query)
    if not matched:
        raise _invalid(
            "SEARCH's query starts with a schema in braces: '{Namespace,DimensionName,...}' "
            'then terms such as MetricName="latency" or DimensionName="value"'
        )
    schema = [part.strip() for part in matched["schema"].split(",")]
    if not schema[0] or any(not part for part in schema):
        raise _invalid("SEARCH's schema names a namespace and then dimension names, by commas")
    terms, rest = {}, matched["terms"]
    while rest.strip():
        term = _TERM.match(rest)
        if not term:
            raise _invalid(f'SEARCH term {rest.strip()!r} is not Key="value"')
        terms[term["key"]] = term["value"].replace('\\"', '"')
        rest = rest[term.end() :]
    metric_name = terms.pop("MetricName", None)
    unknown = set(terms) - set(schema[1:])
    if unknown:
        raise _invalid(f"SEARCH terms {sorted(unknown)} are not dimensions of the schema")
    return Search(
        namespace=schema[0],
        dimension_names=tuple(sorted(schema[1:])),
        metric_name=metric_name,
        dimension_values=tuple(sorted(terms.items())),
        statistic=statistic,
        period=period,
    )


def searches(tree: ast.expr) -> list[Search]:
    """Every SEARCH in an expression, parsed."""
    return [
        _search_from(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        if node.func.id == "SEARCH"
    ]


def evaluate(tree: ast.expr, values: Mapping[str, Value], search: SearchRunner) -> Value:
    """Evaluate a checked expression; ``values`` holds the results of the queries it reads."""
    if isinstance(tree, ast.Constant):
        assert isinstance(tree.value, int | float)  # parse() let only numbers through
        return float(tree.value)
    if isinstance(tree, ast.Name):
        if tree.id not in values:
            raise _invalid(f"expression reads {tree.id!r}, which is not a query id here")
        return values[tree.id]
    if isinstance(tree, ast.UnaryOp):
        operand = evaluate(tree.operand, values, search)
        return operand if isinstance(tree.op, ast.UAdd) else _combine(-1.0, operand, ast.Mult())
    if isinstance(tree, ast.BinOp):
        left = evaluate(tree.left, values, search)
        right = evaluate(tree.right, values, search)
        return _combine(left, right, tree.op)
    if isinstance(tree, ast.List):
        array: list[Series] = []
        for element in tree.elts:
            item = evaluate(element, values, search)
            if isinstance(item, float):
                raise _invalid("array elements are series, not numbers")
            array.extend(item if isinstance(item, list) else [item])
        return array
    assert isinstance(tree, ast.Call)
    assert isinstance(tree.func, ast.Name)
    if tree.func.id == "SEARCH":
        return search(_search_from(tree))
    return _aggregate(tree.func.id, evaluate(tree.args[0], values, search))


_APPLY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def _combine(left: Value, right: Value, op: ast.operator) -> Value:
    if isinstance(left, list):
        if isinstance(right, list):
            if len(left) != len(right):
                raise _invalid(
                    f"arrays of {len(left)} and {len(right)} series cannot be combined; "
                    "aggregate one of them first"
                )
            return [_series_op(a, b, op) for a, b in zip(left, right, strict=True)]
        return [_series_op(a, right, op) for a in left]
    if isinstance(right, list):
        return [_series_op(left, b, op) for b in right]
    if isinstance(left, float) and isinstance(right, float):
        try:
            return _APPLY[type(op)](left, right)
        except ZeroDivisionError:
            return float("nan")
    return _series_op(left, right, op)


def _series_op(left: float | Series, right: float | Series, op: ast.operator) -> Series:
    """Combine point by point; at least one side is a series."""
    apply = _APPLY[type(op)]
    out = Series(f"{_label(left)} {_SYMBOL[type(op)]} {_label(right)}")
    if isinstance(left, Series) and isinstance(right, Series):
        stamps = sorted(left.points.keys() & right.points.keys())
        pairs = [(t, left.points[t], right.points[t]) for t in stamps]
    elif isinstance(left, Series):
        assert isinstance(right, float)
        pairs = [(t, v, right) for t, v in sorted(left.points.items())]
    else:
        assert isinstance(right, Series)
        pairs = [(t, left, v) for t, v in sorted(right.points.items())]
    for stamp, a, b in pairs:
        if isinstance(op, ast.Div) and b == 0:
            continue
        out.points[stamp] = apply(a, b)
    return out


def _label(value: float | Series) -> str:
    return value.label if isinstance(value, Series) else f"{value:g}"


_REDUCE: dict[str, Callable[[list[float]], float]] = {
    "SUM": lambda xs: float(sum(xs)),
    "AVG": lambda xs: float(sum(xs)) / len(xs),
    "MIN": min,
    "MAX": max,
}


def _aggregate(name: str, argument: Value) -> Value:
    if isinstance(argument, float):
        return argument
    reduce = _REDUCE[name]
    if isinstance(argument, Series):  # one series: one number over the whole range
        points = list(argument.points.values())
        return reduce(points) if points else float("nan")
    by_time: dict[int, list[float]] = {}
    for series in argument:
        for stamp, value in series.points.items():
            by_time.setdefault(stamp, []).append(value)
    return Series(name, {t: reduce(vs) for t, vs in sorted(by_time.items())})
