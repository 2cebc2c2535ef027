"""The dispatcher's hourly purge: archived events past their archive's retention, and outbox
events dispatched longer ago than the outbox keeps them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from mlgov import Client
from mlgov.server.events import dispatcher as dispatching
from mlgov.server.events.dispatcher import Dispatcher
from mlgov.server.events.tables import ArchivedEvent
from mlgov.server.kit.outbox import OutboxEvent
from tests.server.events.conftest import drain


def _put(client: Client, account: str, count: int) -> None:
    entries = [
        {"source": "com.example.app", "detail_type": "Tick", "detail": {"n": n}}
        for n in range(count)
    ]
    assert client.events.put_events(account, entries)["failed_entry_count"] == 0


def _outbox(app: FastAPI) -> tuple[int, int]:
    """(dispatched, pending) events in the outbox."""
    with app.state.runtime.session_factory() as session:
        dispatched = session.execute(
            select(func.count()).where(OutboxEvent.dispatched_at.is_not(None))
        ).scalar_one()
        pending = session.execute(
            select(func.count()).where(OutboxEvent.dispatched_at.is_(None))
        ).scalar_one()
    return dispatched, pending


def _archived(app: FastAPI) -> int:
    with app.state.runtime.session_factory() as session:
        return int(session.execute(select(func.count()).select_from(ArchivedEvent)).scalar_one())


def test_dispatched_events_leave_the_outbox_after_its_retention(
    app: FastAPI, team: Client, dispatcher: Dispatcher
) -> None:
    _put(team, "team-a", 3)
    drain(dispatcher, lambda: _outbox(app)[1] == 0)
    dispatched, _ = _outbox(app)
    assert dispatched >= 3
    _put(team, "team-a", 2)  # not dispatched yet: never purged, however old
    hours = dispatcher.settings.outbox_retention_hours
    now = datetime.now(UTC)

    assert dispatcher.purge(now + timedelta(hours=hours) - timedelta(minutes=5)) == (0, 0)
    assert _outbox(app) == (dispatched, 2)
    assert dispatcher.purge(now + timedelta(hours=hours, minutes=5)) == (0, dispatched)
    assert _outbox(app) == (0, 2)
    drain(dispatcher, lambda: _outbox(app)[1] == 0)  # the rest still routes as usual
    assert _outbox(app)[0] >= 2


def test_the_outbox_is_purged_a_short_transaction_at_a_time(
    app: FastAPI, team: Client, dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    _put(team, "team-a", 7)
    drain(dispatcher, lambda: _outbox(app)[1] == 0)
    dispatched, _ = _outbox(app)
    monkeypatch.setattr(dispatching, "PURGE_BATCH", 2)
    batches: list[int] = []
    purge = dispatching.outbox.purge_dispatched

    def counted(*args: object) -> int:
        batches.append(purge(*args))  # type: ignore[arg-type]
        return batches[-1]

    monkeypatch.setattr(dispatching.outbox, "purge_dispatched", counted)
    later = datetime.now(UTC) + timedelta(hours=dispatcher.settings.outbox_retention_hours + 1)
    assert dispatcher.purge(later) == (0, dispatched)
    assert max(batches) == 2 and sum(batches) == dispatched and batches[-1] < 2
    assert _outbox(app) == (0, 0)


def test_archived_events_leave_an_archive_after_its_retention_only(
    app: FastAPI, team: Client, dispatcher: Dispatcher
) -> None:
    team.events.create_archive("team-a", "week", retention_days=7)
    team.events.create_archive("team-a", "forever")
    _put(team, "team-a", 4)
    drain(dispatcher, lambda: _outbox(app)[1] == 0)
    assert _archived(app) == 8
    now = datetime.now(UTC)

    assert dispatcher.purge(now + timedelta(days=6))[0] == 0
    assert dispatcher.purge(now + timedelta(days=8))[0] == 4
    assert team.events.get_archive("team-a", "week")["event_count"] == 0
    assert team.events.get_archive("team-a", "forever")["event_count"] == 4
    assert _archived(app) == 4


def test_the_first_pass_of_a_new_dispatcher_purges(
    app: FastAPI, team: Client, dispatcher: Dispatcher
) -> None:
    calls: list[datetime] = []
    dispatcher.purge = lambda now: calls.append(now) or (0, 0)  # type: ignore[method-assign]
    dispatcher.run_once()
    dispatcher.run_once()
    assert len(calls) == 1  # then once an hour
