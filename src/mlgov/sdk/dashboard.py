"""The model dashboard: every endpoint the key may see, with versions, monitors and alarms."""

from __future__ import annotations

from mlgov.sdk._http import Json, Transport


class DashboardApi:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def get(self, account: str | None = None) -> list[Json]:
        """One row per endpoint, across the accounts the key may see (or only ``account``)."""
        params = {"account": account} if account else None
        result: Json = self._t.request("GET", "/dashboard", params=params)
        rows: list[Json] = result["endpoints"]
        return rows
