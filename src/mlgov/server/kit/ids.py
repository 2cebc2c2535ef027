"""Resource ids: a short type prefix and a time-ordered random part (sortable, like UUIDv7)."""

from __future__ import annotations

import os
import time
import uuid


def new_id(prefix: str) -> str:
    """``<prefix>-<12 hex ms timestamp><14 hex random>``; lexical order is creation order."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}-{millis:012x}{os.urandom(7).hex()}"


def new_uuid() -> str:
    return str(uuid.uuid4())
