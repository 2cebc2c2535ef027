"""Composite alarm rules: grammar, precedence, evaluation, and clear errors."""

from __future__ import annotations

import pytest

from mlgov.server.alarms.rules import (
    And,
    Const,
    Not,
    Or,
    RuleError,
    StateOf,
    alarm_names,
    evaluate,
    parse,
)


def test_parses_the_documented_example() -> None:
    rule = parse("ALARM(CPUUtilizationTooHigh) AND NOT ALARM(DeploymentInProgress)")
    assert rule == And(
        (
            StateOf("ALARM", "CPUUtilizationTooHigh"),
            Not(StateOf("ALARM", "DeploymentInProgress")),
        )
    )


def test_not_binds_tighter_than_and_than_or() -> None:
    rule = parse("OK(a) OR NOT ALARM(b) AND INSUFFICIENT_DATA(c)")
    assert rule == Or(
        (
            StateOf("OK", "a"),
            And((Not(StateOf("ALARM", "b")), StateOf("INSUFFICIENT_DATA", "c"))),
        )
    )


def test_parentheses_constants_and_quoted_names() -> None:
    rule = parse('(ALARM("my alarm") OR FALSE) AND (TRUE)')
    assert rule == And((Or((StateOf("ALARM", "my alarm"), Const(False))), Const(True)))
    assert alarm_names(rule) == {"my alarm"}


@pytest.mark.parametrize(
    ("rule", "states", "expected"),
    [
        ("ALARM(a) AND NOT OK(b)", {"a": "ALARM", "b": "ALARM"}, True),
        ("ALARM(a) AND NOT OK(b)", {"a": "ALARM", "b": "OK"}, False),
        ("ALARM(a) OR ALARM(b)", {"a": "OK", "b": "ALARM"}, True),
        ("INSUFFICIENT_DATA(a)", {"a": "INSUFFICIENT_DATA"}, True),
        ("NOT (ALARM(a) OR ALARM(b))", {"a": "OK", "b": "OK"}, True),
        ("ALARM(gone)", {}, False),
        ("TRUE", {}, True),
        ("FALSE", {}, False),
    ],
)
def test_evaluates(rule: str, states: dict[str, str], expected: bool) -> None:
    assert evaluate(parse(rule), states) is expected


@pytest.mark.parametrize(
    ("rule", "position"),
    [
        ("ALARM(a) AND", 12),
        ("ALARM(a", 7),
        ("alarm(a)", 0),
        ("ALARM(a) XOR OK(b)", 9),
        ("ALARM()", 6),
        ("(ALARM(a)", 9),
        ('ALARM("a)', 6),
        ("", 0),
    ],
)
def test_bad_syntax_names_the_position(rule: str, position: int) -> None:
    with pytest.raises(RuleError) as raised:
        parse(rule)
    assert raised.value.position == position
