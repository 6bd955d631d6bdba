"""Pareto filtering, vectorized, including a streaming front for sweeps of any size.

All functions take objective matrices oriented for minimization. For two objectives the front
is found by one lexicographic sort and a running minimum (``O(n log n)``); for more, by blocked
pairwise dominance tests against a shrinking candidate set, after discarding points already
dominated by the running front.
"""

from __future__ import annotations

import numpy as np


__all__ = ["ParetoFront", "dominated_by", "nondominated_mask"]


def nondominated_mask(F: np.ndarray) -> np.ndarray:
    """Mask of the points of ``F`` (shape ``(n, m)``) that no other point dominates.

    Duplicated points are all kept (neither dominates the other).
    """
    F = np.asarray(F, dtype=np.float64)
    n, m = F.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    if m == 1:
        return F[:, 0] == F[:, 0].min()
    if m == 2:
        return _mask_2d(F)
    return _mask_nd(F)


def _mask_2d(F: np.ndarray) -> np.ndarray:
    order = np.lexsort((F[:, 1], F[:, 0]))
    f0, f1 = F[order, 0], F[order, 1]
    # Every earlier point in lexicographic order has a smaller-or-equal f0, so a point is
    # dominated exactly when some earlier, non-identical point has f1 <= its f1. Identical
    # points form groups judged once, at the group's first member.
    first = np.ones(len(f0), dtype=bool)
    first[1:] = (f0[1:] != f0[:-1]) | (f1[1:] != f1[:-1])
    prev_min = np.minimum.accumulate(np.concatenate(([np.inf], f1[:-1])))
    group = np.cumsum(first) - 1
    keep = (f1 < prev_min)[first][group]
    mask = np.zeros(len(F), dtype=bool)
    mask[order] = keep
    return mask


def dominated_by(P: np.ndarray, Q: np.ndarray, block: int = 2048) -> np.ndarray:
    """Mask of rows of ``P`` dominated by at least one row of ``Q``."""
    out = np.zeros(len(P), dtype=bool)
    if len(Q) == 0 or len(P) == 0:
        return out
    for s in range(0, len(Q), block):
        q = Q[s : s + block]
        le = (q[None, :, :] <= P[:, None, :]).all(axis=2)
        lt = (q[None, :, :] < P[:, None, :]).any(axis=2)
        out |= (le & lt).any(axis=1)
    return out


def _mask_nd(F: np.ndarray) -> np.ndarray:
    n = len(F)
    order = np.argsort(F.sum(axis=1), kind="stable")
    mask = np.zeros(n, dtype=bool)
    front = np.empty((0, F.shape[1]))
    # A point can only be dominated by one with a smaller sum: sweep in sum order, in blocks.
    block = 1024
    for s in range(0, n, block):
        idx = order[s : s + block]
        P = F[idx]
        alive = ~dominated_by(P, front)
        P_alive = P[alive]
        within = dominated_by(P_alive, P_alive)
        keep_idx = idx[alive][~within]
        mask[keep_idx] = True
        front = np.concatenate([front, F[keep_idx]])
    return mask


class ParetoFront:
    """A running Pareto front over streamed chunks, with a payload per point.

    ``update(F, payload)`` keeps only the non-dominated points of the union of the current front
    and the chunk; payload is a dict of columns aligned with ``F``.
    """

    def __init__(self, n_obj: int) -> None:
        self.F = np.empty((0, n_obj))
        self.payload: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.F)

    def update(self, F: np.ndarray, payload: dict[str, np.ndarray]) -> None:
        if len(F) == 0:
            return
        own = nondominated_mask(F)
        if not own.all():
            F = F[own]
            payload = {k: v[own] for k, v in payload.items()}
        if len(self.F):
            alive = ~dominated_by(F, self.F) if F.shape[1] > 2 else None
            if alive is not None:
                F = F[alive]
                payload = {k: v[alive] for k, v in payload.items()}
        F_all = np.concatenate([self.F, F])
        pay_all = (
            {k: np.concatenate([self.payload[k], payload[k]]) for k in payload}
            if self.payload
            else dict(payload)
        )
        mask = nondominated_mask(F_all)
        self.F = F_all[mask]
        self.payload = {k: v[mask] for k, v in pay_all.items()}
