"""Typed, nested settings: ``MLGOV_`` prefix, ``__`` between group and field.

Examples: ``MLGOV_HOME=/srv/mlgov``, ``MLGOV_DATABASE__URL=postgresql+psycopg://...``,
``MLGOV_AUDIT__DIGEST_PERIOD_SECONDS=600``. Code receives a ``Settings`` object; nothing reads the
environment at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator
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
    processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="API processes sharing the port; about one per core for throughput.",
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


class EventsSettings(BaseModel):
    dispatch_interval_seconds: float = Field(
        default=0.5, gt=0, description="How often the dispatcher polls the outbox and deliveries."
    )
    batch_size: int = Field(default=200, ge=1, le=10_000)
    delivery_concurrency: int = Field(default=8, ge=1, le=256)
    outbox_retention_hours: float = Field(
        default=24.0,
        gt=0,
        description="How long a dispatched event stays in the outbox (for inspection) before the "
        "hourly purge deletes it; archives keep events for replay.",
    )
    lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="A claimed delivery is retried after this long if its worker died mid-send.",
    )
    retry_base_seconds: float = Field(
        default=1.0, gt=0, description="First retry delay; doubles per attempt, with jitter."
    )
    retry_max_seconds: float = Field(default=300.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = "mlgov@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False


class TelemetrySettings(BaseModel):
    alarm_evaluation_seconds: float = Field(
        default=60.0, gt=0, description="Alarms are evaluated at each boundary of this interval."
    )
    retention_interval_seconds: float = Field(
        default=3600.0, gt=0, description="How often expired metric rollups and history go."
    )
    prometheus_path: str = Field(
        default="/metrics", pattern=r"^/[A-Za-z0-9/_-]*$", description="Where /metrics is served."
    )
    prometheus_requires_key: bool = Field(
        default=False, description="Ask scrapers for an API key (Authorization: Bearer ...)."
    )
    prometheus_namespaces: list[str] = Field(
        default_factory=list,
        description="User metric namespaces exported on /metrics (opt-in; none by default).",
    )


class ServingSettings(BaseModel):
    capture_flush_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Captured invocations reach the blob store at least this often; a crash "
        "loses at most this window.",
    )
    capture_max_pending: int = Field(
        default=1_000_000, ge=1, description="Captures buffered before new ones are dropped."
    )
    model_cache_size: int = Field(default=16, ge=1, description="Loaded models kept in memory.")
    metrics_flush_seconds: float = Field(
        default=10.0, gt=0, description="How often endpoint metrics go to the metrics store."
    )


class MonitoringSettings(BaseModel):
    tick_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the worker starts due monitors and runs executions.",
    )
    execution_lease_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="An execution InProgress longer than this (its worker died) is run again.",
    )
    compaction_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often closed capture hours are compacted to Parquet."
    )


class TrainingSettings(BaseModel):
    poll_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often the job runner looks for pending jobs."
    )
    max_concurrent_jobs: int = Field(
        default=2, ge=1, le=64, description="Training subprocesses one runner runs at once."
    )
    max_log_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1024,
        description="Per stream; a longer log keeps its last bytes, where errors are.",
    )
    keep_workdirs: bool = Field(
        default=False, description="Leave each job's working directory behind for debugging."
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
    events: EventsSettings = Field(default_factory=EventsSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)

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
