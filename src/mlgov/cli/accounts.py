"""``mlgov accounts``: the isolation units, one team x environment each."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import Column, Format, OutputOption, render_list, render_object
from mlgov.cli._params import parse_labels

app = typer.Typer(no_args_is_help=True, help="Accounts: one team x environment; owns resources.")

ENVIRONMENTS = "dev, test, staging, prod, shared, observability or audit"
Ref = Annotated[str, typer.Argument(metavar="ACCOUNT", help="Account id or name.")]
Labels = Annotated[
    list[str] | None,
    typer.Option("--label", metavar="KEY=VALUE", help="A label; repeat for more."),
]
COLUMNS = [
    Column("ID", "id"),
    Column("NAME", "name"),
    Column("ENVIRONMENT", "environment"),
    Column("ORG UNIT", "org_unit_id"),
    Column("LABELS", "labels"),
]


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Unique name: lower-case letters, digits, -")],
    environment: Annotated[str, typer.Option(help=f"One of {ENVIRONMENTS}.")],
    org_unit: Annotated[
        str | None, typer.Option(help="Org unit id or name; the root when absent.")
    ] = None,
    label: Labels = None,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    output: OutputOption = Format.TABLE,
) -> None:
    """Create an account."""
    labels = parse_labels(label)
    with connect() as client:
        account = client.identity.create_account(
            name, environment, org_unit=org_unit, labels=labels, description=description
        )
    render_object(account, output)


@app.command("list")
def list_(
    environment: Annotated[str | None, typer.Option(help=f"Only {ENVIRONMENTS}.")] = None,
    org_unit: Annotated[
        str | None, typer.Option(help="Only accounts directly in this org unit.")
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """List the accounts you can see."""
    with connect() as client:
        render_list(client.identity.list_accounts(environment, org_unit), COLUMNS, output)


@app.command("get")
def get(account: Ref, output: OutputOption = Format.TABLE) -> None:
    """Show one account."""
    with connect() as client:
        render_object(client.identity.get_account(account), output)


@app.command("update")
def update(
    account: Ref,
    label: Labels = None,
    remove_label: Annotated[
        list[str] | None, typer.Option(metavar="KEY", help="Drop this label; repeat for more.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    org_unit: Annotated[str | None, typer.Option(help="Move the account to this org unit.")] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Change labels (merged into the current ones), the description, or the org unit."""
    added = parse_labels(label)
    changes: dict[str, Any] = {}
    if description is not None:
        changes["description"] = description
    if org_unit is not None:
        changes["org_unit"] = org_unit
    if not changes and not added and not remove_label:
        raise typer.BadParameter(
            "nothing to change: give --label, --remove-label, --description or --org-unit"
        )
    with connect() as client:
        if added or remove_label:
            # The API replaces the whole label map; merging here lets one label change alone.
            labels = dict(client.identity.get_account(account)["labels"])
            labels.update(added)
            for key in remove_label or []:
                labels.pop(key, None)
            changes["labels"] = labels
        render_object(client.identity.update_account(account, **changes), output)
