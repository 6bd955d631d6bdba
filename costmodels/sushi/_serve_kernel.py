"""The scheduler's time loop and per-query statistics, compiled: every point served on its own.

Same rules as :mod:`._scheduler` (its module docstring gives them), per point ``p`` with the PB
holding ``g`` during block ``j`` (queries ``[j Q, (j + 1) Q)``):

* decision row of ``(p, g)``, built the first time the PB holds ``g`` (the selection latencies
  ``l = L[p, :, g]``, or the no-PB column for ``cache_oblivious``): ``by_lat`` the stable argsort
  of ``l``, ``u[k] = (l[by_lat[k]] - L_min) / span``, ``lat_pick[k]`` the most accurate of the
  ``k`` fastest (``k = 0``: the fastest), ``acc_pick[f]`` the fastest at or above accuracy index
  ``f`` (ties to the more accurate; ``f = S``: the fallback);
* latency query ``t``: ``k = #{s : u[s] <= q_t}`` (a binary search), served ``lat_pick[k]``;
  accuracy query: ``acc_pick[first_ok[t]]``;
* served latency ``L[p, s, g]`` plus the block's stall on its first query; a latency query is
  missed when ``(L - L_min) / span > q_t``;
* after every block but the last: the block's latency under each candidate ``g'`` (per-SubNet
  counts times ``L[p, :, g']``, or the block's rows summed in query order, as the reference
  forms it for the point's group size), a running sum over the last ``w`` blocks, and
  ``g_next = argmin_g' window[g'] + switch_ms[g, g'] - 1e-9 [g' = g]`` (first minimum);
* FIFO queue (Lindley): ``c_n = sum_{i < n} (S_i - (a_{i+1} - a_i))``, wait ``c_n - min(0,
  min_{k <= n} c_k)``; p99 by numpy's ``linear`` percentile on the float32 served latencies
  (the two order statistics around ``0.99 (T - 1)``, interpolated in float32 as numpy does).

A fixed PB (``static_pb``, ``no_pb``) is the same loop with one block (``Q >= T``).

Why compiled: vectorized over points, the loop needed about 15 numpy calls per tick of the
smallest period, and call overhead dominated (``docs/models/sushi.md`` section 11). A point costs
``O(T log S + (T / Q) min(Q, S) G)`` here, with no temporary ``[P, T]`` arrays.

Arithmetic: every element-wise operation is the reference's, in IEEE double or float32 where
numpy uses float32 (no fast-math); sums the reference leaves to numpy's pairwise summation
(totals over blocks, waits, served latencies) use the same pairwise order (:func:`pairwise_sum`,
numpy's ``pairwise_sum`` with blocks of 8 and 128, and its 8192-element buffers when summing
float32 as float64). The one sum that can differ in its last bits is the per-SubNet ``counts x
table`` block sum, which the reference hands to BLAS (lane order unknown) and which is summed
here in SubNet order: decisions can then differ only between candidates whose window sums agree
to about ``1e-16`` relative (tested equal on sampled points, ``tests/costmodels/test_sushi_fast``).
"""

from __future__ import annotations

import numpy as np


try:
    from numba import njit
except ImportError as exc:  # an environment set up before numba became a dependency
    raise ImportError(
        "costmodels.sushi needs numba (a dependency in pyproject.toml): run ./setup.sh or "
        "`pip install -e .`"
    ) from exc


__all__ = ["pairwise_sum", "serve_points"]

_NUMPY_BUFFER = 8192  # numpy's ufunc buffer size: a cast sum is pairwise per buffer


@njit(cache=True, nogil=True, error_model="numpy")
def _pairwise_leaf(a: np.ndarray, lo: int, n: int) -> float:
    """numpy's pairwise sum of ``n <= 128`` elements: 8 accumulators, then the rest in order."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True, nogil=True, error_model="numpy")
def pairwise_sum(a: np.ndarray, lo: int, n: int) -> float:
    """``a[lo : lo + n]`` summed in numpy's pairwise order: halves (cut at a multiple of 8)
    until at most 128 elements, each summed by :func:`_pairwise_leaf`.

    The recursion is an explicit stack (numba's cache does not reload recursive functions
    reliably).
    """
    if n <= 128:
        return _pairwise_leaf(a, lo, n)
    task_lo = np.empty(64, dtype=np.int64)  # depth <= log2(n / 128) + 1: 64 is ample
    task_n = np.empty(64, dtype=np.int64)  # n < 0: add the two sums on top of ``vals``
    vals = np.empty(64)
    n_tasks, n_vals = 1, 0
    task_lo[0], task_n[0] = lo, n
    while n_tasks > 0:
        n_tasks -= 1
        t_lo, t_n = task_lo[n_tasks], task_n[n_tasks]
        if t_n < 0:
            n_vals -= 1
            vals[n_vals - 1] = vals[n_vals - 1] + vals[n_vals]
        elif t_n <= 128:
            vals[n_vals] = _pairwise_leaf(a, t_lo, t_n)
            n_vals += 1
        else:
            half = t_n // 2
            half -= half % 8
            task_lo[n_tasks], task_n[n_tasks] = 0, -1
            task_lo[n_tasks + 1], task_n[n_tasks + 1] = t_lo + half, t_n - half
            task_lo[n_tasks + 2], task_n[n_tasks + 2] = t_lo, half
            n_tasks += 3
    return vals[0]


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
def _decision_row(
    l_sel: np.ndarray,
    lo: float,
    span: float,
    best_effort: bool,
    order: np.ndarray,
    u_out: np.ndarray,
    pick_out: np.ndarray,
) -> None:
    """One decision row (``_fast_scheduler._picks``) for selection latencies ``l_sel`` ``[S]``."""
    n_sub = l_sel.shape[0]
    for i in range(n_sub):  # stable insertion sort: the order of numpy's stable argsort
        key = i
        j = i - 1
        while j >= 0 and l_sel[order[j]] > l_sel[key]:
            order[j + 1] = order[j]
            j -= 1
        order[j + 1] = key
    top = -1
    pick_out[0] = order[0]
    for k in range(n_sub):
        u_out[k] = (l_sel[order[k]] - lo) / span
        top = max(top, order[k])
        pick_out[k + 1] = top
    # strict records scanning from the most accurate down: l[s] < min(l[s + 1:])
    below = np.inf
    run = n_sub
    for s in range(n_sub - 1, -1, -1):
        if s == n_sub - 1 or l_sel[s] < below:
            run = min(run, s)
        pick_out[n_sub + 1 + s] = run
        below = min(below, l_sel[s])
    pick_out[2 * n_sub + 1] = n_sub - 1 if best_effort else order[0]


@njit(cache=True, nogil=True, error_model="numpy")
def _percentile_f32(vals: np.ndarray, top: np.ndarray, virtual: float, prev: int) -> float:
    """numpy's ``linear`` percentile of float32 ``vals`` at virtual index ``virtual``
    (``prev = floor(virtual)``): the two order statistics from the ``T - prev`` largest, kept
    in ``top`` (ascending), interpolated in float32 as ``numpy._lerp`` does."""
    n = vals.shape[0]
    m = n - prev
    have = 0
    for i in range(n):
        x = vals[i]
        if have < m:
            j = have
            have += 1
        elif x > top[0]:
            j = 0
            while j + 1 < m and top[j + 1] < x:
                top[j] = top[j + 1]
                j += 1
            top[j] = x
            continue
        else:
            continue
        while j > 0 and top[j - 1] > x:
            top[j] = top[j - 1]
            j -= 1
        top[j] = x
    a, b = top[0], top[1]
    gamma = virtual - prev
    diff = np.float32(b - a)
    if gamma >= 0.5:
        return float(np.float32(b - diff * np.float32(1.0 - gamma)))
    return float(np.float32(a + diff * np.float32(gamma)))


@njit(cache=True, nogil=True, error_model="numpy")
def serve_points(  # noqa: PLR0913 - one flat kernel signature, every array named
    lat: np.ndarray,
    switch_bytes: np.ndarray,
    bw: np.ndarray,
    lo: np.ndarray,
    span: np.ndarray,
    rows: np.ndarray,
    oblivious: np.ndarray,
    start: np.ndarray,
    period: np.ndarray,
    w_blocks: np.ndarray,
    by_counts: np.ndarray,
    blocking: np.ndarray,
    best_effort: bool,
    is_lat: np.ndarray,
    q_all: np.ndarray,
    acc_idx: np.ndarray,
    gaps: np.ndarray,
    p99_index: float,
    counts: np.ndarray,
    lat_miss: np.ndarray,
    sw_bytes: np.ndarray,
    switches: np.ndarray,
    stall_ms: np.ndarray,
    p99: np.ndarray,
    response: np.ndarray,
) -> None:
    """Serve the trace at points ``rows`` of the batch tables; outputs are filled in place at
    those points (the other points are left alone).

    Args:
        lat: Served latency ``L`` ``[P, S, G]`` (ms; SubNets in accuracy order).
        switch_bytes: ``[P, G, G]`` bytes a switch loads; ``bw`` bytes per ms ``[P]``.
        lo: Fastest no-PB latency ``[P]``; ``span`` the no-PB latency range ``[P]``.
        rows: Points to serve ``[R]``; per row: ``oblivious`` (select from the no-PB
            column), ``start`` (PB content of the first block), ``period`` (``Q``),
            ``w_blocks`` (window in blocks), ``by_counts`` (block sums as per-SubNet counts
            times the table, else row sums), ``blocking`` (a switch stalls a query).
        best_effort: Fallback ``best_effort`` (else ``fastest``).
        is_lat: Latency query ``[T]``; ``q_all`` its target quantile ``[T]``.
        acc_idx: ``S + 1 + first_ok`` ``[T]``: the decision column of an accuracy query.
        gaps: Inter-arrival times ``[T - 1]`` (ms).
        p99_index: ``0.99 (T - 1)``, numpy's virtual index of the 99th percentile.
        counts: Out ``[P, S, G]``: queries per (SubNet, PB content).
        lat_miss: Out ``[P]``: latency queries served above their target; ``sw_bytes`` bytes
            loaded (initial fill included), ``switches`` content changes, ``stall_ms`` total
            stall, ``p99`` 99th-percentile served latency, ``response`` mean FIFO response.
    """
    n_sub, n_cand = lat.shape[1], lat.shape[2]
    n_q = q_all.shape[0]
    empty = n_cand - 1
    w_max = 1
    b_max = 1
    for i in range(rows.shape[0]):
        w_max = max(w_max, w_blocks[i])
        b_max = max(b_max, (n_q + period[i] - 1) // period[i])
    ring = np.zeros((w_max, n_cand))
    window = np.zeros(n_cand)
    block_ms = np.zeros(n_cand)
    hist = np.zeros(n_sub, dtype=np.int64)
    served = np.empty(n_q, dtype=np.int64)
    served_lat = np.empty(n_q, dtype=np.float32)
    as_f64 = np.empty(n_q)
    moved = np.zeros(b_max)
    stall = np.zeros(b_max)
    have = np.zeros(n_cand, dtype=np.bool_)
    u_tab = np.empty((n_cand, n_sub))
    pick_tab = np.empty((n_cand, 2 * n_sub + 2), dtype=np.int64)
    order = np.empty(n_sub, dtype=np.int64)
    l_sel = np.empty(n_sub)
    p99_prev = int(np.floor(p99_index))
    top = np.empty(n_q - p99_prev, dtype=np.float32)
    for i in range(rows.shape[0]):
        p = rows[i]
        q = period[i]
        w = w_blocks[i]
        n_blocks = (n_q + q - 1) // q
        cur = start[i]
        have[:] = False
        window[:] = 0.0
        counts[p] = 0
        stall[0] = switch_bytes[p, empty, cur] / bw[p] if blocking[i] else 0.0
        misses = 0.0
        for j in range(n_blocks):
            b0 = j * q
            b1 = min(n_q, b0 + q)
            slot = empty if oblivious[i] else cur
            if not have[slot]:
                for s in range(n_sub):
                    l_sel[s] = lat[p, s, slot]
                _decision_row(l_sel, lo[p], span[p], best_effort, order, u_tab[slot],
                              pick_tab[slot])
                have[slot] = True
            u_row = u_tab[slot]
            pick = pick_tab[slot]
            for t in range(b0, b1):
                if is_lat[t]:
                    s = pick[_count_at_most(u_row, q_all[t])]
                else:
                    s = pick[acc_idx[t]]
                served[t] = s
                counts[p, s, cur] += 1
                got = lat[p, s, cur]
                if t == b0:
                    got += stall[j]
                served_lat[t] = got
                if is_lat[t] and (got - lo[p]) / span[p] > q_all[t]:
                    misses += 1.0
            if j + 1 >= n_blocks:
                break  # the last block: nothing left to decide for
            # the block's latency under each candidate content, formed as the reference does
            if by_counts[i]:
                hist[:] = 0
                for t in range(b0, b1):
                    hist[served[t]] += 1
                block_ms[:] = 0.0
                for s in range(n_sub):
                    if hist[s] > 0:
                        c = float(hist[s])
                        for g in range(n_cand):
                            block_ms[g] += c * lat[p, s, g]
            else:
                for g in range(n_cand):
                    block_ms[g] = lat[p, served[b0], g]
                for t in range(b0 + 1, b1):
                    s = served[t]
                    for g in range(n_cand):
                        block_ms[g] += lat[p, s, g]
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
                v = window[g] + (switch_bytes[p, cur, g] / bw[p] - (1e-9 if g == cur else 0.0))
                if v < best_v:
                    best_v = v
                    best = g
            moved[j + 1] = switch_bytes[p, cur, best]
            stall[j + 1] = switch_bytes[p, cur, best] / bw[p] if blocking[i] else 0.0
            cur = best
        # totals over exactly the point's blocks, in numpy's summation order
        sw0 = switch_bytes[p, empty, start[i]]
        n_moved = 0
        for j in range(1, n_blocks):
            n_moved += moved[j] > 0
        sw_bytes[p] = sw0 + (0.0 + pairwise_sum(moved, 1, n_blocks - 1))
        switches[p] = (1 if sw0 > 0 else 0) + n_moved
        stall_ms[p] = 0.0 + pairwise_sum(stall, 0, n_blocks)
        lat_miss[p] = misses
        p99[p] = _percentile_f32(served_lat, top, p99_index, p99_prev)
        # FIFO queue: waits from the running sum of service minus inter-arrival gap
        c = 0.0
        low = 0.0
        as_f64[0] = 0.0
        for t in range(1, n_q):
            c += np.float64(served_lat[t - 1]) - gaps[t - 1]
            low = min(low, c)
            as_f64[t] = c - min(low, 0.0)
        wait_sum = 0.0 + pairwise_sum(as_f64, 0, n_q)
        for t in range(n_q):
            as_f64[t] = np.float64(served_lat[t])
        service_sum = 0.0
        for b0 in range(0, n_q, _NUMPY_BUFFER):
            service_sum += pairwise_sum(as_f64, b0, min(_NUMPY_BUFFER, n_q - b0))
        response[p] = (wait_sum + service_sum) / n_q


@njit(cache=True, nogil=True, error_model="numpy")
def count_sums(
    counts: np.ndarray,
    column: int,
    lat: np.ndarray,
    offchip: np.ndarray,
    hit: np.ndarray,
    acc: np.ndarray,
    wbytes: np.ndarray,
    onchip: np.ndarray,
    share: np.ndarray,
    out: np.ndarray,
) -> None:
    """Per point the sums every mean needs, in numpy's order for the reference's shapes.

    ``out[:, 0..2]`` are ``(counts * T).sum(axis=(1, 2))`` for ``T`` = ``lat``, ``offchip``,
    ``hit`` (``[P, S, G]``: one pairwise sum over the flattened ``S G`` products, zeros
    included); ``out[:, 3..6]`` are ``(per_sub * V).sum(axis=1)`` for ``V`` = ``acc`` ``[S]``,
    ``wbytes``, ``onchip``, ``share`` ``[P, S]`` with ``per_sub = counts.sum(axis=2)``.

    Args:
        counts: ``[P, S, G]`` pair counts, or with ``column >= 0`` ``[P, S, 1]`` counts that
            all sit in PB content ``column`` (the no-PB baseline; the other pairs are 0).
    """
    n_pts, n_sub, n_cand = lat.shape
    prod = np.empty(n_sub * n_cand)
    per_sub = np.empty(n_sub)
    tables = (lat, offchip, hit)
    for p in range(n_pts):
        for s in range(n_sub):
            if column >= 0:
                per_sub[s] = float(counts[p, s, 0])
            else:
                total = 0
                for g in range(n_cand):
                    total += counts[p, s, g]
                per_sub[s] = float(total)
        for k in range(3):
            tab = tables[k]
            for s in range(n_sub):
                for g in range(n_cand):
                    if column >= 0:
                        c = counts[p, s, 0] if g == column else 0
                    else:
                        c = counts[p, s, g]
                    prod[s * n_cand + g] = float(c) * tab[p, s, g]
            out[p, k] = 0.0 + pairwise_sum(prod, 0, n_sub * n_cand)
        for s in range(n_sub):
            prod[s] = per_sub[s] * acc[s]
        out[p, 3] = 0.0 + pairwise_sum(prod, 0, n_sub)
        for k in range(3):
            vals = (wbytes, onchip, share)[k]
            for s in range(n_sub):
                prod[s] = per_sub[s] * vals[p, s]
            out[p, 4 + k] = 0.0 + pairwise_sum(prod, 0, n_sub)
