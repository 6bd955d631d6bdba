"""The scheduler of :mod:`._scheduler`, simulated with less work per point; same decisions.

Same policies, rules and statistics as :func:`costmodels.sushi._scheduler.simulate` (its module
docstring gives them); this module changes only how the work is organized:

* **The no-PB baseline costs ``O(S log T)`` a point, not ``O(T)``.** With the PB fixed, the SubNet
  a query gets depends only on where its target falls among the point's ``S`` sorted normalized
  latencies (latency query) or on the first SubNet meeting its floor (accuracy query, the same
  for every point). Counting the trace's sorted latency targets between consecutive thresholds
  (one ``searchsorted``) and the accuracy floors per first-qualifying SubNet (once per trace)
  gives the exact per-SubNet counts from which every mean follows. The baseline needs only means.
* **Every point of a pool and trace is simulated together**, whatever its policy, ``Q`` and
  window: fixed-PB points in one pass over the trace, dynamic points in one block loop per
  ``(Q, window blocks)`` class, sharing the per-``(point, PB content)`` decision tables.
* The suffix argmin behind accuracy-floor choices is a reversed ``minimum.accumulate`` over
  strict records instead of a Python loop over SubNets.

Decisions and statistics use the reference's arithmetic (the same sums over the same shapes),
so the results are equal (tested on sampled points).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodels.sushi._accelerator import ServingTables
from costmodels.sushi._scheduler import (
    ServingStats,
    _queue_response,
    _rank_counts,
    _sorted_targets,
    check_serving_inputs,
)
from costmodels.sushi._streams import Trace


__all__ = ["BaselineStats", "simulate_with_baseline"]

_T_CHUNK = 2048  # queries per statistics chunk (bounds float temporaries to [P, 2048])
_ROW_QUERIES = 1 << 22  # points x queries per fixed-PB part (bounds [R, T] temporaries)
_BRUTE_MAX = 1024  # block queries x SubNets up to which ranks are counted by comparisons


@dataclass(frozen=True)
class BaselineStats:
    """The no-PB baseline of each point (all ``[P]``): the means the savings need."""

    mean_latency_ms: np.ndarray
    served_acc_pct: np.ndarray
    offchip_bytes: np.ndarray
    fetch_share: np.ndarray


@dataclass(frozen=True)
class _Sorted:
    """Tables of one batch with the pool sorted by accuracy (reference: ``perm``)."""

    acc: np.ndarray  # [S]
    lat: np.ndarray  # [P, S, G]
    offchip: np.ndarray
    hit: np.ndarray
    wbytes: np.ndarray  # [P, S]
    onchip: np.ndarray
    share: np.ndarray
    lo: np.ndarray  # [P] fastest no-PB latency
    span: np.ndarray  # [P]
    alpha: np.ndarray  # [T] accuracy floors
    first_ok: np.ndarray  # [T] first SubNet (accuracy order) meeting each floor; S: none


def _picks(l_sel: np.ndarray, fallback: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decision rows for selection latencies ``l_sel`` ``[..., S]`` (SubNets in accuracy order).

    Returns ``by_lat`` (SubNets fastest first), ``lat_pick`` ``[..., S + 1]`` (the most accurate
    among the ``k`` fastest; ``k = 0``: the fastest, the fallback) and ``acc_pick`` ``[..., S +
    1]`` (the fastest at or above floor index ``f``, ties to the more accurate; ``f = S``: the
    fallback).
    """
    n_sub = l_sel.shape[-1]
    by_lat = np.argsort(l_sel, axis=-1, kind="stable")
    fastest = by_lat[..., :1]
    lat_pick = np.concatenate([fastest, np.maximum.accumulate(by_lat, axis=-1)], axis=-1)
    # strict records scanning from the most accurate down: l[s] < min(l[s + 1:])
    above = np.minimum.accumulate(l_sel[..., ::-1], axis=-1)[..., ::-1]  # min(l[s:])
    above_excl = np.concatenate([above[..., 1:], np.full(l_sel.shape[:-1] + (1,), np.inf)], -1)
    record = l_sel < above_excl
    record[..., -1] = True
    rec_idx = np.where(record, np.arange(n_sub), n_sub)
    run_best = np.minimum.accumulate(rec_idx[..., ::-1], axis=-1)[..., ::-1]
    fb = np.full_like(fastest, n_sub - 1) if fallback == "best_effort" else fastest
    acc_pick = np.concatenate([run_best, fb], axis=-1)
    return by_lat, lat_pick, acc_pick


def _normalized(l_sel: np.ndarray, by_lat: np.ndarray, t: _Sorted, rows: np.ndarray) -> np.ndarray:
    """Sorted normalized latencies ``u = (L - L_min) / span`` of rows ``[R, ..., S]``."""
    shape = (len(rows),) + (1,) * (l_sel.ndim - 1)
    srt = np.take_along_axis(l_sel, by_lat, axis=-1)
    return (srt - t.lo[rows].reshape(shape)) / t.span[rows].reshape(shape)


def _fixed_counts(
    u: np.ndarray, lat_pick: np.ndarray, acc_pick: np.ndarray, trace: Trace, t: _Sorted
) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-SubNet query counts ``[R, S]`` with a fixed PB (rows ``[R, S]``), and the
    latency queries met by exactly ``k`` SubNets ``[R, S + 1]``."""
    n_rows, n_sub = u.shape
    is_lat = trace.is_latency
    q_lat = np.sort(trace.target_q[is_lat])
    pos = np.searchsorted(q_lat, u, side="left")  # latency targets below each threshold
    edges = np.concatenate(
        [np.zeros((n_rows, 1), np.int64), pos, np.full((n_rows, 1), len(q_lat))], axis=1
    )
    n_k = np.diff(edges, axis=1)  # [R, S + 1]: latency queries met by exactly k SubNets
    n_f = np.bincount(t.first_ok[~is_lat], minlength=n_sub + 1)  # [S + 1]
    off = (np.arange(n_rows) * n_sub)[:, None]
    size = n_rows * n_sub
    cnt = np.bincount((lat_pick + off).ravel(), weights=n_k.ravel(), minlength=size)
    cnt += np.bincount((acc_pick + off).ravel(), weights=np.tile(n_f, n_rows), minlength=size)
    return np.rint(cnt).astype(np.int64).reshape(n_rows, n_sub), n_k


def _baseline(t: _Sorted, trace: Trace, fallback: str) -> BaselineStats:
    """No-PB serving of every point, from exact counts (reference: ``policy="no_pb"``)."""
    n_pts, n_sub, n_cand = t.lat.shape
    rows = np.arange(n_pts)
    l_sel = t.lat[:, :, n_cand - 1]
    by_lat, lat_pick, acc_pick = _picks(l_sel, fallback)
    cnt, _ = _fixed_counts(_normalized(l_sel, by_lat, t, rows), lat_pick, acc_pick, trace, t)
    counts = np.zeros((n_pts, n_sub, n_cand), dtype=np.int64)
    counts[:, :, n_cand - 1] = cnt  # the reference's pair counts: same sums, same shapes
    n_q = len(trace)
    per_sub = counts.sum(axis=2)
    return BaselineStats(
        mean_latency_ms=((counts * t.lat).sum(axis=(1, 2)) + 0.0) / n_q,
        served_acc_pct=(per_sub * t.acc).sum(axis=1) / n_q,
        offchip_bytes=((counts * t.offchip).sum(axis=(1, 2)) + 0.0) / n_q,
        fetch_share=(per_sub * t.share).sum(axis=1) / n_q,
    )


@dataclass
class _Acc:
    """Per-point results filled part by part (all ``[P]`` unless noted)."""

    counts: np.ndarray  # [P, S, G] queries served per (SubNet, PB content)
    stall_ms: np.ndarray
    sw_bytes: np.ndarray
    switches: np.ndarray
    p99: np.ndarray
    response: np.ndarray
    lat_miss: np.ndarray


def _query_stats(
    t: _Sorted,
    rows: np.ndarray,
    trace: Trace,
    served: np.ndarray,
    cur_tick: np.ndarray,
    tick: int,
    stall_tick: np.ndarray,
    res: _Acc,
) -> None:
    """Per-query statistics of rows that served ``served`` ``[R, T]`` with PB contents
    ``cur_tick`` and stalls ``stall_tick`` (on each tick's first query) per tick of ``tick``
    queries ``[R, n_ticks]`` (reference: the end of ``_simulate`` with ``detail=True``; the
    same values)."""
    n_pts = len(rows)
    _, n_sub, n_cand = t.lat.shape
    n_q = len(trace)
    block_cur = np.repeat(cur_tick, tick, axis=1)[:, :n_q]
    code = served * n_cand + block_cur  # pair index into one point's [S, G] table
    size = n_sub * n_cand
    local = code + (np.arange(n_pts) * size)[:, None]
    res.counts[rows] = np.bincount(local.ravel(), minlength=n_pts * size).reshape(
        n_pts, n_sub, n_cand
    )
    code += (rows * size)[:, None]  # into the batch's flattened tables
    lo, span = t.lo[rows], t.span[rows]
    is_lat, q_all = trace.is_latency, trace.target_q
    served_lat = np.empty((n_pts, n_q), dtype=np.float32)
    lat_miss = np.zeros(n_pts)
    lat_flat = t.lat.reshape(-1)
    for t0 in range(0, n_q, _T_CHUNK):
        t1 = min(n_q, t0 + _T_CHUNK)
        got = lat_flat[code[:, t0:t1]]
        # a stall lands on the first query of its block (the reference adds 0.0 elsewhere)
        firsts = np.arange(-(-t0 // tick) * tick, t1, tick)
        got[:, firsts - t0] += stall_tick[:, firsts // tick]
        served_lat[:, t0:t1] = got
        lat_cols = np.flatnonzero(is_lat[t0:t1])
        over = (got[:, lat_cols] - lo[:, None]) / span[:, None] > q_all[t0 + lat_cols][None, :]
        lat_miss += over.sum(axis=1)
    res.lat_miss[rows] = lat_miss
    res.p99[rows] = np.percentile(served_lat, 99, axis=1).astype(np.float64)
    res.response[rows] = _queue_response(served_lat, trace.t_arrival_s * 1e3)


def _final_stats(t: _Sorted, trace: Trace, res: _Acc) -> ServingStats:
    """Means from the pair counts (reference formulas, the same shapes)."""
    n_q = len(trace)
    is_lat = trace.is_latency
    n_sub = t.lat.shape[1]
    n_lat = max(1, int(is_lat.sum()))
    n_acc = max(1, int((~is_lat).sum()))
    # an accuracy floor is missed exactly when no SubNet meets it: the fallback serves one
    # below the floor, otherwise the choice is at or above the first SubNet that meets it
    acc_miss = float(np.count_nonzero(~is_lat & (t.first_ok == n_sub)))
    counts = res.counts
    per_sub = counts.sum(axis=2)
    weights = (per_sub * t.wbytes).sum(axis=1)
    return ServingStats(
        mean_latency_ms=((counts * t.lat).sum(axis=(1, 2)) + res.stall_ms) / n_q,
        p99_latency_ms=res.p99,
        mean_response_ms=res.response,
        served_acc_pct=(per_sub * t.acc).sum(axis=1) / n_q,
        latency_miss_rate=res.lat_miss / n_lat,
        accuracy_miss_rate=np.full(len(weights), acc_miss / n_acc),
        miss_rate=(res.lat_miss + acc_miss) / n_q,
        offchip_bytes=((counts * t.offchip).sum(axis=(1, 2)) + res.sw_bytes) / n_q,
        onchip_mj=(per_sub * t.onchip).sum(axis=1) / n_q,
        hit_ratio=(counts * t.hit).sum(axis=(1, 2)) / np.maximum(weights, 1e-30),
        switches=res.switches,
        fetch_share=(per_sub * t.share).sum(axis=1) / n_q,
    )


def _fixed_pb(
    t: _Sorted,
    tables: ServingTables,
    rows: np.ndarray,
    cur: np.ndarray,
    blocking: np.ndarray,
    trace: Trace,
    fallback: str,
    res: _Acc,
) -> None:
    """Rows whose PB holds ``cur`` ``[R]`` for the whole trace (``static_pb``, ``no_pb``).

    Counts come from the target intervals (:func:`_fixed_counts`); only the served latency per
    query is built (for p99 and the queue), as a lookup of each query's interval.
    """
    empty = t.lat.shape[2] - 1
    l_cur = t.lat[rows, :, cur]  # [R, S]
    by_lat, lat_pick, acc_pick = _picks(l_cur, fallback)
    u = _normalized(l_cur, by_lat, t, rows)
    cnt, n_k = _fixed_counts(u, lat_pick, acc_pick, trace, t)
    res.counts[rows] = 0
    res.counts[rows, :, cur] = cnt
    sw_bytes = tables.switch_bytes[rows, empty, cur]  # the initial fill of a static PB
    stall = np.where(blocking, sw_bytes / tables.bw_bytes_per_ms[rows], 0.0)
    res.sw_bytes[rows] = sw_bytes
    res.switches[rows] = sw_bytes > 0
    res.stall_ms[rows] = stall
    q_sorted, inv = _sorted_targets(trace)
    k = _rank_counts(u, q_sorted, inv)  # [R, T]
    is_lat = trace.is_latency
    got = np.where(
        is_lat[None, :],
        np.take_along_axis(np.take_along_axis(l_cur, lat_pick, axis=1), k, axis=1),
        np.take_along_axis(l_cur, acc_pick, axis=1)[:, t.first_ok],
    )
    got[:, 0] += stall  # the initial fill stalls the first query
    # a latency target is missed exactly when no SubNet meets it (k = 0: the fastest, which is
    # slower, serves it), or by the stalled first query
    q0 = trace.target_q[0]
    late0 = (got[:, 0] - t.lo[rows]) / t.span[rows] > q0
    res.lat_miss[rows] = n_k[:, 0] + (is_lat[0] & (k[:, 0] > 0) & late0)
    served_lat = got.astype(np.float32)
    res.p99[rows] = np.percentile(served_lat, 99, axis=1).astype(np.float64)
    res.response[rows] = _queue_response(served_lat, trace.t_arrival_s * 1e3)


_BLOCKS: dict[tuple[int, int], tuple[Trace, list[tuple[np.ndarray, np.ndarray]]]] = {}


def _block_orders(trace: Trace, q: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per block of ``q`` queries: its sorted targets and inverse permutation (cached)."""
    key = (id(trace), q)
    hit = _BLOCKS.get(key)
    if hit is not None and hit[0] is trace:
        return hit[1]
    out = []
    for start in range(0, len(trace), q):
        tq = trace.target_q[start : start + q]
        order = np.argsort(tq, kind="stable")
        inv = np.empty(len(order), dtype=np.int64)
        inv[order] = np.arange(len(order))
        out.append((tq[order], inv))
    if len(_BLOCKS) >= 16:
        _BLOCKS.pop(next(iter(_BLOCKS)))
    _BLOCKS[key] = (trace, out)
    return out


def _dynamic_pb(
    t: _Sorted,
    tables: ServingTables,
    rows: np.ndarray,
    oblivious: np.ndarray,
    blocking: np.ndarray,
    period: np.ndarray,
    w_blocks: np.ndarray,
    tick: int,
    trace: Trace,
    fallback: str,
    res: _Acc,
) -> None:
    """Rows whose PB is re-decided every ``period`` ``[R]`` queries over ``w_blocks`` ``[R]``
    blocks of history; every period is a multiple of ``tick``.

    Time runs over ticks of ``tick`` queries for all rows at once; a row decides at the end of
    each of its blocks (never after its last), from the running sum of its last ``w_blocks``
    block latencies (reference: the ring's sum; equal up to rounding, so decisions differ only
    between candidates whose window latencies tie to the last bits).
    """
    # rows of one period contiguous: their tables are then a view, and BLAS sees what the
    # reference gives it
    order = np.argsort(period, kind="stable")
    rows, oblivious, blocking = rows[order], oblivious[order], blocking[order]
    period, w_blocks = period[order], w_blocks[order]
    whole = len(rows) == t.lat.shape[0] and bool((rows == np.arange(len(rows))).all())
    lat = t.lat if whole else t.lat[rows]
    n_pts, n_sub, n_cand = lat.shape
    empty = n_cand - 1
    n_q = len(trace)
    pts = np.arange(n_pts)
    l_sel = np.where(oblivious[:, None, None], lat[:, :, empty : empty + 1], lat)  # [R, S, G]
    l_sel = l_sel.transpose(0, 2, 1)  # [R, G, S]
    by_lat, lat_pick, acc_pick = _picks(l_sel, fallback)
    u_sorted = _normalized(l_sel, by_lat, t, rows)  # [R, G, S]
    # decision rows per (point, PB content), flattened: row r * G + g
    pick = np.concatenate([lat_pick, acc_pick], axis=2).reshape(n_pts * n_cand, 2 * n_sub + 2)
    acc_idx = (n_sub + 1 + t.first_ok)[None, :]
    is_lat = trace.is_latency
    q_all = trace.target_q
    bw = tables.bw_bytes_per_ms[rows]
    switch_bytes = tables.switch_bytes[rows]
    switch_ms = switch_bytes / bw[:, None, None]
    # ties keep the PB as it is: staying is a hair cheaper than any equal alternative
    switch_score = switch_ms - 1e-9 * np.eye(n_cand)[None]
    blocks = _block_orders(trace, tick)
    n_ticks = len(blocks)
    per = period // tick  # ticks per block
    n_blocks = -(-n_q // period)
    ring = np.zeros((int(w_blocks.max()), n_pts, n_cand))
    window_ms = np.zeros((n_pts, n_cand))  # running sum of the ring (reference: ring.sum(0))
    block_ms = np.empty((n_pts, n_cand))
    done = np.zeros(n_pts, dtype=np.int64)  # blocks decided
    cur = np.full(n_pts, empty)
    served = np.empty((n_pts, n_q), dtype=np.int32)
    cur_tick = np.empty((n_pts, n_ticks), dtype=np.int64)
    moved = np.zeros((n_pts, int(n_blocks.max())))  # bytes loaded at the start of block j
    stall = np.zeros((n_pts, int(n_blocks.max())))  # stall on the first query of block j
    stall[:, 0] = np.where(blocking, switch_ms[:, empty, empty], 0.0)
    # the reference sums a block as counts x table when its group (points sharing period and
    # window) times the period exceeds 256, else row by row
    by_period = []
    for p in np.unique(period).tolist():
        same = np.flatnonzero(period == p)  # a contiguous range
        group = max(int((w_blocks[same] == w).sum()) for w in np.unique(w_blocks[same]))
        by_period.append((p, group * p > 256, int(same[0]), int(same[-1]) + 1))
    small = tick * n_sub <= _BRUTE_MAX
    lat_cols = [np.flatnonzero(is_lat[i : i + tick]) for i in range(0, n_q, tick)]
    for b, (q_b, inv_b) in enumerate(blocks):
        sl = slice(b * tick, min(n_q, (b + 1) * tick))
        cur_tick[:, b] = cur
        u_rows = u_sorted[pts, cur]  # [R, S]
        if small:  # k[r, t] = #{s : u[r, s] <= q_t}, counted directly, latency queries only
            cols = lat_cols[b]
            idx = np.repeat(acc_idx[:, sl], n_pts, axis=0)
            idx[:, cols] = np.count_nonzero(
                u_rows[:, None, :] <= q_all[sl][cols][None, :, None], axis=2
            )
        else:  # ranked among the tick's sorted targets
            k = _rank_counts(u_rows, q_b, inv_b)
            idx = np.where(is_lat[None, sl], k, acc_idx[:, sl])
        chosen = pick[(pts * n_cand + cur)[:, None], idx]
        served[:, sl] = chosen
        if sl.stop >= n_q:
            break  # the last block: nothing left to decide for
        e = np.flatnonzero((b + 1) % per == 0)  # rows whose block ends here
        if len(e) == 0:
            continue
        # latency the block's SubNets would have had under each candidate PB content, summed
        # as the reference sums it (per-SubNet counts times the table for large groups, else
        # the block's rows), per period of the rows deciding now
        for p, counts, lo_r, hi_r in by_period:
            if (b + 1) % (p // tick):
                continue  # this period's rows are inside a block
            n_r = hi_r - lo_r
            blk = served[lo_r:hi_r, sl.stop - p : sl.stop]
            lat_r = lat[lo_r:hi_r]
            if counts:
                flat = (blk + (np.arange(n_r) * n_sub)[:, None]).ravel()
                hist = np.bincount(flat, minlength=n_r * n_sub).reshape(n_r, 1, n_sub)
                block_ms[lo_r:hi_r] = np.matmul(hist, lat_r)[:, 0, :]
            else:
                block_ms[lo_r:hi_r] = lat_r[np.arange(n_r)[:, None], blk, :].sum(axis=1)
        slot = done[e] % w_blocks[e]
        old = done[e] >= w_blocks[e]
        window_ms[e[old]] -= ring[slot[old], e[old]]
        ring[slot, e] = block_ms[e]
        window_ms[e] += block_ms[e]
        new = (window_ms[e] + switch_score[e, cur[e], :]).argmin(axis=1)
        done[e] += 1
        moved[e, done[e]] = switch_bytes[e, cur[e], new]
        stall[e, done[e]] = np.where(blocking[e], switch_ms[e, cur[e], new], 0.0)
        cur[e] = new
    # totals per period, over exactly each row's blocks (the reference's sums, same lengths)
    sw0 = switch_bytes[:, empty, empty]
    stall_tick = np.zeros((n_pts, n_ticks))
    for p in np.unique(period):
        r = np.flatnonzero(period == p)
        nb = int(n_blocks[r[0]])
        res.sw_bytes[rows[r]] = sw0[r] + moved[r, 1:nb].sum(axis=1)
        res.switches[rows[r]] = (sw0[r] > 0).astype(np.int64) + (moved[r, 1:nb] > 0).sum(axis=1)
        res.stall_ms[rows[r]] = stall[r, :nb].sum(axis=1)
        stall_tick[r[:, None], np.arange(nb)[None, :] * int(per[r[0]])] = stall[r, :nb]
    _query_stats(t, rows, trace, served, cur_tick, tick, stall_tick, res)


def _sorted_tables(tables: ServingTables, acc: np.ndarray, trace: Trace) -> _Sorted:
    perm = np.argsort(acc, kind="stable")
    acc_s = np.asarray(acc, dtype=np.float64)[perm]
    if np.array_equal(perm, np.arange(len(perm))):  # already in accuracy order: no copies
        perm = slice(None)  # type: ignore[assignment]
    lat = tables.lat_ms[:, perm, :]
    lat_nopb = lat[:, :, -1]
    lo, hi = lat_nopb.min(axis=1), lat_nopb.max(axis=1)
    alpha = acc_s[0] + trace.target_q * (acc_s[-1] - acc_s[0])
    return _Sorted(
        acc=acc_s,
        lat=lat,
        offchip=tables.offchip_bytes[:, perm, :],
        hit=tables.hit_bytes[:, perm, :],
        wbytes=tables.weight_bytes[:, perm],
        onchip=tables.onchip_mj[:, perm],
        share=tables.fetch_share[:, perm],
        lo=lo,
        span=np.where(hi > lo, hi - lo, 1.0),
        alpha=alpha,
        first_ok=np.searchsorted(acc_s, alpha - 1e-9, side="left"),
    )


def _period_groups(period: np.ndarray, dynamic: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Dynamic rows grouped so every period in a group is a multiple of the group's tick (the
    smallest period in it): one time loop per group, with as few ticks as the fastest row's
    blocks."""
    groups: list[tuple[int, list[int]]] = []
    for p in np.unique(period[dynamic]).tolist():
        for base, members in groups:
            if p % base == 0:
                members.append(p)
                break
        else:
            groups.append((p, [p]))
    return [(base, np.flatnonzero(dynamic & np.isin(period, members))) for base, members in groups]


def simulate_with_baseline(
    tables: ServingTables,
    acc: np.ndarray,
    trace: Trace,
    policy: np.ndarray,
    update_period: np.ndarray,
    window: np.ndarray,
    switch_blocking: np.ndarray,
    fallback: str = "best_effort",
) -> tuple[ServingStats, BaselineStats]:
    """Serve ``trace`` at every point under its policy, and without a PB (the baseline).

    Args:
        tables: Serving tables ``[P, S, G]`` (last candidate: empty PB; the one before it: the
            pool's common SubGraph).
        acc: Top-1 (%) of the pool's SubNets ``[S]``.
        trace: The queries.
        policy: Policy name per point ``[P]``.
        update_period: ``Q`` per point ``[P]``.
        window: History window in queries per point ``[P]``.
        switch_blocking: Whether a PB switch stalls the next query ``[P]``.
        fallback: ``"best_effort"`` or ``"fastest"``.

    Raises:
        ValueError: naming an unknown policy or fallback, or an empty pool.
    """
    policy = check_serving_inputs(tables, policy, fallback)
    t = _sorted_tables(tables, acc, trace)
    n_pts, _, n_cand = t.lat.shape
    blocking = np.asarray(switch_blocking, dtype=bool)
    oblivious = policy == "cache_oblivious"
    dynamic = np.isin(policy, ("sushi", "cache_oblivious"))
    q = np.maximum(1, np.asarray(update_period, dtype=np.int64))
    w = np.maximum(1, -(-np.asarray(window, dtype=np.int64) // q))
    n_sub = t.lat.shape[1]
    res = _Acc(
        counts=np.empty((n_pts, n_sub, n_cand), dtype=np.int64),
        stall_ms=np.empty(n_pts),
        sw_bytes=np.empty(n_pts),
        switches=np.empty(n_pts, dtype=np.int64),
        p99=np.empty(n_pts),
        response=np.empty(n_pts),
        lat_miss=np.empty(n_pts),
    )
    fixed = np.flatnonzero(~dynamic)
    step = max(1, _ROW_QUERIES // len(trace))  # bounds the [R, T] temporaries
    for start in range(0, len(fixed), step):
        part = fixed[start : start + step]
        cur = np.where(policy[part] == "static_pb", n_cand - 2, n_cand - 1)
        _fixed_pb(t, tables, part, cur, blocking[part], trace, fallback, res)
    for tick, rows in _period_groups(q, dynamic):
        _dynamic_pb(
            t,
            tables,
            rows,
            oblivious[rows],
            blocking[rows],
            q[rows],
            w[rows],
            tick,
            trace,
            fallback,
            res,
        )
    return _final_stats(t, trace, res), _baseline(t, trace, fallback)
