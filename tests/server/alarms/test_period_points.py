"""The vectorised period statistics equal the per-alarm functions they replace in evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlgov.server.alarms.evaluation import MinuteRows, period_points, period_slots, statistic_of

STATISTICS = ["SampleCount", "Sum", "Average", "Minimum", "Maximum"]


@pytest.mark.parametrize(("period", "periods"), [(60, 3), (120, 5), (300, 4)])
def test_period_points_equal_period_slots(period: int, periods: int) -> None:
    rng = np.random.default_rng(period + periods)
    end = 1_800_000_000 - 1_800_000_000 % 60
    size = 3000
    rows = MinuteRows(
        metric_id=rng.integers(1, 40, size),
        bucket=end - 60 * rng.integers(-2, 40, size),
        count=rng.choice([0.0, 1.0, 3.0, 7.5], size),
        total=np.round(rng.normal(50, 20, size), 3),
        low=np.round(rng.normal(10, 5, size), 3),
        high=np.round(rng.normal(90, 5, size), 3),
    )
    watched = [[m] for m in range(1, 45)] + [[1, 2, 3], [], [7, 7 + 1]]
    stats = [STATISTICS[i % 5] for i in range(len(watched))]
    matrix = period_points(rows, watched, stats, end=end, period=period, periods=periods)
    for i, (ids, stat) in enumerate(zip(watched, stats, strict=True)):
        buckets = [
            (int(b), float(c), float(t), float(lo), float(hi))
            for m, b, c, t, lo, hi in zip(
                rows.metric_id,
                rows.bucket,
                rows.count,
                rows.total,
                rows.low,
                rows.high,
                strict=True,
            )
            if m in ids
        ]
        slots = period_slots(buckets, end=end, period=period, periods=periods)
        expected = [statistic_of(s, stat) for s in slots]
        got = [None if math.isnan(v) else v for v in matrix[i].tolist()]
        assert [g is None for g in got] == [e is None for e in expected], (ids, stat)
        for g, e in zip(got, expected, strict=True):
            if e is not None:
                assert g == pytest.approx(e, rel=1e-12), (ids, stat)
