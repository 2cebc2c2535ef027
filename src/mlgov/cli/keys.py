"""``mlgov keys``: API keys. A key's secret is printed once, when it is created."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import (
    Column,
    Format,
    OutputOption,
    notice,
    render_list,
    render_object,
)
from mlgov.cli._params import TIME_HELP, future_time

app = typer.Typer(no_args_is_help=True, help="API keys: create, list, revoke.")

Principal = Annotated[
    str, typer.Option(help="Whose keys: a principal id or name, or `me` (the caller).")
]
COLUMNS = [
    Column("ID", "id"),
    Column("PRINCIPAL", "principal_id"),
    Column("STATUS", "status"),
    Column("CREATED", "created_at"),
    Column("EXPIRES", "expires_at"),
    Column("DESCRIPTION", "description"),
]


@app.command("create")
def create(
    principal: Principal = "me",
    description: Annotated[str, typer.Option(help="What the key is for.")] = "",
    expires_at: Annotated[
        datetime | None,
        typer.Option(
            parser=future_time,
            metavar="TIME",
            help=f"Expiry ({TIME_HELP}, from now); never if absent.",
        ),
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Create a key and print its secret, once: it cannot be shown again."""
    with connect() as client:
        key = client.identity.create_key(principal, description, expires_at)
    if output is Format.JSON:
        render_object(key, output)
    else:
        render_object(key, output, hide=("secret",))
        print(key["secret"])
    notice("This is the only time the key's secret is shown; store it now (mlgov keeps a hash).")


@app.command("list")
def list_(principal: Principal = "me", output: OutputOption = Format.TABLE) -> None:
    """List a principal's keys (ids and status; secrets are never stored)."""
    with connect() as client:
        render_list(client.identity.list_keys(principal), COLUMNS, output)


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (`key_...`), not its secret.")],
    principal: Principal = "me",
) -> None:
    """Revoke a key: it stops working at once. Revoking twice is harmless."""
    with connect() as client:
        client.identity.revoke_key(key_id, principal)
    notice(f"revoked API key {key_id}")
