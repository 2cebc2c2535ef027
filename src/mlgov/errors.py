"""The error contract shared by the server and the SDK.

Every failure mlgov reports carries a stable :class:`ErrorCode`. The server maps codes to HTTP
statuses in one place (``mlgov.server.kit.errors``); the SDK rebuilds the same exception class from
the code through :data:`ERROR_CLASSES`, never from names taken off the wire.

Exception tree::

    MlgovError
    ├── InvalidRequest          malformed, wrong type, unknown field, bad token, too large
    ├── Unauthenticated         no key, unknown key, revoked or expired key
    ├── AccessDenied            the key's principal may not do this here
    ├── NotFound                the resource does not exist (or is not visible)
    ├── Conflict                already exists, concurrent change, idempotency key reuse
    ├── PreconditionFailed      a governance rule refused the change
    ├── SchemaOutOfDate         the database schema is older than the code
    └── ServerError             mlgov's own fault (5xx)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    # InvalidRequest
    INVALID_REQUEST = "INVALID_REQUEST"
    MALFORMED_REQUEST_BODY = "MALFORMED_REQUEST_BODY"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    INVALID_PAGINATION_TOKEN = "INVALID_PAGINATION_TOKEN"
    INVALID_QUERY = "INVALID_QUERY"
    INVALID_DATA = "INVALID_DATA"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    # Unauthenticated
    UNAUTHENTICATED = "UNAUTHENTICATED"
    # AccessDenied
    ACCESS_DENIED = "ACCESS_DENIED"
    # NotFound
    NOT_FOUND = "NOT_FOUND"
    ORG_UNIT_NOT_FOUND = "ORG_UNIT_NOT_FOUND"
    ACCOUNT_NOT_FOUND = "ACCOUNT_NOT_FOUND"
    PRINCIPAL_NOT_FOUND = "PRINCIPAL_NOT_FOUND"
    API_KEY_NOT_FOUND = "API_KEY_NOT_FOUND"
    ROLE_NOT_FOUND = "ROLE_NOT_FOUND"
    ROLE_BINDING_NOT_FOUND = "ROLE_BINDING_NOT_FOUND"
    BLOB_NOT_FOUND = "BLOB_NOT_FOUND"
    MODEL_GROUP_NOT_FOUND = "MODEL_GROUP_NOT_FOUND"
    MODEL_VERSION_NOT_FOUND = "MODEL_VERSION_NOT_FOUND"
    ARTIFACT_NOT_FOUND = "ARTIFACT_NOT_FOUND"
    ALIAS_NOT_FOUND = "ALIAS_NOT_FOUND"
    GRANT_NOT_FOUND = "GRANT_NOT_FOUND"
    MODEL_CARD_NOT_FOUND = "MODEL_CARD_NOT_FOUND"
    SELF_APPROVAL_FORBIDDEN = "SELF_APPROVAL_FORBIDDEN"
    ALIAS_PROTECTED = "ALIAS_PROTECTED"
    PROMOTION_REFUSED = "PROMOTION_REFUSED"
    MODEL_CARD_ARCHIVED = "MODEL_CARD_ARCHIVED"
    INVALID_MODEL_CARD = "INVALID_MODEL_CARD"
    # event bus
    EVENT_BUS_NOT_FOUND = "EVENT_BUS_NOT_FOUND"
    RULE_NOT_FOUND = "RULE_NOT_FOUND"
    TARGET_NOT_FOUND = "TARGET_NOT_FOUND"
    ARCHIVE_NOT_FOUND = "ARCHIVE_NOT_FOUND"
    REPLAY_NOT_FOUND = "REPLAY_NOT_FOUND"
    PERMISSION_NOT_FOUND = "PERMISSION_NOT_FOUND"
    INVALID_EVENT_PATTERN = "INVALID_EVENT_PATTERN"
    INVALID_TARGET = "INVALID_TARGET"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    CROSS_ACCOUNT_TARGET_DENIED = "CROSS_ACCOUNT_TARGET_DENIED"
    # metrics and alarms
    ALARM_NOT_FOUND = "ALARM_NOT_FOUND"
    INVALID_METRIC_DATA = "INVALID_METRIC_DATA"
    INVALID_ALARM_RULE = "INVALID_ALARM_RULE"
    ALARM_IN_USE = "ALARM_IN_USE"
    # serving
    ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
    TRANSFORM_JOB_NOT_FOUND = "TRANSFORM_JOB_NOT_FOUND"
    DEPLOYMENT_REFUSED = "DEPLOYMENT_REFUSED"
    INVALID_MODEL_ARTIFACT = "INVALID_MODEL_ARTIFACT"
    FLAVOR_UNAVAILABLE = "FLAVOR_UNAVAILABLE"
    MODEL_ERROR = "MODEL_ERROR"
    # monitoring
    DATASET_NOT_FOUND = "DATASET_NOT_FOUND"
    BASELINE_NOT_FOUND = "BASELINE_NOT_FOUND"
    MONITOR_NOT_FOUND = "MONITOR_NOT_FOUND"
    MONITORING_EXECUTION_NOT_FOUND = "MONITORING_EXECUTION_NOT_FOUND"
    REPORT_NOT_FOUND = "REPORT_NOT_FOUND"
    INVALID_SCHEDULE = "INVALID_SCHEDULE"
    INVALID_MONITOR = "INVALID_MONITOR"
    BASELINE_IN_USE = "BASELINE_IN_USE"
    EXECUTION_NOT_STOPPABLE = "EXECUTION_NOT_STOPPABLE"
    # training
    TRAINING_JOB_NOT_FOUND = "TRAINING_JOB_NOT_FOUND"
    TRAINING_JOB_NOT_STOPPABLE = "TRAINING_JOB_NOT_STOPPABLE"
    # Conflict
    CONFLICT = "CONFLICT"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    ORG_UNIT_NOT_EMPTY = "ORG_UNIT_NOT_EMPTY"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    ORGANIZATION_NOT_INITIALIZED = "ORGANIZATION_NOT_INITIALIZED"
    # PreconditionFailed
    PRECONDITION_FAILED = "PRECONDITION_FAILED"
    # Integrity
    BLOB_CORRUPTED = "BLOB_CORRUPTED"
    SCHEMA_OUT_OF_DATE = "SCHEMA_OUT_OF_DATE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class MlgovError(Exception):
    """Base of every mlgov error; ``code`` is the stable, machine-readable part."""

    default_code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details or {}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InvalidRequest(MlgovError):
    default_code = ErrorCode.INVALID_REQUEST


class Unauthenticated(MlgovError):
    default_code = ErrorCode.UNAUTHENTICATED


class AccessDenied(MlgovError):
    default_code = ErrorCode.ACCESS_DENIED


class NotFound(MlgovError):
    default_code = ErrorCode.NOT_FOUND


class Conflict(MlgovError):
    default_code = ErrorCode.CONFLICT


class PreconditionFailed(MlgovError):
    default_code = ErrorCode.PRECONDITION_FAILED


class IntegrityError(MlgovError):
    """Stored data failed verification (a blob's hash, the audit chain)."""

    default_code = ErrorCode.BLOB_CORRUPTED


class SchemaOutOfDate(MlgovError):
    default_code = ErrorCode.SCHEMA_OUT_OF_DATE


class ServerError(MlgovError):
    default_code = ErrorCode.INTERNAL_ERROR


ERROR_CLASSES: dict[ErrorCode, type[MlgovError]] = {
    ErrorCode.INVALID_REQUEST: InvalidRequest,
    ErrorCode.MALFORMED_REQUEST_BODY: InvalidRequest,
    ErrorCode.REQUEST_TOO_LARGE: InvalidRequest,
    ErrorCode.INVALID_PAGINATION_TOKEN: InvalidRequest,
    ErrorCode.INVALID_QUERY: InvalidRequest,
    ErrorCode.INVALID_DATA: InvalidRequest,
    ErrorCode.METHOD_NOT_ALLOWED: InvalidRequest,
    ErrorCode.UNAUTHENTICATED: Unauthenticated,
    ErrorCode.ACCESS_DENIED: AccessDenied,
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.ORG_UNIT_NOT_FOUND: NotFound,
    ErrorCode.ACCOUNT_NOT_FOUND: NotFound,
    ErrorCode.PRINCIPAL_NOT_FOUND: NotFound,
    ErrorCode.API_KEY_NOT_FOUND: NotFound,
    ErrorCode.ROLE_NOT_FOUND: NotFound,
    ErrorCode.ROLE_BINDING_NOT_FOUND: NotFound,
    ErrorCode.BLOB_NOT_FOUND: NotFound,
    ErrorCode.MODEL_GROUP_NOT_FOUND: NotFound,
    ErrorCode.MODEL_VERSION_NOT_FOUND: NotFound,
    ErrorCode.ARTIFACT_NOT_FOUND: NotFound,
    ErrorCode.ALIAS_NOT_FOUND: NotFound,
    ErrorCode.GRANT_NOT_FOUND: NotFound,
    ErrorCode.MODEL_CARD_NOT_FOUND: NotFound,
    ErrorCode.SELF_APPROVAL_FORBIDDEN: AccessDenied,
    ErrorCode.ALIAS_PROTECTED: AccessDenied,
    ErrorCode.PROMOTION_REFUSED: PreconditionFailed,
    ErrorCode.MODEL_CARD_ARCHIVED: Conflict,
    ErrorCode.INVALID_MODEL_CARD: InvalidRequest,
    ErrorCode.EVENT_BUS_NOT_FOUND: NotFound,
    ErrorCode.RULE_NOT_FOUND: NotFound,
    ErrorCode.TARGET_NOT_FOUND: NotFound,
    ErrorCode.ARCHIVE_NOT_FOUND: NotFound,
    ErrorCode.REPLAY_NOT_FOUND: NotFound,
    ErrorCode.PERMISSION_NOT_FOUND: NotFound,
    ErrorCode.INVALID_EVENT_PATTERN: InvalidRequest,
    ErrorCode.INVALID_TARGET: InvalidRequest,
    ErrorCode.LIMIT_EXCEEDED: InvalidRequest,
    ErrorCode.CROSS_ACCOUNT_TARGET_DENIED: AccessDenied,
    ErrorCode.ALARM_NOT_FOUND: NotFound,
    ErrorCode.INVALID_METRIC_DATA: InvalidRequest,
    ErrorCode.INVALID_ALARM_RULE: InvalidRequest,
    ErrorCode.ALARM_IN_USE: Conflict,
    ErrorCode.ENDPOINT_NOT_FOUND: NotFound,
    ErrorCode.TRANSFORM_JOB_NOT_FOUND: NotFound,
    ErrorCode.DEPLOYMENT_REFUSED: PreconditionFailed,
    ErrorCode.INVALID_MODEL_ARTIFACT: InvalidRequest,
    ErrorCode.FLAVOR_UNAVAILABLE: InvalidRequest,
    ErrorCode.MODEL_ERROR: InvalidRequest,
    ErrorCode.DATASET_NOT_FOUND: NotFound,
    ErrorCode.BASELINE_NOT_FOUND: NotFound,
    ErrorCode.MONITOR_NOT_FOUND: NotFound,
    ErrorCode.MONITORING_EXECUTION_NOT_FOUND: NotFound,
    ErrorCode.REPORT_NOT_FOUND: NotFound,
    ErrorCode.INVALID_SCHEDULE: InvalidRequest,
    ErrorCode.INVALID_MONITOR: InvalidRequest,
    ErrorCode.BASELINE_IN_USE: Conflict,
    ErrorCode.EXECUTION_NOT_STOPPABLE: Conflict,
    ErrorCode.TRAINING_JOB_NOT_FOUND: NotFound,
    ErrorCode.TRAINING_JOB_NOT_STOPPABLE: Conflict,
    ErrorCode.CONFLICT: Conflict,
    ErrorCode.ALREADY_EXISTS: Conflict,
    ErrorCode.ORG_UNIT_NOT_EMPTY: Conflict,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: Conflict,
    ErrorCode.ORGANIZATION_NOT_INITIALIZED: Conflict,
    ErrorCode.PRECONDITION_FAILED: PreconditionFailed,
    ErrorCode.BLOB_CORRUPTED: IntegrityError,
    ErrorCode.SCHEMA_OUT_OF_DATE: SchemaOutOfDate,
    ErrorCode.INTERNAL_ERROR: ServerError,
}


def error_from_code(code: str, message: str, details: dict[str, Any] | None = None) -> MlgovError:
    """Rebuild the exception for a wire error; unknown codes become a plain MlgovError."""
    try:
        known = ErrorCode(code)
    except ValueError:
        error = MlgovError(message, details=details)
        error.code = code  # type: ignore[assignment]  # keep a newer server's code visible
        return error
    return ERROR_CLASSES.get(known, MlgovError)(message, code=known, details=details)
