"""What authorization reads on every call, kept per process while the identity tables stand still.

Every call needs the caller's key and principal, the principal's role bindings and the target
account's place in the org tree: three queries whose answers change rarely. A snapshot keeps them
for one value of ``identity_generation``, which every identity write moves in its own
transaction; each call reads that one number first and starts a new snapshot when it moved. So a
revoked key, a disabled principal or a removed binding is refused on the very next call, on every
server process sharing the database, and a call costs one primary-key read instead of three joins.

Only plain values are kept (never ORM objects, which belong to one session), and each map is
bounded: unknown key ids and account names are what a prober sends, and must not grow memory.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar, cast

from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy.orm import Session

from mlgov.server.db.driver import Statement
from mlgov.server.identity.repository import IdentityRepository
from mlgov.server.identity.tables import WRITTEN_IN, IdentityGeneration

MAX_ENTRIES = 10_000
_COUNTER = cast(Table, IdentityGeneration.__table__)
# Read on every call: a Core statement skips the ORM's per-statement work.
# Every call reads it first (db.driver.Statement: at the driver, with none of the per-call work).
GENERATION = Statement(select(_COUNTER.c.generation).where(_COUNTER.c.id == 1))

T = TypeVar("T")
GrantRow = tuple[str, str | None, str | None]  # role, account id, org unit path


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    secret_hash: str
    expires_at: datetime | None
    revoked_at: datetime | None
    principal_id: str
    principal_name: str
    principal_type: str
    principal_account_id: str | None
    principal_disabled: bool


@dataclass(frozen=True)
class AccountPlace:
    id: str
    name: str
    org_unit_path: str


@dataclass
class Snapshot:
    """The identity reads of one generation; a None generation keeps nothing (no counter row)."""

    generation: int | None
    keys: dict[str, KeyRecord | None] = field(default_factory=dict)
    grants: dict[str, list[GrantRow]] = field(default_factory=dict)
    accounts: dict[str, AccountPlace | None] = field(default_factory=dict)

    def key(self, session: Session, key_id: str) -> KeyRecord | None:
        if key_id in self.keys:
            return self.keys[key_id]
        found = IdentityRepository(session).api_key_with_principal(key_id)
        record = None
        if found is not None:
            key, principal = found
            record = KeyRecord(
                key_id=key.id,
                secret_hash=key.secret_hash,
                expires_at=key.expires_at,
                revoked_at=key.revoked_at,
                principal_id=principal.id,
                principal_name=principal.name,
                principal_type=principal.type,
                principal_account_id=principal.account_id,
                principal_disabled=principal.disabled,
            )
        return self._keep(self.keys, key_id, record)

    def grant_rows(self, session: Session, principal_id: str) -> list[GrantRow]:
        if principal_id in self.grants:
            return self.grants[principal_id]
        rows = IdentityRepository(session).grants_of(principal_id)
        return self._keep(self.grants, principal_id, rows)

    def account(self, session: Session, ref: str) -> AccountPlace | None:
        """The account by id or name with its org unit's path."""
        if ref in self.accounts:
            return self.accounts[ref]
        found = IdentityRepository(session).account_with_path(ref)
        place = None if found is None else AccountPlace(found[0].id, found[0].name, found[1])
        return self._keep(self.accounts, ref, place)

    def _keep(self, entries: dict[str, T], ref: str, value: T) -> T:
        if self.generation is not None:
            if len(entries) >= MAX_ENTRIES:
                entries.clear()
            entries[ref] = value
        return value


class IdentityCache:
    """What one process keeps of one database: the latest snapshot, and the root org unit's path
    (which never changes once the organization exists)."""

    def __init__(self) -> None:
        self._snapshot = Snapshot(generation=None)
        self._lock = threading.Lock()
        self.root_path: str | None = None

    def snapshot(self, session: Session) -> Snapshot:
        # Read the number before anything it guards: a snapshot may then hold rows newer than
        # its number (harmless, the next call starts over) but never older ones.
        row = GENERATION.first(session.connection())
        if row is None:
            return Snapshot(generation=None)
        generation = row.generation
        with self._lock:
            if self._snapshot.generation != generation:
                self._snapshot = Snapshot(generation=generation)
            return self._snapshot


_caches: weakref.WeakKeyDictionary[Engine | Connection, IdentityCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()
_TAKEN = "mlgov.identity.snapshot"  # in Session.info: (transaction, its snapshot)


def database(session: Session) -> IdentityCache:
    """This process's cache of the session's database."""
    bind = session.get_bind()
    found = _caches.get(bind)
    if found is None:
        with _caches_lock:
            found = _caches.setdefault(bind, IdentityCache())
    return found


def snapshot(session: Session) -> Snapshot:
    """The identity snapshot of the session's transaction: the counter is read once per
    transaction, however many checks it makes. A transaction that has written identity rows gets
    a snapshot of its own that keeps nothing: what it reads is not yet anyone else's truth, and
    may never be if it rolls back.
    """
    session.flush()  # pending identity writes mark the transaction through the table hooks
    transaction = session.get_transaction()
    if transaction is not None and session.info.get(WRITTEN_IN) is transaction:
        return Snapshot(generation=None)
    taken = session.info.get(_TAKEN)
    if taken is not None and transaction is not None and taken[0] is transaction:
        return cast(Snapshot, taken[1])
    current = database(session).snapshot(session)
    session.info[_TAKEN] = (session.get_transaction(), current)
    return current
