"""``mlgov db``: the database schema. Server admin: uses MLGOV_DATABASE__URL directly, no API."""

from __future__ import annotations

import typer

from mlgov.cli._admin import database, load_settings, safe_url
from mlgov.cli._output import Format, OutputOption, notice, render_object

app = typer.Typer(no_args_is_help=True, help="Database schema: upgrade, current, check.")


def _revisions(revisions: tuple[str, ...]) -> str:
    return ", ".join(sorted(revisions)) or "empty"


@app.command("upgrade")
def upgrade() -> None:
    """Migrate the database to this mlgov's schema (safe to run again; it is a no-op then)."""
    from mlgov.server.db import schema

    settings = load_settings()
    with database(settings) as engine:
        before = schema.current_revisions(engine)
        schema.upgrade(engine)
        after = schema.current_revisions(engine)
    where = safe_url(settings.database_url)
    if before == after:
        print(f"{where} is already at {_revisions(after)}")
    else:
        print(f"upgraded {where} from {_revisions(before)} to {_revisions(after)}")


@app.command("current")
def current(output: OutputOption = Format.TABLE) -> None:
    """Show the database's schema revision and the one this mlgov needs."""
    from mlgov.server.db import schema

    settings = load_settings()
    with database(settings) as engine:
        have, need = schema.current_revisions(engine), schema.head_revisions(engine)
    render_object(
        {
            "database": safe_url(settings.database_url),
            "current": sorted(have),
            "required": sorted(need),
            "up_to_date": set(have) == set(need),
        },
        output,
    )


@app.command("check")
def check() -> None:
    """Exit 0 when the schema is current, 1 (naming the fix) when it needs `mlgov db upgrade`."""
    from mlgov.server.db import schema

    settings = load_settings()
    with database(settings) as engine:
        schema.ensure_current(engine)
        have = schema.current_revisions(engine)
    notice(f"{safe_url(settings.database_url)} is up to date at {_revisions(have)}")
