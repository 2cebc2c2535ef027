"""Shared by the server-side commands (server, worker, db, init), which use the database directly.

Server modules are imported inside the functions: client commands such as ``mlgov accounts list``
should not pay for importing FastAPI and SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mlgov.cli._output import CliError, ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from mlgov.settings import Settings


def load_settings() -> Settings:
    from pydantic import ValidationError

    from mlgov.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"MLGOV_{'__'.join(str(p).upper() for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None


def safe_url(url: str) -> str:
    """The database URL with any password masked, fit to print."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


@contextmanager
def database_errors(settings: Settings) -> Iterator[None]:
    """Turn a database that cannot be reached into a one-line error instead of a traceback."""
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except OperationalError as exc:
        # The driver's first line says why (refused, auth failed, no such database); the rest is
        # SQLAlchemy boilerplate.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        shown = safe_url(settings.database_url)
        raise CliError(
            "DATABASE_UNAVAILABLE", f"cannot use the database {shown}: {reason}"
        ) from None


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    """An engine for the configured database, disposed after."""
    from sqlalchemy.exc import ArgumentError

    from mlgov.server.db.engine import engine_from_settings

    try:
        engine = engine_from_settings(settings)
    except (ArgumentError, ImportError) as exc:
        shown = safe_url(settings.database_url)
        raise ConfigError(f"cannot use the database URL {shown}: {exc}") from None
    try:
        with database_errors(settings):
            yield engine
    finally:
        engine.dispose()
