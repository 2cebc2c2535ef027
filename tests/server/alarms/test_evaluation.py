"""The TreatMissingData tables of the CloudWatch docs, row by row (semantics.md section 2.3)."""

from __future__ import annotations

import pytest

from mlgov.server.alarms.evaluation import (
    ComparisonOperator,
    State,
    TreatMissingData,
    decide,
    evaluation_range,
    period_slots,
    statistic_of,
)

KEEP = None  # the alarm keeps its current state
OK, ALARM, INSUFFICIENT = State.OK, State.ALARM, State.INSUFFICIENT_DATA
THRESHOLD = 10.0


def points(pattern: str) -> list[float | None]:
    """``0`` healthy, ``X`` breaching, ``-`` missing; oldest first."""
    return [{"0": 1.0, "X": 99.0, "-": None}[c] for c in pattern.split()]


# M, points, missing, ignore, breaching, notBreaching (N=3, evaluation range 5).
TABLE = [
    (3, "0 - X - X", OK, OK, OK, OK),
    (3, "0 - - - -", OK, OK, OK, OK),
    (3, "- - - - -", INSUFFICIENT, KEEP, ALARM, OK),
    (3, "0 X X - X", ALARM, ALARM, ALARM, ALARM),
    (3, "- - X - -", ALARM, KEEP, ALARM, OK),
    (2, "0 - X - X", ALARM, ALARM, ALARM, ALARM),
    (2, "0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    (2, "0 - X - -", OK, OK, ALARM, OK),
    (2, "- - - - 0", OK, OK, ALARM, OK),
    (2, "- - - X -", ALARM, KEEP, ALARM, OK),
]
TREATMENTS = [
    TreatMissingData.MISSING,
    TreatMissingData.IGNORE,
    TreatMissingData.BREACHING,
    TreatMissingData.NOT_BREACHING,
]


@pytest.mark.parametrize(
    ("m", "pattern", "treat", "expected"),
    [
        (m, pattern, treat, expected)
        for m, pattern, *outcomes in TABLE
        for treat, expected in zip(TREATMENTS, outcomes, strict=True)
    ],
)
def test_documented_table(
    m: int, pattern: str, treat: TreatMissingData, expected: State | None
) -> None:
    outcome = decide(
        points(pattern),
        evaluation_periods=3,
        datapoints_to_alarm=m,
        threshold=THRESHOLD,
        comparison=ComparisonOperator.GREATER,
        treat_missing=treat,
    )
    assert outcome.state == expected, (m, pattern, treat, outcome)


def test_evaluation_range_matches_the_docs() -> None:
    assert evaluation_range(3) == 5
    assert evaluation_range(1) == 3
    assert evaluation_range(9) == 12


def test_breaching_row_two_alarms_once_the_healthy_point_leaves_the_range() -> None:
    # "0 - - - -" stays OK with breaching; one evaluation later the 0 is gone.
    outcome = decide(
        points("- - - - -"),
        evaluation_periods=3,
        datapoints_to_alarm=3,
        threshold=THRESHOLD,
        comparison=ComparisonOperator.GREATER,
        treat_missing=TreatMissingData.BREACHING,
    )
    assert outcome.state is ALARM


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [("- - - - X", OK), ("- - - X -", OK), ("- - X - -", ALARM)],
)
def test_premature_alarm_waits_until_the_breach_is_m_periods_old(
    pattern: str, expected: State
) -> None:
    outcome = decide(
        points(pattern),
        evaluation_periods=3,
        datapoints_to_alarm=3,
        threshold=THRESHOLD,
        comparison=ComparisonOperator.GREATER,
        treat_missing=TreatMissingData.MISSING,
    )
    assert outcome.state is expected


def test_only_the_n_most_recent_real_points_count() -> None:
    # Two old breaches, then three healthy points: the breaches are outside the last N real.
    outcome = decide(
        [99.0, 99.0, 1.0, 1.0, 1.0],
        evaluation_periods=3,
        datapoints_to_alarm=1,
        threshold=THRESHOLD,
        comparison=ComparisonOperator.GREATER,
        treat_missing=TreatMissingData.BREACHING,
    )
    assert outcome.state is OK


@pytest.mark.parametrize(
    ("operator", "value", "breaches"),
    [
        (ComparisonOperator.GREATER_OR_EQUAL, 10.0, True),
        (ComparisonOperator.GREATER_OR_EQUAL, 9.9, False),
        (ComparisonOperator.GREATER, 10.0, False),
        (ComparisonOperator.GREATER, 10.1, True),
        (ComparisonOperator.LESS, 10.0, False),
        (ComparisonOperator.LESS, 9.9, True),
        (ComparisonOperator.LESS_OR_EQUAL, 10.0, True),
        (ComparisonOperator.LESS_OR_EQUAL, 10.1, False),
    ],
)
def test_every_comparison_operator(
    operator: ComparisonOperator, value: float, breaches: bool
) -> None:
    outcome = decide(
        [value] * 3,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        threshold=THRESHOLD,
        comparison=operator,
        treat_missing=TreatMissingData.MISSING,
    )
    assert outcome.state is (ALARM if breaches else OK)


def test_period_slots_slide_over_minute_buckets() -> None:
    # Five-minute periods ending at t=1200 over minute buckets: [0,300) ... [900,1200).
    buckets = [(60 * i, 1.0, float(i), float(i), float(i)) for i in range(20)]
    slots = period_slots(buckets, end=1200, period=300, periods=4)
    assert [statistic_of(s, "Sum") for s in slots] == [10.0, 35.0, 60.0, 85.0]
    assert [statistic_of(s, "Maximum") for s in slots] == [4.0, 9.0, 14.0, 19.0]
    assert statistic_of(slots[0], "Average") == 2.0
    assert statistic_of(slots[0], "SampleCount") == 5.0
    sparse = period_slots(buckets[:3], end=1200, period=300, periods=4)
    assert sparse[1:] == [None, None, None]
    assert statistic_of(None, "Average") is None
