"""The ``mlgov`` command: one Typer sub-app per noun, mounted here."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mlgov import __version__
from mlgov.cli import _connection
from mlgov.cli._output import CliError, fail
from mlgov.errors import MlgovError


class _Root(TyperGroup):
    """Turns every error a user can act on into ``ERROR CODE: message`` and an exit code."""

    # Any: the base class takes the Click context Typer vendors privately, not typer.Context.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MlgovError as exc:
            fail(str(exc.code), exc.message)
        except CliError as exc:
            fail(exc.code, exc.message, exc.exit_code)


app = typer.Typer(
    cls=_Root,
    no_args_is_help=True,
    help="mlgov: govern the ML lifecycle for many teams.",
    # Locals in a traceback could hold an API key; a bug report never needs them.
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"mlgov {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    profile: Annotated[
        str | None,
        typer.Option(
            envvar=_connection.PROFILE_ENV,
            help="Profile in $MLGOV_HOME/config.toml to connect with (default: `default`).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """mlgov: govern the ML lifecycle for many teams."""
    _connection.select_profile(profile)


_mounted = False


def _mount() -> None:
    global _mounted
    if _mounted:
        return
    from mlgov.cli import (
        accounts,
        audit,
        db,
        init,
        keys,
        org_units,
        principals,
        roles,
        server,
    )

    app.command("server")(server.server)
    app.command("worker")(server.worker)
    app.command("init")(init.init)
    app.add_typer(db.app, name="db")
    app.add_typer(org_units.app, name="org-units")
    app.add_typer(accounts.app, name="accounts")
    app.add_typer(principals.app, name="principals")
    app.add_typer(keys.app, name="keys")
    app.add_typer(roles.app, name="roles")
    app.add_typer(audit.app, name="audit")

    from mlgov.cli import cards, models, versions

    app.add_typer(models.app, name="models")
    app.add_typer(versions.app, name="versions")
    app.add_typer(cards.app, name="cards")

    from mlgov.cli import endpoints

    app.add_typer(endpoints.app, name="endpoints")
    # `mlgov endpoint serve NAME` reads naturally for the one-endpoint process.
    app.add_typer(endpoints.app, name="endpoint", hidden=True)

    from mlgov.cli import transform_jobs

    app.add_typer(transform_jobs.app, name="transform-jobs")

    from mlgov.cli import dashboard

    app.command("dashboard")(dashboard.dashboard)

    from mlgov.cli import alarms, metrics

    app.add_typer(metrics.app, name="metrics")
    app.add_typer(alarms.app, name="alarms")

    from mlgov.cli import events

    app.add_typer(events.app, name="events")

    from mlgov.cli import training

    app.add_typer(training.app, name="training-jobs")

    from mlgov.cli import monitors

    app.add_typer(monitors.app, name="monitors")
    app.add_typer(monitors.baselines_app, name="baselines")

    from mlgov.cli import analytics

    app.add_typer(
        analytics.app,
        name="baseline",
        help="Profile data, suggest constraints, check violations (local, no server).",
    )

    from mlgov.cli import model_quality

    app.add_typer(
        model_quality.app,
        name="quality",
        help="Model quality, bias and custom metrics (local, no server).",
    )
    _mounted = True


def main() -> None:
    _mount()
    app()
