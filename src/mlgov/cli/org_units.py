"""``mlgov org-units``: the tree of folders that holds accounts."""

from __future__ import annotations

from typing import Annotated

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import Column, Format, Json, OutputOption, notice, render_list, render_object

app = typer.Typer(no_args_is_help=True, help="Org units: nested folders of accounts.")

Ref = Annotated[str, typer.Argument(metavar="ORG_UNIT", help="Org unit id or name.")]


def _name_path(index: dict[str, Json], org_unit: Json) -> str:
    """``/root/workloads/ml`` from the id path, for the units the caller can see."""
    ids = [part for part in str(org_unit.get("path", "")).split("/") if part]
    return "/" + "/".join(str(index[i]["name"]) if i in index else i for i in ids)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Unique name: letters, digits, . _ -")],
    parent: Annotated[
        str | None, typer.Option(help="Parent org unit id or name; the root when absent.")
    ] = None,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    output: OutputOption = Format.TABLE,
) -> None:
    """Create an org unit."""
    with connect() as client:
        render_object(client.identity.create_org_unit(name, parent, description), output)


@app.command("list")
def list_(output: OutputOption = Format.TABLE) -> None:
    """List the org units you can see."""
    with connect() as client:
        units = list(client.identity.list_org_units())
    index = {str(u["id"]): u for u in units}
    columns = [
        Column("ID", "id"),
        Column("NAME", "name"),
        Column("PATH", lambda u: _name_path(index, u)),
        Column("DESCRIPTION", "description"),
    ]
    render_list(units, columns, output)


@app.command("get")
def get(org_unit: Ref, output: OutputOption = Format.TABLE) -> None:
    """Show one org unit."""
    with connect() as client:
        render_object(client.identity.get_org_unit(org_unit), output)


@app.command("update")
def update(
    org_unit: Ref,
    name: Annotated[str | None, typer.Option(help="New name (not for the root).")] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Rename an org unit or change its description."""
    changes = {k: v for k, v in {"name": name, "description": description}.items() if v is not None}
    if not changes:
        raise typer.BadParameter("nothing to change: give --name and/or --description")
    with connect() as client:
        render_object(client.identity.update_org_unit(org_unit, **changes), output)


@app.command("delete")
def delete(org_unit: Ref) -> None:
    """Delete an empty org unit (no child units, no accounts)."""
    with connect() as client:
        client.identity.delete_org_unit(org_unit)
    notice(f"deleted org unit {org_unit}")
