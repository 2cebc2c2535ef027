"""The Python SDK: ``Client`` over httpx. Never imports ``mlgov.server``."""

from __future__ import annotations

from mlgov.sdk._client import Client

__all__ = ["Client"]
