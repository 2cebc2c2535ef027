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

import numpy as np


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


@dataclass(frozen=True)
class MinuteRows:
    """Minute buckets of many metrics as columns: metric id, start, count, sum, min, max."""

    metric_id: np.ndarray
    bucket: np.ndarray
    count: np.ndarray
    total: np.ndarray
    low: np.ndarray
    high: np.ndarray


_STATISTIC_CODE = {"SampleCount": 0, "Sum": 1, "Average": 2, "Minimum": 3}  # else Maximum (4)


def period_points(
    rows: MinuteRows,
    watched: Sequence[Sequence[int]],
    statistics: Sequence[str],
    *,
    end: int,
    period: int,
    periods: int,
) -> np.ndarray:
    """:func:`period_slots` and :func:`statistic_of` for many alarms of one period at once.

    Alarm ``i`` watches the metrics ``watched[i]`` with ``statistics[i]``; the answer has one row
    per alarm and one column per period, oldest first, NaN where a period has no data.
    """
    alarms = len(watched)
    start = end - periods * period
    keep = (rows.bucket >= start) & (rows.bucket < end) & (rows.count > 0)
    metric_id = rows.metric_id[keep]
    by_metric = np.argsort(metric_id, kind="stable")
    sorted_ids = metric_id[by_metric]
    sizes_of_alarm = np.fromiter((len(w) for w in watched), dtype=np.int64, count=alarms)
    pair_alarm = np.repeat(np.arange(alarms), sizes_of_alarm)
    pair_metric = np.fromiter(
        (m for w in watched for m in w), dtype=np.int64, count=int(sizes_of_alarm.sum())
    )
    # Join: every (alarm, metric) pair with every kept row of that metric.
    left = np.searchsorted(sorted_ids, pair_metric, "left")
    sizes = np.searchsorted(sorted_ids, pair_metric, "right") - left
    joined = int(sizes.sum())
    first = np.cumsum(sizes) - sizes
    offset = np.repeat(left - first, sizes) + np.arange(joined)
    row = np.flatnonzero(keep)[by_metric[offset]]
    flat = np.repeat(pair_alarm, sizes) * periods + (rows.bucket[row] - start) // period
    cells = alarms * periods
    present = np.bincount(flat, minlength=cells) > 0
    count = np.bincount(flat, weights=rows.count[row], minlength=cells)
    total = np.bincount(flat, weights=rows.total[row], minlength=cells)
    low = np.full(cells, np.inf)
    np.minimum.at(low, flat, rows.low[row])
    high = np.full(cells, -np.inf)
    np.maximum.at(high, flat, rows.high[row])
    with np.errstate(invalid="ignore", divide="ignore"):
        average = total / count
    code = np.repeat(
        np.fromiter((_STATISTIC_CODE.get(s, 4) for s in statistics), np.int64, count=alarms),
        periods,
    )
    value = np.choose(code, [count, total, average, low, high])
    return np.where(present, value, np.nan).reshape(alarms, periods)
