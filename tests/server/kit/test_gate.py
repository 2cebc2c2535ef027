"""The call gate: one call at a time per SQLite file, across gates (processes) and cancellations.

Two CallGate objects on one file stand for two server processes: each opens the file itself, and
``flock`` locks of two open files exclude each other even inside one process.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path

import pytest

from mlgov.server.kit.gate import CallGate, lock_file_of


async def _hold(gate: CallGate, log: list[str], name: str, release: asyncio.Event) -> None:
    async with gate():
        log.append(f"{name} in")
        await release.wait()
        log.append(f"{name} out")


def _other_process_holds(lock_file: Path) -> bool:
    descriptor = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def test_two_gates_on_one_file_admit_one_call_at_a_time(tmp_path: Path) -> None:
    lock_file = tmp_path / "mlgov.db-gate"
    first, second = CallGate(lock_file), CallGate(lock_file)

    async def scenario() -> list[str]:
        log: list[str] = []
        release_first, release_second = asyncio.Event(), asyncio.Event()
        holder = asyncio.create_task(_hold(first, log, "a", release_first))
        await asyncio.sleep(0.05)
        waiter = asyncio.create_task(_hold(second, log, "b", release_second))
        await asyncio.sleep(0.2)
        assert log == ["a in"]  # b waits while a holds the file
        release_first.set()
        await holder
        await asyncio.sleep(0.2)
        assert log == ["a in", "a out", "b in"]
        release_second.set()
        await waiter
        return log

    assert asyncio.run(scenario()) == ["a in", "a out", "b in", "b out"]
    assert not _other_process_holds(lock_file)
    first.close()
    second.close()


def test_calls_of_one_gate_queue_in_order(tmp_path: Path) -> None:
    gate = CallGate(tmp_path / "mlgov.db-gate")

    async def scenario() -> list[int]:
        order: list[int] = []
        active = 0

        async def call(n: int) -> None:
            nonlocal active
            async with gate():
                active += 1
                assert active == 1
                await asyncio.sleep(0.01)
                order.append(n)
                active -= 1

        await asyncio.gather(*(call(n) for n in range(5)))
        return order

    assert asyncio.run(scenario()) == [0, 1, 2, 3, 4]
    gate.close()


def test_a_call_cancelled_while_waiting_gives_the_lock_back(tmp_path: Path) -> None:
    """The waiting thread takes the file lock after the call was cancelled; it must be released,
    or every process would wait for ever."""
    lock_file = tmp_path / "mlgov.db-gate"
    first, second = CallGate(lock_file), CallGate(lock_file)

    async def scenario() -> None:
        log: list[str] = []
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(first, log, "a", release))
        await asyncio.sleep(0.05)
        waiter = asyncio.create_task(_hold(second, log, "b", asyncio.Event()))
        await asyncio.sleep(0.1)
        waiter.cancel()
        await asyncio.sleep(0.05)
        release.set()
        await holder
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await asyncio.sleep(0.1)  # the waiting thread has taken the file lock by now
        assert not _other_process_holds(lock_file), "the cancelled call kept the file lock"
        # The cancelled call never ran; the other process, and this one, get the lock again.
        async with asyncio.timeout(5):
            async with first():
                log.append("c in")
            async with second():
                log.append("d in")
        assert log == ["a in", "a out", "c in", "d in"]

    asyncio.run(scenario())
    assert not _other_process_holds(lock_file)
    first.close()
    second.close()


def test_postgresql_calls_run_concurrently() -> None:
    gate = CallGate(None, serial=False)

    async def scenario() -> int:
        active = peak = 0

        async def call() -> None:
            nonlocal active, peak
            async with gate():
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(0.02)
                active -= 1

        await asyncio.gather(*(call() for _ in range(3)))
        return peak

    assert asyncio.run(scenario()) == 3


def test_lock_file_beside_the_database(tmp_path: Path) -> None:
    assert lock_file_of(str(tmp_path / "mlgov.db")) == tmp_path / "mlgov.db-gate"
    assert lock_file_of(":memory:") is None
    assert lock_file_of(None) is None
    assert lock_file_of("") is None
