"""Tenancy and identity: org units, accounts, principals, API keys, roles and bindings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from mlgov.sdk._http import Json, Transport


class IdentityApi:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def whoami(self) -> Json:
        result: Json = self._t.request("GET", "/caller-identity")
        return result

    def organization(self) -> Json:
        result: Json = self._t.request("GET", "/organization")
        return result

    # org units
    def create_org_unit(
        self,
        name: str,
        parent: str | None = None,
        description: str = "",
        idempotency_key: str | None = None,
    ) -> Json:
        body = {"name": name, "parent": parent, "description": description}
        result: Json = self._t.request(
            "POST", "/org-units", json=body, idempotency_key=idempotency_key
        )
        return result

    def list_org_units(self) -> Iterator[Json]:
        return self._t.paginate("/org-units")

    def get_org_unit(self, ref: str) -> Json:
        result: Json = self._t.request("GET", f"/org-units/{ref}")
        return result

    def update_org_unit(self, ref: str, **changes: Any) -> Json:
        result: Json = self._t.request("PATCH", f"/org-units/{ref}", json=changes)
        return result

    def delete_org_unit(self, ref: str) -> None:
        self._t.request("DELETE", f"/org-units/{ref}")

    # accounts
    def create_account(
        self,
        name: str,
        environment: str,
        org_unit: str | None = None,
        labels: dict[str, str] | None = None,
        description: str = "",
        idempotency_key: str | None = None,
    ) -> Json:
        body = {
            "name": name,
            "environment": environment,
            "org_unit": org_unit,
            "labels": labels or {},
            "description": description,
        }
        result: Json = self._t.request(
            "POST", "/accounts", json=body, idempotency_key=idempotency_key
        )
        return result

    def list_accounts(
        self, environment: str | None = None, org_unit: str | None = None
    ) -> Iterator[Json]:
        return self._t.paginate("/accounts", {"environment": environment, "org_unit": org_unit})

    def get_account(self, ref: str) -> Json:
        result: Json = self._t.request("GET", f"/accounts/{ref}")
        return result

    def update_account(self, ref: str, **changes: Any) -> Json:
        result: Json = self._t.request("PATCH", f"/accounts/{ref}", json=changes)
        return result

    # principals and keys
    def create_principal(
        self,
        name: str,
        type: str = "user",
        account: str | None = None,
        email: str | None = None,
        description: str = "",
    ) -> Json:
        body = {
            "name": name,
            "type": type,
            "account": account,
            "email": email,
            "description": description,
        }
        result: Json = self._t.request("POST", "/principals", json=body)
        return result

    def list_principals(self, account: str | None = None) -> Iterator[Json]:
        return self._t.paginate("/principals", {"account": account})

    def get_principal(self, ref: str = "me") -> Json:
        result: Json = self._t.request("GET", f"/principals/{ref}")
        return result

    def update_principal(self, ref: str, **changes: Any) -> Json:
        result: Json = self._t.request("PATCH", f"/principals/{ref}", json=changes)
        return result

    def create_key(
        self, principal: str = "me", description: str = "", expires_at: datetime | None = None
    ) -> Json:
        """Create an API key; the returned ``secret`` is shown this once."""
        body = {
            "description": description,
            "expires_at": expires_at.isoformat() if expires_at else None,
        }
        result: Json = self._t.request("POST", f"/principals/{principal}/keys", json=body)
        return result

    def list_keys(self, principal: str = "me") -> Iterator[Json]:
        return self._t.paginate(f"/principals/{principal}/keys")

    def revoke_key(self, key_id: str, principal: str = "me") -> None:
        self._t.request("DELETE", f"/principals/{principal}/keys/{key_id}")

    # roles and bindings
    def list_roles(self) -> list[Json]:
        result: list[Json] = self._t.request("GET", "/roles")
        return result

    def bind_role(
        self, principal: str, role: str, *, account: str | None = None, org_unit: str | None = None
    ) -> Json:
        result: Json = self._t.request(
            "POST",
            f"{_scope_path(account, org_unit)}/role-bindings",
            json={"principal": principal, "role": role},
        )
        return result

    def list_bindings(
        self,
        *,
        account: str | None = None,
        org_unit: str | None = None,
        principal: str | None = None,
    ) -> Iterator[Json]:
        if principal is not None:
            return self._t.paginate(f"/principals/{principal}/role-bindings")
        return self._t.paginate(f"{_scope_path(account, org_unit)}/role-bindings")

    def unbind_role(
        self, binding_id: str, *, account: str | None = None, org_unit: str | None = None
    ) -> None:
        self._t.request("DELETE", f"{_scope_path(account, org_unit)}/role-bindings/{binding_id}")


def _scope_path(account: str | None, org_unit: str | None) -> str:
    if (account is None) == (org_unit is None):
        raise ValueError("name exactly one of account= or org_unit=")
    return f"/accounts/{account}" if account is not None else f"/org-units/{org_unit}"
