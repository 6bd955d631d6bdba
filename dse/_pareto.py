"""Pareto filtering and ranking, vectorized, including a streaming front for sweeps of any size.

All functions take objective matrices oriented for minimization. Non-dominated filtering and
non-dominated sorting are moocore's (``is_nondominated`` / ``pareto_rank``, Lopez-Ibanez et al.,
the C kernels behind the R/Python ``moocore`` packages): O(n log n) for two and three objectives,
and 100 to 1000 times faster than the blocked pairwise numpy tests this module used before
(``benchmarks/engine.py`` measures both side by side). Ties are kept everywhere: points with equal
objective vectors are all on the front (neither dominates the other), which is why every call
passes ``keep_weakly=True``.
"""

from __future__ import annotations

from collections.abc import Callable

import moocore
import numpy as np


__all__ = ["ParetoFront", "dominated_by", "nondominated_mask", "pareto_mask", "pareto_ranks"]


def nondominated_mask(F: np.ndarray) -> np.ndarray:
    """Mask of the points of ``F`` (shape ``(n, m)``, all finite) that no other point dominates.

    Duplicated points are all kept (neither dominates the other).
    """
    F = np.asarray(F, dtype=np.float64)
    n, m = F.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    if m == 1:
        return F[:, 0] == F[:, 0].min()
    return np.asarray(moocore.is_nondominated(F, keep_weakly=True), dtype=bool)


def pareto_ranks(F: np.ndarray) -> np.ndarray:
    """Non-domination rank of every row of ``F`` (0 = on the front; equal rows share a rank)."""
    F = np.asarray(F, dtype=np.float64)
    if len(F) == 0:
        return np.zeros(0, dtype=np.intp)
    if F.shape[1] == 1:
        return np.unique(F[:, 0], return_inverse=True)[1].astype(np.intp)
    return np.asarray(moocore.pareto_rank(F), dtype=np.intp)


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Like :func:`nondominated_mask`, but rows with a non-finite value are never on the front
    (failed or pruned trials) and do not dominate anything."""
    F = np.asarray(values, dtype=np.float64)
    mask = np.zeros(len(F), dtype=bool)
    if F.size == 0:
        return mask
    finite = np.flatnonzero(np.isfinite(F).all(axis=1))
    mask[finite] = nondominated_mask(F[finite])
    return mask


def dominated_by(P: np.ndarray, Q: np.ndarray, block: int = 2048) -> np.ndarray:
    """Mask of rows of ``P`` strictly dominated by at least one row of ``Q``.

    Only ``Q``'s own front can dominate anything, so ``Q`` is reduced to it first; the test of
    each ``P`` row against that front is then blocked pairwise numpy.
    """
    out = np.zeros(len(P), dtype=bool)
    if len(Q) == 0 or len(P) == 0:
        return out
    Q = Q[nondominated_mask(Q)]
    for s in range(0, len(Q), block):
        q = Q[s : s + block]
        le = (q[None, :, :] <= P[:, None, :]).all(axis=2)
        lt = (q[None, :, :] < P[:, None, :]).any(axis=2)
        out |= np.any(le & lt, axis=1)
    return out


class ParetoFront:
    """A running Pareto front over streamed chunks, with a payload per point.

    ``update(F, gather)`` keeps the non-dominated points of the union of the current front and
    the chunk; ``gather(indices)`` returns the payload columns of chosen chunk rows, so a chunk's
    columns are copied only for its few front candidates. Ties are kept: a chunk point equal to a
    front point joins the front.
    """

    def __init__(self, n_obj: int) -> None:
        self.F = np.empty((0, n_obj))
        self.payload: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.F)

    def update(self, F: np.ndarray, gather: Callable[[np.ndarray], dict[str, np.ndarray]]) -> None:
        if len(F) == 0:
            return
        # One non-dominated pass over the union: the old front's survivors and the chunk's
        # candidates; only the candidates' payload columns are gathered.
        mask = nondominated_mask(np.concatenate([self.F, F]))
        old, new = mask[: len(self.F)], mask[len(self.F) :]
        idx = np.flatnonzero(new)
        if len(idx) == 0 and old.all():
            return
        payload = gather(idx)
        self.F = np.concatenate([self.F[old], F[idx]])
        self.payload = (
            {k: np.concatenate([self.payload[k][old], payload[k]]) for k in payload}
            if self.payload
            else dict(payload)
        )
