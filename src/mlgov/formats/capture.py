"""Captured invocations in the SageMaker Model Monitor JSON-lines layout.

One JSON object per line::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                       "data": "1,2,3", "encoding": "CSV"},
                     "endpointOutput": {...}},
     "eventMetadata": {"eventId": "...", "inferenceId": "...", "inferenceTime": "..."},
     "eventVersion": "0"}

Attribute names follow the SageMaker record-preprocessor contract (``record.endpoint_input.data``,
``record.event_metadata.event_id``), so a ``preprocess_handler`` written for SageMaker runs here
unchanged; JSON keys keep the wire spelling through aliases.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlgov.errors import ErrorCode, InvalidRequest

CAPTURE_EVENT_VERSION = "0"


class CaptureEncoding(StrEnum):
    CSV = "CSV"
    JSON = "JSON"
    BASE64 = "BASE64"


class CaptureMode(StrEnum):
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"


class _Wire(BaseModel):
    # Unknown keys survive a parse/dump round trip: SageMaker adds fields over time.
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    def to_json_line(self) -> str:
        """Serialize as one JSON-lines record with the wire key names."""
        return self.model_dump_json(by_alias=True, exclude_none=True)


class CapturedPayload(_Wire):
    """One side of an invocation: the request body (``INPUT``) or the response body (``OUTPUT``)."""

    observed_content_type: str | None = Field(default=None, alias="observedContentType")
    mode: CaptureMode | None = None
    data: str
    encoding: CaptureEncoding

    @property
    def observedContentType(self) -> str | None:
        """The SageMaker preprocessor contract's spelling of ``observed_content_type``."""
        return self.observed_content_type

    def payload_bytes(self) -> bytes:
        """Return the body as the endpoint saw it, decoding ``BASE64`` captures."""
        if self.encoding is CaptureEncoding.BASE64:
            try:
                return base64.b64decode(self.data, validate=True)
            except binascii.Error as exc:
                raise InvalidRequest(
                    f"capture data is not valid base64: {exc}", code=ErrorCode.INVALID_DATA
                ) from exc
        return self.data.encode("utf-8")

    def payload_text(self) -> str:
        """Return the body as text (UTF-8), decoding ``BASE64`` captures."""
        try:
            return self.payload_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequest(
                "capture data is not UTF-8 text", code=ErrorCode.INVALID_DATA
            ) from exc

    def payload_json(self) -> Any:
        """Parse the body as JSON."""
        try:
            return json.loads(self.payload_text())
        except json.JSONDecodeError as exc:
            raise InvalidRequest(
                f"capture data is not valid JSON: {exc}", code=ErrorCode.INVALID_DATA
            ) from exc


class CaptureData(_Wire):
    endpoint_input: CapturedPayload | None = Field(default=None, alias="endpointInput")
    endpoint_output: CapturedPayload | None = Field(default=None, alias="endpointOutput")
    batch_transform_output: CapturedPayload | None = Field(
        default=None, alias="batchTransformOutput"
    )


class EventMetadata(_Wire):
    event_id: str | None = Field(default=None, alias="eventId")
    inference_id: str | None = Field(default=None, alias="inferenceId")
    inference_time: datetime | None = Field(default=None, alias="inferenceTime")
    custom_attributes: str | None = Field(default=None, alias="customAttributes")


class CaptureRecord(_Wire):
    """One captured invocation."""

    capture_data: CaptureData = Field(alias="captureData")
    event_metadata: EventMetadata = Field(default_factory=EventMetadata, alias="eventMetadata")
    event_version: str = Field(default=CAPTURE_EVENT_VERSION, alias="eventVersion")

    # The SageMaker preprocessor receives these three parts directly on the record.
    @property
    def endpoint_input(self) -> CapturedPayload | None:
        return self.capture_data.endpoint_input

    @property
    def endpoint_output(self) -> CapturedPayload | None:
        return self.capture_data.endpoint_output

    @property
    def batch_transform_output(self) -> CapturedPayload | None:
        return self.capture_data.batch_transform_output
