"""The scheduler's time loop, compiled: every point served query by query, on its own.

Same rules as :mod:`._scheduler` (its module docstring gives them), per point ``r`` with the PB
holding ``g`` during block ``j`` (queries ``[j Q, (j + 1) Q)``):

* latency query ``t``: ``k = #{s : u[r, g, s] <= q_t}`` over the point's sorted normalized
  selection latencies (a binary search), served ``pick[r, g, k]``; accuracy query: served
  ``pick[r, g, acc_idx[t]]`` (``acc_idx = S + 1 + first_ok``, shared by every point);
* served latency ``L[r, s, g]``, plus the block's stall on its first query; a latency query is
  missed when ``(L - L_min) / span > q_t``, in the reference's float64 arithmetic;
* after every block but the last: the block's latency under each candidate ``g'`` (per-SubNet
  counts times ``L[r, :, g']``, or the block's rows summed in query order, as the reference
  forms it for the point's group size), a running window sum of the last ``w`` blocks, and
  ``g_next = argmin_g' window[g'] + switch_score[r, g, g']`` (first minimum, as ``argmin``).

Points with a fixed PB are the same loop with one block (``Q >= T``) and one content.

Why compiled: vectorized over points, the loop needs about 15 numpy calls per tick of the
smallest period, and call overhead dominated (``docs/models/sushi.md`` section 11). Here a point
costs ``O(T log S + (T / Q) min(Q, S) G)`` machine operations and no allocation per tick.

Arithmetic: every element-wise operation is the reference's, in IEEE double (no fast-math), so
the served SubNets, served latencies and misses follow from the same numbers. The one sum that
can differ in its last bits is the per-SubNet ``counts x table`` block sum, which the reference
hands to BLAS (lane order unknown) and which is summed here in SubNet order; decisions can then
differ only between candidates whose window sums agree to about ``1e-16`` relative (tested equal
on the sampled points of ``tests/costmodels/test_sushi_fast.py``).
"""

from __future__ import annotations

import numpy as np
from numba import njit


__all__ = ["serve_points"]


@njit(cache=True, nogil=True)
def _count_at_most(row: np.ndarray, q: float) -> int:
    """``#{s : row[s] <= q}`` for an ascending ``row`` (bisect right)."""
    lo, hi = 0, row.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if row[mid] <= q:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def serve_points(  # noqa: PLR0913 - one flat kernel signature, every array named
    lat: np.ndarray,
    u_sorted: np.ndarray,
    pick: np.ndarray,
    start: np.ndarray,
    is_lat: np.ndarray,
    q_all: np.ndarray,
    acc_idx: np.ndarray,
    period: np.ndarray,
    w_blocks: np.ndarray,
    by_counts: np.ndarray,
    blocking: np.ndarray,
    switch_bytes: np.ndarray,
    switch_ms: np.ndarray,
    lo: np.ndarray,
    span: np.ndarray,
    served_lat: np.ndarray,
    counts: np.ndarray,
    lat_miss: np.ndarray,
    moved: np.ndarray,
    stall: np.ndarray,
) -> None:
    """Serve the trace at every point ``r`` (outputs are filled in place).

    Args:
        lat: Served latency ``L`` ``[R, S, G]`` (ms; SubNets in accuracy order).
        u_sorted: Sorted normalized selection latencies ``[R, G_u, S]``; ``G_u = 1`` when every
            point keeps its starting content (then row 0 is that content's).
        pick: Decision rows ``[R, G_u, 2 S + 2]`` (``_fast_scheduler._picks``).
        start: PB content of the first block ``[R]``.
        is_lat: Latency query ``[T]``; ``q_all`` its target quantile ``[T]``.
        acc_idx: ``S + 1 + first_ok`` ``[T]``: the decision column of an accuracy query.
        period: ``Q`` ``[R]``; ``w_blocks`` the window in blocks ``[R]``.
        by_counts: Block sums as per-SubNet counts times the table ``[R]`` (else row sums).
        blocking: A switch stalls the next block's first query ``[R]``.
        switch_bytes: ``[R, G, G]`` bytes moved by a switch; ``switch_ms`` their fetch time.
        lo: Fastest no-PB latency ``[R]``; ``span`` the no-PB latency range ``[R]``.
        served_lat: Out ``[R, T]`` float32: each query's latency, stall included.
        counts: Out ``[R, S, G]`` (zeroed here): queries per (SubNet, PB content).
        lat_miss: Out ``[R]``: latency queries served above their target.
        moved: Out ``[R, B]``: bytes loaded at the start of block ``j >= 1`` (0 beyond).
        stall: Out ``[R, B]``: stall on the first query of block ``j`` (0 beyond).
    """
    n_rows, n_sub, n_cand = lat.shape
    n_q = q_all.shape[0]
    one_content = u_sorted.shape[1] == 1
    empty = n_cand - 1
    w_max = 1
    for r in range(n_rows):
        w_max = max(w_max, w_blocks[r])
    ring = np.zeros((w_max, n_cand))
    window = np.zeros(n_cand)
    block_ms = np.zeros(n_cand)
    hist = np.zeros(n_sub, dtype=np.int64)
    served = np.empty(n_q, dtype=np.int64)
    counts[:] = 0
    moved[:] = 0.0
    stall[:] = 0.0
    for r in range(n_rows):
        p = period[r]
        w = w_blocks[r]
        n_blocks = (n_q + p - 1) // p
        cur = start[r]
        window[:] = 0.0
        stall[r, 0] = switch_ms[r, empty, cur] if blocking[r] else 0.0
        misses = 0.0
        for j in range(n_blocks):
            b0 = j * p
            b1 = min(n_q, b0 + p)
            slot = 0 if one_content else cur
            u_row = u_sorted[r, slot]
            for t in range(b0, b1):
                if is_lat[t]:
                    s = pick[r, slot, _count_at_most(u_row, q_all[t])]
                else:
                    s = pick[r, slot, acc_idx[t]]
                served[t] = s
                counts[r, s, cur] += 1
                got = lat[r, s, cur]
                if t == b0:
                    got += stall[r, j]
                served_lat[r, t] = got
                if is_lat[t] and (got - lo[r]) / span[r] > q_all[t]:
                    misses += 1.0
            if j + 1 >= n_blocks:
                break  # the last block: nothing left to decide for
            # the block's latency under each candidate content, formed as the reference does
            if by_counts[r]:
                hist[:] = 0
                for t in range(b0, b1):
                    hist[served[t]] += 1
                block_ms[:] = 0.0
                for s in range(n_sub):
                    if hist[s] > 0:
                        c = float(hist[s])
                        for g in range(n_cand):
                            block_ms[g] += c * lat[r, s, g]
            else:
                for g in range(n_cand):
                    block_ms[g] = lat[r, served[b0], g]
                for t in range(b0 + 1, b1):
                    s = served[t]
                    for g in range(n_cand):
                        block_ms[g] += lat[r, s, g]
            ring_slot = j % w
            if j >= w:
                for g in range(n_cand):
                    window[g] -= ring[ring_slot, g]
            for g in range(n_cand):
                ring[ring_slot, g] = block_ms[g]
                window[g] += block_ms[g]
            # ties keep the PB as it is: staying is a hair cheaper than any equal alternative
            best = 0
            best_v = np.inf
            for g in range(n_cand):
                v = window[g] + (switch_ms[r, cur, g] - (1e-9 if g == cur else 0.0))
                if v < best_v:
                    best_v = v
                    best = g
            moved[r, j + 1] = switch_bytes[r, cur, best]
            stall[r, j + 1] = switch_ms[r, cur, best] if blocking[r] else 0.0
            cur = best
        lat_miss[r] = misses
