"""The model registry: groups, versions with artifacts, approvals, aliases, promotion, cards."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from mlgov.errors import ErrorCode, IntegrityError
from mlgov.sdk._http import API_PREFIX, Json, Transport, rebuild_error

CHUNK = 1024 * 1024


def _chunks(source: str | Path | bytes | IO[bytes]) -> Iterator[bytes]:
    if isinstance(source, bytes):
        yield source
        return
    if isinstance(source, str | Path):
        with open(source, "rb") as handle:
            yield from iter(lambda: handle.read(CHUNK), b"")
        return
    yield from iter(lambda: source.read(CHUNK), b"")


class RegistryApi:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    @staticmethod
    def _group(account: str, group: str) -> str:
        return f"/accounts/{account}/model-groups/{group}"

    def _version(self, account: str, group: str, version: int) -> str:
        return f"{self._group(account, group)}/versions/{version}"

    # artifacts
    def upload_artifact(self, account: str, source: str | Path | bytes | IO[bytes]) -> Json:
        """Stream a file, bytes or binary file object up; returns ``{sha256, size}``."""
        response = self._t.http.post(
            f"{API_PREFIX}/accounts/{account}/artifacts",
            content=_chunks(source),
            headers={"content-type": "application/octet-stream"},
        )
        if response.status_code >= 400:
            raise rebuild_error(response)
        result: Json = response.json()
        return result

    def download_artifact(self, account: str, group: str, version: int, target: str | Path) -> Json:
        """Stream the artifact to ``target`` and check its SHA-256; raises IntegrityError."""
        return download_verified(
            self._t, f"{API_PREFIX}{self._version(account, group, version)}/artifact", target
        )

    # groups
    def create_group(
        self, account: str, name: str, description: str = "", tags: dict[str, str] | None = None
    ) -> Json:
        body = {"name": name, "description": description, "tags": tags or {}}
        result: Json = self._t.request("POST", f"/accounts/{account}/model-groups", json=body)
        return result

    def list_groups(self, account: str) -> Iterator[Json]:
        return self._t.paginate(f"/accounts/{account}/model-groups")

    def get_group(self, account: str, group: str) -> Json:
        result: Json = self._t.request("GET", self._group(account, group))
        return result

    def update_group(self, account: str, group: str, **changes: Any) -> Json:
        result: Json = self._t.request("PATCH", self._group(account, group), json=changes)
        return result

    def shared_groups(self, account: str) -> list[Json]:
        result: list[Json] = self._t.request("GET", f"/accounts/{account}/shared-model-groups")
        return result

    # versions
    def create_version(
        self,
        account: str,
        group: str,
        *,
        flavor: str,
        artifact: str | Path | bytes | IO[bytes] | None = None,
        artifact_sha256: str | None = None,
        **fields: Any,
    ) -> Json:
        """Register a version from ``artifact`` (uploaded first) or a known ``artifact_sha256``."""
        if artifact is not None:
            artifact_sha256 = self.upload_artifact(account, artifact)["sha256"]
        if artifact_sha256 is None:
            raise ValueError("give artifact= or artifact_sha256=")
        body = {"artifact_sha256": artifact_sha256, "flavor": flavor, **fields}
        result: Json = self._t.request("POST", f"{self._group(account, group)}/versions", json=body)
        return result

    def list_versions(self, account: str, group: str) -> Iterator[Json]:
        return self._t.paginate(f"{self._group(account, group)}/versions")

    def search_versions(
        self,
        account: str,
        *,
        group: str | None = None,
        approval_status: str | None = None,
        tag: str | None = None,
        alias: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        page_size: int = 100,
    ) -> Iterator[Json]:
        params = {
            "group": group,
            "approval_status": approval_status,
            "tag": tag,
            "alias": alias,
            "created_after": created_after.isoformat() if created_after else None,
            "created_before": created_before.isoformat() if created_before else None,
        }
        return self._t.paginate(f"/accounts/{account}/model-versions", params, page_size=page_size)

    def get_version(self, account: str, group: str, version: int) -> Json:
        result: Json = self._t.request("GET", self._version(account, group, version))
        return result

    def update_version(self, account: str, group: str, version: int, **changes: Any) -> Json:
        result: Json = self._t.request(
            "PATCH", self._version(account, group, version), json=changes
        )
        return result

    # approvals
    def approve(
        self,
        account: str,
        group: str,
        version: int,
        comment: str = "",
        if_status: str | None = None,
    ) -> Json:
        body = {"comment": comment, "if_status": if_status}
        result: Json = self._t.request(
            "POST", f"{self._version(account, group, version)}/approve", json=body
        )
        return result

    def reject(
        self,
        account: str,
        group: str,
        version: int,
        comment: str = "",
        if_status: str | None = None,
    ) -> Json:
        body = {"comment": comment, "if_status": if_status}
        result: Json = self._t.request(
            "POST", f"{self._version(account, group, version)}/reject", json=body
        )
        return result

    def approvals(self, account: str, group: str, version: int) -> list[Json]:
        result: list[Json] = self._t.request(
            "GET", f"{self._version(account, group, version)}/approvals"
        )
        return result

    # aliases
    def set_alias(self, account: str, group: str, alias: str, version: int) -> Json:
        result: Json = self._t.request(
            "PUT", f"{self._group(account, group)}/aliases/{alias}", json={"version": version}
        )
        return result

    def delete_alias(self, account: str, group: str, alias: str) -> None:
        self._t.request("DELETE", f"{self._group(account, group)}/aliases/{alias}")

    def aliases(self, account: str, group: str) -> list[Json]:
        result: list[Json] = self._t.request("GET", f"{self._group(account, group)}/aliases")
        return result

    # promotion, grants, settings
    def promote(
        self,
        account: str,
        group: str,
        version: int,
        target_account: str,
        target_group: str | None = None,
        comment: str = "",
    ) -> Json:
        body = {"target_account": target_account, "target_group": target_group, "comment": comment}
        result: Json = self._t.request(
            "POST", f"{self._version(account, group, version)}/promote", json=body
        )
        return result

    def grant(self, account: str, group: str, grantee: str, permissions: list[str]) -> Json:
        result: Json = self._t.request(
            "PUT",
            f"{self._group(account, group)}/grants/{grantee}",
            json={"permissions": permissions},
        )
        return result

    def revoke_grant(self, account: str, group: str, grantee: str) -> None:
        self._t.request("DELETE", f"{self._group(account, group)}/grants/{grantee}")

    def grants(self, account: str, group: str) -> list[Json]:
        result: list[Json] = self._t.request("GET", f"{self._group(account, group)}/grants")
        return result

    def settings(self, account: str) -> Json:
        result: Json = self._t.request("GET", f"/accounts/{account}/registry-settings")
        return result

    def update_settings(self, account: str, **settings: Any) -> Json:
        result: Json = self._t.request(
            "PUT", f"/accounts/{account}/registry-settings", json=settings
        )
        return result

    # model cards
    def write_card(
        self,
        account: str,
        group: str,
        version: int,
        content: dict[str, Any],
        risk_rating: str | None = None,
    ) -> Json:
        result: Json = self._t.request(
            "PUT",
            f"{self._version(account, group, version)}/card",
            json={"content": content, "risk_rating": risk_rating},
        )
        return result

    def import_card(self, account: str, group: str, version: int, card: dict[str, Any]) -> Json:
        result: Json = self._t.request(
            "POST", f"{self._version(account, group, version)}/card/import", json={"card": card}
        )
        return result

    def set_card_status(self, account: str, group: str, version: int, status: str) -> Json:
        result: Json = self._t.request(
            "POST", f"{self._version(account, group, version)}/card/status", json={"status": status}
        )
        return result

    def card(self, account: str, group: str, version: int) -> Json:
        result: Json = self._t.request("GET", f"{self._version(account, group, version)}/card")
        return result

    def card_revisions(self, account: str, group: str, version: int) -> list[Json]:
        result: list[Json] = self._t.request(
            "GET", f"{self._version(account, group, version)}/card/revisions"
        )
        return result

    def export_card(self, account: str, group: str, version: int, format: str = "json") -> str:
        """The card as ``json``, ``markdown`` or ``html`` text."""
        response = self._t.http.get(
            f"{API_PREFIX}{self._version(account, group, version)}/card/export",
            params={"format": format},
        )
        if response.status_code >= 400:
            raise rebuild_error(response)
        return response.text


def download_verified(transport: Transport, path: str, target: str | Path) -> Json:
    """Stream ``path`` to ``target``, checking the SHA-256 the server names; never a bad file."""
    digest, size = hashlib.sha256(), 0
    partial = Path(f"{target}.partial")
    with transport.http.stream("GET", path) as response:
        if response.status_code >= 400:
            response.read()
            raise rebuild_error(response)
        expected = response.headers.get("x-mlgov-sha256", "")
        try:
            with open(partial, "wb") as out:
                for chunk in response.iter_bytes(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        except Exception as exc:  # the server aborts a stream whose bytes fail their hash
            partial.unlink(missing_ok=True)
            raise IntegrityError(
                f"the download broke off: {exc}", code=ErrorCode.BLOB_CORRUPTED
            ) from exc
    if digest.hexdigest() != expected:
        partial.unlink(missing_ok=True)
        raise IntegrityError(
            f"downloaded file hashes to {digest.hexdigest()}, expected {expected}",
            code=ErrorCode.BLOB_CORRUPTED,
        )
    partial.replace(target)
    return {"sha256": expected, "size": size, "path": str(target)}
