"""What a sweep accumulates, and its checkpoint: plain data in one ``.npz`` file, never pickle.

A sweep's state is its running Pareto front, its reservoir sample, counters, the random
generators' states, the per-chunk history (points, front size, hypervolume: what the report
plots) and, for the evolutionary search, the current population. The checkpoint
stores every array under a numbered member name and everything else (counters, column names,
generator states) as one JSON document, so loading it runs no code: ``numpy.load`` is called
with ``allow_pickle=False`` and anything that is not exactly this layout means starting over.
The file is written to a temporary name (fsync'ed when asked) and renamed over the old one, so
a kill leaves either the previous checkpoint or the new one.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dse._pareto import ParetoFront


__all__ = ["CHECKPOINT_VERSION", "Reservoir", "SweepState", "load_checkpoint",
           "save_checkpoint"]

CHECKPOINT_VERSION = 1
Columns = dict[str, np.ndarray]


class Reservoir:
    """A uniform sample of ``k`` points over a stream, by smallest random keys."""

    def __init__(self, k: int, rng: np.random.Generator) -> None:
        self.k = k
        self.rng = rng
        self.keys = np.empty(0)
        self.cols: Columns = {}

    def offer(self, candidates: np.ndarray, gather: Callable[[np.ndarray], Columns]) -> None:
        """Offer the chunk rows ``candidates``; only the taken rows are gathered."""
        n = len(candidates)
        if self.k == 0 or n == 0:
            return
        if len(self.keys) >= self.k:
            # Only keys below the current k-th smallest can enter: draw how many of the n
            # uniform keys fall there, where, and their values, instead of all n keys.
            threshold = float(self.keys.max())
            count = int(self.rng.binomial(n, threshold))
            if count == 0:
                return
            take = np.sort(self.rng.choice(n, count, replace=False))
            keys = np.zeros(n)
            keys[take] = self.rng.random(count) * threshold
        else:
            keys = self.rng.random(n)
            take = np.arange(n)
        if len(take) > self.k:
            take = take[np.argpartition(keys[take], self.k - 1)[: self.k]]
        cols = gather(candidates[take])
        new_keys = np.concatenate([self.keys, keys[take]])
        merged = {c: np.concatenate([self.cols[c], v]) if c in self.cols else v
                  for c, v in cols.items()}
        if len(new_keys) > self.k:
            keep = np.argpartition(new_keys, self.k - 1)[: self.k]
            new_keys = new_keys[keep]
            merged = {c: v[keep] for c, v in merged.items()}
        self.keys, self.cols = new_keys, merged


class SweepState:
    """Everything a sweep accumulates between chunks (saved by :func:`save_checkpoint`)."""

    def __init__(self, n_obj: int, sample_rest: int, seed: int | None) -> None:
        self.front = ParetoFront(n_obj)
        self.rng = np.random.default_rng(seed)
        self.reservoir = Reservoir(sample_rest, self.rng)
        self.evaluated = 0
        self.feasible = 0
        self.failed = 0
        self.chunks = 0
        # Rows in the points file that this state accounts for (the file may hold more after a
        # kill between writing a chunk and checkpointing it: they are cut and written again).
        self.written = 0
        # True once every point is evaluated; the checkpoint then waits for recording.
        self.complete = False
        self.extra: dict[str, Any] = {}
        # While nothing is feasible: the evaluated point of least total violation.
        self.least_violation = np.inf
        self.least_violating: Columns = {}
        # Per-chunk rows the caller's progress hook keeps (column -> values; JSON scalars),
        # checkpointed so a resumed sweep's history is the one an uninterrupted run has.
        self.history: dict[str, list[Any]] = {}


def _plain_array(a: Any) -> np.ndarray:
    arr = np.asarray(a)
    # Object arrays would need pickle; every column we keep is numeric, bool or text.
    return arr.astype(str) if arr.dtype.kind == "O" else arr


def save_checkpoint(path: Path, state: SweepState, fingerprint: str, sync: bool = True) -> None:
    """Write ``state`` atomically to ``path`` (an ``.npz`` file); fsync'ed with ``sync``."""
    arrays: dict[str, np.ndarray] = {}

    def put(value: Any) -> int:
        index = len(arrays)
        arrays[f"a{index}"] = _plain_array(value)
        return index

    def put_cols(cols: Columns) -> dict[str, int]:
        return {name: put(v) for name, v in cols.items()}

    extra_arrays = {k: put(v) for k, v in state.extra.items() if isinstance(v, np.ndarray)}
    extra_scalars = {k: v for k, v in state.extra.items() if not isinstance(v, np.ndarray)}
    doc = {
        "version": CHECKPOINT_VERSION,
        "fingerprint": fingerprint,
        "counters": {k: int(getattr(state, k))
                     for k in ("evaluated", "feasible", "failed", "chunks", "written")},
        "complete": bool(state.complete),
        "rng": state.rng.bit_generator.state,
        "front_F": put(state.front.F),
        "front_payload": put_cols(state.front.payload),
        "reservoir_k": state.reservoir.k,
        "reservoir_keys": put(state.reservoir.keys),
        "reservoir_cols": put_cols(state.reservoir.cols),
        "extra_arrays": extra_arrays,
        "extra_scalars": extra_scalars,
        "least_violation": (None if not np.isfinite(state.least_violation)
                            else float(state.least_violation)),
        "least_violating": put_cols(state.least_violating),
        "history": state.history,
    }
    arrays["doc"] = np.asarray(json.dumps(doc))
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        np.savez(fh, allow_pickle=False, **arrays)
        fh.flush()
        if sync:
            os.fsync(fh.fileno())
    tmp.replace(path)


def load_checkpoint(path: Path, fingerprint: str, n_obj: int) -> SweepState | None:
    """The state saved at ``path``, or ``None`` when missing, torn, foreign or of another sweep.

    Never raises on a bad file and never unpickles: a checkpoint that cannot be read exactly
    means the sweep starts over.
    """
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            doc = json.loads(str(data["doc"]))
            if doc.get("version") != CHECKPOINT_VERSION or doc.get("fingerprint") != fingerprint:
                return None
            arrays = {k: data[k] for k in data.files if k != "doc"}
        return _state_from(doc, arrays, n_obj)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError):
        return None  # a torn or foreign checkpoint means starting over, never a crash


def _state_from(doc: dict[str, Any], arrays: dict[str, np.ndarray], n_obj: int) -> SweepState:
    def get(index: int) -> np.ndarray:
        return arrays[f"a{int(index)}"]

    def cols(table: dict[str, int]) -> Columns:
        return {str(name): get(i) for name, i in table.items()}

    state = SweepState(n_obj, int(doc["reservoir_k"]), None)
    for key, value in doc["counters"].items():
        setattr(state, key, int(value))
    state.complete = bool(doc["complete"])
    state.rng.bit_generator.state = doc["rng"]
    F = get(doc["front_F"]).astype(np.float64)
    if F.ndim != 2 or F.shape[1] != n_obj:
        raise ValueError("front of another shape")
    state.front.F = F
    state.front.payload = cols(doc["front_payload"])
    state.reservoir.keys = get(doc["reservoir_keys"]).astype(np.float64)
    state.reservoir.cols = cols(doc["reservoir_cols"])
    state.extra = {**doc["extra_scalars"],
                   **{k: get(i) for k, i in doc["extra_arrays"].items()}}
    lv = doc["least_violation"]
    state.least_violation = np.inf if lv is None else float(lv)
    state.least_violating = cols(doc["least_violating"])
    history = doc.get("history", {})  # absent in checkpoints written before it was kept
    if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
        raise ValueError("history of another layout")
    state.history = {str(k): list(v) for k, v in history.items()}
    return state
