"""Keep secrets out of audit records and logs."""

from __future__ import annotations

import json
from typing import Any

REDACTED = "***"
SENSITIVE_KEYS = frozenset(
    {
        "secret",
        "password",
        "api_key",
        "apikey",
        "authorization",
        "private_key",
        "access_token",
        "refresh_token",
        "client_secret",
        "token",
        "credentials",
    }
)
SENSITIVE_SUFFIXES = ("_secret", "_password", "_token_value")


def is_sensitive(key: str) -> bool:
    lowered = key.lower()
    return lowered in SENSITIVE_KEYS or lowered.endswith(SENSITIVE_SUFFIXES)


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if is_sensitive(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, ASCII only: the same bytes on every database and platform."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def bounded_json(value: Any, limit: int) -> str | None:
    """Canonical JSON, or a truncation marker past ``limit`` bytes (as CloudTrail truncates)."""
    if value is None:
        return None
    text = canonical_json(redact(value))
    if len(text) <= limit:
        return text
    return canonical_json({"truncated": True, "size": len(text), "prefix": text[: limit // 2]})
