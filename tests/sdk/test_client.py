from __future__ import annotations

import httpx
import pytest

import mlgov
from mlgov import Client, ErrorCode, NotFound, ServerError
from mlgov.errors import ERROR_CLASSES, MlgovError, error_from_code


def test_public_surface_is_locked() -> None:
    assert sorted(mlgov.__all__) == sorted(
        [
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
    )


def test_every_code_has_a_class() -> None:
    assert set(ERROR_CLASSES) == set(ErrorCode)


def test_errors_are_rebuilt_from_codes_only() -> None:
    error = error_from_code("ACCOUNT_NOT_FOUND", "gone", {"x": 1})
    assert isinstance(error, NotFound) and error.details == {"x": 1}
    newer = error_from_code("SOME_FUTURE_CODE", "new")
    assert type(newer) is MlgovError and newer.code == "SOME_FUTURE_CODE"


def _client(handler) -> Client:  # type: ignore[no-untyped-def]
    http = httpx.Client(base_url="http://mlgov.test", transport=httpx.MockTransport(handler))
    return Client(api_key="mlgov_key-1.s", http_client=http)


def test_client_sends_the_key_and_maps_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer mlgov_key-1.s"
        return httpx.Response(
            404, json={"error": {"code": "ACCOUNT_NOT_FOUND", "message": "no", "details": {}}}
        )

    with pytest.raises(NotFound) as caught:
        _client(handler).identity.get_account("x")
    assert caught.value.code == ErrorCode.ACCOUNT_NOT_FOUND


def test_non_json_errors_and_unreachable_servers() -> None:
    with pytest.raises(ServerError, match="502"):
        _client(lambda r: httpx.Response(502, text="bad gateway")).identity.whoami()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ServerError, match="cannot reach"):
        _client(refuse).identity.whoami()


def test_pagination_follows_tokens() -> None:
    pages = {None: (["a", "b"], "t1"), "t1": (["c"], None)}

    def handler(request: httpx.Request) -> httpx.Response:
        items, token = pages[request.url.params.get("next_page_token")]
        return httpx.Response(
            200, json={"items": [{"name": i} for i in items], "next_page_token": token}
        )

    assert [a["name"] for a in _client(handler).identity.list_accounts()] == ["a", "b", "c"]
