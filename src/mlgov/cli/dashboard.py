"""``mlgov dashboard``: every endpoint you may see, what it serves and how it is doing."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import Column, Format, OutputOption, render_list


def _versions(row: dict[str, Any]) -> str:
    return ", ".join(
        f"{v['group']}:{v['version']} {v['approval_status'] or 'gone'}"
        + (f" [{','.join(v['aliases'])}]" if v["aliases"] else "")
        + (f" {v['weight']:g}w" if len(row["versions"]) > 1 else "")
        for v in row["versions"]
    )


def _monitors(row: dict[str, Any]) -> str:
    return (
        ", ".join(
            f"{m['name']}: {m['last_execution_status'] or 'never run'}" for m in row["monitors"]
        )
        or "-"
    )


def _alarms(row: dict[str, Any]) -> str:
    return ", ".join(f"{a['name']}: {a['state']}" for a in row["alarms"]) or "-"


COLUMNS = [
    Column("ACCOUNT", "account"),
    Column("ENV", "environment"),
    Column("ENDPOINT", "endpoint"),
    Column("SERVES", _versions),
    Column("CAPTURE", lambda r: "on" if r["capture"] else "off"),
    Column("MONITORS", _monitors),
    Column("VIOLATIONS", "open_violations"),
    Column("ALARMS", _alarms),
]


def dashboard(
    account: Annotated[
        str | None,
        typer.Option("--account", "-a", help="Only this account (default: all you may see)."),
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Every endpoint you may see: served versions and approvals, monitors, violations, alarms."""
    with connect() as client:
        render_list(client.dashboard.get(account), COLUMNS, output)
