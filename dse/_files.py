"""The user's files dse knows about: shipped study files to read or copy, and the caches.

- ``dse show STUDY`` prints a shipped study file (or any study file path) as it is.
- ``dse init STUDY PATH`` copies it to PATH for editing; it never overwrites a file.
- ``dse cache`` lists the caches and their sizes; ``dse cache --clear [NAME]`` empties them.

Caches live under ``$DSE_CACHE_DIR``, else ``~/.cache/dse``: ``nm_training/`` holds the proxy
trainings' results (keyed by recipe, proxy settings and code version, so a cached result is
never stale), and any folder a run was given with ``--cache-dir`` holds the pipeline's
memoized model outputs. Clearing a cache costs only recomputation.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from dse._errors import DseError
from dse._spec import find_study_file


__all__ = ["CacheInfo", "cache_root", "clear_caches", "copy_study_file", "list_caches",
           "study_file_text"]


def study_file_text(study: str) -> str:
    """The text of a shipped study (by name) or of a study file path.

    Raises:
        SpecError: naming the shipped studies when ``study`` is neither.
    """
    path = find_study_file(study)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DseError(f"{path}: cannot read study file: {exc}") from None


def copy_study_file(study: str, dest: str | Path) -> Path:
    """Copy a study file to ``dest`` (a file, or a folder to put ``NAME.toml`` in).

    Raises:
        DseError: when the destination exists or cannot be written.
    """
    src = find_study_file(study)
    target = Path(dest)
    if target.is_dir():
        target = target / src.name
    if target.suffix != ".toml":
        target = target.with_name(target.name + ".toml")
    if target.exists():
        raise DseError(f"{target}: already exists; expected a new file name (nothing written)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as fh:
            fh.write(src.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DseError(f"{target}: cannot write: {exc.strerror or exc}") from None
    return target


def cache_root() -> Path:
    """``$DSE_CACHE_DIR``, else ``~/.cache/dse``."""
    root = os.environ.get("DSE_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "dse"


@dataclass(frozen=True)
class CacheInfo:
    """One cache folder: its name, path, number of files and bytes."""

    name: str
    path: Path
    files: int
    bytes: int


def _usage(path: Path) -> tuple[int, int]:
    files = size = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            files += 1
            size += p.stat().st_size
    return files, size


def list_caches() -> list[CacheInfo]:
    """The cache folders under :func:`cache_root` (none when it does not exist)."""
    root = cache_root()
    if not root.is_dir():
        return []
    return [CacheInfo(p.name, p, *_usage(p)) for p in sorted(root.iterdir()) if p.is_dir()]


def clear_caches(name: str | None = None) -> list[CacheInfo]:
    """Delete one cache folder (or all of them) under :func:`cache_root`; returns what went.

    Raises:
        DseError: for a name that is not one of the caches.
    """
    caches = list_caches()
    if name is not None:
        caches = [c for c in caches if c.name == name]
        if not caches:
            known = ", ".join(c.name for c in list_caches()) or "none"
            raise DseError(f"unknown cache {name!r}; expected one of {known}")
    for c in caches:
        # Only folders found directly under the cache root: never a path from the user.
        if c.path.parent.resolve() == cache_root().resolve():
            shutil.rmtree(c.path)
    return caches
