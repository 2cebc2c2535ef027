"""Content-addressed blob store over fsspec: SHA-256 names every blob and is checked on read."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import fsspec

from mlgov.errors import ErrorCode, IntegrityError, NotFound

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class BlobRef:
    sha256: str
    size: int


class BlobStore:
    """Blobs live at ``<root>/sha256/<aa>/<bb>/<digest>``, written under a temporary name first."""

    def __init__(self, url: str) -> None:
        self.fs: Any
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.fs.makedirs(self.root, exist_ok=True)

    def path_of(self, sha256: str) -> str:
        return f"{self.root}/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def writer(self) -> BlobWriter:
        """A streaming writer: ``write`` chunks, then ``finish`` (or ``abort`` on failure)."""
        return BlobWriter(self)

    def put(self, chunks: Iterable[bytes]) -> BlobRef:
        """Stream chunks in; memory stays at one chunk whatever the blob's size."""
        writer = self.writer()
        try:
            for chunk in chunks:
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    def put_bytes(self, data: bytes) -> BlobRef:
        return self.put([data])

    def exists(self, sha256: str) -> bool:
        return bool(self.fs.exists(self.path_of(sha256)))

    def require(self, sha256: str) -> None:
        if not self.exists(sha256):
            raise NotFound(f"blob {sha256} is not in the store", code=ErrorCode.BLOB_NOT_FOUND)

    def open_verified(self, sha256: str) -> Iterator[bytes]:
        """Yield the blob's chunks; raise BLOB_CORRUPTED at the end if the content changed."""
        path = self.path_of(sha256)
        if not self.fs.exists(path):
            raise NotFound(f"blob {sha256} is not in the store", code=ErrorCode.BLOB_NOT_FOUND)
        digest = hashlib.sha256()
        with self.fs.open(path, "rb") as source:
            while chunk := source.read(CHUNK_SIZE):
                digest.update(chunk)
                yield chunk
        if digest.hexdigest() != sha256:
            raise IntegrityError(
                f"blob {sha256} is corrupted: its content hashes to {digest.hexdigest()}",
                code=ErrorCode.BLOB_CORRUPTED,
            )

    def read_verified(self, sha256: str) -> bytes:
        return b"".join(self.open_verified(sha256))


class BlobWriter:
    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.digest = hashlib.sha256()
        self.size = 0
        store.fs.makedirs(f"{store.root}/tmp", exist_ok=True)
        self.temporary = f"{store.root}/tmp/{os.urandom(16).hex()}"
        self.out = store.fs.open(self.temporary, "wb")

    def write(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)
        self.out.write(chunk)

    def finish(self) -> BlobRef:
        self.out.close()
        sha256 = self.digest.hexdigest()
        final = self.store.path_of(sha256)
        fs = self.store.fs
        if fs.exists(final):
            fs.rm(self.temporary)
        else:
            fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            fs.mv(self.temporary, final)
        return BlobRef(sha256, self.size)

    def abort(self) -> None:
        self.out.close()
        if self.store.fs.exists(self.temporary):
            self.store.fs.rm(self.temporary)
