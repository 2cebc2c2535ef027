"""The HTTP layer of the SDK: auth header, error rebuilding, pagination."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from mlgov.errors import ErrorCode, MlgovError, ServerError, error_from_code

API_PREFIX = "/api/v1"
Json = dict[str, Any]


class Transport:
    """Sends requests to one mlgov server with one API key."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        http_client: httpx.Client | None = None,
        timeout: float = 30.0,
        user_agent: str = "mlgov-sdk",
    ) -> None:
        headers = {"user-agent": user_agent}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        if http_client is None:
            http_client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)
        http_client.headers.update(headers)
        self.http = http_client

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        headers = {"idempotency-key": idempotency_key} if idempotency_key else None
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self.http.request(
                method, f"{API_PREFIX}{path}", json=json, params=clean, headers=headers
            )
        except httpx.TransportError as exc:
            raise ServerError(
                f"cannot reach the mlgov server at {self.http.base_url}: {exc}",
                code=ErrorCode.INTERNAL_ERROR,
            ) from exc
        if response.status_code >= 400:
            raise rebuild_error(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def paginate(
        self, path: str, params: dict[str, Any] | None = None, page_size: int = 100
    ) -> Iterator[Json]:
        params = dict(params or {}, page_size=page_size)
        while True:
            page = self.request("GET", path, params=params)
            yield from page["items"]
            token = page.get("next_page_token")
            if not token:
                return
            params["next_page_token"] = token

    def close(self) -> None:
        self.http.close()


def rebuild_error(response: httpx.Response) -> MlgovError:
    try:
        error = response.json()["error"]
        return error_from_code(error["code"], error["message"], error.get("details"))
    except (ValueError, KeyError, TypeError):
        return ServerError(
            f"HTTP {response.status_code} from the server: {response.text[:500]}",
            code=ErrorCode.INTERNAL_ERROR,
        )
