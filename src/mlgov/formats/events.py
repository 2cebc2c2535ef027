"""The event envelope on the bus (EventBridge's shape: ``detail-type`` and friends)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ENVELOPE_VERSION = "0"


class Event(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    version: str = ENVELOPE_VERSION
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str = Field(description="mlgov.<domain> for mlgov's own events; users pick their own")
    account: str = Field(description="the id of the account the event belongs to")
    time: datetime
    region: str = "local"
    resources: list[str] = Field(default_factory=list)
    detail: dict[str, Any] = Field(default_factory=dict)

    def envelope(self) -> dict[str, Any]:
        """The JSON object routed by rules and delivered to targets."""
        return self.model_dump(mode="json", by_alias=True)
