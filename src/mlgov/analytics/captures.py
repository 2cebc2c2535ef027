"""Capture files as feature rows with their event metadata, from JSON-lines or compacted Parquet.

A capture hour is either the JSON-lines files the capture writer produced or, once the hour is
closed, one Parquet file holding the same records column by column (``captureData`` and
``eventMetadata`` as structs, ``eventVersion``). Both read into the same thing: per batch, the
decoded feature columns (outputs first, then inputs, as :mod:`mlgov.analytics.inputs` decodes
them) and, row for row, ``eventId``, ``inferenceId`` and ``inferenceTime``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq
from pydantic import ValidationError

from mlgov.analytics.inputs import (
    ReadOptions,
    _ordered_index_names,
    _rows_to_batch,
    decode_capture_batch,
)
from mlgov.analytics.merge import EVENT_ID, INFERENCE_ID, INFERENCE_TIME, as_utc_timestamps
from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.formats.capture import CaptureRecord

_PAYLOAD = pa.struct(
    [
        ("observedContentType", pa.string()),
        ("mode", pa.string()),
        ("data", pa.string()),
        ("encoding", pa.string()),
    ]
)
CAPTURE_SCHEMA = pa.schema(
    [
        (
            "captureData",
            pa.struct(
                [
                    ("endpointInput", _PAYLOAD),
                    ("endpointOutput", _PAYLOAD),
                    ("batchTransformOutput", _PAYLOAD),
                ]
            ),
        ),
        (
            "eventMetadata",
            pa.struct(
                [
                    (EVENT_ID, pa.string()),
                    (INFERENCE_ID, pa.string()),
                    (INFERENCE_TIME, pa.string()),
                ]
            ),
        ),
        ("eventVersion", pa.string()),
    ]
)
METADATA_COLUMNS = (EVENT_ID, INFERENCE_ID, INFERENCE_TIME)


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=ErrorCode.INVALID_DATA)


def read_capture_records(path: str | Path) -> pa.Table:
    """Parse a capture JSON-lines file into the columnar record layout Parquet compaction keeps."""
    try:
        return pajson.read_json(
            pa.input_stream(str(path), compression="detect"),
            parse_options=pajson.ParseOptions(
                explicit_schema=CAPTURE_SCHEMA, unexpected_field_behavior="ignore"
            ),
        )
    except pa.ArrowInvalid as exc:
        raise _invalid(f"{Path(path).name} is not SageMaker capture JSON-lines: {exc}") from exc


def _record_batches(path: Path, batch_size: int) -> Iterator[pa.RecordBatch]:
    if path.suffix == ".parquet":
        parquet = pq.ParquetFile(path)
        yield from parquet.iter_batches(batch_size=batch_size)
        return
    yield from read_capture_records(path).to_batches(max_chunksize=batch_size)


@dataclass(frozen=True)
class CaptureWindow:
    """Records with ``start <= inferenceTime < end`` are read; both bounds timezone-aware."""

    start: datetime
    end: datetime


def iter_captures(
    files: Sequence[str | Path],
    options: ReadOptions | None = None,
    window: CaptureWindow | None = None,
) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch]]:
    """Yield ``(features, metadata)`` batch pairs, row for row, from capture files.

    ``.parquet`` files are compacted hours, anything else capture JSON-lines. With a
    ``preprocess_handler`` in ``options`` each record goes through it (one record may become
    several rows or none; the metadata row is repeated or dropped to match).
    """
    options = options or ReadOptions()
    index_names = _ordered_index_names(options)
    for file in files:
        path = Path(file)
        for raw in _record_batches(path, options.batch_size):
            if raw.num_rows == 0:
                continue
            metadata = _metadata(raw)
            if window is not None:
                mask = _in_window(metadata, window)
                if not pc.all(mask).as_py():
                    raw = raw.filter(mask)
                    metadata = metadata.filter(mask)
                if raw.num_rows == 0:
                    continue
            if options.preprocess_handler is not None:
                yield _through_handler(raw, metadata, options, path)
                continue
            features = decode_capture_batch(
                _present_parts(raw, index_names), index_names, options, source=path.name
            )
            yield features, metadata


def _present_parts(raw: pa.RecordBatch, index_names: Sequence[str]) -> pa.RecordBatch:
    capture = raw.column("captureData")
    fields = [capture.type.field(i).name for i in range(capture.type.num_fields)]
    arrays = [
        pc.struct_field(capture, name) if name in fields else pa.nulls(raw.num_rows, type=_PAYLOAD)
        for name in index_names
    ]
    return pa.record_batch(
        {"captureData": pa.StructArray.from_arrays(arrays, names=list(index_names))}
    )


def _metadata(raw: pa.RecordBatch) -> pa.RecordBatch:
    metadata = raw.column("eventMetadata")
    return pa.record_batch(
        {
            EVENT_ID: pc.struct_field(metadata, EVENT_ID),
            INFERENCE_ID: pc.struct_field(metadata, INFERENCE_ID),
            INFERENCE_TIME: as_utc_timestamps(pc.struct_field(metadata, INFERENCE_TIME), "time"),
        }
    )


def _in_window(metadata: pa.RecordBatch, window: CaptureWindow) -> pa.Array:
    kind = pa.timestamp("us", tz="UTC")
    times = metadata.column(INFERENCE_TIME)
    inside = pc.and_(
        pc.greater_equal(times, pa.scalar(window.start.astimezone(UTC), kind)),
        pc.less(times, pa.scalar(window.end.astimezone(UTC), kind)),
    )
    return pc.fill_null(inside, False)


def _through_handler(
    raw: pa.RecordBatch, metadata: pa.RecordBatch, options: ReadOptions, path: Path
) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    handler = options.preprocess_handler
    assert handler is not None
    rows: list[Mapping[str, Any]] = []
    keep: list[int] = []
    for index, record in enumerate(raw.to_pylist()):
        record["captureData"] = {k: v for k, v in record["captureData"].items() if v is not None}
        record["eventMetadata"] = {
            k: v for k, v in record["eventMetadata"].items() if v is not None
        }
        if record.get("eventVersion") is None:
            record.pop("eventVersion", None)
        try:
            parsed = CaptureRecord.model_validate(record)
        except ValidationError as exc:
            raise _invalid(f"{path.name} record {index + 1}: not a capture record: {exc}") from exc
        result = handler(parsed)
        if not result:
            continue
        produced = [result] if isinstance(result, Mapping) else list(result)
        rows.extend(produced)
        keep.extend([index] * len(produced))
    if not rows:
        return pa.record_batch({}), metadata.slice(0, 0)
    return _rows_to_batch(rows, path), metadata.take(pa.array(keep, pa.int64()))
