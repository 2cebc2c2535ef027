"""Where monitoring data lives in the blob store, and compaction of closed capture hours.

Each account has an area per kind of data under the blob root::

    datasets/<account id>/<name>                          uploaded datasets
    capture/<account id>/<endpoint>/YYYY/MM/DD/HH/*.jsonl  the capture writer's hours
    capture-parquet/<account id>/<endpoint>/YYYY/MM/DD/HH.parquet   compacted closed hours
    ground-truth/<account id>/<endpoint>/YYYY/MM/DD/HH/*.jsonl

Users name paths relative to their account (``datasets/train.csv``, ``capture/ep/2026/11``); the
account id is put in by the server, so no path can reach another account's data. The capture
JSON-lines stay as written (they are the SageMaker-layout contract); the Parquet copy of a closed
hour is what executions read when it exists.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from mlgov.analytics.captures import CAPTURE_SCHEMA, read_capture_records
from mlgov.errors import ErrorCode, InvalidRequest, NotFound
from mlgov.server.kit.blobs import BlobStore

logger = logging.getLogger("mlgov.monitoring.storage")

AREAS = ("datasets", "capture", "capture-parquet", "ground-truth")
COMPACTED = "capture-parquet"
# A capture hour is closed (no more lines can arrive) this long after it ends: the writer
# flushes every second and retries failed writes, so minutes are a wide margin.
CLOSE_GRACE = timedelta(minutes=10)


def area_path(blobs: BlobStore, account_id: str, relative: str) -> str:
    """The absolute blob path of an account-relative one; refuses anything leaving the area."""
    parts = [p for p in relative.strip().strip("/").split("/") if p not in ("", ".")]
    if not parts or parts[0] not in AREAS or any(p == ".." for p in parts):
        raise InvalidRequest(
            f"path {relative!r} must start with one of {', '.join(AREAS)} and stay inside it",
            code=ErrorCode.INVALID_REQUEST,
        )
    return "/".join([blobs.root, parts[0], account_id, *parts[1:]])


def write_stream(blobs: BlobStore, path: str, chunks: Iterable[bytes], limit: int) -> int:
    """Write chunks under a temporary name, then rename: readers never see half a file."""
    fs = blobs.fs
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    temporary = f"{path}.{os.urandom(6).hex()}.tmp"
    size = 0
    try:
        with fs.open(temporary, "wb") as handle:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise InvalidRequest(
                        f"the dataset exceeds {limit} bytes", code=ErrorCode.REQUEST_TOO_LARGE
                    )
                handle.write(chunk)
        fs.mv(temporary, path)
    except BaseException:
        if fs.exists(temporary):
            fs.rm(temporary)
        raise
    return size


def list_area(blobs: BlobStore, account_id: str, area: str) -> list[tuple[str, int]]:
    root = area_path(blobs, account_id, area)
    if not blobs.fs.exists(root):
        return []
    found = []
    for info in blobs.fs.ls(root, detail=True):
        name = str(info["name"]).rsplit("/", 1)[-1]
        if info.get("type") == "file" and not name.endswith(".tmp"):
            found.append((name, int(info.get("size") or 0)))
    return sorted(found)


def _is_local(blobs: BlobStore) -> bool:
    protocol = blobs.fs.protocol
    protocols = protocol if isinstance(protocol, tuple | list) else (protocol,)
    return "file" in protocols or "local" in protocols


@contextlib.contextmanager
def local_files(blobs: BlobStore, account_id: str, relative: str) -> Iterator[list[str]]:
    """The data files at an account path (a file, a directory or a glob) as local paths."""
    path = area_path(blobs, account_id, relative)
    fs = blobs.fs
    if any(c in path for c in "*?["):
        matches = sorted(fs.glob(path))
    elif fs.isdir(path):
        matches = sorted(p for p in fs.find(path) if not str(p).endswith(".tmp"))
    elif fs.exists(path):
        matches = [path]
    else:
        matches = []
    if not matches:
        raise NotFound(f"no data at {relative}", code=ErrorCode.DATASET_NOT_FOUND)
    with fetched(blobs, [str(m) for m in matches]) as files:
        yield files


@contextlib.contextmanager
def fetched(blobs: BlobStore, paths: list[str]) -> Iterator[list[str]]:
    """Blob paths as local files: themselves on a local store, downloaded copies otherwise."""
    if _is_local(blobs) or not paths:
        yield paths
        return
    with tempfile.TemporaryDirectory(prefix="mlgov-monitoring-") as directory:
        local = []
        for index, path in enumerate(paths):
            target = os.path.join(directory, f"{index:06d}-{path.rsplit('/', 1)[-1]}")
            blobs.fs.get(path, target)
            local.append(target)
        yield local


# --- captures and ground truth by hour -----------------------------------------------------------


def hours(start: datetime, end: datetime) -> list[datetime]:
    """The UTC hours that overlap ``[start, end)``."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    found = []
    while hour < end:
        found.append(hour)
        hour += timedelta(hours=1)
    return found


def hour_prefix(area: str, account_id: str, endpoint: str, hour: datetime) -> str:
    return f"{area}/{account_id}/{endpoint}/{hour:%Y}/{hour:%m}/{hour:%d}/{hour:%H}"


def _jsonl_in(blobs: BlobStore, directory: str) -> list[str]:
    if not blobs.fs.exists(directory):
        return []
    return sorted(str(p) for p in blobs.fs.ls(directory, detail=False) if str(p).endswith(".jsonl"))


def capture_files(
    blobs: BlobStore, account_id: str, endpoint: str, start: datetime, end: datetime
) -> list[str]:
    """Per hour of the window: its compacted Parquet when there is one, else its JSON-lines."""
    files: list[str] = []
    for hour in hours(start, end):
        compacted = f"{blobs.root}/{hour_prefix(COMPACTED, account_id, endpoint, hour)}.parquet"
        if blobs.fs.exists(compacted):
            files.append(compacted)
            continue
        files.extend(
            _jsonl_in(blobs, f"{blobs.root}/{hour_prefix('capture', account_id, endpoint, hour)}")
        )
    return files


def ground_truth_files(
    blobs: BlobStore, account_id: str, endpoint: str, start: datetime, end: datetime
) -> list[str]:
    """Labels are stored by the hour they arrived: every hour from the window's start to ``end``."""
    files: list[str] = []
    for hour in hours(start, end):
        directory = f"{blobs.root}/{hour_prefix('ground-truth', account_id, endpoint, hour)}"
        files.extend(_jsonl_in(blobs, directory))
    return files


# --- compaction ----------------------------------------------------------------------------------


def compact_hour(blobs: BlobStore, account_id: str, endpoint: str, hour: datetime) -> int:
    """Write one closed hour's capture records as Parquet; returns the records written."""
    directory = f"{blobs.root}/{hour_prefix('capture', account_id, endpoint, hour)}"
    target = f"{blobs.root}/{hour_prefix(COMPACTED, account_id, endpoint, hour)}.parquet"
    sources = _jsonl_in(blobs, directory)
    if not sources or blobs.fs.exists(target):
        return 0
    with fetched(blobs, sources) as files:
        tables = [read_capture_records(f) for f in files]
    table = (
        pa.concat_tables(tables).cast(CAPTURE_SCHEMA) if tables else CAPTURE_SCHEMA.empty_table()
    )
    blobs.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
    temporary = f"{target}.{os.urandom(6).hex()}.tmp"
    with blobs.fs.open(temporary, "wb") as handle:
        pq.write_table(table, handle, compression="zstd")
    blobs.fs.mv(temporary, target)
    return int(table.num_rows)


def compact_closed_hours(blobs: BlobStore, now: datetime, lookback: timedelta) -> int:
    """Compact every closed capture hour of the last ``lookback`` not compacted yet."""
    root = f"{blobs.root}/capture"
    fs = blobs.fs
    if not fs.exists(root):
        return 0
    latest_closed = now.astimezone(UTC) - CLOSE_GRACE - timedelta(hours=1)
    compacted = 0
    for account_dir in fs.ls(root, detail=False):
        for endpoint_dir in fs.ls(account_dir, detail=False):
            account_id = str(account_dir).rsplit("/", 1)[-1]
            endpoint = str(endpoint_dir).rsplit("/", 1)[-1]
            for hour in hours(now - lookback, latest_closed):
                if hour > latest_closed:
                    break
                try:
                    compacted += compact_hour(blobs, account_id, endpoint, hour)
                except InvalidRequest:
                    logger.exception(
                        "capture hour %s of %s/%s cannot be compacted", hour, account_id, endpoint
                    )
    return compacted
