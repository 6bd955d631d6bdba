"""The Pareto and hypervolume kernels dse had before moocore (commit 9b56e41), kept only as
the baseline ``benchmarks/kernels.py`` measures the library against, side by side in one run.
Not used by the engine."""

from __future__ import annotations

import numpy as np


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


def _hv2d(pts: np.ndarray, ref: np.ndarray) -> float:
    if len(pts) == 0:
        return 0.0
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    x = pts[order, 0]
    y = np.minimum.accumulate(pts[order, 1])
    widths = np.diff(np.append(x, ref[0]))
    return float(np.sum(widths * (ref[1] - y)))


def _hv3d(pts: np.ndarray, ref: np.ndarray, block: int = 512) -> float:
    # Sorted by z, the volume is sum_k area_k * (z[k+1] - z[k]) where area_k is the 2-D area of
    # the first k points. With x compressed to ranks, cell j (width x[j+1] - x[j]) of prefix k
    # is covered down to M[k, j] = min{y_i : i <= k, rank_x(i) <= j}: a cumulative minimum along
    # x, then along the z order. Rows are processed in blocks to bound memory at block * n.
    if len(pts) == 0:
        return 0.0
    pts = pts[np.argsort(pts[:, 2], kind="stable")]
    n = len(pts)
    by_x = np.argsort(pts[:, 0], kind="stable")
    widths = np.diff(np.append(pts[by_x, 0], ref[0]))
    rank = np.empty(n, dtype=np.intp)
    rank[by_x] = np.arange(n)
    heights = np.diff(np.append(pts[:, 2], ref[2]))
    carry = np.full(n, ref[1])
    volume = 0.0
    for start in range(0, n, block):
        stop = min(n, start + block)
        rows = np.full((stop - start, n), ref[1])
        rows[np.arange(stop - start), rank[start:stop]] = pts[start:stop, 1]
        np.minimum.accumulate(rows, axis=1, out=rows)
        rows[0] = np.minimum(rows[0], carry)
        np.minimum.accumulate(rows, axis=0, out=rows)
        carry = rows[-1].copy()
        volume += float(((ref[1] - rows) @ widths) @ heights[start:stop])
    return volume


def _pivot_survivors(pts: np.ndarray, n_pivots: int = 32, strict: bool = False) -> np.ndarray:
    """Mask of the points not dominated by one of the lowest-sum points (a cheap prefilter).

    Not a full Pareto filter, but it removes almost every dominated point in O(n_pivots * n):
    in the incremental history the clipped fronts collapse onto a handful of points, and a big
    study's front is a small part of it. The lowest-sum point of a set is never strictly
    dominated, so pivots are taken in sum order. ``strict=False`` also drops duplicates and
    weakly dominated points (fine for hypervolume); ``strict=True`` keeps them (Pareto flags).
    """
    alive = np.ones(len(pts), dtype=bool)
    if len(pts) <= n_pivots:
        return alive
    order = np.argsort(pts.sum(axis=1), kind="stable")
    for j in order[:n_pivots]:
        if alive[j]:
            dominated = np.all(pts >= pts[j], axis=1)
            if strict:
                dominated &= np.any(pts > pts[j], axis=1)
            dominated[j] = False
            alive &= ~dominated
    return alive


def hypervolume(values: np.ndarray, reference: np.ndarray) -> float:
    """Exact hypervolume dominated by ``values`` and bounded by ``reference``.

    Args:
        values: ``(n, m)`` objective values, minimisation-oriented. Dominated, non-finite and
            out-of-box points are allowed; they add nothing.
        reference: ``(m,)`` reference point (finite).

    Returns:
        The hypervolume (0.0 for an empty set or when no point beats the reference).

    Raises:
        ValueError: if the shapes disagree or the reference is not finite.
    """
    pts, ref = _check(values, reference)
    pts = _inside(pts, ref)
    if len(pts) == 0:
        return 0.0
    m = ref.size
    if m == 1:
        return float(ref[0] - pts[:, 0].min())
    if m == 2:
        return _hv2d(pts, ref)
    pts = pts[_pivot_survivors(pts)]
    if m == 3:
        return _hv3d(pts, ref)
    return _hypervolume_wfg(pts, ref)



def _check(values: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pts = np.asarray(values, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    return pts.reshape(-1, ref.size), ref


def _inside(pts: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return pts[np.all(np.isfinite(pts), axis=1) & np.all(pts < ref, axis=1)]


def _hypervolume_wfg(points: np.ndarray, reference: np.ndarray) -> float:
    from optuna._hypervolume import compute_hypervolume

    return float(compute_hypervolume(points, reference, assume_pareto=False))


def survive(F: np.ndarray, k: int) -> np.ndarray:
    """The evolutionary sweep's survival step as it was: peel one front at a time."""
    from dse._sweep import crowding_distance

    chosen: list[np.ndarray] = []
    remaining = np.arange(len(F))
    taken = 0
    while len(remaining) and taken < k:
        mask = nondominated_mask(F[remaining])
        layer = remaining[mask]
        if taken + len(layer) > k:
            crowd = crowding_distance(F[layer])
            layer = layer[np.argsort(-crowd, kind="stable")[: k - taken]]
        chosen.append(layer)
        taken += len(layer)
        remaining = remaining[~mask]
    return np.concatenate(chosen)
