"""Every table module, imported once so that Alembic and the schema check see one metadata."""

from __future__ import annotations

from sqlalchemy import MetaData

from mlgov.server.alarms import tables as _alarm_tables
from mlgov.server.audit import tables as _audit_tables
from mlgov.server.batch import tables as _batch_tables
from mlgov.server.db.base import Base
from mlgov.server.events import tables as _event_tables
from mlgov.server.identity import tables as _identity_tables
from mlgov.server.kit import outbox as _outbox
from mlgov.server.kit import tables as _kit_tables
from mlgov.server.metrics import tables as _metric_tables
from mlgov.server.monitoring import tables as _monitoring_tables
from mlgov.server.registry import tables as _registry_tables
from mlgov.server.serving import tables as _serving_tables
from mlgov.server.training import tables as _training_tables

TABLE_MODULES = (
    _alarm_tables,
    _audit_tables,
    _batch_tables,
    _event_tables,
    _identity_tables,
    _kit_tables,
    _metric_tables,
    _monitoring_tables,
    _outbox,
    _registry_tables,
    _serving_tables,
    _training_tables,
)
metadata: MetaData = Base.metadata
