"""Keyset pagination with opaque tokens: ``page_size`` in, ``next_page_token`` out."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict

from mlgov.errors import ErrorCode, InvalidRequest

T = TypeVar("T")

MAX_PAGE_SIZE = 1000


class Page(BaseModel, Generic[T]):
    model_config = ConfigDict(from_attributes=True)

    items: list[T]
    next_page_token: str | None = None


class PageRequest(BaseModel):
    page_size: int
    after: str | None


def encode_token(after: str) -> str:
    raw = json.dumps({"v": 1, "after": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> str:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload: Any = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(payload, dict) or payload.get("v") != 1:
            raise ValueError("unknown token version")
        after = payload["after"]
        if not isinstance(after, str):
            raise ValueError("bad cursor")
        return after
    except (ValueError, KeyError, UnicodeError, binascii.Error) as exc:
        raise InvalidRequest(
            "next_page_token is not a token this server issued; start again without it",
            code=ErrorCode.INVALID_PAGINATION_TOKEN,
        ) from exc


async def page_request(  # no I/O: async, so that FastAPI runs it on the loop, not in a thread
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    next_page_token: Annotated[str | None, Query(max_length=512)] = None,
) -> PageRequest:
    return PageRequest(
        page_size=page_size, after=decode_token(next_page_token) if next_page_token else None
    )


def next_token(rows: Sequence[Any], page: PageRequest, key: str = "id") -> str | None:
    """Callers fetch ``page_size + 1`` rows; a surplus row means there is another page."""
    if len(rows) <= page.page_size:
        return None
    return encode_token(str(getattr(rows[page.page_size - 1], key)))
