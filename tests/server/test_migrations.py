from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlgov import SchemaOutOfDate
from mlgov.server.app import create_app
from mlgov.server.db import schema
from mlgov.server.db.engine import build_engine
from mlgov.settings import DatabaseSettings, Settings


def test_single_migration_head() -> None:
    engine = build_engine("sqlite://")
    assert len(schema.head_revisions(engine)) == 1


def test_server_refuses_an_out_of_date_schema_and_names_the_fix(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, database=DatabaseSettings(url=f"sqlite:///{tmp_path}/old.db")
    )
    with pytest.raises(SchemaOutOfDate) as refused:
        create_app(settings, run_workers=False)
    assert "mlgov db upgrade" in str(refused.value)
    schema.upgrade(build_engine(settings.database_url))
    assert TestClient(create_app(settings, run_workers=False)).get("/readyz").status_code == 200


def test_downgrade_and_upgrade_again(database_url: str) -> None:
    engine = build_engine(database_url)
    head = schema.head_revisions(engine)
    schema.downgrade(engine, "base")
    assert schema.current_revisions(engine) == ()
    with pytest.raises(SchemaOutOfDate):
        schema.ensure_current(engine)
    schema.upgrade(engine)
    assert schema.current_revisions(engine) == head
    engine.dispose()


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from mlgov.server.db.metadata import metadata

    engine = build_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert diff == []
