"""Join captured predictions with ground truth, as SageMaker's model-quality merge job does.

A prediction's join key is its ``inferenceId`` when it has one, else its ``eventId``; a label's key
is its ``eventId`` (the ground-truth record's ``eventMetadata.eventId``). Only predictions whose
``inferenceTime`` falls in the analysis window are merged. The window is usually given as offsets
from the run time (``-P8D`` to ``-P1D``) so that labels that arrive late are still matched.

When several labels share a key, the last one wins: a corrected label is uploaded after the first.
Every step is columnar (Arrow hash lookups and ``take``), with no per-row Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from mlgov.errors import ErrorCode, InvalidRequest

EVENT_ID = "eventId"
INFERENCE_ID = "inferenceId"
INFERENCE_TIME = "inferenceTime"
GROUND_TRUTH_SUFFIX = "_ground_truth"

_DURATION = re.compile(
    r"^(?P<sign>[+-])?P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_offset(text: str) -> timedelta:
    """Parse an ISO-8601 duration offset such as ``-PT7H``, ``-P8D`` or ``-P1DT12H``.

    Years and months are refused: their length depends on the calendar, and SageMaker's offsets
    are written in weeks, days, hours, minutes and seconds.
    """
    match = _DURATION.match(text.strip())
    if match is None:
        raise InvalidRequest(
            f"invalid time offset {text!r}: expected an ISO-8601 duration such as -PT7H or -P8D "
            "(weeks, days, hours, minutes, seconds)",
            code=ErrorCode.INVALID_DATA,
        )
    parts = match.groupdict()
    duration = timedelta(
        weeks=int(parts["weeks"] or 0),
        days=int(parts["days"] or 0),
        hours=int(parts["hours"] or 0),
        minutes=int(parts["minutes"] or 0),
        seconds=float(parts["seconds"] or 0),
    )
    return -duration if parts["sign"] == "-" else duration


@dataclass(frozen=True)
class MergeWindow:
    """Predictions with ``start <= inferenceTime < end`` (both timezone-aware) are merged."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidRequest(
                "merge window bounds must be timezone-aware", code=ErrorCode.INVALID_DATA
            )
        if self.start >= self.end:
            raise InvalidRequest(
                f"merge window is empty: start {self.start.isoformat()} is not before "
                f"end {self.end.isoformat()}",
                code=ErrorCode.INVALID_DATA,
            )

    @classmethod
    def from_offsets(
        cls, at: datetime, start_offset: str | timedelta, end_offset: str | timedelta
    ) -> MergeWindow:
        """The window SageMaker analyses for a run at ``at`` with these offsets.

        A run at 2020-01-09T13:00 with ``-P8D`` and ``-P1D`` covers 2020-01-01T13:00 to
        2020-01-08T13:00.
        """
        start = start_offset if isinstance(start_offset, timedelta) else parse_offset(start_offset)
        end = end_offset if isinstance(end_offset, timedelta) else parse_offset(end_offset)
        moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        return cls(start=moment + start, end=moment + end)


@dataclass(frozen=True)
class MergeResult:
    """The merged rows (prediction columns, then ground-truth columns) and what did not match."""

    table: pa.Table
    matched: int
    unmatched_predictions: int
    unmatched_labels: int
    predictions_outside_window: int
    duplicate_labels: int


def merge_ground_truth(
    predictions: pa.Table,
    ground_truth: pa.Table,
    *,
    window: MergeWindow | None = None,
    ground_truth_key: str = EVENT_ID,
) -> MergeResult:
    """Inner-join predictions with their labels and count what was left on each side.

    ``predictions`` needs an ``eventId`` or ``inferenceId`` column (both is usual) and, when a
    window is given, ``inferenceTime`` (timestamps or ISO-8601 strings; naive values are UTC).
    ``ground_truth`` needs ``ground_truth_key``; its other columns are appended to the merged
    rows, renamed with a ``_ground_truth`` suffix where a prediction column has the same name.
    """
    keys = _prediction_keys(predictions)
    outside = 0
    if window is not None:
        in_window = _in_window(predictions, window)
        outside = predictions.num_rows - int(pc.sum(in_window).as_py() or 0)
        predictions = predictions.filter(in_window)
        keys = keys.filter(in_window)

    if ground_truth_key not in ground_truth.column_names:
        raise InvalidRequest(
            f"ground truth has no {ground_truth_key!r} column "
            f"(columns: {', '.join(ground_truth.column_names)})",
            code=ErrorCode.INVALID_DATA,
        )
    label_keys = _as_string(ground_truth.column(ground_truth_key), ground_truth_key)
    label_count = len(label_keys)
    # Looked up in reverse, so the first hit of the hash lookup is the last label uploaded.
    reverse = pa.array(np.arange(label_count - 1, -1, -1, dtype=np.int64))
    hit = pc.index_in(keys, value_set=label_keys.take(reverse), skip_nulls=True)
    matched_mask = pc.is_valid(hit)
    hits = hit.filter(matched_mask).to_numpy(zero_copy_only=False).astype(np.int64)
    label_rows = label_count - 1 - hits

    merged = predictions.filter(matched_mask)
    labels = ground_truth.drop_columns([ground_truth_key]).take(pa.array(label_rows))
    taken = set(predictions.column_names)
    for name in labels.column_names:
        column_name = name + GROUND_TRUTH_SUFFIX if name in taken else name
        merged = merged.append_column(column_name, labels.column(name))

    null_label_keys = label_keys.null_count
    distinct_label_keys = int(pc.count_distinct(label_keys, mode="only_valid").as_py())
    used = np.zeros(label_count, dtype=np.bool_)
    used[label_rows] = True  # one row per distinct key, the latest, can be hit
    return MergeResult(
        table=merged,
        matched=merged.num_rows,
        unmatched_predictions=predictions.num_rows - merged.num_rows,
        unmatched_labels=distinct_label_keys - int(used.sum()) + null_label_keys,
        predictions_outside_window=outside,
        duplicate_labels=label_count - null_label_keys - distinct_label_keys,
    )


_CAPTURE_METADATA_SCHEMA = pa.schema(
    [
        (
            "eventMetadata",
            pa.struct(
                [
                    (EVENT_ID, pa.string()),
                    (INFERENCE_ID, pa.string()),
                    (INFERENCE_TIME, pa.string()),
                ]
            ),
        )
    ]
)


def read_capture_metadata(path: str | Path) -> pa.Table:
    """``eventId``, ``inferenceId`` and ``inferenceTime`` of each capture record, in file order.

    Pairs row for row with the decoded payload columns of the same file, so the join keys and
    times can be attached to the predictions.
    """
    options = pa_json.ParseOptions(
        explicit_schema=_CAPTURE_METADATA_SCHEMA, unexpected_field_behavior="ignore"
    )
    try:
        raw = pa_json.read_json(
            pa.input_stream(str(path), compression="detect"), parse_options=options
        )
    except pa.ArrowInvalid as error:
        raise InvalidRequest(
            f"{Path(path).name} is not SageMaker capture JSON-lines: {error}",
            code=ErrorCode.INVALID_DATA,
        ) from error
    metadata = raw.column("eventMetadata").combine_chunks()
    return pa.table(
        {name: pc.struct_field(metadata, name) for name in (EVENT_ID, INFERENCE_ID, INFERENCE_TIME)}
    )


def _prediction_keys(predictions: pa.Table) -> pa.Array:
    names = predictions.column_names
    if EVENT_ID not in names and INFERENCE_ID not in names:
        raise InvalidRequest(
            f"predictions need an {INFERENCE_ID!r} or {EVENT_ID!r} column to join on "
            f"(columns: {', '.join(names)})",
            code=ErrorCode.INVALID_DATA,
        )
    event_ids = _as_string(predictions.column(EVENT_ID), EVENT_ID) if EVENT_ID in names else None
    if INFERENCE_ID not in names:
        assert event_ids is not None
        return event_ids
    inference_ids = _as_string(predictions.column(INFERENCE_ID), INFERENCE_ID)
    if event_ids is None:
        return inference_ids
    # An empty inferenceId is how some writers say "none given"; fall back to eventId then.
    blank = pc.fill_null(pc.equal(inference_ids, ""), False)
    inference_ids = pc.if_else(blank, pa.scalar(None, pa.string()), inference_ids)
    return pc.coalesce(inference_ids, event_ids)


def _as_string(column: pa.ChunkedArray | pa.Array, name: str) -> pa.Array:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_large_string(array.type) or pa.types.is_integer(array.type):
        return pc.cast(array, pa.string())
    raise InvalidRequest(
        f"join key column {name!r} must hold strings (or integers), not {array.type}",
        code=ErrorCode.INVALID_DATA,
    )


def _in_window(predictions: pa.Table, window: MergeWindow) -> pa.Array:
    if INFERENCE_TIME not in predictions.column_names:
        raise InvalidRequest(
            f"a merge window needs an {INFERENCE_TIME!r} column in the predictions",
            code=ErrorCode.INVALID_DATA,
        )
    times = as_utc_timestamps(predictions.column(INFERENCE_TIME), INFERENCE_TIME)
    start = pa.scalar(window.start.astimezone(UTC), pa.timestamp("us", tz="UTC"))
    end = pa.scalar(window.end.astimezone(UTC), pa.timestamp("us", tz="UTC"))
    inside = pc.and_(pc.greater_equal(times, start), pc.less(times, end))
    return pc.fill_null(inside, False)


def as_utc_timestamps(column: pa.ChunkedArray | pa.Array, name: str) -> pa.Array:
    """Timestamps, or ISO-8601 strings, as ``timestamp[us, UTC]``; naive values are taken as UTC."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    target = pa.timestamp("us", tz="UTC")
    try:
        if pa.types.is_timestamp(array.type):
            if array.type.tz is None:
                return pc.assume_timezone(pc.cast(array, pa.timestamp("us")), "UTC")
            return pc.cast(array, target)
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            try:
                return pc.cast(array, target)
            except pa.ArrowInvalid:
                return pc.assume_timezone(pc.cast(array, pa.timestamp("us")), "UTC")
    except pa.ArrowInvalid as error:
        raise InvalidRequest(
            f"column {name!r} holds values that are not ISO-8601 timestamps: {error}",
            code=ErrorCode.INVALID_DATA,
        ) from error
    raise InvalidRequest(
        f"column {name!r} must hold timestamps or ISO-8601 strings, not {array.type}",
        code=ErrorCode.INVALID_DATA,
    )
