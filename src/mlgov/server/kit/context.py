"""What one API call carries through the layers: who, what, where, and its unit of work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

READ_ONLY_VERBS = ("Describe", "List", "Get", "Query", "Verify", "Search", "Export", "Download")


class Scope(StrEnum):
    """Where an action's permission must be granted for a call to be allowed."""

    ACCOUNT = "account"  # the {account} path parameter
    ORG_UNIT = "org_unit"  # the {org_unit} path parameter
    PRINCIPAL = "principal"  # the {principal} path parameter: itself, or the organization
    ORGANIZATION = "organization"  # the root org unit
    ANY = "any"  # granted anywhere; the service filters what the caller sees
    AUTHENTICATED = "authenticated"  # any valid key


@dataclass(frozen=True)
class Action:
    name: str
    scope: Scope
    shared_by: str | None = None  # "<resource kind>:<permission>", e.g. "model-group:read"

    @property
    def service(self) -> str:
        return self.name.split(":", 1)[0]

    @property
    def verb(self) -> str:
        return self.name.split(":", 1)[1]

    @property
    def read_only(self) -> bool:
        return self.verb.startswith(READ_ONLY_VERBS)


@dataclass(frozen=True)
class Caller:
    principal_id: str
    principal_name: str
    principal_type: str
    principal_account_id: str | None
    api_key_id: str


# Resource kinds that can be shared across accounts register how to find their grantees:
# (session, owning account id, path parameters, permission) -> grantee account ids.
GrantResolver = Callable[[Session, str, dict[str, Any], str], list[str]]
GRANT_RESOLVERS: dict[str, GrantResolver] = {}


@dataclass
class RequestContext:
    request_id: str
    action: Action
    session: Session
    source_ip: str | None
    user_agent: str | None
    caller: Caller | None = None
    account_id: str | None = None
    account_ref: str | None = None
    # Set when the call was admitted through a resource grant: the caller's own account.
    via_account_id: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Side effects that must only happen once the transaction has committed.
    after_commit: list[Callable[[], None]] = field(default_factory=list)


def context_of(request: Request) -> RequestContext:
    ctx: RequestContext = request.state.ctx
    return ctx


def session_of(request: Request) -> Session:
    return context_of(request).session
