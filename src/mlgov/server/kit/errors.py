"""The one place where error codes become HTTP statuses and the error body is rendered."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    Unauthenticated,
)

logger = logging.getLogger("mlgov.server")

STATUS_BY_CLASS: list[tuple[type[MlgovError], int]] = [
    (Unauthenticated, 401),
    (AccessDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (PreconditionFailed, 412),
    (InvalidRequest, 400),
    (IntegrityError, 500),
    (SchemaOutOfDate, 503),
]
STATUS_BY_CODE: dict[ErrorCode, int] = {
    ErrorCode.REQUEST_TOO_LARGE: 413,
    ErrorCode.INVALID_REQUEST: 422,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
}


def status_for(error: MlgovError) -> int:
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[ErrorCode(error.code)]
    for cls, status in STATUS_BY_CLASS:
        if isinstance(error, cls):
            return status
    return 500


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": str(code), "message": message, "details": details or {}}}


def validation_error(exc: RequestValidationError) -> InvalidRequest:
    """Turn FastAPI's validation failure into our error, keeping a readable list of problems."""
    problems = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return InvalidRequest(
                f"request body is not valid JSON: {err.get('ctx', {}).get('error', 'parse error')}",
                code=ErrorCode.MALFORMED_REQUEST_BODY,
            )
        location = ".".join(str(part) for part in err.get("loc", ()))
        problems.append(
            {"location": location, "message": err.get("msg", ""), "type": err.get("type")}
        )
    summary = "; ".join(f"{p['location']}: {p['message']}" for p in problems[:5])
    return InvalidRequest(f"invalid request: {summary}", details={"errors": problems})


def http_error(exc: StarletteHTTPException) -> MlgovError:
    if exc.status_code == 404:
        return NotFound(f"no such route: {exc.detail}")
    if exc.status_code == 405:
        return InvalidRequest("method not allowed on this route", code=ErrorCode.METHOD_NOT_ALLOWED)
    return InvalidRequest(str(exc.detail))


def to_mlgov_error(exc: Exception) -> MlgovError:
    if isinstance(exc, MlgovError):
        return exc
    if isinstance(exc, RequestValidationError):
        return validation_error(exc)
    if isinstance(exc, StarletteHTTPException):
        return http_error(exc)
    return MlgovError("internal error; the request id identifies it in the server log")


def render(error: MlgovError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message, error.details),
        status_code=status_for(error),
        headers=headers,
    )


def install_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        error = to_mlgov_error(exc)
        if status_for(error) >= 500:
            logger.error(
                "request %s failed", getattr(request.state, "request_id", "-"), exc_info=exc
            )
        request_id = getattr(request.state, "request_id", None)
        return render(error, {"x-request-id": request_id} if request_id else None)

    app.add_exception_handler(MlgovError, handle)
    app.add_exception_handler(RequestValidationError, handle)
    app.add_exception_handler(StarletteHTTPException, handle)
    app.add_exception_handler(Exception, handle)
