"""The route index in front of the app's table picks the route the table itself would pick."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.routing import Match

from mlgov.server.api import api_routes
from mlgov.server.kit.routing import AuditedRoute, RouteIndex

ROUTES = api_routes()
INDEX = RouteIndex(ROUTES)
SAMPLES = {"int": "7", "path": "a/b", "float": "1.5"}


def _path(route: AuditedRoute) -> str:
    """A concrete path the route takes: every parameter given a value its convertor accepts."""
    return re.sub(
        r"{[^}:]+(?::([^}]+))?}", lambda m: SAMPLES.get(m.group(1) or "", "x-1"), route.path
    )


def _scope(path: str, method: str, **extra: Any) -> dict[str, Any]:
    return {"type": "http", "path": path, "method": method, "root_path": "", **extra}


def _table_pick(scope: dict[str, Any]) -> tuple[Match, AuditedRoute | None]:
    """What FastAPI's loop over the table picks: the first full match, else the first partial."""
    partial = None
    for route in ROUTES:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return match, route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return (Match.PARTIAL, partial) if partial else (Match.NONE, None)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{sorted(r.methods)[0]} {r.path}")
def test_every_route_is_found_as_the_table_finds_it(route: AuditedRoute) -> None:
    scope = _scope(_path(route), sorted(route.methods)[0])
    match, child_scope = INDEX.matches(scope)
    expected, picked = _table_pick(scope)
    assert (match, child_scope.get("route")) == (expected, picked)
    assert match is Match.FULL  # the sample path is the route's own


def test_another_method_is_partial_and_a_foreign_path_is_none() -> None:
    route = next(r for r in ROUTES if r.path.endswith("/model-groups/{group}/versions"))
    assert {"GET", "POST"} <= {m for r in ROUTES if r.path == route.path for m in r.methods}
    match, child_scope = INDEX.matches(_scope(_path(route), "DELETE"))
    assert match is Match.PARTIAL and child_scope["route"].path == route.path  # a 405
    assert INDEX.matches(_scope("/api/v1/nowhere", "GET")) == (Match.NONE, {})
    assert INDEX.matches(_scope("/healthz", "GET")) == (Match.NONE, {})
    # Under a root path, the table behind decides.
    under_root = _scope("/prefix" + _path(route), "GET", root_path="/prefix")
    assert INDEX.matches(under_root) == (Match.NONE, {})
    assert INDEX.matches({"type": "websocket", "path": _path(route)}) == (Match.NONE, {})


def test_a_parameter_does_not_cross_a_segment() -> None:
    route = next(r for r in ROUTES if r.path.endswith("/model-groups/{group}/versions"))
    scope = _scope(_path(route).replace("/x-1/versions", "/x/y/versions"), "GET")
    assert INDEX.matches(scope)[0] == _table_pick(scope)[0]
