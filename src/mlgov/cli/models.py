"""``mlgov models``: model groups, their aliases, cross-account grants and registry settings."""

from __future__ import annotations

from typing import Annotated

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import Column, Format, OutputOption, notice, render_list, render_object
from mlgov.cli._params import Account, parse_labels
from mlgov.cli._registry import Group, read_json

app = typer.Typer(no_args_is_help=True, help="Model groups, aliases, grants, registry settings.")
aliases_app = typer.Typer(no_args_is_help=True, help="Named pointers to versions (champion, ...).")
grants_app = typer.Typer(no_args_is_help=True, help="Which other accounts may read or publish.")
settings_app = typer.Typer(no_args_is_help=True, help="Four-eyes, protected aliases, gates.")
app.add_typer(aliases_app, name="aliases")
app.add_typer(grants_app, name="grants")
app.add_typer(settings_app, name="settings")

Tags = Annotated[
    list[str] | None, typer.Option("--tag", metavar="KEY=VALUE", help="A tag; repeat for more.")
]
GROUP_COLUMNS = [
    Column("NAME", "name"),
    Column("LATEST", "latest_version"),
    Column("DESCRIPTION", "description"),
    Column("TAGS", "tags"),
    Column("CREATED", "created_at"),
]


@app.command("create")
def create(
    name: Group,
    account: Account,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    tag: Tags = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Create a model group."""
    with connect() as client:
        group = client.registry.create_group(account, name, description, parse_labels(tag, "--tag"))
    render_object(group, output)


@app.command("list")
def list_(
    account: Account,
    shared: Annotated[
        bool, typer.Option("--shared", help="Groups other accounts share with this one.")
    ] = False,
    output: OutputOption = Format.TABLE,
) -> None:
    """List the account's model groups (or those shared with it)."""
    with connect() as client:
        if shared:
            rows = [
                {**item["group"], "permissions": item["permissions"]}
                for item in client.registry.shared_groups(account)
            ]
            columns = [
                Column("ACCOUNT", "account_id"),
                *GROUP_COLUMNS[:2],
                Column("PERMISSIONS", "permissions"),
            ]
            render_list(rows, columns, output)
            return
        render_list(client.registry.list_groups(account), GROUP_COLUMNS, output)


@app.command("get")
def get(name: Group, account: Account, output: OutputOption = Format.TABLE) -> None:
    """Show one model group."""
    with connect() as client:
        render_object(client.registry.get_group(account, name), output)


@app.command("update")
def update(
    name: Group,
    account: Account,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", metavar="KEY=VALUE", help="Replace the tags; repeat for more."),
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Change a group's description or tags."""
    changes: dict[str, object] = {}
    if description is not None:
        changes["description"] = description
    if tag is not None:
        changes["tags"] = parse_labels(tag, "--tag")
    if not changes:
        raise typer.BadParameter("nothing to change: give --description or --tag")
    with connect() as client:
        render_object(client.registry.update_group(account, name, **changes), output)


# --- aliases -------------------------------------------------------------------------------------

ALIAS_COLUMNS = [
    Column("ALIAS", "name"),
    Column("VERSION", "version"),
    Column("UPDATED BY", "updated_by"),
    Column("UPDATED", "updated_at"),
]


@aliases_app.command("list")
def aliases_list(group: Group, account: Account, output: OutputOption = Format.TABLE) -> None:
    """List a group's aliases."""
    with connect() as client:
        render_list(client.registry.aliases(account, group), ALIAS_COLUMNS, output)


@aliases_app.command("set")
def aliases_set(
    group: Group,
    alias: Annotated[str, typer.Argument(help="Alias name, e.g. champion.")],
    version: Annotated[int, typer.Argument(min=1, help="Version the alias points at.")],
    account: Account,
    output: OutputOption = Format.TABLE,
) -> None:
    """Point an alias at a version (creating or moving it); an audited action of its own."""
    with connect() as client:
        render_object(client.registry.set_alias(account, group, alias, version), output)


@aliases_app.command("delete")
def aliases_delete(
    group: Group,
    alias: Annotated[str, typer.Argument(help="Alias name.")],
    account: Account,
) -> None:
    """Remove an alias."""
    with connect() as client:
        client.registry.delete_alias(account, group, alias)
    notice(f"alias {alias} removed from {group}")


# --- grants --------------------------------------------------------------------------------------

GRANT_COLUMNS = [Column("GRANTEE", "grantee_account_id"), Column("PERMISSIONS", "permissions")]


@grants_app.command("list")
def grants_list(group: Group, account: Account, output: OutputOption = Format.TABLE) -> None:
    """Who the group is shared with."""
    with connect() as client:
        render_list(client.registry.grants(account, group), GRANT_COLUMNS, output)


@grants_app.command("put")
def grants_put(
    group: Group,
    grantee: Annotated[str, typer.Argument(help="Account id or name to share with.")],
    account: Account,
    permission: Annotated[
        list[str],
        typer.Option("--permission", "-p", help="read or publish; repeat for both."),
    ],
    output: OutputOption = Format.TABLE,
) -> None:
    """Share a group with another account (replaces that account's permissions)."""
    with connect() as client:
        render_object(client.registry.grant(account, group, grantee, permission), output)


@grants_app.command("revoke")
def grants_revoke(
    group: Group,
    grantee: Annotated[str, typer.Argument(help="Account id or name.")],
    account: Account,
) -> None:
    """Stop sharing a group with an account."""
    with connect() as client:
        client.registry.revoke_grant(account, group, grantee)
    notice(f"{grantee} may no longer use {group}")


# --- settings ------------------------------------------------------------------------------------


@settings_app.command("get")
def settings_get(account: Account, output: OutputOption = Format.TABLE) -> None:
    """Show the account's registry governance settings."""
    with connect() as client:
        render_object(client.registry.settings(account), output)


@settings_app.command("set")
def settings_set(
    account: Account,
    four_eyes: Annotated[
        bool | None,
        typer.Option(
            "--four-eyes/--no-four-eyes", help="May a creator decide on their own version?"
        ),
    ] = None,
    protect: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ALIAS=ROLE[,ROLE]",
            help="Only these roles may move ALIAS; repeat for more aliases.",
        ),
    ] = None,
    requirements: Annotated[
        str | None,
        typer.Option(
            metavar="JSON|@FILE",
            help='Promotion gates into this account, e.g. \'{"require_approved_card": true, '
            '"metrics": [{"metric": "auc", "comparison": "GreaterThanOrEqualToThreshold", '
            '"threshold": 0.8}]}\'.',
        ),
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Change settings; what you leave out keeps its current value."""
    with connect() as client:
        current = client.registry.settings(account)
        changed = {
            key: current[key]
            for key in ("four_eyes", "protected_aliases", "promotion_requirements")
            if key in current
        }
        if four_eyes is not None:
            changed["four_eyes"] = four_eyes
        if protect:
            aliases = dict(changed.get("protected_aliases") or {})
            for alias, roles in parse_labels(protect, "--protect").items():
                aliases[alias] = [role for role in roles.split(",") if role]
            changed["protected_aliases"] = aliases
        if requirements is not None:
            changed["promotion_requirements"] = read_json(requirements, "--requirements")
        render_object(client.registry.update_settings(account, **changed), output)
