"""Where a governed call's blocking steps run: on the event loop on SQLite, in threads otherwise."""

from __future__ import annotations

import threading
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.testclient import TestClient

from mlgov.errors import InvalidRequest
from mlgov.server.kit.context import Scope, context_of
from mlgov.server.kit.routing import Router


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
