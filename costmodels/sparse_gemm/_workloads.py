"""Workloads: the GEMM layers a design is timed on.

The shipped set (``layers.csv`` next to this module, provenance in its header) holds the weight
GEMMs of BERT-base (sequence length 512) and ViT-B/16 (197 tokens), both batch 1, and the
convolutions of ResNet-50 (224 x 224, batch 1) lowered with im2col. Each GEMM is
``C[M x N] = A[M x K] . B[K x N]`` with ``A`` the weights, the operand VEGETA keeps sparse and
stationary; ``count`` says how many layers of the network share the shape.

Users supply their own layers as a CSV with columns ``M, N, K`` and optionally ``layer``,
``count`` (default 1) and ``n`` (the layer's N of N:4, used by the ``per_layer`` sparsity mode).
Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from costmodels._protocol import ModelError


__all__ = ["BUILTIN_SETS", "Workload", "WorkloadError", "load_workload"]

_SHIPPED = Path(__file__).with_name("layers.csv")
BUILTIN_SETS = ("all", "bert_base", "vit_b16", "resnet50", "transformers")


class WorkloadError(ModelError):
    """A workload file or name is invalid; the message names the file, line and column."""


@dataclass(frozen=True)
class Workload:
    """Layers as columns (one entry per layer shape)."""

    names: tuple[str, ...]
    m: np.ndarray
    n: np.ndarray
    k: np.ndarray
    count: np.ndarray
    layer_n: np.ndarray  # N of N:4 per layer for the per_layer mode (4 = dense)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def dense_macs(self) -> float:
        return float((self.m * self.n * self.k * self.count).sum())


def _int_cell(path: Path, line: int, column: str, raw: str | None, low: int, high: int) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise WorkloadError(
            f"{path}:{line}: column {column!r} = {raw!r}: expected an integer in [{low}, {high}]"
        ) from None
    if not low <= value <= high:
        raise WorkloadError(
            f"{path}:{line}: column {column!r} = {value}: expected an integer in [{low}, {high}]"
        )
    return value


def _read_csv(path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise WorkloadError(f"workload file {path}: cannot be read ({exc.strerror})") from None
    numbered = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    numbered = [(i, ln) for i, ln in numbered if not ln.lstrip().startswith("#")]
    if not numbered:
        raise WorkloadError(f"workload file {path}: no header line; expected columns M,N,K")
    reader = csv.DictReader([ln for _, ln in numbered])
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in ("M", "N", "K") if c not in header]
    if missing:
        raise WorkloadError(
            f"workload file {path}: missing column(s) {missing}; expected M,N,K "
            "(optional: layer, model, count, n)"
        )
    rows = [(numbered[i + 1][0], row) for i, row in enumerate(reader)]
    if not rows:
        raise WorkloadError(f"workload file {path}: no layers")
    return rows


def _parse(path: Path, models: set[str] | None) -> Workload:
    names: list[str] = []
    ms: list[int] = []
    ns: list[int] = []
    ks: list[int] = []
    counts: list[int] = []
    layer_ns: list[int] = []
    for line, row in _read_csv(path):
        if models is not None and row.get("model", "") not in models:
            continue
        model = row.get("model") or ""
        layer = row.get("layer") or f"layer{len(names)}"
        names.append(f"{model}.{layer}" if model else layer)
        ms.append(_int_cell(path, line, "M", row.get("M"), 1, 1 << 24))
        ns.append(_int_cell(path, line, "N", row.get("N"), 1, 1 << 24))
        ks.append(_int_cell(path, line, "K", row.get("K"), 1, 1 << 24))
        counts.append(_int_cell(path, line, "count", row.get("count") or "1", 1, 1 << 20))
        layer_ns.append(_int_cell(path, line, "n", row.get("n") or "4", 1, 4))
    if not names:
        raise WorkloadError(f"workload file {path}: no layers of models {sorted(models or [])}")
    as_int = np.asarray
    return Workload(
        tuple(names),
        as_int(ms, dtype=np.int64),
        as_int(ns, dtype=np.int64),
        as_int(ks, dtype=np.int64),
        as_int(counts, dtype=np.int64),
        as_int(layer_ns, dtype=np.int64),
    )


def load_workload(spec: str | Path = "all") -> Workload:
    """A built-in layer set by name, or the layers of a user CSV file.

    Args:
        spec: ``"all"`` (BERT-base, ViT-B/16, ResNet-50), ``"transformers"`` (the first two),
            one network name (``"bert_base"``, ``"vit_b16"``, ``"resnet50"``) or a CSV path.

    Raises:
        WorkloadError: naming the file, line and column of a bad entry, or the unknown name.
    """
    key = str(spec)
    if key in BUILTIN_SETS:
        models = {
            "all": None,
            "transformers": {"bert_base", "vit_b16"},
        }.get(key, {key})
        return _parse(_SHIPPED, models)
    path = Path(key)
    if path.suffix.lower() != ".csv" and not path.exists():
        raise WorkloadError(
            f"workload {key!r}: expected one of {', '.join(BUILTIN_SETS)} or a path to a CSV file"
        )
    return _parse(path, None)
