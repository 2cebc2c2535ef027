from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlgov import IntegrityError, NotFound
from mlgov.server.kit.blobs import BlobStore


def test_content_addressed_round_trip(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "blobs"))
    chunks = [b"a" * 1000, b"b" * 3000, b""]
    ref = store.put(iter(chunks))
    assert ref.sha256 == hashlib.sha256(b"".join(chunks)).hexdigest() and ref.size == 4000
    assert store.read_verified(ref.sha256) == b"".join(chunks)
    assert store.put_bytes(b"".join(chunks)) == ref  # same content, same blob, stored once
    assert not list((tmp_path / "blobs" / "tmp").iterdir())


def test_corruption_is_detected_on_read(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path))
    ref = store.put_bytes(b"model weights")
    Path(store.path_of(ref.sha256)).write_bytes(b"model weighty")
    with pytest.raises(IntegrityError) as corrupted:
        store.read_verified(ref.sha256)
    assert corrupted.value.code == "BLOB_CORRUPTED"


def test_missing_blob(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        BlobStore(str(tmp_path)).read_verified("0" * 64)
