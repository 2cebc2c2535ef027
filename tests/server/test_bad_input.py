"""Bad input gets a 4xx with a machine-readable code, from every route; never a 500."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.server.routes import api_routes, build_world, method_of


def _error(response) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert 400 <= response.status_code < 500, (
        response.request.url,
        response.status_code,
        response.text,
    )
    error = response.json()["error"]
    assert error["code"] and error["message"]
    return error  # type: ignore[no-any-return]


def test_every_body_route_rejects_bad_bodies(app: FastAPI, admin, admin_token: str) -> None:  # type: ignore[no-untyped-def]
    world = build_world(admin)
    http = TestClient(app, raise_server_exceptions=False)
    auth = {"authorization": f"Bearer {admin_token}"}
    body_routes = [r for r in api_routes(app) if r.body_field is not None]
    assert len(body_routes) >= 8
    for route in body_routes:
        method = method_of(route)
        path = world.path_for(route)
        good = world.body_for(route)

        malformed = http.request(
            method, path, content=b'{"name": ', headers={**auth, "content-type": "application/json"}
        )
        assert _error(malformed)["code"] == "MALFORMED_REQUEST_BODY", route.path

        # Python's parser takes NaN and Infinity; JSON (and PostgreSQL's JSONB) does not.
        for constant in ("NaN", "-Infinity"):
            not_json = http.request(
                method,
                path,
                content=json.dumps({**good, "x": 1.5}).replace("1.5", constant).encode(),
                headers={**auth, "content-type": "application/json"},
            )
            error = _error(not_json)
            assert error["code"] == "MALFORMED_REQUEST_BODY", (route.path, error)
            assert constant.lstrip("-") in error["message"], error

        wrong_type = http.request(method, path, json=["not", "an", "object"], headers=auth)
        assert _error(wrong_type)["code"] == "INVALID_REQUEST", route.path

        unknown = http.request(method, path, json={**good, "surprise": 1}, headers=auth)
        error = _error(unknown)
        assert error["code"] == "INVALID_REQUEST" and "surprise" in error["message"], route.path

        huge = http.request(
            method,
            path,
            content=b"x" * (65 * 1024),
            headers={**auth, "content-type": "application/json"},
        )
        assert huge.status_code == 413 and _error(huge)["code"] == "REQUEST_TOO_LARGE"


def test_every_list_route_rejects_bad_pagination(app: FastAPI, admin, admin_token: str) -> None:  # type: ignore[no-untyped-def]
    world = build_world(admin)
    http = TestClient(app, raise_server_exceptions=False)
    auth = {"authorization": f"Bearer {admin_token}"}
    list_routes = [
        r
        for r in api_routes(app)
        if "page_size" in {p.name for p in r.dependant.query_params}
        or any("page_size" in {q.name for q in d.query_params} for d in r.dependant.dependencies)
    ]
    assert len(list_routes) >= 6
    for route in list_routes:
        path = world.path_for(route)
        for token in ("garbage!", "eyJ2IjoyfQ", "x" * 600):
            response = http.get(path, params={"next_page_token": token}, headers=auth)
            assert _error(response)["code"] in ("INVALID_PAGINATION_TOKEN", "INVALID_REQUEST"), (
                route.path
            )
        for size in ("0", "-1", "100000", "ten"):
            assert (
                _error(http.get(path, params={"page_size": size}, headers=auth))["code"]
                == "INVALID_REQUEST"
            )


def test_pagination_walks_every_item_once(admin) -> None:  # type: ignore[no-untyped-def]
    for n in range(7):
        admin.identity.create_account(f"acct-{n}", "dev")
    seen = [a["name"] for a in admin._transport.paginate("/accounts", page_size=3)]
    assert seen == [f"acct-{n}" for n in range(7)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "UPPER", "environment": "dev"}, "name"),
        ({"name": "ok", "environment": "qa"}, "environment"),
        ({"name": "ok", "environment": "dev", "labels": {"k": 5}}, "labels"),
        ({"environment": "dev"}, "name"),
    ],
)
def test_account_validation_names_the_field(
    http: TestClient, admin_token: str, body: dict, field: str
) -> None:  # type: ignore[type-arg]
    response = http.post(
        "/api/v1/accounts", json=body, headers={"authorization": f"Bearer {admin_token}"}
    )
    error = _error(response)
    assert error["code"] == "INVALID_REQUEST" and field in error["message"]


def test_auth_header_variants_are_401(http: TestClient, admin_token: str) -> None:
    for header in (
        "",
        "Basic abc",
        "Bearer",
        "Bearer mlgov_nope",
        "Bearer mlgov_key-1.x",
        f"Bearer {admin_token}x",
        "Bearer " + admin_token.replace("mlgov_", ""),
    ):
        response = http.get("/api/v1/accounts", headers={"authorization": header} if header else {})
        assert response.status_code == 401 and _error(response)["code"] == "UNAUTHENTICATED", header


def test_unknown_route_and_method_are_4xx(http: TestClient, admin_token: str) -> None:
    auth = {"authorization": f"Bearer {admin_token}"}
    assert _error(http.get("/api/v1/nope", headers=auth))["code"] == "NOT_FOUND"
    assert http.put("/api/v1/accounts", headers=auth).status_code == 405
