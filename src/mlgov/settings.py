"""Typed, nested settings: ``MLGOV_`` prefix, ``__`` between group and field.

Examples: ``MLGOV_HOME=/srv/mlgov``, ``MLGOV_DATABASE__URL=postgresql+psycopg://...``,
``MLGOV_AUDIT__DIGEST_PERIOD_SECONDS=600``. Code receives a ``Settings`` object; nothing reads the
environment at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseModel):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///$MLGOV_HOME/mlgov.db. "
        "postgresql:// URLs use psycopg 3.",
    )
    echo: bool = False
    pool_size: int = Field(default=10, ge=1)
    sqlite_busy_timeout_seconds: float = Field(default=30.0, gt=0)


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8640, ge=1, le=65535)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_artifact_bytes: int = Field(
        default=50 * 1024**3, ge=1024, description="Largest model artifact an upload may stream."
    )
    run_workers: bool = Field(
        default=True, description="Run background workers inside the server process."
    )


class AuditSettings(BaseModel):
    digest_period_seconds: int = Field(default=3600, ge=1)
    signing_key_path: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM); default $MLGOV_HOME/audit/signing-key.pem.",
    )
    seal_interval_seconds: float = Field(default=30.0, gt=0)
    max_field_bytes: int = Field(
        default=100 * 1024,
        description="requestParameters/responseElements are truncated beyond this.",
    )


class BlobSettings(BaseModel):
    url: str | None = Field(
        default=None, description="fsspec URL of the blob store root; default $MLGOV_HOME/blobs."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MLGOV_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    home: Path = Field(default_factory=lambda: Path.home() / ".mlgov")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    blobs: BlobSettings = Field(default_factory=BlobSettings)

    @model_validator(mode="after")
    def _expand_home(self) -> Settings:
        object.__setattr__(self, "home", self.home.expanduser())
        return self

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.home / 'mlgov.db'}"

    @property
    def blob_url(self) -> str:
        return self.blobs.url or str(self.home / "blobs")

    @property
    def audit_signing_key_path(self) -> Path:
        return self.audit.signing_key_path or self.home / "audit" / "signing-key.pem"
