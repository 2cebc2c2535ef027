"""The audit trail: records, SQL queries, verification, digests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from mlgov.sdk._http import Json, Transport


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class AuditApi:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def records(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        account: str | None = None,
        principal: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        page_size: int = 500,
    ) -> Iterator[Json]:
        params = {
            "since": _iso(since),
            "until": _iso(until),
            "account": account,
            "principal": principal,
            "action": action,
            "outcome": outcome,
        }
        return self._t.paginate("/audit/records", params, page_size=page_size)

    def query(
        self,
        sql: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        max_rows: int = 1000,
    ) -> Json:
        """Run one SELECT over the table ``audit_records``; returns columns, rows, truncated."""
        body = {"sql": sql, "since": _iso(since), "until": _iso(until), "max_rows": max_rows}
        result: Json = self._t.request("POST", "/audit/query", json=body)
        return result

    def verify(self, *, since: datetime | None = None, until: datetime | None = None) -> Json:
        result: Json = self._t.request(
            "POST", "/audit/verify", json={"since": _iso(since), "until": _iso(until)}
        )
        return result

    def digests(self) -> Iterator[Json]:
        return self._t.paginate("/audit/digests")

    def seal(self) -> list[Json]:
        result: list[Json] = self._t.request("POST", "/audit/digests/seal")["items"]
        return result

    def public_key(self) -> Json:
        result: Json = self._t.request("GET", "/audit/public-key")
        return result
