"""On-disk cache of proxy results, keyed by the full config, the seed and the code version.

A key is the SHA-256 of the canonical JSON of everything that determines a training: the recipe,
the proxy size and budget, the sparse layers, the mask axis, the seed, the model version, the
torch version and a hash of the source files the training runs (so editing the proxy or the
recipes never serves a stale result). One JSON file per result, written atomically, so
concurrent workers on one host can share a directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


__all__ = ["ResultCache", "code_version", "default_cache_dir"]

# Modules whose source decides a training's outcome.
_TRAINING_SOURCES = (
    "_proxy.py",
    "_recipes.py",
    "_masks.py",
    "_sparse_linear.py",
    "_diagnostics.py",
)


def code_version() -> str:
    """Hash of the training source files (first 16 hex digits)."""
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in _TRAINING_SOURCES:
        h.update(name.encode())
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def default_cache_dir() -> Path:
    """``$DSE_CACHE_DIR/nm_training``, else ``~/.cache/dse/nm_training``."""
    root = os.environ.get("DSE_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "dse"
    return base / "nm_training"


class ResultCache:
    """A directory of JSON results; ``directory=None`` disables caching."""

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self.directory = None if directory is None else Path(directory)

    @staticmethod
    def key(config: Mapping[str, Any]) -> str:
        blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.directory is None:
            return None
        path = self._path(key)
        try:
            with path.open() as fh:
                value: dict[str, Any] = json.load(fh)
        except (OSError, ValueError):
            return None  # absent or half-written by a crashed writer: recompute
        return value

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        if self.directory is None:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(value, fh)
        os.replace(tmp, path)
