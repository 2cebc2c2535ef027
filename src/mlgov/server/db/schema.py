"""Bundled Alembic migrations: upgrade, inspect, and refuse to run on an old schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from mlgov.errors import SchemaOutOfDate

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
UPGRADE_COMMAND = "mlgov db upgrade"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revisions(engine: Engine) -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config(engine)).get_heads())


def current_revisions(engine: Engine) -> tuple[str, ...]:
    with engine.connect() as connection:
        return tuple(MigrationContext.configure(connection).get_current_heads())


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def ensure_current(engine: Engine) -> None:
    """Raise SchemaOutOfDate, naming the fix, unless the database is at the code's head."""
    current, heads = set(current_revisions(engine)), set(head_revisions(engine))
    if current == heads:
        return
    shown = ", ".join(sorted(current)) or "empty"
    raise SchemaOutOfDate(
        f"database schema is at revision {shown} but this mlgov needs {', '.join(sorted(heads))}; "
        f"run `{UPGRADE_COMMAND}` (with the same MLGOV_DATABASE__URL) and start again",
        details={"current": sorted(current), "required": sorted(heads), "command": UPGRADE_COMMAND},
    )
