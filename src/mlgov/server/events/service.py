"""Event bus logic: buses and permissions, PutEvents, rules, targets, routing, DLQ, archives.

Services never commit. Events enter the bus through the transactional outbox
(:func:`mlgov.server.kit.outbox.emit`), whether mlgov's domains or users (PutEvents) produce them;
the dispatcher then :func:`route` s each one to the matching rules' targets as delivery rows.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from mlgov.errors import AccessDenied, Conflict, ErrorCode, InvalidRequest, NotFound
from mlgov.server.db.base import utc_now
from mlgov.server.events import patterns, schemas, transform
from mlgov.server.events.repository import DEAD, PENDING, EventsRepository
from mlgov.server.events.tables import (
    DEFAULT_BUS,
    ArchivedEvent,
    EventArchive,
    EventBus,
    EventBusPermission,
    EventDelivery,
    EventReplay,
    EventRule,
    EventTarget,
)
from mlgov.server.identity import service as identity
from mlgov.server.identity.tables import Account
from mlgov.server.kit import outbox
from mlgov.server.kit.context import Caller
from mlgov.server.kit.ids import new_id
from mlgov.server.kit.pagination import PageRequest

RESERVED_SOURCE_PREFIX = "mlgov."
MAX_ENTRY_BYTES = 256 * 1024


# --- buses and permissions -----------------------------------------------------------------------


def get_bus(session: Session, account_id: str, name: str) -> EventBus:
    """The named bus; the default bus is created on first use."""
    repo = EventsRepository(session)
    bus = repo.bus(account_id, name)
    if bus is None and name == DEFAULT_BUS:
        bus = EventBus(
            id=new_id("eb"), account_id=account_id, name=DEFAULT_BUS, description="default bus"
        )
        repo.add(bus)
    if bus is None:
        raise NotFound(f"event bus {name} does not exist", code=ErrorCode.EVENT_BUS_NOT_FOUND)
    return bus


def create_bus(session: Session, account_id: str, data: schemas.EventBusCreate) -> EventBus:
    repo = EventsRepository(session)
    if data.name == DEFAULT_BUS or repo.bus(account_id, data.name) is not None:
        raise Conflict(f"event bus {data.name} exists", code=ErrorCode.ALREADY_EXISTS)
    bus = EventBus(
        id=new_id("eb"), account_id=account_id, name=data.name, description=data.description
    )
    repo.add(bus)
    return bus


def list_buses(session: Session, account_id: str, page: PageRequest) -> Sequence[EventBus]:
    get_bus(session, account_id, DEFAULT_BUS)
    return EventsRepository(session).buses(account_id, page)


def delete_bus(session: Session, bus: EventBus) -> None:
    if bus.name == DEFAULT_BUS:
        raise InvalidRequest("the default bus cannot be deleted")
    session.delete(bus)
    session.flush()


def put_permission(
    session: Session, bus: EventBus, grantee: Account, caller: Caller
) -> EventBusPermission:
    if grantee.id == bus.account_id:
        raise InvalidRequest("an account may always send to its own buses")
    repo = EventsRepository(session)
    row = repo.permission(bus.id, grantee.id)
    if row is None:
        row = EventBusPermission(
            id=new_id("ebp"),
            bus_id=bus.id,
            grantee_account_id=grantee.id,
            created_by=caller.principal_id,
        )
        repo.add(row)
    return row


def delete_permission(session: Session, bus: EventBus, grantee: Account) -> None:
    row = EventsRepository(session).permission(bus.id, grantee.id)
    if row is None:
        raise NotFound(
            f"event bus {bus.name} grants nothing to {grantee.name}",
            code=ErrorCode.PERMISSION_NOT_FOUND,
        )
    session.delete(row)
    session.flush()


def list_permissions(session: Session, bus: EventBus) -> Sequence[EventBusPermission]:
    return EventsRepository(session).permissions(bus.id)


# --- PutEvents and TestEventPattern --------------------------------------------------------------


def put_events(
    session: Session, account_id: str, entries: Sequence[schemas.EventEntry]
) -> schemas.PutEventsResponse:
    """Each entry succeeds or fails alone, in order; accepted ones enter the outbox."""
    results: list[schemas.PutEventsResultEntry] = []
    for entry in entries:
        results.append(_put_one(session, account_id, entry))
    failed = sum(1 for r in results if r.error_code)
    return schemas.PutEventsResponse(failed_entry_count=failed, entries=results)


def _put_one(
    session: Session, account_id: str, entry: schemas.EventEntry
) -> schemas.PutEventsResultEntry:
    if entry.source.startswith(RESERVED_SOURCE_PREFIX):
        return schemas.PutEventsResultEntry(
            error_code="InvalidArgument",
            error_message=f"sources starting with {RESERVED_SOURCE_PREFIX!r} are mlgov's own",
        )
    size = (14 if entry.time else 0) + sum(
        len(part.encode())
        for part in (entry.source, entry.detail_type, json.dumps(entry.detail), *entry.resources)
    )
    if size > MAX_ENTRY_BYTES:
        return schemas.PutEventsResultEntry(
            error_code="EntryTooLarge",
            error_message=f"the entry is {size} bytes; the limit is {MAX_ENTRY_BYTES}",
        )
    bus_name = entry.event_bus or DEFAULT_BUS
    try:
        get_bus(session, account_id, bus_name)
    except NotFound as exc:
        return schemas.PutEventsResultEntry(error_code=str(exc.code), error_message=exc.message)
    event_id = outbox.emit(
        session,
        account_id=account_id,
        source=entry.source,
        detail_type=entry.detail_type,
        detail=entry.detail,
        resources=list(entry.resources),
        time=entry.time,
        bus=None if bus_name == DEFAULT_BUS else bus_name,
    )
    return schemas.PutEventsResultEntry(event_id=event_id)


def test_pattern(data: schemas.TestPatternRequest) -> bool:
    return patterns.compile_pattern(data.event_pattern).matches(data.event)


# --- rules ---------------------------------------------------------------------------------------


def get_rule(session: Session, bus: EventBus, name: str) -> EventRule:
    rule = EventsRepository(session).rule(bus.id, name)
    if rule is None:
        raise NotFound(f"event bus {bus.name} has no rule {name}", code=ErrorCode.RULE_NOT_FOUND)
    return rule


def put_rule(
    session: Session, bus: EventBus, name: str, data: schemas.RulePut, caller: Caller
) -> EventRule:
    """Create the rule or replace its pattern, state and description (PutRule)."""
    patterns.compile_pattern(data.event_pattern)
    repo = EventsRepository(session)
    rule = repo.rule(bus.id, name)
    now = utc_now()
    if rule is None:
        rule = EventRule(
            id=new_id("er"),
            account_id=bus.account_id,
            bus_id=bus.id,
            name=name,
            created_by=caller.principal_id,
            created_at=now,
        )
        session.add(rule)
    rule.event_pattern = data.event_pattern
    rule.state = data.state.value
    rule.description = data.description
    rule.updated_at = now
    session.flush()
    return rule


def list_rules(session: Session, bus: EventBus, page: PageRequest) -> Sequence[EventRule]:
    return EventsRepository(session).rules(bus.id, page)


def set_rule_state(session: Session, rule: EventRule, state: schemas.RuleState) -> EventRule:
    rule.state = state.value
    rule.updated_at = utc_now()
    session.flush()
    return rule


def delete_rule(session: Session, rule: EventRule) -> None:
    session.delete(rule)
    session.flush()


# --- targets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PutTarget:
    row: EventTarget
    generated_secret: str | None


def _check_url(target_id: str, config: dict[str, Any]) -> None:
    url = config.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2048:
        raise transform.invalid(f"target {target_id} needs config.url, an http(s) URL")
    timeout = config.get("timeout_seconds", 10)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 60:
        raise transform.invalid(f"target {target_id}: timeout_seconds must be in (0, 60]")
    headers = config.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise transform.invalid(f"target {target_id}: headers must map strings to strings")


def _check_config(
    session: Session, owner_account_id: str, data: schemas.TargetPut
) -> dict[str, Any]:
    from mlgov.server.events import targets

    config = dict(data.config)
    kind = data.type
    allowed = {
        schemas.TargetType.WEBHOOK: {"url", "timeout_seconds", "headers"},
        schemas.TargetType.SLACK: {"url", "timeout_seconds", "headers"},
        schemas.TargetType.EMAIL: {"to", "subject"},
        schemas.TargetType.EVENT_BUS: {"account", "event_bus"},
        schemas.TargetType.INTERNAL: {"handler", "options"},
    }[kind]
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise transform.invalid(
            f"target {data.id} ({kind.value}) does not take config {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(allowed))}"
        )
    if data.secret is not None and kind is not schemas.TargetType.WEBHOOK:
        raise transform.invalid(f"target {data.id}: only webhook targets take a secret")
    if kind in (schemas.TargetType.WEBHOOK, schemas.TargetType.SLACK):
        _check_url(data.id, config)
    elif kind is schemas.TargetType.EMAIL:
        to = config.get("to")
        if (
            not isinstance(to, list)
            or not 1 <= len(to) <= 20
            or not all(isinstance(a, str) and "@" in a and len(a) <= 254 for a in to)
        ):
            raise transform.invalid(f"target {data.id} needs config.to, 1 to 20 addresses")
        if not isinstance(config.get("subject", ""), str):
            raise transform.invalid(f"target {data.id}: subject must be a string")
    elif kind is schemas.TargetType.EVENT_BUS:
        account_ref = config.get("account")
        bus_name = config.get("event_bus", DEFAULT_BUS)
        if not isinstance(account_ref, str) or not isinstance(bus_name, str):
            raise transform.invalid(f"target {data.id} needs config.account and config.event_bus")
        target_account = identity.find_account(session, account_ref)
        bus = EventsRepository(session).bus(target_account.id, bus_name) if target_account else None
        if target_account is not None and bus is None and bus_name == DEFAULT_BUS:
            bus = get_bus(session, target_account.id, DEFAULT_BUS)
        if target_account is None or bus is None or not may_send(session, bus, owner_account_id):
            # One answer whether the bus is missing or refuses us: other accounts stay opaque.
            raise AccessDenied(
                f"target {data.id}: event bus {bus_name} of account {account_ref} does not "
                "exist or has not granted this account permission to send to it",
                code=ErrorCode.CROSS_ACCOUNT_TARGET_DENIED,
            )
        config = {"account": target_account.id, "event_bus": bus.name}
    elif kind is schemas.TargetType.INTERNAL:
        handler = config.get("handler")
        if not isinstance(handler, str) or handler not in targets.internal_targets():
            known = ", ".join(sorted(targets.internal_targets())) or "none"
            raise transform.invalid(
                f"target {data.id}: internal handler {handler!r} is not registered ({known})"
            )
    if data.input_path is not None:
        transform.check_path(data.input_path)
    given = [x for x in (data.input, data.input_path, data.input_transformer) if x is not None]
    if len(given) > 1:
        raise transform.invalid(
            f"target {data.id}: give at most one of input, input_path, input_transformer"
        )
    if data.input_transformer is not None:
        transform.check_transformer(
            data.input_transformer.input_paths_map, data.input_transformer.input_template
        )
    return config


def may_send(session: Session, bus: EventBus, sender_account_id: str) -> bool:
    """Own buses always; another account's only under a permission from its owner."""
    if bus.account_id == sender_account_id:
        return True
    return EventsRepository(session).permission(bus.id, sender_account_id) is not None


def put_targets(
    session: Session, rule: EventRule, data: Sequence[schemas.TargetPut]
) -> list[PutTarget]:
    """Add or replace targets by id; all are checked before any is written."""
    repo = EventsRepository(session)
    ids = [t.id for t in data]
    if len(set(ids)) != len(ids):
        raise InvalidRequest("target ids must be unique within one call")
    existing = {t.target_id: t for t in repo.targets([rule.id])}
    if len(set(existing) | set(ids)) > schemas.MAX_TARGETS:
        raise InvalidRequest(
            f"a rule has at most {schemas.MAX_TARGETS} targets", code=ErrorCode.LIMIT_EXCEEDED
        )
    checked = [(t, _check_config(session, rule.account_id, t)) for t in data]
    out: list[PutTarget] = []
    for item, config in checked:
        generated = None
        secret = item.secret
        if item.type is schemas.TargetType.WEBHOOK and secret is None:
            previous = existing.get(item.id)
            secret = previous.secret if previous is not None else None
            if secret is None:
                secret = generated = "whsec_" + secrets.token_urlsafe(32)
        row = existing.get(item.id)
        if row is None:
            row = EventTarget(id=new_id("et"), rule_id=rule.id, target_id=item.id)
            session.add(row)
        row.type = item.type.value
        row.config = config
        row.secret = secret
        row.input = _input_of(item)
        row.max_retry_attempts = item.retry_policy.maximum_retry_attempts
        row.max_event_age_seconds = item.retry_policy.maximum_event_age_seconds
        row.created_at = utc_now()
        out.append(PutTarget(row, generated))
    session.flush()
    return out


def _input_of(item: schemas.TargetPut) -> dict[str, Any] | None:
    if item.input is not None:
        return {"input": item.input}
    if item.input_path is not None:
        return {"input_path": item.input_path}
    if item.input_transformer is not None:
        return {"input_transformer": item.input_transformer.model_dump()}
    return None


def list_targets(session: Session, rule: EventRule) -> Sequence[EventTarget]:
    return EventsRepository(session).targets([rule.id])


def remove_target(session: Session, rule: EventRule, target_id: str) -> None:
    row = EventsRepository(session).target(rule.id, target_id)
    if row is None:
        raise NotFound(
            f"rule {rule.name} has no target {target_id}", code=ErrorCode.TARGET_NOT_FOUND
        )
    session.delete(row)
    session.flush()


def target_out(row: EventTarget, secret: str | None = None) -> schemas.Target:
    shaped = row.input or {}
    return schemas.Target(
        id=row.target_id,
        type=schemas.TargetType(row.type),
        config=row.config,
        input=shaped.get("input"),
        input_path=shaped.get("input_path"),
        input_transformer=shaped.get("input_transformer"),
        retry_policy=schemas.RetryPolicy(
            maximum_retry_attempts=row.max_retry_attempts,
            maximum_event_age_seconds=row.max_event_age_seconds,
        ),
        has_secret=row.secret is not None,
        created_at=row.created_at,
        secret=secret,
    )


# --- routing (the dispatcher's side) -------------------------------------------------------------

_compiled: dict[tuple[str, datetime], patterns.Pattern] = {}


def _pattern_of(rule: EventRule) -> patterns.Pattern:
    key = (rule.id, rule.updated_at)
    found = _compiled.get(key)
    if found is None:
        if len(_compiled) > 10_000:
            _compiled.clear()
        found = _compiled[key] = patterns.compile_pattern(rule.event_pattern)
    return found


@dataclass(frozen=True)
class BusView:
    """A bus with its enabled rules, their targets and its archives, loaded once per batch."""

    bus: EventBus
    rules: tuple[EventRule, ...]
    targets: dict[str, tuple[EventTarget, ...]]
    archives: tuple[EventArchive, ...]


def load_bus(session: Session, bus: EventBus, rule_names: Sequence[str] | None = None) -> BusView:
    repo = EventsRepository(session)
    rules = tuple(repo.enabled_rules(bus.id, rule_names))
    targets: dict[str, list[EventTarget]] = {}
    for target in repo.targets([r.id for r in rules]):
        targets.setdefault(target.rule_id, []).append(target)
    return BusView(
        bus=bus,
        rules=rules,
        targets={k: tuple(v) for k, v in targets.items()},
        archives=tuple(repo.archives_of_bus(bus.id)),
    )


def route(
    session: Session,
    bus: EventBus | BusView,
    envelope: dict[str, Any],
    *,
    replay_name: str | None = None,
    rule_names: Sequence[str] | None = None,
) -> int:
    """Write one delivery row per target of every enabled rule of ``bus`` the event matches."""
    view = bus if isinstance(bus, BusView) else load_bus(session, bus, rule_names)
    matched = [r for r in view.rules if _pattern_of(r).matches(envelope)]
    if not matched:
        return 0
    body = json.dumps(envelope, separators=(",", ":"))
    now = utc_now()
    event_time = _event_time(envelope, now)
    count = 0
    for rule in matched:
        for target in view.targets.get(rule.id, ()):
            session.add(
                _delivery(
                    view.bus.account_id, envelope, body, event_time, now, rule, target, replay_name
                )
            )
            count += 1
    return count


def _delivery(
    account_id: str,
    envelope: dict[str, Any],
    body: str,
    event_time: datetime,
    now: datetime,
    rule: EventRule | None,
    target: EventTarget | None,
    replay_name: str | None = None,
) -> EventDelivery:
    """A pending delivery of one event to one target of ``rule`` (owned by ``account_id``)."""
    return EventDelivery(
        id=new_id("ed"),
        account_id=account_id,
        event_id=str(envelope.get("id")),
        event_time=event_time,
        body=body,
        rule_id=rule.id if rule else "",
        rule_name=rule.name if rule else "",
        target_row_id=target.id if target else "",
        target_id=target.target_id if target else "",
        replay_name=replay_name,
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


# --- rule ARNs: how alarm actions name targets ---------------------------------------------------

RULE_ARN_FORM = "mlgov:events:<account>:rule/<bus>/<rule>"
_RULE_ARN = re.compile(
    r"^mlgov:events:(?P<account>[A-Za-z0-9._\-]{1,64}):rule/"
    r"(?P<bus>[A-Za-z0-9][A-Za-z0-9._\-]{0,63})/(?P<rule>[A-Za-z0-9][A-Za-z0-9._\-]{0,63})$"
)
# Events whose producer names rules to deliver to directly, besides pattern routing: an alarm's
# actions for its new state (``detail.actions.targets``, empty while its actions are disabled).
# Only outbox events are read this way; the ``mlgov.`` sources are refused to PutEvents.
DIRECTED_EVENTS = {("mlgov.alarms", "Alarm State Change")}


def rule_arn(account_id: str, bus_name: str, rule_name: str) -> str:
    return f"mlgov:events:{account_id}:rule/{bus_name}/{rule_name}"


@dataclass(frozen=True)
class RuleRef:
    account: str  # an account id (or name, as given)
    bus: str
    rule: str


def parse_rule_arn(ref: str) -> RuleRef | None:
    found = _RULE_ARN.match(ref)
    if found is None:
        return None
    return RuleRef(found["account"], found["bus"], found["rule"])


def _find_rule(
    session: Session, ref: RuleRef
) -> tuple[Account | None, EventBus | None, EventRule | None]:
    account = identity.find_account(session, ref.account)
    repo = EventsRepository(session)
    bus = repo.bus(account.id, ref.bus) if account is not None else None
    rule = repo.rule(bus.id, ref.rule) if bus is not None else None
    return account, bus, rule


def check_action(session: Session, sender_account_id: str, ref: str, where: str) -> str:
    """Check a rule ARN that an alarm of ``sender_account_id`` names as an action; returns it
    canonical (account id, not name). Another account's rule needs a permission on its bus."""
    parsed = parse_rule_arn(ref)
    if parsed is None:
        raise InvalidRequest(
            f"{where}: {ref[:200]!r} is not a rule ARN ({RULE_ARN_FORM})",
            code=ErrorCode.INVALID_TARGET,
            details={"field": where, "expected": RULE_ARN_FORM},
        )
    account, bus, rule = _find_rule(session, parsed)
    if account is None or account.id != sender_account_id:
        if bus is None or rule is None or not may_send(session, bus, sender_account_id):
            # One answer whether the rule is missing or its bus refuses us, as for PutTargets.
            raise AccessDenied(
                f"{where}: rule {parsed.rule} on event bus {parsed.bus} of account "
                f"{parsed.account} does not exist or its bus has not granted this account "
                "permission to send to it",
                code=ErrorCode.CROSS_ACCOUNT_TARGET_DENIED,
            )
    elif bus is None or rule is None:
        raise InvalidRequest(
            f"{where}: event bus {parsed.bus} has no rule {parsed.rule}",
            code=ErrorCode.INVALID_TARGET,
            details={"field": where},
        )
    assert account is not None
    assert bus is not None
    assert rule is not None
    return rule_arn(account.id, bus.name, rule.name)


def directed_refs(envelope: dict[str, Any]) -> list[str]:
    """The rule ARNs an outbox event names for direct delivery (an alarm's actions)."""
    if (envelope.get("source"), envelope.get("detail-type")) not in DIRECTED_EVENTS:
        return []
    detail = envelope.get("detail")
    actions = detail.get("actions") if isinstance(detail, dict) else None
    if not isinstance(actions, dict) or actions.get("enabled") is not True:
        return []
    targets = actions.get("targets")
    if not isinstance(targets, list):
        return []
    return list(dict.fromkeys(str(t) for t in targets))


def route_directed(session: Session, view: BusView, envelope: dict[str, Any]) -> int:
    """Deliver an outbox event to the targets of the rules it names (:func:`directed_refs`).

    Delivery rows like :func:`route` writes, so the dispatcher sends, retries and dead-letters
    them the same way. A named rule's pattern is not consulted (the alarm chose it), but a
    disabled rule delivers nothing, and a rule the event also matched on this bus is not sent
    the event twice. A rule that is gone, or whose bus no longer permits the sender, gives a
    dead letter in the sender's account (``NO_RESOURCE``, ``NO_PERMISSIONS``).
    """
    refs = directed_refs(envelope)
    if not refs:
        return 0
    sender = view.bus.account_id
    body = json.dumps(envelope, separators=(",", ":"))
    now = utc_now()
    event_time = _event_time(envelope, now)
    done = {r.id for r in view.rules if _pattern_of(r).matches(envelope)}
    repo = EventsRepository(session)
    count = 0
    for ref in refs:
        parsed = parse_rule_arn(ref)
        _account, bus, rule = _find_rule(session, parsed) if parsed else (None, None, None)
        failure = None
        if parsed is None:
            failure = ("NO_RESOURCE", f"not a rule ARN ({RULE_ARN_FORM})")
        elif bus is None or rule is None:
            failure = ("NO_RESOURCE", "the rule does not exist")
        elif not may_send(session, bus, sender):
            failure = ("NO_PERMISSIONS", "the rule's event bus no longer permits this account")
        if failure is not None:
            dead = _delivery_failed(sender, envelope, body, event_time, now, *failure)
            dead.rule_name = parsed.rule if parsed else ""
            dead.error_message = f"alarm action {ref[:1024]}: {failure[1]}"
            session.add(dead)
            continue
        assert bus is not None
        assert rule is not None
        if rule.state != schemas.RuleState.ENABLED.value or rule.id in done:
            continue
        done.add(rule.id)
        for target in repo.targets([rule.id]):
            session.add(_delivery(bus.account_id, envelope, body, event_time, now, rule, target))
            count += 1
    return count


def _delivery_failed(
    account_id: str,
    envelope: dict[str, Any],
    body: str,
    event_time: datetime,
    now: datetime,
    code: str,
    message: str,
) -> EventDelivery:
    """A dead letter for an action that cannot be delivered at all: it names no target, so a
    redrive dead-letters it again until the alarm's actions are fixed."""
    dead = _delivery(account_id, envelope, body, event_time, now, None, None)
    dead.status, dead.error_code, dead.error_message, dead.finished_at = DEAD, code, message, now
    return dead


def _event_time(envelope: dict[str, Any], default: datetime) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(envelope.get("time")).replace("Z", "+00:00"))
    except ValueError:
        return default
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def archive_event(
    session: Session, bus: EventBus | BusView, envelope: dict[str, Any], body: str
) -> None:
    """Keep the event in every archive of its bus whose pattern (if any) it matches."""
    archives = (
        bus.archives
        if isinstance(bus, BusView)
        else EventsRepository(session).archives_of_bus(bus.id)
    )
    now = utc_now()
    for archive in archives:
        if archive.event_pattern and not patterns.compile_pattern(archive.event_pattern).matches(
            envelope
        ):
            continue
        session.add(
            ArchivedEvent(
                archive_id=archive.id,
                event_id=str(envelope.get("id")),
                event_time=_event_time(envelope, now),
                body=body,
                archived_at=now,
            )
        )


# --- dead letters --------------------------------------------------------------------------------


def list_dead_letters(
    session: Session, account_id: str, page: PageRequest, rule_name: str | None = None
) -> Sequence[EventDelivery]:
    return EventsRepository(session).dead_letters(account_id, page, rule_name)


def dead_letter_out(row: EventDelivery) -> schemas.DeadLetter:
    return schemas.DeadLetter(
        id=row.id,
        event_id=row.event_id,
        rule=row.rule_name,
        target=row.target_id,
        replay_name=row.replay_name,
        error_code=row.error_code,
        error_message=row.error_message,
        exhausted_retry_condition=row.exhausted_condition,
        retry_attempts=max(row.attempts - 1, 0),
        event=json.loads(row.body),
        failed_at=row.finished_at,
    )


def redrive(session: Session, account_id: str, data: schemas.Redrive) -> int:
    """Send dead letters again with a fresh retry budget."""
    return EventsRepository(session).redrive(account_id, utc_now(), data.ids, data.rule)


# --- archives and replays ------------------------------------------------------------------------


def get_archive(session: Session, account_id: str, name: str) -> EventArchive:
    archive = EventsRepository(session).archive(account_id, name)
    if archive is None:
        raise NotFound(f"archive {name} does not exist", code=ErrorCode.ARCHIVE_NOT_FOUND)
    return archive


def create_archive(
    session: Session, account_id: str, data: schemas.ArchiveCreate, caller: Caller
) -> EventArchive:
    repo = EventsRepository(session)
    if repo.archive(account_id, data.name) is not None:
        raise Conflict(f"archive {data.name} exists", code=ErrorCode.ALREADY_EXISTS)
    if data.event_pattern is not None:
        patterns.compile_pattern(data.event_pattern)
    bus = get_bus(session, account_id, data.event_bus)
    archive = EventArchive(
        id=new_id("ea"),
        account_id=account_id,
        bus_id=bus.id,
        name=data.name,
        description=data.description,
        event_pattern=data.event_pattern,
        retention_days=data.retention_days,
        created_by=caller.principal_id,
    )
    repo.add(archive)
    return archive


def list_archives(session: Session, account_id: str, page: PageRequest) -> Sequence[EventArchive]:
    return EventsRepository(session).archives(account_id, page)


def delete_archive(session: Session, archive: EventArchive) -> None:
    session.delete(archive)
    session.flush()


def archives_out(session: Session, rows: Sequence[EventArchive]) -> list[schemas.Archive]:
    repo = EventsRepository(session)
    counts = repo.event_counts([r.id for r in rows])
    out = []
    for row in rows:
        bus = repo.bus_by_id(row.bus_id)
        out.append(
            schemas.Archive(
                id=row.id,
                name=row.name,
                event_bus=bus.name if bus else "",
                event_pattern=row.event_pattern,
                retention_days=row.retention_days,
                description=row.description,
                event_count=counts.get(row.id, 0),
                created_at=row.created_at,
            )
        )
    return out


def purge_expired(session: Session, now: datetime) -> int:
    repo = EventsRepository(session)
    return sum(
        repo.purge_archive(a.id, now - timedelta(days=a.retention_days or 0))
        for a in repo.archives_with_retention()
    )


def get_replay(session: Session, account_id: str, name: str) -> EventReplay:
    replay = EventsRepository(session).replay(account_id, name)
    if replay is None:
        raise NotFound(f"replay {name} does not exist", code=ErrorCode.REPLAY_NOT_FOUND)
    return replay


def start_replay(
    session: Session, account_id: str, data: schemas.ReplayStart, caller: Caller
) -> EventReplay:
    repo = EventsRepository(session)
    if data.event_end_time <= data.event_start_time:
        raise InvalidRequest("event_end_time must be after event_start_time")
    if data.event_end_time > utc_now() + timedelta(minutes=1):
        raise InvalidRequest("event_end_time may not be in the future")
    if repo.replay(account_id, data.name) is not None:
        raise Conflict(f"replay {data.name} exists", code=ErrorCode.ALREADY_EXISTS)
    archive = get_archive(session, account_id, data.archive)
    if data.rules is not None:
        bus = repo.bus_by_id(archive.bus_id)
        assert bus is not None
        for name in data.rules:
            get_rule(session, bus, name)
    replay = EventReplay(
        id=new_id("erp"),
        account_id=account_id,
        name=data.name,
        archive_id=archive.id,
        event_start_time=data.event_start_time,
        event_end_time=data.event_end_time,
        rule_names=list(data.rules) if data.rules is not None else None,
        state=schemas.ReplayState.STARTING.value,
        cursor=0,
        events_replayed=0,
        created_by=caller.principal_id,
    )
    repo.add(replay)
    return replay


def list_replays(session: Session, account_id: str, page: PageRequest) -> Sequence[EventReplay]:
    return EventsRepository(session).replays(account_id, page)


def replay_out(session: Session, row: EventReplay) -> schemas.Replay:
    archive = session.get(EventArchive, row.archive_id)
    return schemas.Replay(
        id=row.id,
        name=row.name,
        archive=archive.name if archive else "",
        event_start_time=row.event_start_time,
        event_end_time=row.event_end_time,
        rules=row.rule_names,
        state=schemas.ReplayState(row.state),
        events_replayed=row.events_replayed,
        event_last_replayed_time=row.event_last_replayed_time,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def advance_replay(session: Session, replay: EventReplay, batch: int) -> int:
    """Route the next batch of archived events in the replay's window; returns how many."""
    repo = EventsRepository(session)
    archive = session.get(EventArchive, replay.archive_id)
    bus = repo.bus_by_id(archive.bus_id) if archive else None
    if archive is None or bus is None:
        replay.state = schemas.ReplayState.FAILED.value
        replay.finished_at = utc_now()
        return 0
    rows = repo.archived_events(
        archive.id, replay.event_start_time, replay.event_end_time, replay.cursor, batch
    )
    view = load_bus(session, bus, replay.rule_names)
    for row in rows:
        envelope = json.loads(row.body)
        envelope["replay-name"] = replay.name
        route(session, view, envelope, replay_name=replay.name)
        replay.cursor = row.position
        replay.events_replayed += 1
        replay.event_last_replayed_time = row.event_time
    replay.state = schemas.ReplayState.RUNNING.value
    if len(rows) < batch:
        replay.state = schemas.ReplayState.COMPLETED.value
        replay.finished_at = utc_now()
    session.flush()
    return len(rows)


__all__ = ["DEAD", "PENDING"]
