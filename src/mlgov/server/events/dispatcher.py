"""The delivery engine: outbox -> delivery rows -> sends after commit -> retries or dead letters.

Three steps, each its own unit of work, so any number of workers can run them at once:

1. :meth:`Dispatcher.route_outbox` claims committed outbox events in order (``FOR UPDATE SKIP
   LOCKED`` on PostgreSQL, the write lock on SQLite), matches them against the rules of their
   account's bus, archives them, writes one delivery row per (event, target) and marks them
   dispatched, all in one transaction. Events that name rules themselves (an alarm's actions)
   get delivery rows for those rules' targets too (:func:`service.route_directed`).
2. :meth:`Dispatcher.deliver_due` claims due deliveries the same way, counts the attempt and
   pushes ``next_attempt_at`` out by a lease, and commits *before* sending. A worker that dies
   mid-send leaves the row to be claimed again when the lease runs out: at least once.
3. Outcomes are recorded in one transaction: done, retry later (exponential backoff with jitter),
   or dead-lettered once the target's retry policy is exhausted or the error is not retriable.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session

from mlgov.server.db.base import utc_now
from mlgov.server.db.engine import unit_of_work
from mlgov.server.events import service, transform
from mlgov.server.events.repository import DEAD, PENDING, SUCCEEDED, EventsRepository
from mlgov.server.events.tables import DEFAULT_BUS, EventDelivery
from mlgov.server.events.targets import (
    DeliveryFailed,
    Outgoing,
    send_email,
    send_internal,
    send_slack,
    send_webhook,
)
from mlgov.server.identity.tables import Account
from mlgov.server.kit import outbox
from mlgov.server.kit.runtime import Runtime

logger = logging.getLogger("mlgov.events.dispatcher")
PURGE_EVERY_SECONDS = 3600.0
PURGE_BATCH = 5000  # dispatched outbox events deleted per transaction


@dataclass(frozen=True)
class Pass:
    work: int  # events routed and replayed, deliveries attempted
    backlog: bool  # a step took a full batch: more may be waiting at once


@dataclass(frozen=True)
class Job:
    delivery_id: str
    attempt: int
    account_id: str
    event: dict[str, Any]
    rule_name: str
    target_type: str | None  # None when the target was removed after routing
    config: dict[str, Any]
    secret: str | None
    input: dict[str, Any] | None
    ingestion_time: str


@dataclass(frozen=True)
class Outcome:
    job: Job
    error: DeliveryFailed | None


def backoff_seconds(attempt: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Exponential backoff with equal jitter: half the step fixed, half random."""
    step = min(cap, base * 2.0 ** max(attempt - 1, 0))
    return step / 2 + rand() * step / 2


class Dispatcher:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings.events
        self.http = httpx.Client(follow_redirects=False)
        self.pool = ThreadPoolExecutor(
            max_workers=self.settings.delivery_concurrency, thread_name_prefix="mlgov-deliver"
        )
        self._last_purge: float | None = None  # the first pass purges
        self.random = random.random

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.http.close()

    def run_once(self) -> int:
        """One pass of every step; returns how much work it found (0 when idle)."""
        return self.run_pass().work

    def run_pass(self) -> Pass:
        """One pass of every step: how much work it found, and whether a step stopped at its
        batch size (more is waiting now)."""
        batch = self.settings.batch_size
        routed = self.route_outbox()
        replayed = self.advance_replays()
        delivered = self.deliver_due()
        self._purge_if_due()
        return Pass(
            work=routed + replayed + delivered,
            backlog=routed >= batch or replayed >= batch or delivered >= batch,
        )

    # --- 1. outbox -> deliveries ---

    def route_outbox(self) -> int:
        with unit_of_work(self.runtime.session_factory) as session:
            rows = outbox.pending(session, self.settings.batch_size, claim=True)
            now = utc_now()
            views: dict[tuple[str, str], service.BusView | None] = {}
            # Rows are only added below; flushing once at commit keeps a batch to few statements.
            with session.no_autoflush:
                for row in rows:
                    key = (row.account_id, row.bus_name or DEFAULT_BUS)
                    if key not in views:
                        views[key] = self._bus_view(session, *key)
                    view = views[key]
                    if view is not None:
                        envelope = json.loads(row.body)
                        service.archive_event(session, view, envelope, row.body)
                        service.route(session, view, envelope)
                        service.route_directed(session, view, envelope)  # alarm actions
            outbox.mark_dispatched(session, [row.position for row in rows], now)
            return len(rows)

    def _bus_view(self, session: Session, account_id: str, name: str) -> service.BusView | None:
        if session.get(Account, account_id) is None:
            return None  # an event of an account that no longer exists goes nowhere
        bus = EventsRepository(session).bus(account_id, name)
        if bus is None and name == DEFAULT_BUS:
            bus = service.get_bus(session, account_id, DEFAULT_BUS)
        if bus is None:
            logger.warning("events for missing bus %s of account %s dropped", name, account_id)
            return None
        return service.load_bus(session, bus)

    # --- replays ---

    def advance_replays(self) -> int:
        with unit_of_work(self.runtime.session_factory) as session:
            repo = EventsRepository(session)
            return sum(
                service.advance_replay(session, replay, self.settings.batch_size)
                for replay in repo.active_replays()
            )

    # --- 2. claim, send after commit, 3. record ---

    def deliver_due(self) -> int:
        jobs = self._claim()
        if not jobs:
            return 0
        outcomes = list(self.pool.map(self._send, jobs))
        self._record(outcomes)
        return len(jobs)

    def _claim(self) -> list[Job]:
        now = utc_now()
        lease = timedelta(seconds=self.settings.lease_seconds)
        jobs = []
        with unit_of_work(self.runtime.session_factory) as session:
            repo = EventsRepository(session)
            for delivery in repo.claim_due(now, self.settings.batch_size):
                delivery.attempts += 1
                delivery.next_attempt_at = now + lease
                target = repo.target_by_id(delivery.target_row_id)
                jobs.append(
                    Job(
                        delivery_id=delivery.id,
                        attempt=delivery.attempts,
                        account_id=delivery.account_id,
                        event=json.loads(delivery.body),
                        rule_name=delivery.rule_name,
                        target_type=target.type if target else None,
                        config=dict(target.config) if target else {},
                        secret=target.secret if target else None,
                        input=dict(target.input) if target and target.input else None,
                        ingestion_time=delivery.created_at.isoformat(),
                    )
                )
        return jobs

    def _send(self, job: Job) -> Outcome:
        try:
            self._send_or_raise(job)
        except DeliveryFailed as failure:
            return Outcome(job, failure)
        except Exception as exc:  # a bug in a sender must not stop the others
            logger.exception("delivery %s failed unexpectedly", job.delivery_id)
            return Outcome(job, DeliveryFailed("INTERNAL_ERROR", str(exc), retriable=True))
        return Outcome(job, None)

    def _send_or_raise(self, job: Job) -> None:
        if job.target_type is None:
            raise DeliveryFailed("NO_RESOURCE", "the target was removed", retriable=False)
        if job.target_type == "event-bus":
            self._send_to_bus(job)
            return
        shaped = job.input or {}
        transformer = shaped.get("input_transformer") or {}
        rendered = transform.render(
            job.event,
            rule_name=job.rule_name,
            ingestion_time=job.ingestion_time,
            input=shaped.get("input"),
            input_path=shaped.get("input_path"),
            paths=transformer.get("input_paths_map"),
            template=transformer.get("input_template"),
        )
        outgoing = Outgoing(
            event_id=str(job.event.get("id")),
            event=job.event,
            body=rendered.value(),
            config=job.config,
            secret=job.secret,
            rule_name=job.rule_name,
            account_id=job.account_id,
            runtime=self.runtime,
        )
        if job.target_type == "webhook":
            send_webhook(self.http, self.settings, outgoing)
        elif job.target_type == "slack":
            send_slack(self.http, self.settings, outgoing)
        elif job.target_type == "email":
            send_email(self.settings, outgoing)
        elif job.target_type == "internal":
            send_internal(outgoing)
        else:
            raise DeliveryFailed(
                "NO_RESOURCE", f"unknown target type {job.target_type}", retriable=False
            )

    def _send_to_bus(self, job: Job) -> None:
        """Put the event, same id, on another bus: allowed only while its owner permits it."""
        with unit_of_work(self.runtime.session_factory) as session:
            repo = EventsRepository(session)
            bus = repo.bus(str(job.config.get("account")), str(job.config.get("event_bus")))
            if bus is None:
                raise DeliveryFailed(
                    "NO_RESOURCE", "the target event bus does not exist", retriable=False
                )
            if not service.may_send(session, bus, job.account_id):
                raise DeliveryFailed(
                    "NO_PERMISSIONS",
                    "the target bus's account no longer permits this account to send to it",
                    retriable=False,
                )
            body = json.dumps(job.event, separators=(",", ":"))
            service.archive_event(session, bus, job.event, body)
            service.route(session, bus, job.event)

    def _record(self, outcomes: list[Outcome]) -> None:
        now = utc_now()
        with unit_of_work(self.runtime.session_factory) as session:
            rows = {
                d.id: d
                for d in EventsRepository(session).deliveries([o.job.delivery_id for o in outcomes])
            }
            limits = self._limits(session, rows.values())
            for outcome in outcomes:
                row = rows.get(outcome.job.delivery_id)
                # Another worker reclaimed it after our lease ran out: its outcome wins.
                if row is None or row.status != PENDING or row.attempts != outcome.job.attempt:
                    continue
                self._apply(row, outcome.error, now, limits.get(row.target_row_id, (185, 86400)))

    def _limits(self, session: Session, rows: Any) -> dict[str, tuple[int, int]]:
        repo = EventsRepository(session)
        out = {}
        for row in rows:
            if row.target_row_id not in out:
                target = repo.target_by_id(row.target_row_id)
                if target is not None:
                    out[row.target_row_id] = (
                        target.max_retry_attempts,
                        target.max_event_age_seconds,
                    )
        return out

    def _apply(
        self,
        row: EventDelivery,
        error: DeliveryFailed | None,
        now: datetime,
        limits: tuple[int, int],
    ) -> None:
        if error is None:
            row.status, row.finished_at = SUCCEEDED, now
            row.error_code = row.error_message = None
            return
        row.error_code, row.error_message = error.code, error.message[:2000]
        max_retries, max_age = limits
        exhausted = None
        if error.retriable and row.attempts > max_retries:
            exhausted = "MaximumRetryAttempts"
        elif error.retriable and (now - row.created_at).total_seconds() >= max_age:
            exhausted = "MaximumEventAgeInSeconds"
        if not error.retriable or exhausted:
            row.status, row.finished_at, row.exhausted_condition = DEAD, now, exhausted
            logger.warning(
                "delivery %s of event %s to %s dead-lettered: %s",
                row.id,
                row.event_id,
                row.target_id,
                error.code,
            )
            return
        delay = backoff_seconds(
            row.attempts,
            self.settings.retry_base_seconds,
            self.settings.retry_max_seconds,
            self.random,
        )
        row.next_attempt_at = now + timedelta(seconds=delay)

    def _purge_if_due(self) -> None:
        if self._last_purge is not None and (
            time.monotonic() - self._last_purge < PURGE_EVERY_SECONDS
        ):
            return
        self._last_purge = time.monotonic()
        self.purge(utc_now())

    def purge(self, now: datetime) -> tuple[int, int]:
        """Archived events past their archive's retention, and outbox events dispatched longer
        ago than the outbox's: how many of each were deleted."""
        with unit_of_work(self.runtime.session_factory) as session:
            archived = service.purge_expired(session, now)
        before = now - timedelta(hours=self.settings.outbox_retention_hours)
        dispatched, batch = 0, PURGE_BATCH
        while batch == PURGE_BATCH:  # a short transaction a batch
            with unit_of_work(self.runtime.session_factory) as session:
                batch = outbox.purge_dispatched(session, before, PURGE_BATCH)
            dispatched += batch
        if archived or dispatched:
            logger.info(
                "purged %d archived events and %d dispatched outbox events past retention",
                archived,
                dispatched,
            )
        return archived, dispatched
