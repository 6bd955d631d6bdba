"""GEMM from the compressed form: ``C = A @ B`` with ``A`` given as N:M values plus metadata.

The kernel mirrors the engine's datapath: VEGETA never holds a dense copy of the sparse operand;
each MAC's metadata drives a ``M:1`` multiplexer that picks, out of the ``M`` dense B values of
its group, the one matching its stored A value (reference notes section 2.1, SparseAccelerator-
RTL). In numpy the same selection is done a *panel* of rows at a time: the panel's stored values
are scattered by their metadata into a ``[panel_rows, K]`` buffer and multiplied with ``B`` by
BLAS. Peak extra memory is ``panel_rows * K`` elements (default ``2**19``), not the ``rows * K``
dense operand.

Numerics: products are formed from the stored values and the selected B values only, so for
inputs whose products and sums are exactly representable the result is bit-identical to the
dense product of the masked matrix; otherwise it differs only by summation order. With bf16
storage the values are decoded to float32 and accumulated in float32 (fp32 accumulation, as in
TDPBF16PS), and ``B`` is rounded to bf16 first.
"""

from __future__ import annotations

import numpy as np

from costmodels._protocol import ModelError
from costmodels.sparse_gemm._bf16 import bf16_round
from costmodels.sparse_gemm._compression import CompressedNM


__all__ = ["PANEL_ELEMENTS", "default_panel_rows", "spmm"]

# Elements of the expanded panel (2 MiB in float32): large enough that BLAS runs near its dense
# speed with several threads, small enough to stay a fraction of a large operand.
PANEL_ELEMENTS = 1 << 19


def default_panel_rows(k: int) -> int:
    """Rows expanded at a time for reduction length ``k``."""
    return max(1, PANEL_ELEMENTS // max(k, 1))


def _check_operand(rows_k: tuple[int, int], b: np.ndarray) -> None:
    if b.ndim != 2 or b.shape[0] != rows_k[1]:
        raise ModelError(
            f"dense operand B has shape {b.shape}: "
            f"expected ({rows_k[1]}, N) to match K={rows_k[1]}"
        )


def spmm(a: CompressedNM, b: np.ndarray, *, panel_rows: int | None = None) -> np.ndarray:
    """``C = A @ B`` computed from the compressed ``A`` (values + metadata).

    Args:
        a: N:M-compressed sparse operand ``[rows, K]``.
        b: Dense operand ``[K, N]``.
        panel_rows: Rows of ``A`` expanded at a time (bounds the extra memory); default
            ``PANEL_ELEMENTS // K``.

    Returns:
        ``C[rows, N]``: float32 for bf16 storage (fp32 accumulation), else the result dtype of
        the stored values and ``b``.
    """
    b = np.asarray(b)
    _check_operand(a.shape, b)
    panel_rows = default_panel_rows(a.shape[1]) if panel_rows is None else panel_rows
    if panel_rows < 1:
        raise ModelError(f"panel_rows={panel_rows}: expected >= 1")
    vals = a.float_values()
    if a.value_format == "bf16":
        b = bf16_round(b)
    idx = a.indices().astype(np.intp)
    rows, k = a.shape
    dtype = np.result_type(vals.dtype, b.dtype)
    out = np.empty((rows, b.shape[1]), dtype=dtype)
    panel = np.empty((min(panel_rows, rows), a.groups, a.m), dtype=dtype)
    for r0 in range(0, rows, panel_rows):
        r1 = min(r0 + panel_rows, rows)
        buf = panel[: r1 - r0]
        buf.fill(0)
        # The multiplexer: each stored value lands on the B row its metadata selects.
        np.put_along_axis(buf, idx[r0:r1], vals[r0:r1], axis=-1)
        np.matmul(buf.reshape(r1 - r0, k), b, out=out[r0:r1])
    return out
