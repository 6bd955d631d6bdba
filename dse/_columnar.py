"""A columnar on-disk table for whole sweeps, appended chunk by chunk in bounded memory.

Layout: a folder with ``meta.json`` (row count, column dtypes, categories of string columns)
and one raw little-endian binary file per column. Strings are stored as integer codes into the
column's category list. Reading memory-maps the files, so a sweep of 10^8 points is read lazily.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


__all__ = ["ColumnarWriter", "read_columns"]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


class ColumnarWriter:
    """Append-only writer; call :meth:`close` to publish ``meta.json``."""

    def __init__(self, folder: str | Path, resume_rows: int | None = None) -> None:
        self.folder = Path(folder)
        self.n = 0
        self.dtypes: dict[str, str] = {}
        self.categories: dict[str, list[str]] = {}
        self._cat_index: dict[str, dict[str, int]] = {}
        if resume_rows is not None and (self.folder / "meta.json").exists():
            meta = json.loads((self.folder / "meta.json").read_text())
            self.dtypes = meta["dtypes"]
            self.categories = meta["categories"]
            self._cat_index = {k: {c: i for i, c in enumerate(v)}
                               for k, v in self.categories.items()}
            self.n = resume_rows
            for name, dt in self.dtypes.items():
                path = self.folder / f"{_safe(name)}.bin"
                with path.open("r+b") as fh:
                    fh.truncate(resume_rows * np.dtype(dt).itemsize)
        else:
            if self.folder.exists():
                shutil.rmtree(self.folder)
            self.folder.mkdir(parents=True)

    def append(self, columns: Mapping[str, np.ndarray]) -> None:
        rows = None
        for name, col in columns.items():
            col = np.asarray(col)
            if col.dtype.kind in "USO":
                index = self._cat_index.setdefault(name, {})
                cats = self.categories.setdefault(name, [])
                uniq, inv = np.unique(col.astype(str), return_inverse=True)
                for u in uniq.tolist():
                    if u not in index:
                        index[u] = len(cats)
                        cats.append(u)
                col = np.asarray([index[u] for u in uniq.tolist()], dtype=np.int32)[inv]
            elif col.dtype.kind == "b":
                col = col.astype(np.uint8)
            dt = self.dtypes.setdefault(name, col.dtype.newbyteorder("<").str)
            with (self.folder / f"{_safe(name)}.bin").open("ab") as fh:
                fh.write(np.ascontiguousarray(col, dtype=dt).tobytes())
            rows = len(col) if rows is None else rows
        self.n += rows or 0

    def close(self) -> Path:
        meta = {"n": self.n, "dtypes": self.dtypes, "categories": self.categories,
                "files": {k: f"{_safe(k)}.bin" for k in self.dtypes}}
        tmp = self.folder / "meta.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1))
        tmp.replace(self.folder / "meta.json")
        return self.folder


def read_columns(folder: str | Path, decode: bool = True) -> dict[str, Any]:
    """Columns of a sweep folder as memory-mapped arrays (string columns decoded if asked)."""
    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text())
    out: dict[str, Any] = {}
    for name, dt in meta["dtypes"].items():
        path = folder / meta["files"][name]
        arr = np.memmap(path, dtype=dt, mode="r", shape=(meta["n"],)) if meta["n"] else \
            np.empty(0, dtype=dt)
        if decode and name in meta["categories"]:
            arr = np.asarray(meta["categories"][name])[np.asarray(arr)]
        out[name] = arr
    return out
