"""``mlgov cards``: model cards, one per version, revised on every edit."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import Column, Format, OutputOption, notice, render_list, render_object
from mlgov.cli._params import Account
from mlgov.cli._registry import Group, Version, read_json

app = typer.Typer(no_args_is_help=True, help="Model cards in the SageMaker card sections.")

REVISION_COLUMNS = [
    Column("REVISION", "revision"),
    Column("STATUS", "status"),
    Column("RISK", "risk_rating"),
    Column("BY", "created_by"),
    Column("TIME", "created_at"),
]


class ExportFormat(StrEnum):
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


@app.command("write")
def write(
    group: Group,
    version: Version,
    account: Account,
    content: Annotated[
        str,
        typer.Option(
            metavar="JSON|@FILE",
            help="Sections: model_overview, intended_uses, business_details, training_details, "
            "evaluation_details, additional_information.",
        ),
    ],
    risk_rating: Annotated[str | None, typer.Option(help="High, Medium, Low or Unknown.")] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Write the card's content as a new revision (training details filled from the registry)."""
    body = read_json(content, "--content")
    if not isinstance(body, dict):
        raise typer.BadParameter("the card content must be a JSON object", param_hint="--content")
    with connect() as client:
        render_object(
            client.registry.write_card(account, group, version, body, risk_rating), output
        )


@app.command("import")
def import_(
    group: Group,
    version: Version,
    account: Account,
    path: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="A SageMaker DescribeModelCard JSON."),
    ],
    output: OutputOption = Format.TABLE,
) -> None:
    """Import a SageMaker model card as the version's next revision."""
    card = read_json(f"@{path}", str(path))
    if not isinstance(card, dict):
        raise typer.BadParameter("a SageMaker model card is a JSON object", param_hint="PATH")
    with connect() as client:
        render_object(client.registry.import_card(account, group, version, card), output)


@app.command("status")
def status(
    group: Group,
    version: Version,
    status: Annotated[str, typer.Argument(help="Draft, PendingReview, Approved or Archived.")],
    account: Account,
    output: OutputOption = Format.TABLE,
) -> None:
    """Move the card through its review states."""
    with connect() as client:
        render_object(client.registry.set_card_status(account, group, version, status), output)


@app.command("get")
def get(
    group: Group, version: Version, account: Account, output: OutputOption = Format.TABLE
) -> None:
    """Show the card's current revision."""
    with connect() as client:
        render_object(client.registry.card(account, group, version), output)


@app.command("revisions")
def revisions(
    group: Group, version: Version, account: Account, output: OutputOption = Format.TABLE
) -> None:
    """Every revision of the card, oldest first."""
    with connect() as client:
        render_list(
            client.registry.card_revisions(account, group, version), REVISION_COLUMNS, output
        )


@app.command("export")
def export(
    group: Group,
    version: Version,
    account: Account,
    format: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.MARKDOWN,
    to: Annotated[Path | None, typer.Option("--to", dir_okay=False, help="File to write.")] = None,
) -> None:
    """Export the card as Markdown, HTML or JSON (stdout unless --to)."""
    with connect() as client:
        text = client.registry.export_card(account, group, version, format.value)
    if to is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    to.write_text(text, encoding="utf-8")
    notice(f"wrote the card as {format.value} to {to}")
