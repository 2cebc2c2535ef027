"""Every table module, imported once so that Alembic and the schema check see one metadata."""

from __future__ import annotations

from sqlalchemy import MetaData

from mlgov.server.audit import tables as _audit_tables
from mlgov.server.db.base import Base
from mlgov.server.identity import tables as _identity_tables
from mlgov.server.kit import outbox as _outbox
from mlgov.server.kit import tables as _kit_tables
from mlgov.server.registry import tables as _registry_tables

TABLE_MODULES = (_audit_tables, _identity_tables, _kit_tables, _outbox, _registry_tables)
metadata: MetaData = Base.metadata
