"""Routes that declare their action, and the route class that makes every call one unit of work.

Each call gets a session; the endpoint and its dependencies use it; on success the audit record is
appended to the same transaction and committed with the change. On any failure the change is
rolled back and the failure is audited in a transaction of its own, so the trail never records a
success that did not persist, nor loses a denied or invalid call.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import re
from collections.abc import Callable, Coroutine, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError
from sqlalchemy.exc import OperationalError
from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Send
from starlette.types import Scope as StarletteScope

from mlgov.errors import Conflict, ErrorCode, InvalidRequest, MlgovError
from mlgov.server.kit import errors as kit_errors
from mlgov.server.kit.context import Action, RequestContext, Scope
from mlgov.server.kit.ids import new_uuid
from mlgov.server.kit.runtime import Runtime

API_PREFIX = "/api/v1"
logger = logging.getLogger("mlgov.server")

ACTION_KEY = "x-mlgov-action"
SCOPE_KEY = "x-mlgov-scope"
STREAM_KEY = "x-mlgov-stream-body"
SHARED_KEY = "x-mlgov-shared-by"
DATA_KEY = "x-mlgov-data-body"
Preparer = Callable[[Request, bytes], Any]
PREPARE_KEY = "x-mlgov-prepare"  # taken out again by AuditedRoute: never in the OpenAPI document
LONG_RUNNING_KEY = "x-mlgov-long-running"  # likewise
PATH_SCOPES = (
    ("{account}", Scope.ACCOUNT),
    ("{org_unit}", Scope.ORG_UNIT),
    ("{principal}", Scope.PRINCIPAL),
)


class Replay(Exception):
    """Raised by the idempotency check: answer with the stored response instead of running."""

    def __init__(self, status_code: int, body: str) -> None:
        self.status_code = status_code
        self.body = body

    async def confirm(self) -> None:
        """Raise instead if the request turns out not to be the stored one (streamed bodies)."""


@dataclass(frozen=True)
class Prepared:
    """What a route's ``prepare`` made of the body, or the error it raised."""

    value: Any = None
    error: Exception | None = None

    @classmethod
    def of(cls, prepare: Preparer, request: Request, body: bytes) -> Prepared:
        try:
            return cls(value=prepare(request, body))
        except Exception as exc:
            return cls(error=exc)


def prepared(request: Request) -> Any:
    """The result of the route's ``prepare``, raising its error here: after authorization, so that
    an unauthorized caller learns nothing about its body."""
    outcome: Prepared = request.state.prepared
    if outcome.error is not None:
        raise outcome.error
    return outcome.value


_ON_THE_LOOP: ContextVar[bool] = ContextVar("mlgov_call_on_the_loop", default=False)


async def offload(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run a blocking step of a call (preparing its body, the endpoint, the commit): on the event
    loop itself where the call runs there, otherwise in a worker thread.

    On SQLite a process runs its calls one at a time (``Runtime.call_gate``), so a thread buys a
    call nothing but the hand-offs: waking a worker and the loop again, and passing the GIL to and
    fro. Without them a registry describe served 1.40x the requests (measured 2026-12-07). Calls on
    PostgreSQL run concurrently, and long-running routes keep the loop free for ``/health``; both
    use threads.
    """
    if _ON_THE_LOOP.get():
        return func(*args, **kwargs)
    return await run_in_threadpool(func, *args, **kwargs)


def _offloaded(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """A sync endpoint as a coroutine that offloads it, with the endpoint's own signature (types
    resolved in its module) for FastAPI to read its parameters and response model from."""

    @functools.wraps(endpoint)
    async def offloaded_endpoint(*args: Any, **kwargs: Any) -> Any:
        return await offload(endpoint, *args, **kwargs)

    try:
        signature = inspect.signature(endpoint, eval_str=True)
    except NameError:
        signature = inspect.signature(endpoint)
    offloaded_endpoint.__signature__ = signature  # type: ignore[attr-defined]
    return offloaded_endpoint


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON value; send a number or null", name, 0)


class GovernedRequest(Request):
    """A call's request, whose JSON body is JSON as RFC 8259 has it.

    Python's parser also takes ``NaN`` and ``Infinity``. No stored document may hold them:
    PostgreSQL's JSONB refuses them (a 500, after the call had been accepted) and SQLite kept them
    as text that standard JSON readers refuse. The body is refused instead, as malformed (400).
    """

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), parse_constant=_refuse_constant)
        return self._json


def infer_scope(path: str) -> Scope:
    for marker, scope in PATH_SCOPES:
        if marker in path:
            return scope
    return Scope.ORGANIZATION


def action_of(route: APIRoute) -> Action:
    extra = route.openapi_extra or {}
    return Action(extra[ACTION_KEY], Scope(extra[SCOPE_KEY]))


class AuditedRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        extra = kwargs.get("openapi_extra") or {}
        if ACTION_KEY not in extra:
            raise TypeError(f"route {path} declares no action")
        extra.setdefault(SCOPE_KEY, infer_scope(path).value)
        kwargs["openapi_extra"] = extra
        self.action = Action(extra[ACTION_KEY], Scope(extra[SCOPE_KEY]), extra.get(SHARED_KEY))
        self.streams_body = bool(extra.get(STREAM_KEY))
        self.data_body = bool(extra.get(DATA_KEY))
        self.prepare: Preparer | None = extra.pop(PREPARE_KEY, None)
        self.long_running = bool(extra.pop(LONG_RUNNING_KEY, False))
        if inspect.isfunction(endpoint) and not (
            inspect.iscoroutinefunction(endpoint)
            or inspect.isgeneratorfunction(endpoint)
            or inspect.isasyncgenfunction(endpoint)
        ):
            endpoint = _offloaded(endpoint)
        super().__init__(path, endpoint, **kwargs)

    def matches(self, scope: StarletteScope) -> tuple[Match, StarletteScope]:
        # A call is tried against the routes in order, and most of them fail on the path: the
        # path's regular expression alone says so, before the Starlette and FastAPI matching
        # steps (about 2 us a route on a slow machine). Under a root path that Starlette strips,
        # the full steps decide.
        if not scope.get("root_path") and self.path_regex.match(scope.get("path", "")) is None:
            return Match.NONE, {}
        return super().matches(scope)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        action = self.action
        streams_body = self.streams_body
        data_body = self.data_body
        prepare = self.prepare
        long_running = self.long_running
        from mlgov.server.kit import idempotency  # it builds on this module's Replay

        async def audited_handler(request: Request) -> Response:
            request = GovernedRequest(request.scope, request.receive)
            runtime: Runtime = request.app.state.runtime
            request.state.data_body = data_body
            if streams_body:
                # An Idempotency-Key on a streamed body is checked against the bytes as they pass.
                request = idempotency.watch_stream(request)
            # The body is read before the gate so that a slow upload holds nobody up.
            body, body_error = b"", None
            try:
                if not streams_body:
                    body = await _read_body(request, runtime.settings.server.max_body_bytes)
            except InvalidRequest as exc:
                body_error = exc
            # One process of several: its calls take their turn at the database one after the
            # other, so a call's preparation waits too, rather than take the GIL from the call
            # holding the turn that every process waits for; the other processes keep the cores
            # busy. A lone process prepares while calls queue. A call that runs on the loop
            # prepares there too: a thread only added hand-offs (paired rounds of ingest: 1.18x
            # the datapoints/s with 2 processes, 1.08-1.10x with one).
            in_turn = runtime.settings.server.processes > 1
            on_the_loop = _ON_THE_LOOP.set(runtime.serializes_writes and not long_running)
            try:
                if not in_turn:
                    await _prepare(request, body, body_error)
                async with runtime.call_gate():
                    if in_turn:
                        await _prepare(request, body, body_error)
                    return await unit_of_work(request, runtime, body, body_error)
            finally:
                _ON_THE_LOOP.reset(on_the_loop)

        async def _prepare(request: Request, body: bytes, body_error: Exception | None) -> None:
            if prepare is not None and body_error is None:
                request.state.prepared = await offload(Prepared.of, prepare, request, body)

        async def unit_of_work(
            request: Request, runtime: Runtime, body: bytes, body_error: Exception | None
        ) -> Response:
            ctx = RequestContext(
                request_id=new_uuid(),
                action=action,
                session=runtime.session_factory(),
                source_ip=request.client.host if request.client else None,
                user_agent=request.headers.get("user-agent"),
            )
            request.state.ctx = ctx
            request.state.request_id = ctx.request_id
            try:
                if body_error is not None:
                    raise body_error
                try:
                    response = await handler(request)
                except Replay as replay:
                    await replay.confirm()
                    response = Response(
                        replay.body, status_code=replay.status_code, media_type="application/json"
                    )
                    ctx.extra["replayed"] = True
                if response.status_code >= 400:
                    raise InvalidRequest(f"request failed with status {response.status_code}")
                await idempotency.settle(ctx, request)
                await offload(_commit_success, runtime, ctx, request, body, response)
            except Exception as exc:
                response = await _fail(runtime, ctx, request, body, exc)
            else:
                if ctx.after_commit:
                    # Effects may run for a while (a monitoring job run now): a worker thread.
                    await run_in_threadpool(_run_effects, ctx)
            response.headers["x-request-id"] = ctx.request_id
            return response

        return audited_handler


class RouteIndex(BaseRoute):
    """Finds a call's API route with one regular expression, in front of the app's route table.

    FastAPI tries every route of the table in turn until one matches: a registration tried
    about sixty, a Python call and a regular expression each (7 % of its server time on
    2026-12-08). The index joins the routes' path expressions into one alternation, which the
    regex engine tries in C, and asks only the routes of the path that matched. The routes stay
    in the table behind it (for the OpenAPI document and ``url_path_for``), in the same order as
    the alternation: a path whose routes take another method answers PARTIAL here, and FastAPI
    goes on down the table as it always did, so a later full match still wins and a 405 is
    still a 405.
    """

    def __init__(self, routes: Sequence[APIRoute]) -> None:
        patterns: dict[str, list[APIRoute]] = {}
        for route in routes:
            patterns.setdefault(route.path_regex.pattern, []).append(route)
        self.groups = list(patterns.values())
        alternatives = (
            f"(?P<r{i}>{_unnamed(pattern.removeprefix('^').removesuffix('$'))})"
            for i, pattern in enumerate(patterns)
        )
        self.expression = re.compile(f"^(?:{'|'.join(alternatives)})$")

    def matches(self, scope: StarletteScope) -> tuple[Match, StarletteScope]:
        # Under a root path that Starlette strips, the table behind decides, as without the index.
        if scope["type"] != "http" or scope.get("root_path"):
            return Match.NONE, {}
        found = self.expression.match(scope["path"])
        if found is None or found.lastgroup is None:
            return Match.NONE, {}
        partial: tuple[Match, StarletteScope] | None = None
        for route in self.groups[int(found.lastgroup[1:])]:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return match, child_scope
            if match is Match.PARTIAL and partial is None:
                partial = (match, child_scope)
        return partial or (Match.NONE, {})

    async def handle(self, scope: StarletteScope, receive: Receive, send: Send) -> None:
        # The route that matched put itself in the scope (FastAPI's APIRoute.matches).
        await scope["route"].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)  # the routes behind the index answer this


def _unnamed(pattern: str) -> str:
    """``pattern`` with its named groups made non-capturing: names repeat across routes."""
    return re.sub(r"\(\?P<[^>]+>", "(?:", pattern)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise InvalidRequest(
            f"request body of {declared} bytes exceeds the limit of {limit}",
            code=ErrorCode.REQUEST_TOO_LARGE,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidRequest(
                f"request body exceeds the limit of {limit} bytes", code=ErrorCode.REQUEST_TOO_LARGE
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette reuses a read body only through this attribute
    return body


def request_parameters(request: Request, body: bytes) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.path_params)
    if request.query_params:
        params["query"] = dict(request.query_params)
    if body and getattr(request.state, "data_body", False):
        # Data (rows to score, labels) is not a parameter: the trail keeps its size and type only.
        params["body"] = {"bytes": len(body), "content_type": request.headers.get("content-type")}
    elif body:
        try:
            params["body"] = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            params["body"] = {"unparsed_bytes": len(body)}
    return params


def request_hasher(request: Request) -> hashlib._Hash:
    """A SHA-256 over the request line; the body (whole, or as it streams) is added to it."""
    return hashlib.sha256(f"{request.method} {request.url.path}?{request.url.query}\n".encode())


def request_hash(request: Request, body: bytes) -> str:
    digest = request_hasher(request)
    digest.update(body)
    return digest.hexdigest()


def _commit_success(
    runtime: Runtime, ctx: RequestContext, request: Request, body: bytes, response: Response
) -> None:
    from mlgov.server.audit.service import append_call_record
    from mlgov.server.kit.idempotency import remember

    elements: Any = None
    content = getattr(response, "body", b"")  # streamed responses have none
    if getattr(request.state, "data_body", False):
        # The answer to data (predictions, per-row results) is data too: size and type only.
        elements = {"bytes": len(content), "content_type": response.headers.get("content-type")}
    elif not ctx.action.read_only and content:
        try:
            elements = json.loads(bytes(content))
        except ValueError:
            elements = None
    if ctx.idempotency_key and not ctx.extra.get("replayed"):
        remember(ctx, request, bytes(content), response.status_code)
    append_call_record(
        ctx.session,
        runtime.settings,
        ctx,
        method=request.method,
        path=request.url.path,
        status=response.status_code,
        parameters=request_parameters(request, body),
        response_elements=elements,
    )
    try:
        ctx.session.commit()
    except DatabaseIntegrityError as exc:
        raise Conflict(
            "the change conflicts with a concurrent one; read again and retry",
            code=ErrorCode.CONFLICT,
        ) from exc
    ctx.session.close()


def _run_effects(ctx: RequestContext) -> None:
    for effect in ctx.after_commit:
        try:
            effect()
        except Exception:
            logger.exception("after-commit effect of request %s failed", ctx.request_id)


async def _fail(
    runtime: Runtime, ctx: RequestContext, request: Request, body: bytes, exc: Exception
) -> Response:
    error = to_error(exc)
    status = kit_errors.status_for(error)
    if status >= 500:
        logger.error("request %s failed", ctx.request_id, exc_info=exc)
    await offload(_audit_failure, runtime, ctx, request, body, error, status)
    return kit_errors.render(error)


def to_error(exc: Exception) -> MlgovError:
    if isinstance(exc, DatabaseIntegrityError):
        return Conflict("the change conflicts with existing data", code=ErrorCode.ALREADY_EXISTS)
    if isinstance(exc, OperationalError) and "locked" in str(exc).lower():
        return Conflict("the database is busy; retry the call", code=ErrorCode.CONFLICT)
    return kit_errors.to_mlgov_error(exc)


def _audit_failure(
    runtime: Runtime,
    ctx: RequestContext,
    request: Request,
    body: bytes,
    error: MlgovError,
    status: int,
) -> None:
    from mlgov.server.audit.service import append_call_record

    ctx.session.rollback()
    ctx.session.close()
    session = runtime.session_factory()
    try:
        append_call_record(
            session,
            runtime.settings,
            ctx,
            method=request.method,
            path=request.url.path,
            status=status,
            parameters=request_parameters(request, body),
            response_elements=None,
            error=error,
        )
        session.commit()
    except Exception:
        session.rollback()
        # Losing a failure record must not hide the failure itself; it is logged for operators.
        logger.exception("could not write the audit record of failed request %s", ctx.request_id)
    finally:
        session.close()


class Router(APIRouter):
    """An APIRouter whose routes must each name the action they perform (``service:Verb``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(route_class=AuditedRoute, **kwargs)

    def action_route(
        self,
        method: str,
        path: str,
        *,
        action: str,
        scope: Scope | None = None,
        stream_body: bool = False,
        data_body: bool = False,
        shared_by: str | None = None,
        prepare: Preparer | None = None,
        long_running: bool = False,
        **kwargs: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare a route: its action, where the action must be granted, and its options.

        ``stream_body`` leaves the request body unread for the endpoint to stream (uploads);
        ``data_body`` marks a body of data (invocations, labels) that the audit trail records by
        size and content type, never by content;
        ``shared_by`` names a resource grant (``"model-group:read"``) that also admits callers
        of other accounts the resource is shared with;
        ``prepare(request, body)`` does a call's pure work on its body (parsing, decoding) outside
        its transaction, so that it does not lengthen the SQLite write turn; the endpoint takes the
        result, or the error, with :func:`prepared` once it has authorized;
        ``long_running`` (a job run now, a query over the whole trail) runs the call in a worker
        thread even where calls otherwise run on the event loop (:func:`offload`), so that the
        server still answers ``/health`` meanwhile.
        """
        extra: dict[str, Any] = {
            **kwargs.pop("openapi_extra", {}),
            ACTION_KEY: action,
            SCOPE_KEY: (scope or infer_scope(path)).value,
        }
        if stream_body:
            extra[STREAM_KEY] = True
        if data_body:
            extra[DATA_KEY] = True
        if shared_by:
            extra[SHARED_KEY] = shared_by
        if prepare is not None:
            extra[PREPARE_KEY] = prepare
        if long_running:
            extra[LONG_RUNNING_KEY] = True
        operation_id = kwargs.pop("operation_id", action.split(":", 1)[1])
        return self.api_route(
            path, methods=[method], openapi_extra=extra, operation_id=operation_id, **kwargs
        )

    def read(self, path: str, *, action: str, **kwargs: Any) -> Callable[..., Any]:
        return self.action_route("GET", path, action=action, **kwargs)

    def create(self, path: str, *, action: str, **kwargs: Any) -> Callable[..., Any]:
        kwargs.setdefault("status_code", 201)
        return self.action_route("POST", path, action=action, **kwargs)

    def post(self, path: str, *, action: str, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        return self.action_route("POST", path, action=action, **kwargs)

    def patch(self, path: str, *, action: str, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        return self.action_route("PATCH", path, action=action, **kwargs)

    def put(self, path: str, *, action: str, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        return self.action_route("PUT", path, action=action, **kwargs)

    def delete(self, path: str, *, action: str, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        kwargs.setdefault("status_code", 204)
        return self.action_route("DELETE", path, action=action, **kwargs)
