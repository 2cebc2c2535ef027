"""The capture writer: hourly partitions, nothing lost on close, failed writes retried."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlgov.server.capture.writer import CaptureWriter

T0 = datetime(2026, 11, 22, 9, 59, 59, tzinfo=UTC)


def _line(n: int) -> str:
    return json.dumps({"eventMetadata": {"eventId": str(n)}})


def _read(writer: CaptureWriter, endpoint: str, start: datetime, end: datetime) -> list[str]:
    ids = []
    for path in writer.files("acct", endpoint, start, end):
        for line in Path(path).read_text().splitlines():
            ids.append(json.loads(line)["eventMetadata"]["eventId"])
    return ids


def test_lines_land_in_hourly_partitions_per_endpoint(tmp_path: Path) -> None:
    writer = CaptureWriter(str(tmp_path))
    for n in range(10):
        writer.submit("acct", "churn", _line(n), T0 + timedelta(seconds=n % 2))
    writer.submit("acct", "other", _line(99), T0)
    assert writer.flush() == 11
    nine = tmp_path / "capture/acct/churn/2026/11/22/09"
    ten = tmp_path / "capture/acct/churn/2026/11/22/10"
    assert len(list(nine.glob("*.jsonl"))) == 1 and len(list(ten.glob("*.jsonl"))) == 1
    assert not list(tmp_path.rglob("*.tmp"))
    everything = _read(writer, "churn", T0 - timedelta(hours=1), T0 + timedelta(hours=2))
    assert sorted(everything, key=int) == [str(n) for n in range(10)]
    assert _read(writer, "churn", T0 + timedelta(seconds=1), T0 + timedelta(hours=1)) == [
        "1", "3", "5", "7", "9"
    ]  # fmt: skip


def test_close_flushes_everything_and_the_thread_flushes_on_time(tmp_path: Path) -> None:
    writer = CaptureWriter(str(tmp_path), flush_seconds=0.05)
    writer.start()
    writer.submit("acct", "churn", _line(1), T0)
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while writer.written == 0 and datetime.now(UTC) < deadline:
        pass
    assert writer.written == 1
    writer.submit("acct", "churn", _line(2), T0)
    writer.close()
    assert sorted(_read(writer, "churn", T0, T0 + timedelta(hours=1))) == ["1", "2"]


def test_a_full_buffer_drops_and_counts(tmp_path: Path) -> None:
    writer = CaptureWriter(str(tmp_path), max_pending=2)
    assert [writer.submit("acct", "e", _line(n), T0) for n in range(3)] == [True, True, False]
    assert writer.dropped == 1


def test_a_failed_write_is_retried_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = CaptureWriter(str(tmp_path))
    writer.submit("acct", "churn", _line(1), T0)
    real_write = writer._write
    calls = {"n": 0}

    def flaky(*args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk full")
        real_write(*args)

    monkeypatch.setattr(writer, "_write", flaky)
    assert writer.flush() == 0
    assert writer.pending == 1
    assert writer.flush() == 1
    assert _read(writer, "churn", T0, T0 + timedelta(hours=1)) == ["1"]
