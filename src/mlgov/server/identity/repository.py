"""Every identity query."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session

from mlgov.server.identity.tables import (
    Account,
    ApiKey,
    Organization,
    OrgUnit,
    Principal,
    RoleBinding,
)
from mlgov.server.kit.pagination import PageRequest


class IdentityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    def delete(self, row: object) -> None:
        self.session.delete(row)
        self.session.flush()

    def organization(self) -> Organization | None:
        return self.session.execute(select(Organization)).scalar_one_or_none()

    def org_unit(self, ref: str) -> OrgUnit | None:
        return self.session.execute(
            select(OrgUnit).where(or_(OrgUnit.id == ref, OrgUnit.name == ref))
        ).scalar_one_or_none()

    def org_units(self, page: PageRequest, under_paths: Sequence[str] | None) -> Sequence[OrgUnit]:
        query = select(OrgUnit).order_by(OrgUnit.id).limit(page.page_size + 1)
        if page.after:
            query = query.where(OrgUnit.id > page.after)
        if under_paths is not None:
            query = query.where(or_(false(), *[OrgUnit.path.startswith(p) for p in under_paths]))
        return self.session.execute(query).scalars().all()

    def child_count(self, org_unit_id: str) -> int:
        children = self.session.execute(
            select(OrgUnit.id).where(OrgUnit.parent_id == org_unit_id).limit(1)
        ).first()
        accounts = self.session.execute(
            select(Account.id).where(Account.org_unit_id == org_unit_id).limit(1)
        ).first()
        return int(children is not None) + int(accounts is not None)

    def account(self, ref: str) -> Account | None:
        return self.session.execute(
            select(Account).where(or_(Account.id == ref, Account.name == ref))
        ).scalar_one_or_none()

    def account_with_path(self, ref: str) -> tuple[Account, str] | None:
        """The account by id or name, with its org unit's path, in one query."""
        row = self.session.execute(
            select(Account, OrgUnit.path)
            .join(OrgUnit, Account.org_unit_id == OrgUnit.id)
            .where(or_(Account.id == ref, Account.name == ref))
        ).first()
        return (row[0], row[1]) if row else None

    def accounts(
        self,
        page: PageRequest,
        *,
        visible_ids: Sequence[str] | None,
        under_paths: Sequence[str] | None,
        environment: str | None = None,
        org_unit_id: str | None = None,
    ) -> Sequence[Account]:
        query = select(Account).order_by(Account.id).limit(page.page_size + 1)
        if page.after:
            query = query.where(Account.id > page.after)
        if environment:
            query = query.where(Account.environment == environment)
        if org_unit_id:
            query = query.where(Account.org_unit_id == org_unit_id)
        if visible_ids is not None or under_paths is not None:
            conditions = []
            if visible_ids:
                conditions.append(Account.id.in_(visible_ids))
            if under_paths:
                ou_ids = select(OrgUnit.id).where(
                    or_(*[OrgUnit.path.startswith(path) for path in under_paths])
                )
                conditions.append(Account.org_unit_id.in_(ou_ids))
            query = query.where(or_(false(), *conditions))
        return self.session.execute(query).scalars().all()

    def account_ids_under(self, paths: Sequence[str]) -> list[str]:
        if not paths:
            return []
        ou_ids = select(OrgUnit.id).where(or_(*[OrgUnit.path.startswith(p) for p in paths]))
        return list(
            self.session.execute(
                select(Account.id).where(Account.org_unit_id.in_(ou_ids))
            ).scalars()
        )

    def principal(self, ref: str) -> Principal | None:
        return self.session.execute(
            select(Principal).where(or_(Principal.id == ref, Principal.name == ref))
        ).scalar_one_or_none()

    def principals(self, page: PageRequest, account_id: str | None = None) -> Sequence[Principal]:
        query = select(Principal).order_by(Principal.id).limit(page.page_size + 1)
        if page.after:
            query = query.where(Principal.id > page.after)
        if account_id:
            query = query.where(Principal.account_id == account_id)
        return self.session.execute(query).scalars().all()

    def api_key(self, key_id: str) -> ApiKey | None:
        return self.session.get(ApiKey, key_id)

    def api_key_with_principal(self, key_id: str) -> tuple[ApiKey, Principal] | None:
        row = self.session.execute(
            select(ApiKey, Principal)
            .join(Principal, Principal.id == ApiKey.principal_id)
            .where(ApiKey.id == key_id)
        ).first()
        return (row[0], row[1]) if row else None

    def api_keys(self, principal_id: str, page: PageRequest) -> Sequence[ApiKey]:
        query = (
            select(ApiKey)
            .where(ApiKey.principal_id == principal_id)
            .order_by(ApiKey.id)
            .limit(page.page_size + 1)
        )
        if page.after:
            query = query.where(ApiKey.id > page.after)
        return self.session.execute(query).scalars().all()

    def grants_of(self, principal_id: str) -> list[tuple[str, str | None, str | None]]:
        """(role, account id, org unit path) for each binding of the principal, in one query."""
        rows = self.session.execute(
            select(RoleBinding.role, RoleBinding.account_id, OrgUnit.path)
            .outerjoin(OrgUnit, RoleBinding.org_unit_id == OrgUnit.id)
            .where(RoleBinding.principal_id == principal_id)
        )
        return [(row[0], row[1], row[2]) for row in rows]

    def binding(self, binding_id: str) -> RoleBinding | None:
        return self.session.get(RoleBinding, binding_id)

    def find_binding(
        self, principal_id: str, role: str, account_id: str | None, org_unit_id: str | None
    ) -> RoleBinding | None:
        return self.session.execute(
            select(RoleBinding).where(
                RoleBinding.principal_id == principal_id,
                RoleBinding.role == role,
                RoleBinding.account_id.is_(None)
                if account_id is None
                else RoleBinding.account_id == account_id,
                RoleBinding.org_unit_id.is_(None)
                if org_unit_id is None
                else RoleBinding.org_unit_id == org_unit_id,
            )
        ).scalar_one_or_none()

    def bindings_on(
        self,
        page: PageRequest,
        *,
        account_id: str | None = None,
        org_unit_id: str | None = None,
        principal_id: str | None = None,
    ) -> Sequence[RoleBinding]:
        query = select(RoleBinding).order_by(RoleBinding.id).limit(page.page_size + 1)
        if page.after:
            query = query.where(RoleBinding.id > page.after)
        if account_id:
            query = query.where(RoleBinding.account_id == account_id)
        if org_unit_id:
            query = query.where(RoleBinding.org_unit_id == org_unit_id)
        if principal_id:
            query = query.where(RoleBinding.principal_id == principal_id)
        return self.session.execute(query).scalars().all()
