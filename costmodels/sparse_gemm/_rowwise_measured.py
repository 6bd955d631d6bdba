"""Expected row-wise N per chunk measured on actual weight matrices instead of the i.i.d. formula.

The closed form of :func:`expected_rowwise_n` assumes every weight is kept independently with
the same probability. Magnitude-pruned trained weights are not like that: rows and columns
differ in scale, so the kept weights cluster and a chunk is more often forced to 2:4 or 4:4.
:class:`RowwiseProfile` takes the matrices themselves (``A[rows, K]``, the sparse operand,
e.g. a ``torch.nn.Linear`` weight ``[out, in]``) and gives, for any density and chunk length,
the mean N that :func:`to_rowwise_nm` would pick after magnitude pruning each matrix to that
density (the ``round(d * size)`` largest magnitudes of each matrix kept).

It is exact and vectorized over densities: a group of 4 keeps at most one weight iff its
second-largest magnitude is below the pruning threshold ``tau``, at most two iff its third-
largest is. So for each chunk (``L / 4`` groups) let ``s2`` and ``s3`` be the largest second-
and third-largest magnitude over its groups; the chunk's N is

    1 if s2 < tau,    2 if s3 < tau <= s2,    4 otherwise,

and counting chunks is a ``searchsorted`` of ``tau`` into the sorted ``s2`` and ``s3`` of each
matrix. ``K`` not a multiple of ``L`` is padded with pruned zeros. E[N] is the mean over the
chunks of all matrices (each chunk is the same work, so this is the work-weighted mean).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from costmodels._protocol import ModelError


__all__ = ["CHUNKS", "RowwiseProfile", "load_matrices"]

CHUNKS = (16, 32, 64, 128)  # the model's row_chunk choices
GROUP = 4


def load_matrices(path: str | Path) -> dict[str, np.ndarray]:
    """2-D weight matrices from a ``.npz`` (one array each) or ``.npy`` file.

    Raises:
        ModelError: naming the file and what is wrong with it.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"rowwise_matrices={str(path)!r}: no such file (expected .npz or .npy)")
    try:
        loaded = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"rowwise_matrices={str(path)!r}: not a numpy .npz/.npy file ({exc})"
        ) from exc
    arrays = dict(loaded) if isinstance(loaded, Mapping) else {p.stem: loaded}
    if not arrays:
        raise ModelError(f"rowwise_matrices={str(path)!r}: the file holds no arrays")
    for name, a in arrays.items():
        if a.ndim != 2 or a.dtype.kind not in "fiu" or min(a.shape) < 1:
            raise ModelError(
                f"rowwise_matrices={str(path)!r}: array {name!r} has shape {a.shape} and dtype "
                f"{a.dtype}: expected a 2-D numeric weight matrix [rows, K]"
            )
    return arrays


class RowwiseProfile:
    """Per-matrix chunk statistics from which E[N] follows at any density (see module doc)."""

    def __init__(self, matrices: Mapping[str, np.ndarray], chunks: tuple[int, ...] = CHUNKS):
        if not matrices:
            raise ModelError("RowwiseProfile needs at least one weight matrix")
        self.names = tuple(matrices)
        self.sizes = np.asarray([a.size for a in matrices.values()], dtype=np.int64)
        # Magnitudes, zeros as -1 so that an exact zero is never kept.
        mags = [np.where(a == 0, -1.0, np.abs(a.astype(np.float64))) for a in matrices.values()]
        self._sorted = [np.sort(m.reshape(-1))[::-1] for m in mags]  # descending
        self._s2: dict[int, list[np.ndarray]] = {}
        self._s3: dict[int, list[np.ndarray]] = {}
        for chunk in chunks:
            self._s2[chunk], self._s3[chunk] = [], []
            for m in mags:
                s2, s3 = _chunk_order_stats(m, chunk)
                self._s2[chunk].append(np.sort(s2))
                self._s3[chunk].append(np.sort(s3))

    def thresholds(self, density: np.ndarray) -> list[np.ndarray]:
        """Per matrix, the magnitude of its ``round(d size)``-th largest weight (>= 1 kept)."""
        d = np.asarray(density, dtype=np.float64)
        out = []
        for size, ordered in zip(self.sizes, self._sorted, strict=True):
            kept = np.clip(np.rint(d * size).astype(np.int64), 1, size)
            out.append(ordered[kept - 1])
        return out

    def expected_n(self, density: np.ndarray, chunk: np.ndarray) -> np.ndarray:
        """Mean stored N per group of 4 of row-wise N:M after pruning to ``density``."""
        d_in, c_in = np.broadcast_arrays(np.asarray(density, dtype=np.float64), np.asarray(chunk))
        d, c = d_in.reshape(-1), c_in.reshape(-1)
        out = np.empty(d.shape)
        for value in np.unique(c):
            value = int(value)
            if value not in self._s2:
                raise ModelError(f"row_chunk={value}: the profile has chunks {tuple(self._s2)}")
            sel = c == value
            work = np.zeros(int(sel.sum()))
            chunks = 0
            for tau, s2, s3 in zip(
                self.thresholds(d[sel]), self._s2[value], self._s3[value], strict=True
            ):
                n1 = np.searchsorted(s2, tau, side="left")  # chunks with s2 < tau
                n12 = np.searchsorted(s3, tau, side="left")  # chunks with s3 < tau
                work += n1 + 2.0 * (n12 - n1) + 4.0 * (len(s2) - n12)
                chunks += len(s2)
            out[sel] = work / chunks
        return out.reshape(d_in.shape)


def _chunk_order_stats(mags: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Per chunk, the largest 2nd- and 3rd-largest magnitude over its groups of 4."""
    rows, k = mags.shape
    padded = -(-k // chunk) * chunk
    if padded != k:
        mags = np.concatenate([mags, np.full((rows, padded - k), -1.0)], axis=1)
    groups = np.sort(mags.reshape(rows, padded // chunk, chunk // GROUP, GROUP), axis=-1)
    s2 = groups[..., GROUP - 2].max(axis=-1).reshape(-1)
    s3 = groups[..., GROUP - 3].max(axis=-1).reshape(-1)
    return s2, s3
