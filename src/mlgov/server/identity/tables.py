"""Tenancy and identity tables: organization, org units, accounts, principals, keys, bindings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Connection,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    update,
)
from sqlalchemy.orm import Mapped, Mapper, ORMExecuteState, Session, mapped_column, object_session

from mlgov.server.db.base import Base, JSONDocument, UTCDateTime, utc_now


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    root_org_unit_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class OrgUnit(Base):
    __tablename__ = "org_units"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("org_units.id", ondelete="RESTRICT"), index=True
    )
    # Materialised path of ids ("/ou_root/ou_a/"): ancestry checks are a prefix test, no recursion.
    path: Mapped[str] = mapped_column(String(1024), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    environment: Mapped[str] = mapped_column(String(32))
    org_unit_id: Mapped[str] = mapped_column(
        ForeignKey("org_units.id", ondelete="RESTRICT"), index=True
    )
    labels: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Principal(Base):
    __tablename__ = "principals"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    email: Mapped[str | None] = mapped_column(String(320))
    description: Mapped[str] = mapped_column(Text, default="")
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    principal_id: Mapped[str] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    # SHA-256 of a 256-bit random secret: a slow KDF buys nothing against a secret this long.
    secret_hash: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RoleBinding(Base):
    __tablename__ = "role_bindings"
    __table_args__ = (
        UniqueConstraint("principal_id", "role", "account_id", "org_unit_id"),
        CheckConstraint("(account_id IS NULL) <> (org_unit_id IS NULL)", name="exactly_one_scope"),
        Index("ix_role_bindings_scope", "account_id", "org_unit_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    principal_id: Mapped[str] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(64))
    # Exactly one of the two scopes is set (checked by the service and a CHECK constraint).
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    org_unit_id: Mapped[str | None] = mapped_column(ForeignKey("org_units.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class IdentityGeneration(Base):
    """One row whose number moves, in the writing transaction, with every change to the tables
    above: a process may keep what it read of them for as long as the number stays put
    (``identity/cache.py``), and still sees a revoked key or a removed binding on the next call.
    """

    __tablename__ = "identity_generation"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


NEXT_GENERATION = update(IdentityGeneration).values(generation=IdentityGeneration.generation + 1)
GUARDED = (Organization, OrgUnit, Account, Principal, ApiKey, RoleBinding)
# In ``Session.info``: the transaction that wrote identity rows. Until it ends, its own reads see
# rows no other session does, so they must neither come from nor go into the shared cache.
WRITTEN_IN = "mlgov.identity.written_in"


def _written(session: Session | None) -> None:
    if session is not None:
        session.info[WRITTEN_IN] = session.get_transaction()


def _object_written(_mapper: Mapper[Any], connection: Connection, target: object) -> None:
    connection.execute(NEXT_GENERATION)
    _written(object_session(target))


def _statement_run(state: ORMExecuteState) -> None:
    """Bulk ``update(ApiKey)``-style statements bypass the object hooks above."""
    if state.is_update or state.is_delete or state.is_insert:
        mapper = state.bind_mapper
        if mapper is not None and issubclass(mapper.class_, GUARDED):
            state.session.execute(NEXT_GENERATION)
            _written(state.session)


# Writes through the ORM, object by object or in bulk, all pass these hooks; the database's own
# cascades (a deleted principal's keys) follow a write that already moved the number. Raw SQL
# against these tables does not: run it with ``UPDATE identity_generation`` in the same transaction.
for _table in GUARDED:
    for _moment in ("after_insert", "after_update", "after_delete"):
        event.listen(_table, _moment, _object_written)
event.listen(Session, "do_orm_execute", _statement_run)
