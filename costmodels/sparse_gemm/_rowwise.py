"""Row-wise N:M: an unstructured sparse matrix as per-row-chunk N in {1, 2, 4} with M = 4.

VEGETA runs unstructured sparsity by transforming it to *row-wise N:M* (reference notes section
3, [paper]): every row chunk of ``L`` dense elements along ``K`` gets the smallest
``N in {1, 2, 4}`` such that no group of 4 in the chunk holds more than ``N`` nonzeros. The
conversion is lossless: groups with fewer nonzeros store explicit zeros.

Storage (exact bytes, :attr:`RowwiseNM.nbytes`): the stored values in row/chunk/group order, a
2-bit position per stored value (packed MSB first), and a 2-bit code per chunk for its ``N``.

For i.i.d. nonzeros of density ``d`` the expected ``N`` of a chunk has a closed form ([derived],
reference notes section 3)::

    F_k  = sum_{i <= k} C(4, i) d^i (1 - d)^(4 - i)     one group holds at most k nonzeros
    P1   = F_1 ** (L / 4),  P2 = F_2 ** (L / 4)          the chunk fits 1:4 / 2:4
    E[N] = P1 + 2 (P2 - P1) + 4 (1 - P2)

and the ideal speed-up over dense is ``4 / E[N]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodels._protocol import ModelError
from costmodels.sparse_gemm._compression import pack_indices, unpack_indices
from costmodels.sparse_gemm._spmm import default_panel_rows


__all__ = ["ROWWISE_N", "RowwiseNM", "expected_rowwise_n", "rowwise_spmm", "to_rowwise_nm"]

GROUP = 4
# N values a row chunk may take, and the 2-bit code stored for each.
ROWWISE_N = (1, 2, 4)
_N_OF_CODE = np.asarray(ROWWISE_N, dtype=np.uint8)


def _check_chunk(k: int, chunk: int) -> None:
    if chunk < GROUP or chunk % GROUP:
        raise ModelError(f"row_chunk={chunk}: expected a positive multiple of {GROUP}")
    if k % chunk:
        raise ModelError(f"reduction dimension K={k} is not a multiple of row_chunk={chunk}")


@dataclass(frozen=True)
class RowwiseNM:
    """A matrix stored as row-wise N:M (``M = 4``, per-chunk ``N`` in {1, 2, 4}).

    Attributes:
        shape: Dense shape ``(rows, K)``.
        chunk: Chunk length ``L`` along ``K`` (dense elements).
        chunk_n: ``[rows, K/L]`` the ``N`` of every chunk.
        values: Stored values, flat, in row, chunk, group, position order.
        metadata: 2-bit positions of the stored values, packed MSB first.
        n_codes: 2-bit codes of ``chunk_n``, packed MSB first.
    """

    shape: tuple[int, int]
    chunk: int
    chunk_n: np.ndarray
    values: np.ndarray
    metadata: np.ndarray
    n_codes: np.ndarray

    @property
    def stored_per_row(self) -> np.ndarray:
        return self.chunk_n.astype(np.int64).sum(axis=1) * (self.chunk // GROUP)

    @property
    def nbytes(self) -> int:
        """Exact footprint: values, position metadata and per-chunk N codes."""
        return int(self.values.nbytes + self.metadata.nbytes + self.n_codes.nbytes)

    def mean_n(self) -> float:
        """Average stored values per group of 4 (the work relative to dense is this / 4)."""
        return float(self.chunk_n.mean())

    def indices(self) -> np.ndarray:
        return unpack_indices(self.metadata, self.values.size, 2)[0]

    def _group_ids(self) -> np.ndarray:
        per_group = np.repeat(self.chunk_n.reshape(-1).astype(np.int64), self.chunk // GROUP)
        return np.repeat(np.arange(per_group.size), per_group)

    def decompress(self) -> np.ndarray:
        dense = np.zeros(self.shape[0] * self.shape[1], dtype=self.values.dtype)
        dense[self._group_ids() * GROUP + self.indices()] = self.values
        return dense.reshape(self.shape)


def to_rowwise_nm(a: np.ndarray, chunk: int = 32) -> RowwiseNM:
    """Convert ``a[rows, K]`` (any sparsity) to row-wise N:M, losslessly.

    Raises:
        ModelError: naming ``row_chunk`` or ``K`` when the shape does not tile into chunks.
    """
    a = np.asarray(a)
    if a.ndim != 2:
        raise ModelError(f"sparse operand must be a 2-D matrix [rows, K], got shape {a.shape}")
    rows, k = a.shape
    _check_chunk(k, chunk)
    groups = a.reshape(rows, k // chunk, chunk // GROUP, GROUP)
    worst = np.count_nonzero(groups, axis=-1).max(axis=-1)
    code = np.searchsorted(_N_OF_CODE, worst).astype(np.uint8)  # smallest N >= worst
    chunk_n = _N_OF_CODE[code]
    # Keep the chunk's N largest-magnitude entries of each group (all its nonzeros), and store
    # them in ascending position order: boolean indexing walks row/chunk/group/position.
    order = np.argsort(-np.abs(groups), axis=-1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(GROUP), axis=-1)
    keep = rank < chunk_n[:, :, None, None]
    positions = np.broadcast_to(np.arange(GROUP, dtype=np.uint8), groups.shape)[keep]
    return RowwiseNM(
        shape=(rows, k),
        chunk=chunk,
        chunk_n=chunk_n,
        values=groups[keep],
        metadata=pack_indices(positions[None, :], 2),
        n_codes=pack_indices(code.reshape(1, -1), 2),
    )


def rowwise_spmm(a: RowwiseNM, b: np.ndarray, *, panel_rows: int | None = None) -> np.ndarray:
    """``C = A @ B`` from the row-wise N:M form (panel-wise multiplexing, as :func:`spmm`)."""
    b = np.asarray(b)
    rows, k = a.shape
    if b.ndim != 2 or b.shape[0] != k:
        raise ModelError(f"dense operand B has shape {b.shape}: expected ({k}, N) to match K={k}")
    panel_rows = default_panel_rows(k) if panel_rows is None else panel_rows
    if panel_rows < 1:
        raise ModelError(f"panel_rows={panel_rows}: expected >= 1")
    offsets = np.concatenate([[0], np.cumsum(a.stored_per_row)])
    flat_pos = a._group_ids() * GROUP + a.indices()
    dtype = np.result_type(a.values.dtype, b.dtype)
    out = np.empty((rows, b.shape[1]), dtype=dtype)
    for r0 in range(0, rows, panel_rows):
        r1 = min(r0 + panel_rows, rows)
        lo, hi = offsets[r0], offsets[r1]
        panel = np.zeros((r1 - r0) * k, dtype=dtype)
        panel[flat_pos[lo:hi] - r0 * k] = a.values[lo:hi]
        np.matmul(panel.reshape(r1 - r0, k), b, out=out[r0:r1])
    return out


def expected_rowwise_n(density: np.ndarray | float, chunk: np.ndarray | int) -> np.ndarray:
    """Expected per-chunk ``N`` for i.i.d. nonzeros at ``density`` (closed form, vectorized)."""
    d = np.asarray(density, dtype=np.float64)
    q = 1.0 - d
    f1 = q**4 + 4 * d * q**3
    f2 = f1 + 6 * d**2 * q**2
    groups = np.asarray(chunk, dtype=np.float64) / GROUP
    p1 = f1**groups
    p2 = f2**groups
    return np.asarray(p1 + 2 * (p2 - p1) + 4 * (1 - p2))
