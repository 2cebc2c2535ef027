"""Tenancy and identity routes: thin, each naming its action."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel

from mlgov.server.identity import schemas, service
from mlgov.server.identity.auth import api_router
from mlgov.server.identity.roles import ROLES
from mlgov.server.identity.tables import Account, ApiKey, Principal
from mlgov.server.kit.context import Scope, context_of
from mlgov.server.kit.pagination import Page, PageRequest, next_token, page_request

router = api_router(tags=["identity"])
PageParams = Annotated[PageRequest, Depends(page_request)]


def _page(rows: Sequence[object], page: PageRequest, model: type[BaseModel]) -> dict[str, object]:
    return {
        "items": [model.model_validate(row) for row in rows[: page.page_size]],
        "next_page_token": next_token(rows, page),
    }


def _key_out(key: ApiKey) -> dict[str, object]:
    fields = ("id", "principal_id", "description", "created_at", "expires_at", "revoked_at")
    return {**{f: getattr(key, f) for f in fields}, "status": service.key_status(key)}


@router.read("/organization", action="identity:DescribeOrganization", scope=Scope.AUTHENTICATED)
def describe_organization(request: Request) -> schemas.Organization:
    return schemas.Organization.model_validate(
        service.require_organization(context_of(request).session)
    )


@router.read("/caller-identity", action="identity:GetCallerIdentity", scope=Scope.AUTHENTICATED)
def get_caller_identity(request: Request) -> schemas.CallerIdentity:
    ctx = context_of(request)
    assert ctx.caller is not None
    org = service.require_organization(ctx.session)
    return schemas.CallerIdentity(
        principal_id=ctx.caller.principal_id,
        principal_name=ctx.caller.principal_name,
        principal_type=ctx.caller.principal_type,
        account_id=ctx.caller.principal_account_id,
        api_key_id=ctx.caller.api_key_id,
        organization_id=org.id,
    )


@router.read("/roles", action="identity:ListRoles", scope=Scope.AUTHENTICATED)
def list_roles() -> list[schemas.Role]:
    return [
        schemas.Role(name=r.name, description=r.description, allow=list(r.allow), deny=list(r.deny))
        for r in ROLES.values()
    ]


# --- org units ---


@router.create("/org-units", action="identity:CreateOrgUnit")
def create_org_unit(request: Request, body: schemas.OrgUnitCreate) -> schemas.OrgUnit:
    return schemas.OrgUnit.model_validate(
        service.create_org_unit(context_of(request).session, body)
    )


@router.read("/org-units", action="identity:ListOrgUnits", scope=Scope.ANY)
def list_org_units(request: Request, page: PageParams) -> Page[schemas.OrgUnit]:
    ctx = context_of(request)
    assert ctx.caller is not None
    rows = service.list_org_units(ctx.session, ctx.caller, ctx.action.name, page)
    return Page[schemas.OrgUnit].model_validate(_page(list(rows), page, schemas.OrgUnit))


@router.read("/org-units/{org_unit}", action="identity:DescribeOrgUnit")
def describe_org_unit(request: Request, org_unit: str) -> schemas.OrgUnit:
    return schemas.OrgUnit.model_validate(
        service.get_org_unit(context_of(request).session, org_unit)
    )


@router.patch("/org-units/{org_unit}", action="identity:UpdateOrgUnit")
def update_org_unit(
    request: Request, org_unit: str, body: schemas.OrgUnitUpdate
) -> schemas.OrgUnit:
    session = context_of(request).session
    return schemas.OrgUnit.model_validate(
        service.update_org_unit(session, service.get_org_unit(session, org_unit), body)
    )


@router.delete("/org-units/{org_unit}", action="identity:DeleteOrgUnit")
def delete_org_unit(request: Request, org_unit: str) -> Response:
    session = context_of(request).session
    service.delete_org_unit(session, service.get_org_unit(session, org_unit))
    return Response(status_code=204)


# --- accounts ---


@router.create("/accounts", action="identity:CreateAccount")
def create_account(request: Request, body: schemas.AccountCreate) -> schemas.Account:
    return schemas.Account.model_validate(service.create_account(context_of(request).session, body))


@router.read("/accounts", action="identity:ListAccounts", scope=Scope.ANY)
def list_accounts(
    request: Request,
    page: PageParams,
    environment: schemas.Environment | None = None,
    org_unit: Annotated[str | None, Query(max_length=128)] = None,
) -> Page[schemas.Account]:
    ctx = context_of(request)
    assert ctx.caller is not None
    rows = service.list_accounts(
        ctx.session,
        ctx.caller,
        ctx.action.name,
        page,
        environment.value if environment else None,
        org_unit,
    )
    return Page[schemas.Account].model_validate(_page(list(rows), page, schemas.Account))


@router.read("/accounts/{account}", action="identity:DescribeAccount")
def describe_account(request: Request, account: str) -> schemas.Account:
    return schemas.Account.model_validate(_account(request))


@router.patch("/accounts/{account}", action="identity:UpdateAccount")
def update_account(request: Request, account: str, body: schemas.AccountUpdate) -> schemas.Account:
    session = context_of(request).session
    return schemas.Account.model_validate(service.update_account(session, _account(request), body))


# --- principals and keys ---


@router.create("/principals", action="identity:CreatePrincipal")
def create_principal(request: Request, body: schemas.PrincipalCreate) -> schemas.Principal:
    return schemas.Principal.model_validate(
        service.create_principal(context_of(request).session, body)
    )


@router.read("/principals", action="identity:ListPrincipals")
def list_principals(
    request: Request, page: PageParams, account: Annotated[str | None, Query(max_length=128)] = None
) -> Page[schemas.Principal]:
    rows = service.list_principals(context_of(request).session, page, account)
    return Page[schemas.Principal].model_validate(_page(list(rows), page, schemas.Principal))


def _account(request: Request) -> Account:
    """The account of an account-scoped route, as authorization resolved it."""
    ctx = context_of(request)
    assert ctx.account_id is not None
    return service.get_account(ctx.session, ctx.account_id)


def _principal(request: Request, ref: str) -> Principal:
    ctx = context_of(request)
    assert ctx.caller is not None
    return service.get_principal(ctx.session, ctx.caller.principal_id if ref == "me" else ref)


@router.read("/principals/{principal}", action="identity:DescribePrincipal")
def describe_principal(request: Request, principal: str) -> schemas.Principal:
    return schemas.Principal.model_validate(_principal(request, principal))


@router.patch(
    "/principals/{principal}", action="identity:UpdatePrincipal", scope=Scope.ORGANIZATION
)
def update_principal(
    request: Request, principal: str, body: schemas.PrincipalUpdate
) -> schemas.Principal:
    session = context_of(request).session
    return schemas.Principal.model_validate(
        service.update_principal(session, service.get_principal(session, principal), body)
    )


@router.create("/principals/{principal}/keys", action="identity:CreateApiKey")
def create_api_key(
    request: Request, principal: str, body: schemas.ApiKeyCreate
) -> schemas.ApiKeyCreated:
    session = context_of(request).session
    key, token = service.issue_key(
        session, _principal(request, principal), body.description, body.expires_at
    )
    return schemas.ApiKeyCreated.model_validate({**_key_out(key), "secret": token})


@router.read("/principals/{principal}/keys", action="identity:ListApiKeys")
def list_api_keys(request: Request, principal: str, page: PageParams) -> Page[schemas.ApiKey]:
    rows = service.list_keys(context_of(request).session, _principal(request, principal), page)
    return Page[schemas.ApiKey].model_validate(
        {
            "items": [_key_out(row) for row in rows[: page.page_size]],
            "next_page_token": next_token(rows, page),
        }
    )


@router.delete("/principals/{principal}/keys/{key_id}", action="identity:RevokeApiKey")
def revoke_api_key(request: Request, principal: str, key_id: str) -> Response:
    service.revoke_key(context_of(request).session, _principal(request, principal), key_id)
    return Response(status_code=204)


@router.read(
    "/principals/{principal}/role-bindings",
    action="identity:ListRoleBindings",
    operation_id="ListPrincipalRoleBindings",
)
def list_principal_bindings(
    request: Request, principal: str, page: PageParams
) -> Page[schemas.RoleBinding]:
    rows = service.list_bindings(
        context_of(request).session, page, principal=_principal(request, principal)
    )
    return Page[schemas.RoleBinding].model_validate(_page(list(rows), page, schemas.RoleBinding))


# --- role bindings ---


@router.create(
    "/accounts/{account}/role-bindings",
    action="identity:CreateRoleBinding",
    operation_id="CreateAccountRoleBinding",
)
def create_account_binding(
    request: Request, account: str, body: schemas.RoleBindingCreate
) -> schemas.RoleBinding:
    session = context_of(request).session
    binding = service.create_binding(session, body, account=_account(request))
    return schemas.RoleBinding.model_validate(binding)


@router.read(
    "/accounts/{account}/role-bindings",
    action="identity:ListRoleBindings",
    operation_id="ListAccountRoleBindings",
)
def list_account_bindings(
    request: Request, account: str, page: PageParams
) -> Page[schemas.RoleBinding]:
    session = context_of(request).session
    rows = service.list_bindings(session, page, account=_account(request))
    return Page[schemas.RoleBinding].model_validate(_page(list(rows), page, schemas.RoleBinding))


@router.delete(
    "/accounts/{account}/role-bindings/{binding_id}",
    action="identity:DeleteRoleBinding",
    operation_id="DeleteAccountRoleBinding",
)
def delete_account_binding(request: Request, account: str, binding_id: str) -> Response:
    session = context_of(request).session
    service.delete_binding(session, binding_id, account=_account(request))
    return Response(status_code=204)


@router.create(
    "/org-units/{org_unit}/role-bindings",
    action="identity:CreateRoleBinding",
    operation_id="CreateOrgUnitRoleBinding",
)
def create_org_unit_binding(
    request: Request, org_unit: str, body: schemas.RoleBindingCreate
) -> schemas.RoleBinding:
    session = context_of(request).session
    binding = service.create_binding(
        session, body, org_unit=service.get_org_unit(session, org_unit)
    )
    return schemas.RoleBinding.model_validate(binding)


@router.read(
    "/org-units/{org_unit}/role-bindings",
    action="identity:ListRoleBindings",
    operation_id="ListOrgUnitRoleBindings",
)
def list_org_unit_bindings(
    request: Request, org_unit: str, page: PageParams
) -> Page[schemas.RoleBinding]:
    session = context_of(request).session
    rows = service.list_bindings(session, page, org_unit=service.get_org_unit(session, org_unit))
    return Page[schemas.RoleBinding].model_validate(_page(list(rows), page, schemas.RoleBinding))


@router.delete(
    "/org-units/{org_unit}/role-bindings/{binding_id}",
    action="identity:DeleteRoleBinding",
    operation_id="DeleteOrgUnitRoleBinding",
)
def delete_org_unit_binding(request: Request, org_unit: str, binding_id: str) -> Response:
    session = context_of(request).session
    service.delete_binding(session, binding_id, org_unit=service.get_org_unit(session, org_unit))
    return Response(status_code=204)
