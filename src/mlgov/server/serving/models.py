"""Loaded models, shared by every request: each artifact is fetched, verified and loaded once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from mlgov.server.kit.blobs import BlobStore
from mlgov.server.serving.flavors import LoadedModel, load_model


class ModelCache:
    """Least-recently-used models by (artifact hash, flavor), loaded at most once at a time."""

    def __init__(self, blobs: BlobStore, directory: Path, capacity: int = 16) -> None:
        self.blobs = blobs
        self.directory = directory
        self.capacity = capacity
        self._models: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    def get(self, sha256: str, flavor: str) -> LoadedModel:
        key = (sha256, flavor)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:  # one loader per model; the others wait for it instead of loading again
            with self._lock:
                model = self._models.get(key)
            if model is None:
                model = load_model(flavor, self._local_copy(sha256))
                with self._lock:
                    self._models[key] = model
                    while len(self._models) > self.capacity:
                        self._models.popitem(last=False)
        with self._lock:
            self._loading.pop(key, None)
        return model

    def _local_copy(self, sha256: str) -> Path:
        """The artifact as a local file (model libraries want paths), verified while copied."""
        path = self.directory / sha256
        if path.exists():
            return path
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as out:
            for chunk in self.blobs.open_verified(sha256):  # raises BLOB_CORRUPTED on mismatch
                out.write(chunk)
        partial.replace(path)
        return path

    def __contains__(self, key: tuple[str, str]) -> bool:
        with self._lock:
            return key in self._models
