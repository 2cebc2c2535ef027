"""Metric math: parsing the subset, and CloudWatch's rules for combining series."""

from __future__ import annotations

import math

import pytest

from mlgov.errors import InvalidRequest
from mlgov.server.metrics.expressions import Search, Series, evaluate, parse, references, searches


def no_search(search: Search) -> list[Series]:
    raise AssertionError(f"unexpected search {search}")


def run(expression: str, **values: object) -> object:
    return evaluate(parse(expression), values, no_search)  # type: ignore[arg-type]


ERRORS = Series("errors", {0: 2.0, 60: 0.0, 120: 5.0})
REQUESTS = Series("requests", {0: 100.0, 60: 50.0, 180: 10.0})


def test_series_arithmetic_keeps_the_timestamps_both_have() -> None:
    rate = run("100 * errors / requests", errors=ERRORS, requests=REQUESTS)
    assert isinstance(rate, Series)
    assert rate.points == {0: 2.0, 60: 0.0}


def test_scalars_and_unary_minus() -> None:
    assert run("-(1 + 2) * 4 / 2") == -6.0
    shifted = run("errors - 1", errors=ERRORS)
    assert isinstance(shifted, Series)
    assert shifted.points == {0: 1.0, 60: -1.0, 120: 4.0}


def test_division_by_zero_leaves_the_point_out() -> None:
    ratio = run("requests / errors", errors=ERRORS, requests=REQUESTS)
    assert isinstance(ratio, Series)
    assert ratio.points == {0: 50.0}
    assert math.isnan(run("1 / 0"))  # type: ignore[arg-type]


def test_aggregates_over_an_array_work_per_timestamp() -> None:
    total = run("SUM([errors, requests])", errors=ERRORS, requests=REQUESTS)
    assert isinstance(total, Series)
    assert total.points == {0: 102.0, 60: 50.0, 120: 5.0, 180: 10.0}
    average = run("AVG([errors, requests])", errors=ERRORS, requests=REQUESTS)
    assert isinstance(average, Series)
    assert average.points == {0: 51.0, 60: 25.0, 120: 5.0, 180: 10.0}
    highest = run("MAX([errors, requests])", errors=ERRORS, requests=REQUESTS)
    assert isinstance(highest, Series)
    assert highest.points == {0: 100.0, 60: 50.0, 120: 5.0, 180: 10.0}


def test_aggregate_of_one_series_is_one_number() -> None:
    assert run("SUM(errors)", errors=ERRORS) == 7.0
    assert run("MAX(requests)", requests=REQUESTS) == 100.0
    assert run("MIN(errors)", errors=ERRORS) == 0.0
    assert run("AVG(errors)", errors=ERRORS) == pytest.approx(7 / 3)


def test_an_array_combines_with_a_series_element_by_element() -> None:
    shares = run("[errors, requests] / requests", errors=ERRORS, requests=REQUESTS)
    assert isinstance(shares, list)
    assert [s.points for s in shares] == [{0: 0.02, 60: 0.0}, {0: 1.0, 60: 1.0, 180: 1.0}]


def test_search_is_parsed_and_its_series_aggregated() -> None:
    tree = parse(
        'SUM(SEARCH(\'{mlgov/Endpoints,EndpointName,Variant} MetricName="Invocations" '
        "Variant=\"blue\"', 'Sum', 300))"
    )
    (search,) = searches(tree)
    assert search == Search(
        namespace="mlgov/Endpoints",
        dimension_names=("EndpointName", "Variant"),
        metric_name="Invocations",
        dimension_values=(("Variant", "blue"),),
        statistic="Sum",
        period=300,
    )
    found = [Series("a", {0: 1.0, 300: 2.0}), Series("b", {300: 3.0})]
    total = evaluate(tree, {}, lambda s: found)
    assert isinstance(total, Series)
    assert total.points == {0: 1.0, 300: 5.0}
    assert references(parse("errors / (requests + other)")) == {"errors", "requests", "other"}
    assert references(tree) == set()
    assert references(parse("SUM([errors, MAX(requests)])")) == {"errors", "requests"}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty"),
        ("errors ** 2", "operator Pow"),
        ("__import__('os')", "not supported"),
        ("errors.real", "not allowed"),
        ("'text'", "not a number"),
        ("Errors + 1", "not a query id"),
        ("SUM(errors, requests)", "one argument"),
        ("RATE(errors)", "not supported"),
        ("SEARCH('no schema', 'Sum', 60)", "schema in braces"),
        ("SEARCH('{ns} Region=\"eu\"', 'Sum', 60)", "not dimensions"),
        ("SEARCH('{ns}', 'Sum', 90)", "multiple of 60"),
        ("SEARCH('{ns}', 'Sum')", "three literal arguments"),
        ("errors +", "does not parse"),
        ("x" * 1025, "longer than"),
        ("[]", "at least one"),
    ],
)
def test_bad_expressions_are_invalid_queries(expression: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as raised:
        parse(expression)
    assert raised.value.code == "INVALID_QUERY"


def test_arrays_of_different_lengths_do_not_combine() -> None:
    with pytest.raises(InvalidRequest, match="arrays of 2 and 1"):
        run("[errors, requests] + [errors]", errors=ERRORS, requests=REQUESTS)


def test_reading_an_unknown_id_is_an_invalid_query() -> None:
    with pytest.raises(InvalidRequest, match="'missing'"):
        run("missing + 1")
