"""``mlgov principals``: users and service principals, and who you are."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import Column, Format, OutputOption, render_list, render_object

app = typer.Typer(no_args_is_help=True, help="Principals: users and service principals.")

Ref = Annotated[str, typer.Argument(metavar="PRINCIPAL", help="Principal id or name.")]
COLUMNS = [
    Column("ID", "id"),
    Column("NAME", "name"),
    Column("TYPE", "type"),
    Column("ACCOUNT", "account_id"),
    Column("EMAIL", "email"),
    Column("DISABLED", "disabled"),
]


class PrincipalType(StrEnum):
    USER = "user"
    SERVICE = "service"


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Unique name: letters, digits, . _ -")],
    type_: Annotated[
        PrincipalType, typer.Option("--type", help="A person, or a service (CI, a pipeline).")
    ] = PrincipalType.USER,
    account: Annotated[
        str | None, typer.Option(help="Home account id or name (for service principals).")
    ] = None,
    email: Annotated[str | None, typer.Option(help="Contact address.")] = None,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    output: OutputOption = Format.TABLE,
) -> None:
    """Create a principal. It can do nothing until a role is bound (`mlgov roles bind`)."""
    with connect() as client:
        principal = client.identity.create_principal(
            name, type_.value, account=account, email=email, description=description
        )
    render_object(principal, output)


@app.command("list")
def list_(
    account: Annotated[
        str | None, typer.Option(help="Only principals homed in this account.")
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """List principals."""
    with connect() as client:
        render_list(client.identity.list_principals(account), COLUMNS, output)


@app.command("get")
def get(
    principal: Annotated[
        str, typer.Argument(metavar="PRINCIPAL", help="Principal id or name; `me` for yourself.")
    ] = "me",
    output: OutputOption = Format.TABLE,
) -> None:
    """Show one principal."""
    with connect() as client:
        render_object(client.identity.get_principal(principal), output)


@app.command("disable")
def disable(principal: Ref, output: OutputOption = Format.TABLE) -> None:
    """Disable a principal: every one of its keys stops working until it is enabled."""
    with connect() as client:
        render_object(client.identity.update_principal(principal, disabled=True), output)


@app.command("enable")
def enable(principal: Ref, output: OutputOption = Format.TABLE) -> None:
    """Enable a disabled principal."""
    with connect() as client:
        render_object(client.identity.update_principal(principal, disabled=False), output)


@app.command("whoami")
def whoami(output: OutputOption = Format.TABLE) -> None:
    """Show the principal and key this CLI is using."""
    with connect() as client:
        render_object(client.identity.whoami(), output)
