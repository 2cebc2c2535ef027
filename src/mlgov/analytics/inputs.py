"""Every data source the engine reads, as a stream of Arrow record batches.

Sources: Arrow tables, record batches and readers, ``pyarrow.dataset`` datasets, pandas and Polars
frames, a dict of columns, Parquet / CSV / JSON-lines files (or directories and globs of them), and
SageMaker capture JSON-lines with ``CSV``, ``JSON`` or ``BASE64`` payloads. Everything is read in
batches of at most ``batch_size`` rows, so the memory a consumer needs depends on the batch size,
not on the dataset.

Capture payloads are decoded a batch at a time with Arrow kernels (and a numpy base64 decoder):
a batch's CSV bodies are joined and parsed by one Arrow CSV read, JSON bodies by one Arrow JSON
read. Output columns come first, then input columns, named positionally ``_c0``, ``_c1``, ... (the
Spark names SageMaker uses for headerless data) unless ``column_names`` says otherwise. Captures
whose payload is not a flat row go through a ``preprocess_handler`` as in SageMaker.
"""

from __future__ import annotations

import csv
import glob
import inspect
import io
import json
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeAlias, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
from pydantic import ValidationError

from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.formats.capture import CaptureRecord

DEFAULT_BATCH_SIZE = 65_536
DEFAULT_CAPTURE_INDEX_NAMES = ("endpointInput", "endpointOutput")

PreprocessResult = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
PreprocessHandler = Callable[[CaptureRecord], PreprocessResult]
# SageMaker handlers may also take ``(inference_record, logger)``.
_HANDLER_LOGGER = logging.getLogger("mlgov.preprocess_handler")


class DataFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"
    CAPTURE = "capture"  # SageMaker capture JSON-lines
    JSONL = "jsonl"  # JSON-lines of flat objects


_SUFFIX_FORMATS = {
    ".parquet": DataFormat.PARQUET,
    ".pq": DataFormat.PARQUET,
    ".parq": DataFormat.PARQUET,
    ".csv": DataFormat.CSV,
    ".tsv": DataFormat.CSV,
    ".jsonl": None,  # capture or plain JSON-lines: decided by the first record
    ".json": None,
    ".ndjson": None,
}
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zst", ".lz4")


@dataclass(frozen=True)
class ReadOptions:
    """How to read a source; every field has a default that suits the common case.

    ``column_names`` names positional columns (headerless CSV, capture payloads); columns beyond
    the list keep their ``_c<i>`` names. ``columns`` projects Parquet and dataset reads.
    ``capture_index_names`` picks which capture parts become columns; outputs come first.
    """

    batch_size: int = DEFAULT_BATCH_SIZE
    format: DataFormat | None = None
    columns: Sequence[str] | None = None
    csv_header: bool = True
    csv_delimiter: str = ","
    column_names: Sequence[str] | None = None
    capture_index_names: Sequence[str] = DEFAULT_CAPTURE_INDEX_NAMES
    preprocess_handler: PreprocessHandler | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise _invalid(f"batch_size must be at least 1, got {self.batch_size}")
        if self.preprocess_handler is not None and _takes_logger(self.preprocess_handler):
            handler = cast(
                Callable[[CaptureRecord, logging.Logger], PreprocessResult],
                self.preprocess_handler,
            )
            object.__setattr__(
                self, "preprocess_handler", lambda record: handler(record, _HANDLER_LOGGER)
            )


def _takes_logger(handler: Callable[..., Any]) -> bool:
    """True for a SageMaker-style ``preprocess_handler(inference_record, logger)``."""
    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(positional) >= 2


# Arrow tables, batches and readers, datasets, paths, dicts of columns, iterables of batches, and
# pandas / Polars frames (recognised by duck typing, so neither library is imported eagerly).
DataSource: TypeAlias = Any


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=ErrorCode.INVALID_DATA)


def iter_batches(
    source: DataSource, options: ReadOptions | None = None
) -> Iterator[pa.RecordBatch]:
    """Yield ``source`` as record batches of at most ``options.batch_size`` rows.

    An empty source with a known schema yields one empty batch, so consumers still see its
    columns.
    """
    options = options or ReadOptions()
    for batch in _dispatch(source, options):
        yield from _rechunk(batch, options.batch_size)


def _rechunk(batch: pa.RecordBatch, batch_size: int) -> Iterator[pa.RecordBatch]:
    if batch.num_rows <= batch_size:
        yield batch
        return
    for start in range(0, batch.num_rows, batch_size):
        yield batch.slice(start, batch_size)


def _empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array([], type=field.type) for field in schema], schema=schema
    )


def _dispatch(source: DataSource, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    if isinstance(source, pa.RecordBatch):
        yield source
    elif isinstance(source, pa.Table):
        yield from _table_batches(source, options)
    elif isinstance(source, pa.RecordBatchReader):
        yield from _reader_batches(source)
    elif _is_dataset(source):
        yield from _dataset_batches(source, options)
    elif isinstance(source, str | os.PathLike):
        yield from _path_batches(source, options)
    elif _is_pandas(source):
        yield from _pandas_batches(source, options)
    elif _is_polars(source):
        yield from _polars_batches(source, options)
    elif isinstance(source, Mapping):
        try:
            table = pa.table(dict(source))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise _invalid(f"cannot build a table from the given columns: {exc}") from exc
        yield from _table_batches(table, options)
    elif isinstance(source, Iterable) and not isinstance(source, bytes | bytearray):
        yield from _iterable_batches(source, options)
    else:
        raise _invalid(
            f"unsupported data source of type {type(source).__name__}: pass an Arrow table, "
            "record batch or reader, a pandas or Polars frame, a dict of columns, or a path"
        )


def _table_batches(table: pa.Table, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    batches = table.to_batches(max_chunksize=options.batch_size)
    if not batches:
        yield _empty_batch(table.schema)
    yield from batches


def _reader_batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    schema = reader.schema
    produced = False
    for batch in reader:
        produced = True
        yield batch
    if not produced:
        yield _empty_batch(schema)


def _is_dataset(source: object) -> bool:
    # pyarrow.dataset takes a third of a second to import; a caller holding a Dataset has paid it.
    dataset_module = sys.modules.get("pyarrow.dataset")
    return dataset_module is not None and isinstance(source, dataset_module.Dataset)


def _dataset_batches(dataset: Any, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    columns = list(options.columns) if options.columns is not None else None
    # Small read-ahead: the default (16 batches x 4 fragments) would make memory grow with width.
    scanner = dataset.scanner(
        columns=columns, batch_size=options.batch_size, batch_readahead=2, fragment_readahead=1
    )
    yield from _reader_batches(scanner.to_reader())


def _iterable_batches(source: Iterable[Any], options: ReadOptions) -> Iterator[pa.RecordBatch]:
    for item in source:
        if isinstance(item, pa.RecordBatch):
            yield item
        elif isinstance(item, pa.Table):
            yield from _table_batches(item, options)
        elif isinstance(item, str | os.PathLike):
            yield from _path_batches(item, options)
        else:
            raise _invalid(
                "an iterable data source must yield Arrow record batches, tables or paths, "
                f"got {type(item).__name__}"
            )


def _is_pandas(source: object) -> bool:
    return type(source).__module__.startswith("pandas") and hasattr(source, "iloc")


def _is_polars(source: object) -> bool:
    return type(source).__module__.startswith("polars") and type(source).__name__ in (
        "DataFrame",
        "LazyFrame",
    )


def _pandas_batches(frame: Any, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    rows = len(frame)
    # Convert slice by slice so the Arrow copy never holds more than one batch.
    for start in range(0, max(rows, 1), options.batch_size):
        piece = frame.iloc[start : start + options.batch_size]
        try:
            table = pa.Table.from_pandas(piece, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            table = _from_pandas_mixed(piece, exc)
        yield from _table_batches(table, options)


def _from_pandas_mixed(frame: Any, cause: Exception) -> pa.Table:
    """Convert a frame whose object columns mix types, as text, like a CSV reader would."""
    columns: dict[str, pa.Array] = {}
    for name in frame.columns:
        series = frame[name]
        try:
            columns[str(name)] = pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            values = [None if _is_missing(value) else str(value) for value in series.tolist()]
            columns[str(name)] = pa.array(values, type=pa.string())
    if not columns and len(frame.columns):
        raise _invalid(f"cannot convert the pandas frame to Arrow: {cause}")
    return pa.table(columns)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _polars_batches(frame: Any, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    if type(frame).__name__ == "LazyFrame":
        if hasattr(frame, "collect_batches"):
            for chunk in frame.collect_batches(chunk_size=options.batch_size):
                yield from _table_batches(chunk.to_arrow(), options)
            return
        frame = frame.collect()
    rows = frame.height
    for start in range(0, max(rows, 1), options.batch_size):
        yield from _table_batches(frame.slice(start, options.batch_size).to_arrow(), options)


# --- files --------------------------------------------------------------------------------------


def resolve_paths(path: str | os.PathLike[str]) -> list[Path]:
    """Expand a file, a directory (recursively) or a glob into the data files it names, sorted."""
    text = os.fspath(path)
    if any(char in text for char in "*?["):
        matches = sorted(Path(match) for match in glob.glob(text, recursive=True))
        files = [match for match in matches if match.is_file()]
    else:
        candidate = Path(text)
        if candidate.is_dir():
            files = sorted(
                file
                for file in candidate.rglob("*")
                if file.is_file() and _suffix_format_known(file) and not file.name.startswith(".")
            )
        elif candidate.is_file():
            files = [candidate]
        else:
            raise _invalid(f"no such file or directory: {text}")
    if not files:
        raise _invalid(f"no data files found at {text}")
    return files


def _base_suffix(path: Path) -> str:
    name = path.name.lower()
    for compression in _COMPRESSION_SUFFIXES:
        if name.endswith(compression):
            name = name[: -len(compression)]
    return Path(name).suffix


def _suffix_format_known(path: Path) -> bool:
    return _base_suffix(path) in _SUFFIX_FORMATS


def detect_format(path: Path) -> DataFormat:
    """The format of one file from its suffix, peeking at the first record for JSON-lines."""
    suffix = _base_suffix(path)
    if suffix not in _SUFFIX_FORMATS:
        raise _invalid(
            f"cannot tell the format of {path.name}: use a .parquet, .csv or .jsonl suffix "
            "or pass the format explicitly"
        )
    known = _SUFFIX_FORMATS[suffix]
    if known is not None:
        return known
    with _open_text(path) as stream:
        for line in stream:
            if line.strip():
                try:
                    first = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise _invalid(f"{path.name} is not JSON-lines: {exc}") from exc
                is_capture = isinstance(first, dict) and "captureData" in first
                return DataFormat.CAPTURE if is_capture else DataFormat.JSONL
    return DataFormat.JSONL


def _open_text(path: Path) -> io.TextIOWrapper:
    stream = pa.input_stream(str(path), compression="detect")
    return io.TextIOWrapper(stream, encoding="utf-8")


def _path_batches(path: str | os.PathLike[str], options: ReadOptions) -> Iterator[pa.RecordBatch]:
    for file in resolve_paths(path):
        data_format = options.format or detect_format(file)
        if data_format is DataFormat.PARQUET:
            yield from _parquet_batches(file, options)
        elif data_format is DataFormat.CSV:
            yield from _csv_batches(file, options)
        elif data_format is DataFormat.CAPTURE:
            if options.preprocess_handler is not None:
                yield from _capture_batches_with_handler(file, options)
            else:
                yield from _capture_batches(file, options)
        else:
            yield from _jsonl_batches(file, options)


def _parquet_batches(path: Path, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    try:
        schema = pq.read_schema(path)
        # Text columns come back dictionary-encoded, as Parquet usually stores them: categories
        # then cost one entry per distinct value instead of one string per row.
        text_columns = [
            field.name
            for field in schema
            if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
        ]
        # No pre-buffering: it coalesces the reads of every row group a batch iterator will
        # visit, which is the whole file, so peak memory would grow with the file (1.7 GB for
        # 10M x 25 columns) instead of staying at a few row groups.
        parquet = pq.ParquetFile(path, read_dictionary=text_columns, pre_buffer=False)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _invalid(f"{path.name} is not a readable Parquet file: {exc}") from exc
    columns = list(options.columns) if options.columns is not None else None
    schema = parquet.schema_arrow
    if columns is not None:
        unknown = [name for name in columns if name not in schema.names]
        if unknown:
            raise _invalid(f"{path.name} has no column(s) {', '.join(unknown)}")
        schema = pa.schema([schema.field(name) for name in columns])
    produced = False
    for batch in parquet.iter_batches(batch_size=options.batch_size, columns=columns):
        produced = True
        yield batch
    if not produced:
        yield _empty_batch(schema)


def _positional_names(count: int, options: ReadOptions, offset: int = 0) -> list[str]:
    given = list(options.column_names or [])
    return [given[i] if i < len(given) else f"_c{i}" for i in range(offset, offset + count)]


def _csv_header(path: Path, options: ReadOptions) -> list[str]:
    with _open_text(path) as stream:
        first = stream.readline()
    if not first.strip():
        return []
    row = next(csv.reader([first], delimiter=options.csv_delimiter))
    if options.csv_header:
        return [name.strip() for name in row]
    return _positional_names(len(row), options)


def _csv_batches(path: Path, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    names = _csv_header(path, options)
    if not names:
        return
    # Every column is read as text and typed per batch by the profiler, the way SageMaker's
    # Deequ classifies each value: a stray word in a numeric column is a data-type finding,
    # not a read error half-way through the file.
    read_options = pacsv.ReadOptions(
        column_names=names,
        skip_rows=1 if options.csv_header else 0,
        block_size=max(1 << 20, options.batch_size * 64),
    )
    parse_options = pacsv.ParseOptions(delimiter=options.csv_delimiter)
    convert_options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=True,
        include_columns=list(options.columns) if options.columns is not None else None,
    )
    try:
        reader = pacsv.open_csv(
            pa.input_stream(str(path), compression="detect"),
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
        yield from _reader_batches(reader)
    except pa.ArrowInvalid as exc:
        raise _invalid(f"{path.name} is not valid CSV: {exc}") from exc


def _jsonl_batches(path: Path, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    try:
        reader = pajson.open_json(
            pa.input_stream(str(path), compression="detect"),
            read_options=pajson.ReadOptions(block_size=max(1 << 20, options.batch_size * 128)),
        )
        for batch in reader:
            yield from pa.Table.from_batches([batch]).flatten().to_batches()
    except pa.ArrowInvalid as exc:
        raise _invalid(
            f"{path.name} is not JSON-lines of flat records with one type per field: {exc}"
        ) from exc


# --- SageMaker captures -------------------------------------------------------------------------

_PAYLOAD_TYPE = pa.struct(
    [
        ("observedContentType", pa.string()),
        ("mode", pa.string()),
        ("data", pa.string()),
        ("encoding", pa.string()),
    ]
)


def _capture_schema(index_names: Sequence[str]) -> pa.Schema:
    return pa.schema([("captureData", pa.struct([(name, _PAYLOAD_TYPE) for name in index_names]))])


def _ordered_index_names(options: ReadOptions) -> list[str]:
    # SageMaker's baseline datasets put the prediction columns first.
    names = list(options.capture_index_names)
    outputs = [name for name in names if "Output" in name]
    return outputs + [name for name in names if name not in outputs]


def _capture_batches(path: Path, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    index_names = _ordered_index_names(options)
    try:
        reader = pajson.open_json(
            pa.input_stream(str(path), compression="detect"),
            read_options=pajson.ReadOptions(block_size=max(1 << 20, options.batch_size * 256)),
            parse_options=pajson.ParseOptions(
                explicit_schema=_capture_schema(index_names), unexpected_field_behavior="ignore"
            ),
        )
        for batch in reader:
            yield decode_capture_batch(batch, index_names, options, source=path.name)
    except pa.ArrowInvalid as exc:
        raise _invalid(f"{path.name} is not SageMaker capture JSON-lines: {exc}") from exc


def decode_capture_batch(
    batch: pa.RecordBatch,
    index_names: Sequence[str],
    options: ReadOptions,
    *,
    source: str = "capture",
) -> pa.RecordBatch:
    """Turn a batch of parsed capture records into one row per record of feature columns."""
    capture = batch.column("captureData")
    columns: list[pa.Array] = []
    names: list[str] = []
    for index_name in index_names:
        payload = pc.struct_field(capture, index_name)
        data = pc.struct_field(payload, "data")
        if data.null_count == len(data):
            continue
        if data.null_count:
            raise _invalid(
                f"{source}: {data.null_count} record(s) have no {index_name}, so rows cannot be "
                "aligned; select capture_index_names or use a preprocess_handler"
            )
        part = _decode_payloads(
            data,
            pc.struct_field(payload, "encoding"),
            pc.struct_field(payload, "observedContentType"),
            index_name=index_name,
            source=source,
        )
        if part.num_rows != batch.num_rows:
            raise _invalid(
                f"{source}: {index_name} payloads hold {part.num_rows} rows for "
                f"{batch.num_rows} records; multi-row payloads need a preprocess_handler"
            )
        columns.extend(part.columns)
        names.extend(part.column_names)
    if not columns:
        return pa.record_batch({})
    if options.column_names is not None or all(name.startswith("_c") for name in names):
        names = _positional_names(len(columns), options)
    return pa.RecordBatch.from_arrays(columns, names=names)


def _uniform(values: pa.Array, what: str, index_name: str, source: str) -> str | None:
    distinct = pc.unique(values.drop_null()).to_pylist()
    if len(distinct) > 1:
        raise _invalid(
            f"{source}: mixed {what} values {sorted(distinct)} in {index_name}; "
            "use a preprocess_handler"
        )
    return distinct[0] if distinct else None


def _decode_payloads(
    data: pa.Array, encoding: pa.Array, content_type: pa.Array, *, index_name: str, source: str
) -> pa.RecordBatch:
    kind = (_uniform(encoding, "encoding", index_name, source) or "").upper()
    if kind == "BASE64":
        text = _decode_base64_text(data, index_name=index_name, source=source)
        observed = (_uniform(content_type, "content type", index_name, source) or "").lower()
        if "csv" in observed:
            kind = "CSV"
        elif "json" in observed:
            kind = "JSON"
        else:
            raise _invalid(
                f"{source}: {index_name} is BASE64 with content type {observed or 'unknown'}; "
                "only CSV and JSON bodies decode to columns, use a preprocess_handler"
            )
        data = text
    if kind == "CSV":
        return _parse_csv_payloads(data, index_name=index_name, source=source)
    if kind == "JSON":
        return _parse_json_payloads(data, index_name=index_name, source=source)
    raise _invalid(f"{source}: unknown capture encoding {kind!r} in {index_name}")


def _parse_csv_payloads(data: pa.Array, *, index_name: str, source: str) -> pa.RecordBatch:
    lines = pc.utf8_rtrim(data, characters="\r\n")
    joined = _join_lines(lines)
    try:
        table = pacsv.read_csv(
            io.BytesIO(joined),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        raise _invalid(f"{source}: CSV payloads in {index_name} do not parse: {exc}") from exc
    table = table.rename_columns([f"_c{i}" for i in range(table.num_columns)])
    return table.combine_chunks().to_batches()[0]


def _join_lines(lines: pa.Array) -> bytes:
    """One newline-separated buffer of the given strings, built from Arrow's buffers."""
    joined = pc.binary_join_element_wise(lines, pa.scalar("\n"), "")
    as_large = joined.cast(pa.large_string())
    offsets = np.frombuffer(as_large.buffers()[1], dtype=np.int64)
    start = int(offsets[as_large.offset])
    end = int(offsets[as_large.offset + len(as_large)])
    buffer = as_large.buffers()[2]
    return b"" if buffer is None else buffer.to_pybytes()[start:end]


def _parse_json_payloads(data: pa.Array, *, index_name: str, source: str) -> pa.RecordBatch:
    wrapped = pc.binary_join_element_wise('{"v":', data, "}", "")
    has_newlines = pc.any(pc.match_substring(data, "\n")).as_py()
    try:
        table = pajson.read_json(
            io.BytesIO(_join_lines(wrapped)),
            parse_options=pajson.ParseOptions(newlines_in_values=bool(has_newlines)),
        )
    except pa.ArrowInvalid as exc:
        raise _invalid(
            f"{source}: JSON payloads in {index_name} are not flat records, arrays or scalars "
            f"of one type per field ({exc}); use a preprocess_handler"
        ) from exc
    values = table.column("v").combine_chunks()
    if pa.types.is_struct(values.type):
        flat = pa.Table.from_arrays([values], names=["v"]).flatten()
        names = [name.removeprefix("v.") for name in flat.column_names]
        return flat.rename_columns(names).combine_chunks().to_batches()[0]
    if pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        return _expand_lists(values, index_name=index_name, source=source)
    return pa.RecordBatch.from_arrays([values], names=["_c0"])


def _expand_lists(values: pa.Array, *, index_name: str, source: str) -> pa.RecordBatch:
    lengths = pc.list_value_length(values)
    low, high = pc.min_max(lengths).values()
    if values.null_count or low.as_py() != high.as_py():
        raise _invalid(
            f"{source}: JSON arrays in {index_name} differ in length; use a preprocess_handler"
        )
    width = int(high.as_py() or 0)
    flat = pc.list_flatten(values)
    if pa.types.is_list(flat.type) or pa.types.is_struct(flat.type):
        raise _invalid(
            f"{source}: JSON payloads in {index_name} are nested; use a preprocess_handler"
        )
    rows = np.arange(len(values), dtype=np.int64) * width
    columns = [flat.take(pa.array(rows + position)) for position in range(width)]
    return pa.RecordBatch.from_arrays(columns, names=[f"_c{i}" for i in range(width)])


_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BASE64_LOOKUP = np.full(256, 255, dtype=np.uint8)
_BASE64_LOOKUP[np.frombuffer(_BASE64_ALPHABET, dtype=np.uint8)] = np.arange(64, dtype=np.uint8)
_PAD = ord("=")


def decode_base64(values: pa.Array) -> pa.Array:
    """Decode a string array of standard (padded) base64, vectorised; nulls stay null."""
    strings = values.cast(pa.large_string())
    count = len(strings)
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)[
        strings.offset : strings.offset + count + 1
    ]
    raw = strings.buffers()[2]
    chars = (
        np.frombuffer(raw, dtype=np.uint8)[offsets[0] : offsets[-1]]
        if raw is not None
        else np.zeros(0, dtype=np.uint8)
    )
    lengths = np.diff(offsets)
    if np.any(lengths % 4):
        bad = int(np.flatnonzero(lengths % 4)[0])
        raise _invalid(f"record {bad}: base64 length {int(lengths[bad])} is not a multiple of 4")
    ends = np.cumsum(lengths)
    nonempty = lengths > 0
    last = np.where(nonempty, ends - 1, 0)
    before_last = np.where(lengths > 1, ends - 2, 0)
    pads = np.zeros(count, dtype=np.int64)
    if chars.size:
        pads = (nonempty & (chars[last] == _PAD)).astype(np.int64) + (
            (lengths > 1) & (chars[before_last] == _PAD)
        ).astype(np.int64)
    sextets = _BASE64_LOOKUP[chars]
    is_pad = chars == _PAD
    # Padding is legal only as the last one or two characters of a record.
    allowed_pad = np.zeros(chars.size, dtype=bool)
    allowed_pad[last[pads >= 1]] = True
    allowed_pad[before_last[pads >= 2]] = True
    if np.any((sextets == 255) & ~(is_pad & allowed_pad)):
        position = int(np.flatnonzero((sextets == 255) & ~(is_pad & allowed_pad))[0])
        record = int(np.searchsorted(ends, position, side="right"))
        raise _invalid(f"record {record}: not valid base64 at character {position}")
    quads = np.where(is_pad, 0, sextets).astype(np.uint32).reshape(-1, 4)
    packed = (quads[:, 0] << 18) | (quads[:, 1] << 12) | (quads[:, 2] << 6) | quads[:, 3]
    decoded = np.empty((packed.size, 3), dtype=np.uint8)
    decoded[:, 0] = packed >> 16
    decoded[:, 1] = (packed >> 8) & 0xFF
    decoded[:, 2] = packed & 0xFF
    decoded_flat = decoded.reshape(-1)
    full_lengths = lengths // 4 * 3
    keep = np.ones(decoded_flat.size, dtype=bool)
    full_ends = np.cumsum(full_lengths)
    for trailing in (1, 2):
        drop = full_ends[pads >= trailing] - trailing
        keep[drop] = False
    out = decoded_flat[keep]
    out_offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(full_lengths - pads, out=out_offsets[1:])
    validity = strings.buffers()[0]
    if validity is not None and strings.offset:
        validity = pc.is_valid(strings).buffers()[1]
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(),
        count,
        [validity, pa.py_buffer(out_offsets), pa.py_buffer(out.tobytes())],
        null_count=strings.null_count,
    )


def _decode_base64_text(data: pa.Array, *, index_name: str, source: str) -> pa.Array:
    try:
        decoded = decode_base64(data)
    except InvalidRequest as exc:
        raise _invalid(f"{source}: {index_name}: {exc.message}") from exc
    try:
        return decoded.cast(pa.large_string()).cast(pa.string())
    except pa.ArrowInvalid as exc:
        raise _invalid(f"{source}: BASE64 payloads in {index_name} are not UTF-8 text") from exc


def _capture_batches_with_handler(path: Path, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    handler = options.preprocess_handler
    assert handler is not None
    rows: list[Mapping[str, Any]] = []
    with _open_text(path) as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = CaptureRecord.model_validate_json(line)
            except ValidationError as exc:
                raise _invalid(f"{path.name} line {number}: not a capture record: {exc}") from exc
            result = handler(record)
            if not result:
                continue
            if isinstance(result, Mapping):
                rows.append(result)
            else:
                rows.extend(result)
            if len(rows) >= options.batch_size:
                yield _rows_to_batch(rows, path)
                rows = []
    if rows:
        yield _rows_to_batch(rows, path)


def _rows_to_batch(rows: list[Mapping[str, Any]], path: Path) -> pa.RecordBatch:
    names: dict[str, None] = {}
    for row in rows:
        if not isinstance(row, Mapping):
            raise _invalid(
                f"{path.name}: preprocess_handler must return a flat dict, a list of dicts or "
                f"nothing, got {type(row).__name__}"
            )
        names.update(dict.fromkeys(row))
    arrays = []
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arrays.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=[str(name) for name in names])


def prefetched(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Read ahead on a thread: Arrow decodes the next batch while the caller works on this one.

    Decoding releases the GIL, so on two cores reading and profiling overlap. At most ``depth``
    batches wait in the queue; an error in the reader is raised here, in the caller's thread.
    """
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(("batch", batch)):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            offer(("error", exc))
            return
        offer(("done", None))

    reader = threading.Thread(target=produce, name="mlgov-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            kind, payload = slots.get()
            if kind == "batch":
                yield payload
            elif kind == "error":
                raise payload
            else:
                return
    finally:
        stop.set()
        reader.join()


def with_options(options: ReadOptions | None, **changes: Any) -> ReadOptions:
    """A copy of ``options`` (or the defaults) with some fields changed."""
    return replace(options or ReadOptions(), **changes)
