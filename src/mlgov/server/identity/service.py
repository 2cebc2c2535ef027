"""Tenancy and identity logic: the org tree, principals, keys, bindings, and who may do what.

Services never commit: the request (or the bootstrap command) owns the transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mlgov.errors import (
    AccessDenied,
    Conflict,
    ErrorCode,
    InvalidRequest,
    NotFound,
    Unauthenticated,
)
from mlgov.server.db.base import utc_now
from mlgov.server.identity import cache, schemas
from mlgov.server.identity.repository import IdentityRepository
from mlgov.server.identity.roles import ROLES, role_permits
from mlgov.server.identity.tables import (
    Account,
    ApiKey,
    Organization,
    OrgUnit,
    Principal,
    RoleBinding,
)
from mlgov.server.kit.context import Caller
from mlgov.server.kit.ids import new_id
from mlgov.server.kit.pagination import PageRequest

KEY_PREFIX = "mlgov_"
ROOT_ORG_UNIT_NAME = "root"


# --- authentication --------------------------------------------------------------------------


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(
    session: Session,
    principal: Principal,
    description: str = "",
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; the returned token is the only time its secret exists outside the caller."""
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidRequest("expires_at must carry a timezone (use UTC, e.g. ...Z)")
        if expires_at <= utc_now():
            raise InvalidRequest("expires_at is in the past")
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id("key"),
        principal_id=principal.id,
        secret_hash=hash_secret(secret),
        description=description,
        expires_at=expires_at,
        created_at=utc_now(),
    )
    IdentityRepository(session).add(key)
    return key, f"{KEY_PREFIX}{key.id}.{secret}"


def authenticate(session: Session, authorization: str | None) -> Caller:
    if not authorization:
        raise Unauthenticated("no API key: send `Authorization: Bearer <key>`")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(KEY_PREFIX) or "." not in token:
        raise Unauthenticated("the Authorization header is not `Bearer mlgov_<key id>.<secret>`")
    key_id, _, secret = token[len(KEY_PREFIX) :].partition(".")
    key = cache.snapshot(session).key(session, key_id.strip())
    # Compare against a dummy hash when the key is unknown so timing does not reveal key ids.
    expected = key.secret_hash if key else hash_secret("")
    if not hmac.compare_digest(expected, hash_secret(secret.strip())) or key is None:
        raise Unauthenticated("the API key is not valid")
    if key.revoked_at is not None:
        raise Unauthenticated(f"API key {key.key_id} was revoked")
    if key.expires_at is not None and key.expires_at <= utc_now():
        raise Unauthenticated(f"API key {key.key_id} expired at {key.expires_at.isoformat()}")
    if key.principal_disabled:
        raise Unauthenticated(f"principal {key.principal_name} is disabled")
    return Caller(
        principal_id=key.principal_id,
        principal_name=key.principal_name,
        principal_type=key.principal_type,
        principal_account_id=key.principal_account_id,
        api_key_id=key.key_id,
    )


# --- authorization ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    role: str
    account_id: str | None
    org_unit_path: str | None


class Grants:
    """What one principal may do, from its role bindings; org-unit grants reach every descendant."""

    def __init__(self, rows: Sequence[cache.GrantRow]) -> None:
        self.grants = [Grant(role, account_id, path) for role, account_id, path in rows]

    @classmethod
    def of(cls, session: Session, principal_id: str) -> Grants:
        return cls(cache.snapshot(session).grant_rows(session, principal_id))

    def _granting(self, action: str) -> list[Grant]:
        return [grant for grant in self.grants if role_permits(grant.role, action)]

    def on_account(self, action: str, account_id: str, org_unit_path: str) -> bool:
        return any(
            grant.account_id == account_id
            or (grant.org_unit_path is not None and org_unit_path.startswith(grant.org_unit_path))
            for grant in self._granting(action)
        )

    def on_org_unit(self, action: str, org_unit_path: str) -> bool:
        return any(
            grant.org_unit_path is not None and org_unit_path.startswith(grant.org_unit_path)
            for grant in self._granting(action)
        )

    def roles_on_account(self, account_id: str, org_unit_path: str) -> set[str]:
        return {
            grant.role
            for grant in self.grants
            if grant.account_id == account_id
            or (grant.org_unit_path is not None and org_unit_path.startswith(grant.org_unit_path))
        }

    def anywhere(self, action: str) -> bool:
        return bool(self._granting(action))

    def reach(self, action: str) -> tuple[list[str], list[str]]:
        """The account ids and org-unit paths where ``action`` is granted."""
        granting = self._granting(action)
        accounts = [g.account_id for g in granting if g.account_id]
        paths = [g.org_unit_path for g in granting if g.org_unit_path]
        return accounts, paths


@dataclass(frozen=True)
class Visibility:
    """Which accounts a listing may show: all of them, or those named or under the paths."""

    everything: bool
    account_ids: list[str]
    org_unit_paths: list[str]

    def account_ids_in(self, session: Session) -> list[str] | None:
        if self.everything:
            return None
        under = IdentityRepository(session).account_ids_under(self.org_unit_paths)
        return sorted(set(self.account_ids) | set(under))


def visibility(session: Session, caller: Caller, action: str) -> Visibility:
    accounts, paths = Grants.of(session, caller.principal_id).reach(action)
    return Visibility(root_path(session) in paths, accounts, paths)


def may(session: Session, caller: Caller, action: str, account_id: str) -> bool:
    """Whether the caller holds ``action`` on a second account a service touches (promotion)."""
    place = cache.snapshot(session).account(session, account_id)
    return place is not None and Grants.of(session, caller.principal_id).on_account(
        action, place.id, place.org_unit_path
    )


def roles_on_account(session: Session, caller: Caller, account_id: str) -> set[str]:
    place = cache.snapshot(session).account(session, account_id)
    if place is None:
        return set()
    return Grants.of(session, caller.principal_id).roles_on_account(place.id, place.org_unit_path)


def require_organization(session: Session) -> Organization:
    org = IdentityRepository(session).organization()
    if org is None:
        raise Conflict(
            "the organization is not initialized: run `mlgov init`",
            code=ErrorCode.ORGANIZATION_NOT_INITIALIZED,
        )
    return org


def root_path(session: Session) -> str:
    kept = cache.database(session)
    if kept.root_path is None:
        kept.root_path = f"/{require_organization(session).root_org_unit_id}/"
    return kept.root_path


def deny(caller: Caller, action: str, where: str) -> AccessDenied:
    return AccessDenied(
        f"{caller.principal_name} is not allowed to perform {action} on {where}",
        details={"action": action, "principal": caller.principal_name},
    )


# --- bootstrap ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bootstrap:
    organization: Organization
    admin: Principal
    created: bool
    token: str | None


def bootstrap(session: Session, organization_name: str, admin_name: str = "admin") -> Bootstrap:
    """Create the organization, its root org unit and an OrgAdmin with a first key, once."""
    repo = IdentityRepository(session)
    existing = repo.organization()
    if existing is not None:
        admin = repo.principal(admin_name)
        if admin is None:
            raise Conflict(f"organization {existing.name} exists but has no principal {admin_name}")
        return Bootstrap(existing, admin, created=False, token=None)
    root = OrgUnit(id=new_id("ou"), name=ROOT_ORG_UNIT_NAME, parent_id=None, description="")
    root.path = f"/{root.id}/"
    repo.add(root)
    org = Organization(id=new_id("org"), name=organization_name, root_org_unit_id=root.id)
    repo.add(org)
    admin = Principal(
        id=new_id("prn"), name=admin_name, type=schemas.PrincipalType.USER.value, account_id=None
    )
    repo.add(admin)
    repo.add(
        RoleBinding(id=new_id("rb"), principal_id=admin.id, role="OrgAdmin", org_unit_id=root.id)
    )
    _key, token = issue_key(session, admin, description="bootstrap key from mlgov init")
    return Bootstrap(org, admin, created=True, token=token)


# --- org units --------------------------------------------------------------------------------


def get_org_unit(session: Session, ref: str) -> OrgUnit:
    org_unit = IdentityRepository(session).org_unit(ref)
    if org_unit is None:
        raise NotFound(f"org unit {ref} does not exist", code=ErrorCode.ORG_UNIT_NOT_FOUND)
    return org_unit


def create_org_unit(session: Session, data: schemas.OrgUnitCreate) -> OrgUnit:
    org = require_organization(session)
    repo = IdentityRepository(session)
    parent = get_org_unit(session, data.parent or org.root_org_unit_id)
    if repo.org_unit(data.name) is not None:
        raise Conflict(f"an org unit named {data.name} exists", code=ErrorCode.ALREADY_EXISTS)
    org_unit = OrgUnit(
        id=new_id("ou"), name=data.name, parent_id=parent.id, description=data.description
    )
    org_unit.path = f"{parent.path}{org_unit.id}/"
    repo.add(org_unit)
    return org_unit


def update_org_unit(session: Session, org_unit: OrgUnit, data: schemas.OrgUnitUpdate) -> OrgUnit:
    repo = IdentityRepository(session)
    if data.name is not None and data.name != org_unit.name:
        if org_unit.parent_id is None:
            raise InvalidRequest("the root org unit cannot be renamed")
        if repo.org_unit(data.name) is not None:
            raise Conflict(f"an org unit named {data.name} exists", code=ErrorCode.ALREADY_EXISTS)
        org_unit.name = data.name
    if data.description is not None:
        org_unit.description = data.description
    session.flush()
    return org_unit


def delete_org_unit(session: Session, org_unit: OrgUnit) -> None:
    if org_unit.parent_id is None:
        raise InvalidRequest("the root org unit cannot be deleted")
    repo = IdentityRepository(session)
    if repo.child_count(org_unit.id):
        raise Conflict(
            f"org unit {org_unit.name} still holds org units or accounts; empty it first",
            code=ErrorCode.ORG_UNIT_NOT_EMPTY,
        )
    repo.delete(org_unit)


def list_org_units(
    session: Session, caller: Caller, action: str, page: PageRequest
) -> Sequence[OrgUnit]:
    seen = visibility(session, caller, action)
    return IdentityRepository(session).org_units(
        page, None if seen.everything else seen.org_unit_paths
    )


# --- accounts ---------------------------------------------------------------------------------


def find_account(session: Session, ref: str) -> Account | None:
    return IdentityRepository(session).account(ref)


def get_account(session: Session, ref: str) -> Account:
    # Authorization has usually loaded it already; the identity map then answers without a query.
    account = session.get(Account, ref) or IdentityRepository(session).account(ref)
    if account is None:
        raise NotFound(f"account {ref} does not exist", code=ErrorCode.ACCOUNT_NOT_FOUND)
    return account


def create_account(session: Session, data: schemas.AccountCreate) -> Account:
    org = require_organization(session)
    repo = IdentityRepository(session)
    org_unit = get_org_unit(session, data.org_unit or org.root_org_unit_id)
    if repo.account(data.name) is not None:
        raise Conflict(f"an account named {data.name} exists", code=ErrorCode.ALREADY_EXISTS)
    account = Account(
        id=new_id("acct"),
        name=data.name,
        environment=data.environment.value,
        org_unit_id=org_unit.id,
        labels=dict(data.labels),
        description=data.description,
    )
    repo.add(account)
    return account


def update_account(session: Session, account: Account, data: schemas.AccountUpdate) -> Account:
    if data.labels is not None:
        account.labels = dict(data.labels)
    if data.description is not None:
        account.description = data.description
    if data.org_unit is not None:
        account.org_unit_id = get_org_unit(session, data.org_unit).id
    session.flush()
    return account


def list_accounts(
    session: Session,
    caller: Caller,
    action: str,
    page: PageRequest,
    environment: str | None = None,
    org_unit: str | None = None,
) -> Sequence[Account]:
    seen = visibility(session, caller, action)
    org_unit_id = get_org_unit(session, org_unit).id if org_unit else None
    return IdentityRepository(session).accounts(
        page,
        visible_ids=None if seen.everything else seen.account_ids,
        under_paths=None if seen.everything else seen.org_unit_paths,
        environment=environment,
        org_unit_id=org_unit_id,
    )


# --- principals and keys ----------------------------------------------------------------------


def get_principal(session: Session, ref: str) -> Principal:
    principal = IdentityRepository(session).principal(ref)
    if principal is None:
        raise NotFound(f"principal {ref} does not exist", code=ErrorCode.PRINCIPAL_NOT_FOUND)
    return principal


def create_principal(session: Session, data: schemas.PrincipalCreate) -> Principal:
    require_organization(session)
    repo = IdentityRepository(session)
    if repo.principal(data.name) is not None:
        raise Conflict(f"a principal named {data.name} exists", code=ErrorCode.ALREADY_EXISTS)
    account_id = get_account(session, data.account).id if data.account else None
    principal = Principal(
        id=new_id("prn"),
        name=data.name,
        type=data.type.value,
        account_id=account_id,
        email=data.email,
        description=data.description,
    )
    repo.add(principal)
    return principal


def update_principal(
    session: Session, principal: Principal, data: schemas.PrincipalUpdate
) -> Principal:
    for field in ("disabled", "email", "description"):
        value = getattr(data, field)
        if value is not None:
            setattr(principal, field, value)
    session.flush()
    return principal


def list_principals(
    session: Session, page: PageRequest, account: str | None
) -> Sequence[Principal]:
    account_id = get_account(session, account).id if account else None
    return IdentityRepository(session).principals(page, account_id)


def key_status(key: ApiKey) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= utc_now():
        return "expired"
    return "active"


def revoke_key(session: Session, principal: Principal, key_id: str) -> ApiKey:
    key = IdentityRepository(session).api_key(key_id)
    if key is None or key.principal_id != principal.id:
        raise NotFound(
            f"principal {principal.name} has no API key {key_id}", code=ErrorCode.API_KEY_NOT_FOUND
        )
    if key.revoked_at is None:
        key.revoked_at = utc_now()
        session.flush()
    return key


# --- role bindings ----------------------------------------------------------------------------


def create_binding(
    session: Session,
    data: schemas.RoleBindingCreate,
    *,
    account: Account | None = None,
    org_unit: OrgUnit | None = None,
) -> RoleBinding:
    if data.role not in ROLES:
        raise NotFound(
            f"role {data.role} does not exist; roles: {', '.join(ROLES)}",
            code=ErrorCode.ROLE_NOT_FOUND,
        )
    principal = get_principal(session, data.principal)
    repo = IdentityRepository(session)
    account_id = account.id if account else None
    org_unit_id = org_unit.id if org_unit else None
    if repo.find_binding(principal.id, data.role, account_id, org_unit_id) is not None:
        raise Conflict(
            f"{principal.name} already has {data.role} there", code=ErrorCode.ALREADY_EXISTS
        )
    binding = RoleBinding(
        id=new_id("rb"),
        principal_id=principal.id,
        role=data.role,
        account_id=account_id,
        org_unit_id=org_unit_id,
    )
    repo.add(binding)
    return binding


def delete_binding(
    session: Session,
    binding_id: str,
    *,
    account: Account | None = None,
    org_unit: OrgUnit | None = None,
) -> None:
    repo = IdentityRepository(session)
    binding = repo.binding(binding_id)
    in_scope = binding is not None and (
        (account is not None and binding.account_id == account.id)
        or (org_unit is not None and binding.org_unit_id == org_unit.id)
    )
    if binding is None or not in_scope:
        raise NotFound(
            f"role binding {binding_id} does not exist here", code=ErrorCode.ROLE_BINDING_NOT_FOUND
        )
    repo.delete(binding)


def list_keys(session: Session, principal: Principal, page: PageRequest) -> Sequence[ApiKey]:
    return IdentityRepository(session).api_keys(principal.id, page)


def list_bindings(
    session: Session,
    page: PageRequest,
    *,
    account: Account | None = None,
    org_unit: OrgUnit | None = None,
    principal: Principal | None = None,
) -> Sequence[RoleBinding]:
    return IdentityRepository(session).bindings_on(
        page,
        account_id=account.id if account else None,
        org_unit_id=org_unit.id if org_unit else None,
        principal_id=principal.id if principal else None,
    )
