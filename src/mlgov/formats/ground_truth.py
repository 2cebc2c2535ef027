"""Ground-truth records: JSON lines in the SageMaker Model Monitor layout.

One record per line::

    {"groundTruthData": {"data": "1", "encoding": "CSV"},
     "eventMetadata": {"eventId": "<id>"},
     "eventVersion": "0"}

``data`` holds only the label. ``eventMetadata.eventId`` is the join key: it equals the capture's
``inferenceId`` when the capture has one, else the capture's ``eventId``. SageMaker accepts only the
``CSV`` encoding for ground truth; so does this reader.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
from pydantic import BaseModel, ConfigDict, Field

from mlgov.errors import ErrorCode, InvalidRequest

EVENT_VERSION = "0"
KEY_COLUMN = "eventId"
LABEL_COLUMN = "label"

_WIRE_SCHEMA = pa.schema(
    [
        ("groundTruthData", pa.struct([("data", pa.string()), ("encoding", pa.string())])),
        ("eventMetadata", pa.struct([("eventId", pa.string())])),
        ("eventVersion", pa.string()),
    ]
)


class GroundTruthData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str
    encoding: Literal["CSV"] = "CSV"


class GroundTruthEventMetadata(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    event_id: str = Field(alias="eventId")


class GroundTruthRecord(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    ground_truth_data: GroundTruthData = Field(alias="groundTruthData")
    event_metadata: GroundTruthEventMetadata = Field(alias="eventMetadata")
    event_version: str = Field(default=EVENT_VERSION, alias="eventVersion")

    @classmethod
    def for_label(cls, event_id: str, label: object) -> GroundTruthRecord:
        return cls(
            ground_truth_data=GroundTruthData(data=str(label)),
            event_metadata=GroundTruthEventMetadata(event_id=event_id),
        )

    def to_line(self) -> str:
        return self.model_dump_json(by_alias=True)


def ground_truth_table(records: Iterable[GroundTruthRecord]) -> pa.Table:
    """Records as an Arrow table with ``eventId`` and ``label`` (string) columns."""
    keys: list[str] = []
    labels: list[str] = []
    for record in records:
        keys.append(record.event_metadata.event_id)
        labels.append(record.ground_truth_data.data)
    return pa.table(
        {KEY_COLUMN: pa.array(keys, pa.string()), LABEL_COLUMN: pa.array(labels, pa.string())}
    )


def read_ground_truth(source: str | Path | bytes | IO[bytes]) -> pa.Table:
    """Parse ground-truth JSON lines into a table with ``eventId`` and ``label`` (string) columns.

    Parsing is columnar (Arrow's JSON reader), not record by record. Records without a label or
    key, or with an encoding other than CSV, are refused, naming the first such record (1-based,
    counting records, not blank lines).
    """
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    elif isinstance(source, Path):
        source = str(source)
    options = pa_json.ParseOptions(explicit_schema=_WIRE_SCHEMA, unexpected_field_behavior="ignore")
    try:
        raw = pa_json.read_json(source, parse_options=options)
    except pa.ArrowInvalid as error:
        raise InvalidRequest(
            f"ground truth is not JSON lines in the SageMaker layout "
            f"(groundTruthData.data must be a string): {error}",
            code=ErrorCode.INVALID_DATA,
        ) from error
    flat = raw.flatten()
    keys = flat.column("eventMetadata.eventId")
    labels = flat.column("groundTruthData.data")
    encodings = flat.column("groundTruthData.encoding")
    _refuse_first(pc.is_null(keys), "has no eventMetadata.eventId")
    _refuse_first(pc.is_null(labels), "has no groundTruthData.data")
    _refuse_first(
        pc.invert(pc.fill_null(pc.equal(pc.utf8_upper(encodings), "CSV"), False)),
        "has an encoding other than CSV (the only one SageMaker defines for ground truth)",
    )
    return pa.table({KEY_COLUMN: keys, LABEL_COLUMN: labels})


def write_ground_truth(records: Iterable[GroundTruthRecord], target: IO[str]) -> int:
    """Write records as JSON lines; returns how many were written."""
    written = 0
    for record in records:
        target.write(record.to_line())
        target.write("\n")
        written += 1
    return written


def _refuse_first(bad: pa.ChunkedArray, problem: str) -> None:
    if pc.any(bad).as_py():
        position = pc.index(bad, True).as_py() + 1
        count = pc.sum(bad).as_py()
        raise InvalidRequest(
            f"ground-truth record {position} {problem} ({count} such records)",
            code=ErrorCode.INVALID_DATA,
        )
