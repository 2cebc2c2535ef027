"""Metric alarm evaluation as pure functions over datapoints: no database, no clock.

The rules are CloudWatch's (AlarmThatSendsEmail.html, "Configuring how alarms treat missing
data"):

1. Each evaluation looks at an *evaluation range* of ``N + max(N // 3, 2)`` periods.
2. With no missing point, or with at least N real points, the N most recent real points decide:
   ALARM when at least M of them breach, else OK; ``TreatMissingData`` plays no part.
3. With fewer than N real points, the gaps are filled with the ``TreatMissingData`` value, as few
   times as needed (N minus the real points); every real point in the range still counts.
   ``missing`` and ``ignore`` fill nothing; ``breaching`` fills breaching points and
   ``notBreaching`` healthy ones.
4. With every point missing: ``missing`` gives INSUFFICIENT_DATA, ``ignore`` keeps the state,
   ``breaching`` gives ALARM and ``notBreaching`` OK.
5. Premature-alarm rule (``missing`` and ``ignore``): when every real point breaches and the oldest
   is at least M periods old, the alarm goes to ALARM even with fewer than M real points (with
   ``ignore`` the state is kept instead). A healthy real point anywhere in the range prevents it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


class TreatMissingData(StrEnum):
    MISSING = "missing"
    IGNORE = "ignore"
    BREACHING = "breaching"
    NOT_BREACHING = "notBreaching"


class ComparisonOperator(StrEnum):
    GREATER_OR_EQUAL = "GreaterThanOrEqualToThreshold"
    GREATER = "GreaterThanThreshold"
    LESS = "LessThanThreshold"
    LESS_OR_EQUAL = "LessThanOrEqualToThreshold"


COMPARE: dict[ComparisonOperator, Callable[[float, float], bool]] = {
    ComparisonOperator.GREATER_OR_EQUAL: operator.ge,
    ComparisonOperator.GREATER: operator.gt,
    ComparisonOperator.LESS: operator.lt,
    ComparisonOperator.LESS_OR_EQUAL: operator.le,
}
PHRASE = {
    ComparisonOperator.GREATER_OR_EQUAL: "greater than or equal to",
    ComparisonOperator.GREATER: "greater than",
    ComparisonOperator.LESS: "less than",
    ComparisonOperator.LESS_OR_EQUAL: "less than or equal to",
}


def evaluation_range(evaluation_periods: int) -> int:
    """How many periods one evaluation fetches (5 for N=3, as in the CloudWatch docs)."""
    return evaluation_periods + max(evaluation_periods // 3, 2)


@dataclass(frozen=True)
class Outcome:
    state: State | None  # None: keep the current state
    kind: str  # "threshold", "filled", "premature", "no-data"
    breaching: int  # breaching points among those evaluated (filled ones included)
    evaluated: int  # points that took part (filled ones included)
    filled: int  # missing points that were filled with the TreatMissingData value


def decide(
    points: Sequence[float | None],
    *,
    evaluation_periods: int,
    datapoints_to_alarm: int,
    threshold: float,
    comparison: ComparisonOperator,
    treat_missing: TreatMissingData,
) -> Outcome:
    """The state the points call for; ``points`` is the evaluation range, oldest first."""
    n, m = evaluation_periods, datapoints_to_alarm
    breaches = COMPARE[comparison]
    flags = [None if p is None else breaches(p, threshold) for p in points]
    real = [f for f in flags if f is not None]

    if not real:
        fill = {
            TreatMissingData.MISSING: State.INSUFFICIENT_DATA,
            TreatMissingData.IGNORE: None,
            TreatMissingData.BREACHING: State.ALARM,
            TreatMissingData.NOT_BREACHING: State.OK,
        }[treat_missing]
        breaching = n if treat_missing is TreatMissingData.BREACHING else 0
        filled = 0 if fill in (None, State.INSUFFICIENT_DATA) else n
        return Outcome(fill, "no-data", breaching, filled, filled)

    if len(real) >= n:
        recent = real[-n:]
        breaching = sum(recent)
        state = State.ALARM if breaching >= m else State.OK
        return Outcome(state, "threshold", breaching, n, 0)

    premature_applies = treat_missing in (TreatMissingData.MISSING, TreatMissingData.IGNORE)
    if premature_applies and all(real) and len(real) < m:
        oldest = next(i for i, f in enumerate(flags) if f is not None)
        age = len(flags) - oldest  # the newest point is 1 period old
        if age >= m:
            kept = State.ALARM if treat_missing is TreatMissingData.MISSING else None
            return Outcome(kept, "premature", len(real), len(real), 0)

    gaps = n - len(real)
    breaching = sum(real)
    if treat_missing is TreatMissingData.BREACHING:
        breaching += gaps
    fills = (TreatMissingData.BREACHING, TreatMissingData.NOT_BREACHING)
    filled = gaps if treat_missing in fills else 0
    state = State.ALARM if breaching >= m else State.OK
    return Outcome(state, "filled", breaching, len(real) + filled, filled)


Bucket = tuple[int, float, float, float, float]  # start epoch s, count, sum, min, max


def period_slots(
    buckets: Sequence[Bucket], *, end: int, period: int, periods: int
) -> list[tuple[float, float, float, float] | None]:
    """Aggregate minute buckets into ``periods`` sliding periods ending at ``end``, oldest first."""
    slots: list[list[float] | None] = [None] * periods
    start = end - periods * period
    for bucket, count, total, low, high in buckets:
        if bucket < start or bucket >= end or count <= 0:
            continue
        i = (bucket - start) // period
        slot = slots[i]
        if slot is None:
            slots[i] = [count, total, low, high]
        else:
            slot[0] += count
            slot[1] += total
            if low < slot[2]:
                slot[2] = low
            if high > slot[3]:
                slot[3] = high
    return [None if s is None else (s[0], s[1], s[2], s[3]) for s in slots]


def statistic_of(slot: tuple[float, float, float, float] | None, statistic: str) -> float | None:
    if slot is None:
        return None
    count, total, low, high = slot
    if statistic == "SampleCount":
        return count
    if statistic == "Sum":
        return total
    if statistic == "Average":
        return total / count
    if statistic == "Minimum":
        return low
    return high
