"""N:M compression: kept values plus packed index metadata, with the exact byte footprint.

A matrix ``A[rows, K]`` with at most ``N`` nonzeros in every group of ``M`` consecutive elements
along ``K`` is stored as

* ``values[rows, K/M, N]``: the kept values of each group, in ascending position order (a group
  with fewer than ``N`` nonzeros stores explicit zeros, as hardware does);
* ``metadata[rows, ceil(K/M * N * b / 8)]``: each kept value's position inside its group, in
  ``b = ceil(log2 M)`` bits, packed into bytes row by row, most significant bits first.

For ``M = 4`` this is VEGETA's format: 2 bits per stored value, and one 16-row tile holding
32 stored values per row needs ``16 * 32 * 2 / 8 = 128`` bytes of metadata, the size of one
metadata register (reference notes section 1.2, from the authors' MacSim fork, which unpacks
32 x 32 bits into 2-bit indices "most significant pair first in each byte"). Each row is padded
to a whole byte so a row of a tile register is byte-addressable.

Values are stored either in the input's own dtype or as bf16 bit patterns (``uint16``), so the
reported footprint is the real one of the stored arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from costmodels._protocol import ModelError
from costmodels.sparse_gemm._bf16 import from_bf16_bits, to_bf16_bits
from costmodels.sparse_gemm._pruning import _kept_slots, check_pattern, group_view


__all__ = ["CompressedNM", "compress", "meta_bits", "pack_indices", "unpack_indices"]

ValueFormat = Literal["native", "bf16"]


def meta_bits(m: int) -> int:
    """Metadata bits per stored value: ``ceil(log2 M)``."""
    return max(1, math.ceil(math.log2(m)))


def pack_indices(idx: np.ndarray, bits: int) -> np.ndarray:
    """Pack ``idx[rows, S]`` (each ``< 2**bits``) into bytes per row, MSB first."""
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint8)
    bitplanes = (idx[..., None].astype(np.uint8) >> shifts) & np.uint8(1)
    return np.packbits(bitplanes.reshape(idx.shape[0], -1), axis=1)


def _byte_table(bits: int) -> np.ndarray:
    """``[256, 8 / bits]``: the indices packed in each possible byte, MSB first."""
    shifts = np.arange(8 - bits, -1, -bits, dtype=np.uint8)
    return (np.arange(256, dtype=np.uint8)[:, None] >> shifts) & np.uint8((1 << bits) - 1)


_BYTE_TABLES = {bits: _byte_table(bits) for bits in (1, 2, 4)}


def unpack_indices(packed: np.ndarray, count: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_indices`: ``count`` indices per row (``uint8``)."""
    if bits in _BYTE_TABLES:
        # Indices never straddle bytes: one table lookup per byte.
        return _BYTE_TABLES[bits][packed].reshape(packed.shape[0], -1)[:, :count]
    bitplanes = np.unpackbits(packed, axis=1, count=count * bits).reshape(-1, count, bits)
    weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.uint8)
    return (bitplanes * weights).sum(axis=-1, dtype=np.uint8)


@dataclass(frozen=True)
class CompressedNM:
    """An N:M-compressed matrix: kept values plus packed per-value position metadata.

    Attributes:
        shape: Dense shape ``(rows, K)``.
        n: Values kept per group.
        m: Group size along ``K``.
        values: ``[rows, K/m, n]`` kept values (``uint16`` bf16 bits when ``value_format`` is
            ``"bf16"``).
        metadata: ``[rows, bytes_per_row]`` packed positions.
        value_format: ``"native"`` (values in the input dtype) or ``"bf16"``.
    """

    shape: tuple[int, int]
    n: int
    m: int
    values: np.ndarray
    metadata: np.ndarray
    value_format: ValueFormat = "native"

    @property
    def bits(self) -> int:
        return meta_bits(self.m)

    @property
    def groups(self) -> int:
        return self.shape[1] // self.m

    def indices(self) -> np.ndarray:
        """Positions of the kept values inside their group, ``[rows, K/m, n]`` (``uint8``)."""
        flat = unpack_indices(self.metadata, self.groups * self.n, self.bits)
        return flat.reshape(self.shape[0], self.groups, self.n)

    def float_values(self) -> np.ndarray:
        """Kept values as arithmetic floats (bf16 bits decoded to float32)."""
        if self.value_format == "bf16":
            return from_bf16_bits(self.values)
        return self.values

    @property
    def value_bytes(self) -> int:
        return int(self.values.nbytes)

    @property
    def metadata_bytes(self) -> int:
        return int(self.metadata.nbytes)

    @property
    def nbytes(self) -> int:
        """Exact footprint of the compressed form: values plus metadata bytes."""
        return self.value_bytes + self.metadata_bytes

    def decompress(self) -> np.ndarray:
        """The dense matrix (kept values at their positions, zeros elsewhere)."""
        vals = self.float_values()
        dense = np.zeros((self.shape[0], self.groups, self.m), dtype=vals.dtype)
        np.put_along_axis(dense, self.indices().astype(np.intp), vals, axis=-1)
        return dense.reshape(self.shape)


def compress(
    a: np.ndarray, n: int, m: int, *, value_format: ValueFormat = "native", strict: bool = False
) -> CompressedNM:
    """Compress ``a[rows, K]`` into N:M values plus metadata.

    The ``n`` largest-magnitude entries of each group are kept, so on a matrix that already is
    N:M sparse compression is lossless, and on any other matrix it equals :func:`nm_prune`
    followed by compression.

    Args:
        a: The sparse operand, reduction dimension last.
        n: Values kept per group.
        m: Group size (one of 2, 4, ..., 128).
        value_format: ``"native"`` keeps the input dtype; ``"bf16"`` stores bf16 bit patterns
            (rounded to nearest even).
        strict: Raise instead of dropping nonzeros when ``a`` is not N:M sparse.

    Raises:
        ModelError: naming ``n``/``m``/``K`` for an invalid pattern or shape, or (``strict``) the
            first row and group holding more than ``n`` nonzeros.
    """
    check_pattern(n, m)
    a = np.asarray(a)
    groups = group_view(a, m)
    if strict:
        nnz = np.count_nonzero(groups, axis=-1)
        if (nnz > n).any():
            r, g = np.argwhere(nnz > n)[0]
            raise ModelError(
                f"matrix is not {n}:{m} sparse: row {r}, group {g} holds {nnz[r, g]} nonzeros"
            )
    slots = _kept_slots(groups, n)
    vals = np.take_along_axis(groups, slots, axis=-1)
    if value_format == "bf16":
        vals = to_bf16_bits(vals)
    elif value_format != "native":
        raise ModelError(f"value_format={value_format!r}: expected 'native' or 'bf16'")
    metadata = pack_indices(slots.reshape(a.shape[0], -1), meta_bits(m))
    return CompressedNM((a.shape[0], a.shape[1]), n, m, vals, metadata, value_format)
