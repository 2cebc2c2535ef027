"""Validated datums on their way to the rollups, and their encoding in the ingest log.

An accepted batch is stored as one Arrow IPC stream (one row per datum, its raw values as a list)
and folded into the rollups later, together with every other batch waiting then. Pure functions:
no database here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SCHEMA = pa.schema(
    [
        ("metric_id", pa.int64()),
        ("second", pa.int64()),
        ("count", pa.float64()),
        ("total", pa.float64()),
        ("low", pa.float64()),
        ("high", pa.float64()),
        ("sketchable", pa.bool_()),
        ("samples", pa.list_(pa.float64())),
    ]
)


@dataclass
class Datums:
    """One row per datum, already resolved to a stored metric and a whole epoch second."""

    metric_id: np.ndarray  # int64
    second: np.ndarray  # int64
    count: np.ndarray  # float64 SampleCount, Sum, Minimum and Maximum
    total: np.ndarray
    low: np.ndarray
    high: np.ndarray
    sketchable: np.ndarray  # bool: the raw values are all in ``samples``
    samples: np.ndarray  # float64 raw values, grouped by datum in datum order
    sample_owner: np.ndarray  # int64 datum index of each sample, ascending

    @property
    def size(self) -> int:
        return len(self.metric_id)

    def where(self, keep: np.ndarray) -> Datums:
        """Only the datums where ``keep`` (bool, one per datum) is true, with their samples."""
        renumbered = np.cumsum(keep) - 1
        kept_samples = keep[self.sample_owner]
        return Datums(
            metric_id=self.metric_id[keep],
            second=self.second[keep],
            count=self.count[keep],
            total=self.total[keep],
            low=self.low[keep],
            high=self.high[keep],
            sketchable=self.sketchable[keep],
            samples=self.samples[kept_samples],
            sample_owner=renumbered[self.sample_owner[kept_samples]],
        )


def encode(datums: Datums) -> bytes:
    owner_order = np.argsort(datums.sample_owner, kind="stable")
    owners = datums.sample_owner[owner_order]
    offsets = np.searchsorted(owners, np.arange(datums.size + 1)).astype(np.int32)
    samples = pa.ListArray.from_arrays(pa.array(offsets), pa.array(datums.samples[owner_order]))
    batch = pa.record_batch(
        [
            pa.array(datums.metric_id, pa.int64()),
            pa.array(datums.second, pa.int64()),
            pa.array(datums.count, pa.float64()),
            pa.array(datums.total, pa.float64()),
            pa.array(datums.low, pa.float64()),
            pa.array(datums.high, pa.float64()),
            pa.array(datums.sketchable, pa.bool_()),
            samples,
        ],
        schema=_SCHEMA,
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, _SCHEMA) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue())


def decode(streams: Sequence[bytes]) -> Datums:
    """The datums of every stream, in order, as one set of columns."""
    batches = [b for stream in streams for b in pa.ipc.open_stream(stream)]
    table = pa.Table.from_batches(batches, schema=_SCHEMA).combine_chunks()

    def column(name: str) -> np.ndarray:
        values: np.ndarray = table.column(name).to_numpy()
        return values

    lists = table.column("samples")
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    return Datums(
        metric_id=column("metric_id"),
        second=column("second"),
        count=column("count"),
        total=column("total"),
        low=column("low"),
        high=column("high"),
        sketchable=column("sketchable"),
        samples=pc.list_flatten(lists).to_numpy(),
        sample_owner=np.repeat(np.arange(table.num_rows, dtype=np.int64), lengths),
    )
