"""The governed call's routing: the API's one flat route table behind authorization, and where a
call's blocking steps run (on the event loop on SQLite, in threads otherwise)."""

from __future__ import annotations

import threading
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.testclient import TestClient

from mlgov.errors import InvalidRequest
from mlgov.server import api
from mlgov.server.api import api_routes
from mlgov.server.identity.auth import api_router
from mlgov.server.kit.context import Scope, context_of
from mlgov.server.kit.routing import API_PREFIX, AuditedRoute, Router, prepared


async def loop_thread() -> int:
    return threading.get_ident()


LoopThread = Annotated[int, Depends(loop_thread)]
router = Router(prefix="/threads")


@router.read("/short", action="test:Short", scope=Scope.ANY)
def short_call(loop: LoopThread) -> dict[str, bool]:
    return {"on_the_loop": threading.get_ident() == loop}


@router.read("/long", action="test:Long", scope=Scope.ANY, long_running=True)
def long_call(loop: LoopThread) -> dict[str, bool]:
    return {"on_the_loop": threading.get_ident() == loop}


def _thread_of_prepare(_request: Request, _body: bytes) -> int:
    return threading.get_ident()


@router.post("/prepared", action="test:Prepared", scope=Scope.ANY, prepare=_thread_of_prepare)
def prepared_call(request: Request, loop: LoopThread) -> dict[str, bool]:
    return {"prepared_on_the_loop": prepared(request) == loop}


@router.post(
    "/prepared-long",
    action="test:PreparedLong",
    scope=Scope.ANY,
    prepare=_thread_of_prepare,
    long_running=True,
)
def prepared_long_call(request: Request, loop: LoopThread) -> dict[str, bool]:
    return {"prepared_on_the_loop": prepared(request) == loop}


effects: list[bool] = []  # for each after-commit effect that ran: whether on the loop's thread


def _effect_of(request: Request, loop: int) -> None:
    context_of(request).after_commit.append(lambda: effects.append(threading.get_ident() == loop))


@router.create("/effect", action="test:Effect", scope=Scope.ANY)
def call_with_effect(request: Request, loop: LoopThread) -> dict[str, bool]:
    _effect_of(request, loop)
    return {"ok": True}


@router.create("/effect-then-failure", action="test:EffectThenFailure", scope=Scope.ANY)
def failing_call_with_effect(request: Request, loop: LoopThread) -> dict[str, bool]:
    _effect_of(request, loop)
    raise InvalidRequest("refused after the effect was queued")


@pytest.fixture
def http(app: FastAPI) -> TestClient:
    app.include_router(router)
    return TestClient(app, raise_server_exceptions=False)


def test_a_call_runs_on_the_loop_only_where_the_process_runs_its_calls_one_at_a_time(
    app: FastAPI, http: TestClient
) -> None:
    answer = http.get("/threads/short")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"on_the_loop": app.state.runtime.serializes_writes}


def test_a_long_running_call_runs_in_a_worker_thread_on_every_store(http: TestClient) -> None:
    answer = http.get("/threads/long")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"on_the_loop": False}


@pytest.mark.parametrize("processes", [1, 2])
def test_a_call_prepares_its_body_where_the_call_runs(
    app: FastAPI, http: TestClient, processes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With one process the body is prepared before the call queues, with several once it is
    # admitted; either way on the loop where the call runs there, never in a thread of its own.
    monkeypatch.setattr(app.state.runtime.settings.server, "processes", processes)
    answer = http.post("/threads/prepared", content=b"{}")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"prepared_on_the_loop": app.state.runtime.serializes_writes}
    answer = http.post("/threads/prepared-long", content=b"{}")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"prepared_on_the_loop": False}


def test_an_offloaded_endpoint_keeps_its_signature_for_the_openapi_document() -> None:
    paths = get_openapi(title="t", version="1", routes=router.routes)["paths"]
    operation = paths["/threads/short"]["get"]
    assert operation["operationId"] == "Short"
    assert [p["name"] for p in operation.get("parameters", [])] == []  # `loop` is a dependency
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["additionalProperties"] == {"type": "boolean"}
    assert "x-mlgov-long-running" not in paths["/threads/long"]["get"]


def test_after_commit_effects_run_in_a_worker_thread_and_only_after_a_commit(
    http: TestClient,
) -> None:
    effects.clear()
    assert http.post("/threads/effect-then-failure").status_code == 422
    assert effects == []
    assert http.post("/threads/effect").status_code == 201
    assert effects == [False]


def test_every_api_route_is_in_the_apps_own_table_behind_authorization(app: FastAPI) -> None:
    table = [route for route in app.router.routes if isinstance(route, AuditedRoute)]
    assert table == api_routes()  # which refuses a route outside the prefix or authorization


def test_a_domain_route_outside_authorization_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    stray = Router(prefix=API_PREFIX)  # not from api_router: no authorization dependency

    @stray.read("/stray", action="test:Stray", scope=Scope.ANY)
    def stray_call() -> dict[str, bool]:
        return {"ok": True}

    monkeypatch.setattr(api, "DOMAIN_ROUTERS", (*api.DOMAIN_ROUTERS, stray))
    with pytest.raises(TypeError, match="not behind the authorization dependency"):
        api.api_routes()
    unprefixed = api_router()
    unprefixed.prefix = ""  # as if declared without the API's prefix

    @unprefixed.read("/elsewhere", action="test:Elsewhere", scope=Scope.ANY)
    def elsewhere_call() -> dict[str, bool]:
        return {"ok": True}

    monkeypatch.setattr(api, "DOMAIN_ROUTERS", (*api.DOMAIN_ROUTERS[:-1], unprefixed))
    with pytest.raises(TypeError, match="is not an API route under /api/v1"):
        api.api_routes()


def test_calls_are_routed_under_a_root_path_and_a_wrong_method_is_405(
    app: FastAPI, admin_token: str
) -> None:
    auth = {"authorization": f"Bearer {admin_token}"}
    behind_a_proxy = TestClient(app, root_path="/mlgov", raise_server_exceptions=False)
    answer = behind_a_proxy.get("/mlgov/api/v1/accounts", headers=auth)
    assert answer.status_code == 200, answer.text
    direct = TestClient(app, raise_server_exceptions=False)
    assert direct.get("/api/v1/accounts", headers=auth).status_code == 200
    assert direct.delete("/api/v1/accounts", headers=auth).status_code == 405
    assert direct.get("/api/v1/accounts/x/nothing-here", headers=auth).status_code == 404
