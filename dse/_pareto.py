"""Pareto filtering, vectorized, including a streaming front for sweeps of any size.

All functions take objective matrices oriented for minimization. For two objectives the front
is found by one lexicographic sort and a running minimum (``O(n log n)``); for more, by blocked
pairwise dominance tests against a shrinking candidate set, after discarding points already
dominated by the running front.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


__all__ = ["ParetoFront", "dominated_by", "nondominated_mask", "pareto_mask"]


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
    if P.shape[1] == 2:
        return _dominated_by_2d(P, Q)
    for s in range(0, len(Q), block):
        q = Q[s : s + block]
        le = (q[None, :, :] <= P[:, None, :]).all(axis=2)
        lt = (q[None, :, :] < P[:, None, :]).any(axis=2)
        out |= np.any(le & lt, axis=1)
    return out


def _dominated_by_2d(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    # Q's front as a staircase: f0 ascending, f1 strictly descending. The best f1 among front
    # points with f0 <= p.f0 is at the last such point, found by binary search.
    stair = Q[_mask_2d(Q)]
    stair = stair[np.lexsort((stair[:, 1], stair[:, 0]))]
    idx = np.searchsorted(stair[:, 0], P[:, 0], side="right") - 1
    np.maximum(idx, 0, out=idx)
    q0, q1 = stair[:, 0][idx], stair[:, 1][idx]
    p0, p1 = P[:, 0], P[:, 1]
    has = P[:, 0] >= stair[0, 0]
    return has & (q1 <= p1) & ((q1 < p1) | (q0 < p0))


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

    ``update(F, gather)`` keeps the non-dominated points of the union of the current front and
    the chunk; ``gather(indices)`` returns the payload columns of chosen chunk rows, so a chunk's
    columns are copied only for its few front candidates. Large chunks are first screened
    against the front of a random subsample: points it dominates are truly dominated, so the
    exact filter then runs on the few survivors.
    """

    def __init__(self, n_obj: int, seed: int = 0) -> None:
        self.F = np.empty((0, n_obj))
        self.payload: dict[str, np.ndarray] = {}
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.F)

    def update(self, F: np.ndarray, gather: Callable[[np.ndarray], dict[str, np.ndarray]]) -> None:
        if len(F) == 0:
            return
        idx = np.arange(len(F))
        if len(self.F):
            idx = idx[~dominated_by(F, self.F)]
        if len(idx) > 50_000:
            probe = F[self._rng.choice(idx, 4096, replace=False)]
            idx = idx[~dominated_by(F[idx], probe[nondominated_mask(probe)])]
        if len(idx) == 0:
            return
        own = nondominated_mask(F[idx])
        idx = idx[own]
        payload = gather(idx)
        F_all = np.concatenate([self.F, F[idx]])
        pay_all = (
            {k: np.concatenate([self.payload[k], payload[k]]) for k in payload}
            if self.payload
            else dict(payload)
        )
        mask = nondominated_mask(F_all)
        self.F = F_all[mask]
        self.payload = {k: v[mask] for k, v in pay_all.items()}
