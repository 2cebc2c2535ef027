"""``mlgov init``: migrate the database and create the organization with its first OrgAdmin key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlgov.cli import _connection
from mlgov.cli._admin import database, load_settings
from mlgov.cli._output import CliError, Format, OutputOption, fail, notice, print_json

if TYPE_CHECKING:
    from mlgov.settings import Settings


def _server_url(settings: Settings) -> str:
    host = settings.server.host
    # A wildcard listen address is not somewhere to connect to; the same machine is.
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port}"


def init(
    organization: Annotated[str, typer.Option(help="The organization's name.")] = "default",
    admin: Annotated[str, typer.Option(help="Name of the first OrgAdmin principal.")] = "admin",
    save_profile: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Also save the server URL and the new key as this profile in "
            "$MLGOV_HOME/config.toml (mode 0600).",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="Server URL for the saved profile; default MLGOV_URL, else the configured "
            "server host and port."
        ),
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Create the organization and its first OrgAdmin key. Safe to run again: then it does nothing.

    Upgrades the database schema first. The key is printed once and cannot be shown again.
    """
    from mlgov.server.db import schema
    from mlgov.server.db.engine import session_factory, unit_of_work
    from mlgov.server.identity import service

    settings = load_settings()
    if save_profile:
        # Fail on an unreadable config.toml now, before a key exists that could then be lost.
        _connection.read_profiles(_connection.config_path())
    with database(settings) as engine:
        schema.upgrade(engine)
        with unit_of_work(session_factory(engine)) as session:
            result = service.bootstrap(session, organization, admin)
            org_name, org_id = result.organization.name, result.organization.id
            admin_name, admin_id = result.admin.name, result.admin.id

    if not result.created or result.token is None:
        if output is Format.JSON:
            print_json(
                {
                    "created": False,
                    "organization": {"id": org_id, "name": org_name},
                    "api_key": None,
                }
            )
        else:
            print(f"Organization {org_name} already exists: nothing was changed, no key was made.")
            print("Keys are shown only when created; make another with `mlgov keys create`.")
        if save_profile:
            notice(f"profile {save_profile} was not written: there is no new key to save")
        return

    saved: Path | None = None
    save_error: str | None = None
    if save_profile:
        profile_url = url or os.environ.get(_connection.URL_ENV) or _server_url(settings)
        try:
            saved = _connection.save_profile(save_profile, profile_url, result.token)
        except (CliError, OSError) as exc:
            # The key exists now and is never shown again: print it whatever happens to the file.
            save_error = exc.message if isinstance(exc, CliError) else str(exc)

    if output is Format.JSON:
        print_json(
            {
                "created": True,
                "organization": {"id": org_id, "name": org_name},
                "admin": {"id": admin_id, "name": admin_name},
                "api_key": result.token,
                "profile": save_profile if saved else None,
            }
        )
    else:
        print(f"Created organization {org_name} ({org_id}) with OrgAdmin principal {admin_name}.")
        print()
        print("OrgAdmin API key (shown this once; it cannot be shown again, store it now):")
        print()
        print(f"    {result.token}")
        print()
        if saved:
            print(f"Saved as profile {save_profile} in {saved} (readable only by you).")
        else:
            print("Use it with:  export MLGOV_API_KEY=<the key above>")
    if save_error:
        fail(
            "PROFILE_NOT_SAVED",
            f"the key above was not saved as profile {save_profile}: {save_error}",
        )
