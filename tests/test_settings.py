from __future__ import annotations

from pathlib import Path

import pytest

from mlgov.settings import Settings


def test_defaults_live_under_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLGOV_HOME", str(tmp_path))
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path}/mlgov.db"
    assert settings.blob_url == str(tmp_path / "blobs")
    assert settings.audit_signing_key_path == tmp_path / "audit" / "signing-key.pem"


def test_nested_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGOV_DATABASE__URL", "postgresql://db/mlgov")
    monkeypatch.setenv("MLGOV_AUDIT__DIGEST_PERIOD_SECONDS", "600")
    monkeypatch.setenv("MLGOV_SERVER__PORT", "9000")
    settings = Settings()
    assert settings.database_url == "postgresql://db/mlgov"
    assert settings.audit.digest_period_seconds == 600 and settings.server.port == 9000


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("MLGOV_SERVER__PORT", "99999")
    with pytest.raises(ValidationError):
        Settings()
