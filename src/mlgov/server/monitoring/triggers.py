"""The event target that starts a monitor: ``alarm -> rule -> monitor`` is configuration.

A rule's target ``{"type": "internal", "config": {"handler": "monitoring.start_execution",
"options": {"monitor": "<name>"}}}`` starts an execution of that monitor, in the rule's account,
for each matching event. ``options.window_minutes`` sets the window to the minutes before the
event's delivery (default: the window a run now would cover). Delivery is at least once; an
execution remembers the event that started it, so a redelivered event starts nothing new.
"""

from __future__ import annotations

from datetime import timedelta

from mlgov.server.db.base import utc_now
from mlgov.server.db.engine import unit_of_work
from mlgov.server.events.targets import DeliveryFailed, Outgoing, register_internal_target
from mlgov.server.kit.runtime import Runtime
from mlgov.server.monitoring import service
from mlgov.server.monitoring.repository import MonitoringRepository

HANDLER = "monitoring.start_execution"
_bound: list[Runtime] = []


def bind(runtime: Runtime) -> None:
    """Give the handler the database it starts executions in (the worker's runtime)."""
    _bound[:] = [runtime]


def start_from_event(outgoing: Outgoing) -> None:
    if not _bound:
        raise DeliveryFailed("NOT_READY", "monitoring is not running here", retriable=True)
    options = outgoing.config.get("options") or {}
    name = options.get("monitor") if isinstance(options, dict) else None
    if not isinstance(name, str) or not name:
        raise DeliveryFailed("INVALID_TARGET", "options.monitor names no monitor", retriable=False)
    minutes = options.get("window_minutes")
    now = utc_now()
    with unit_of_work(_bound[0].session_factory) as session:
        repo = MonitoringRepository(session)
        monitor = repo.monitor(outgoing.account_id, name)
        if monitor is None:
            raise DeliveryFailed(
                "NO_RESOURCE",
                f"monitor {name} does not exist in the rule's account",
                retriable=False,
            )
        requested_by = f"event:{outgoing.event_id}"
        if repo.execution_requested(monitor.id, requested_by):
            return
        start = end = None
        if isinstance(minutes, int | float) and minutes > 0:
            start, end = now - timedelta(minutes=float(minutes)), now
        service.start_execution(
            session,
            monitor,
            trigger="event",
            now=now,
            start=start,
            end=end,
            requested_by=requested_by,
        )


register_internal_target(HANDLER, start_from_event)
