"""mlgov: govern the machine-learning lifecycle for many teams.

The public SDK surface: :class:`Client` and the error classes.
"""

from __future__ import annotations

from mlgov.errors import (
    AccessDenied,
    Conflict,
    ErrorCode,
    IntegrityError,
    InvalidRequest,
    MlgovError,
    NotFound,
    PreconditionFailed,
    SchemaOutOfDate,
    ServerError,
    Unauthenticated,
)
from mlgov.sdk import Client

__version__ = "0.1.0"

__all__ = [
    "AccessDenied",
    "Client",
    "Conflict",
    "ErrorCode",
    "IntegrityError",
    "InvalidRequest",
    "MlgovError",
    "NotFound",
    "PreconditionFailed",
    "SchemaOutOfDate",
    "ServerError",
    "Unauthenticated",
    "__version__",
]
