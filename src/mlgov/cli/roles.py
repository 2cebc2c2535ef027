"""``mlgov roles``: the built-in roles and who holds them where."""

from __future__ import annotations

from typing import Annotated

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import Column, Format, OutputOption, notice, render_list, render_object
from mlgov.cli._params import exactly_one, scope_kwargs

app = typer.Typer(
    no_args_is_help=True,
    help="Roles and role bindings (principal x account or org unit x role).",
)

Account = Annotated[str | None, typer.Option(help="Account id or name.")]
OrgUnit = Annotated[
    str | None, typer.Option(help="Org unit id or name (covers every account below it).")
]
BINDING_COLUMNS = [
    Column("ID", "id"),
    Column("PRINCIPAL", "principal_id"),
    Column("ROLE", "role"),
    Column("ACCOUNT", "account_id"),
    Column("ORG UNIT", "org_unit_id"),
    Column("CREATED", "created_at"),
]
ROLE_COLUMNS = [
    Column("NAME", "name"),
    Column("DESCRIPTION", "description"),
    Column("ALLOW", "allow"),
    Column("DENY", "deny"),
]


@app.command("list")
def list_(output: OutputOption = Format.TABLE) -> None:
    """List the built-in roles and the actions each allows and denies."""
    with connect() as client:
        render_list(client.identity.list_roles(), ROLE_COLUMNS, output)


@app.command("bind")
def bind(
    principal: Annotated[str, typer.Argument(help="Principal id or name.")],
    role: Annotated[
        str, typer.Argument(help="Role name, e.g. DataScientist (`mlgov roles list`).")
    ],
    account: Account = None,
    org_unit: OrgUnit = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Grant ROLE to PRINCIPAL on one account or org unit (--account or --org-unit)."""
    scope = scope_kwargs(account, org_unit)
    with connect() as client:
        render_object(client.identity.bind_role(principal, role, **scope), output)


@app.command("bindings")
def bindings(
    account: Account = None,
    org_unit: OrgUnit = None,
    principal: Annotated[str | None, typer.Option(help="Principal id or name, or `me`.")] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """List the bindings on an account or org unit, or those of a principal."""
    name, value = exactly_one(account=account, org_unit=org_unit, principal=principal)
    with connect() as client:
        render_list(client.identity.list_bindings(**{name: value}), BINDING_COLUMNS, output)


@app.command("unbind")
def unbind(
    binding_id: Annotated[str, typer.Argument(help="The binding's id (`rb_...`).")],
    account: Account = None,
    org_unit: OrgUnit = None,
) -> None:
    """Remove a binding from the account or org unit it is on."""
    scope = scope_kwargs(account, org_unit)
    with connect() as client:
        client.identity.unbind_role(binding_id, **scope)
    notice(f"removed role binding {binding_id}")
