"""SushiSched-like scheduler and its baselines, simulated over a query trace for many hardware
points at once.

Per query ``t`` with the PB holding ``g_t`` (reference notes sections 3 and 6):

* latency-SLO query: ``s* = argmax_s acc[s]`` subject to ``L[s, g_t] <= lambda_t``;
* accuracy-floor query: ``s* = argmin_s L[s, g_t]`` subject to ``acc[s] >= alpha_t``;
* no SubNet qualifies: a counted SLO miss, served by the fallback (``best_effort``: the fastest
  SubNet for a latency query, the most accurate for an accuracy query; ``fastest``: the fastest).

Every ``Q`` queries (one *block*) the PB content for the next block is chosen from the candidates
(pool SubNets, the pool's common SubGraph, the empty PB)::

    g_next = argmin_g  sum_{i in window} L[s_i, g] + switch_bytes(g_t -> g) / B

over the SubNets served in the last ``ceil(window / Q)`` blocks (the window is rounded up to
whole blocks). A switch's bytes are charged as off-chip traffic; with ``switch_blocking`` their
fetch time is added to the first query of the next block.

Policies (baselines of the notes section 3, [unverified] in the paper):

* ``sushi``: the above;
* ``cache_oblivious``: the PB is managed as in ``sushi`` but SubNets are selected from the
  no-PB latency table (a SubNetAct/INFaaS-style latency profile that ignores the cache);
* ``static_pb``: the PB holds the pool's common SubGraph, loaded once, never switched;
* ``no_pb``: no persistent buffer (the reference of every saving).

Time runs over blocks (a Python loop of ``T / Q`` steps); every step is numpy over hardware
points and the queries of the block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodels.sushi._accelerator import ServingTables
from costmodels.sushi._streams import Trace


__all__ = ["FALLBACKS", "POLICIES", "ServingStats", "check_serving_inputs", "simulate"]

POLICIES = ("sushi", "static_pb", "cache_oblivious", "no_pb")
_T_CHUNK = 2048  # queries per statistics chunk (bounds float temporaries to [P, 2048])
_TABLE_FIELDS = tuple(ServingTables.__dataclass_fields__)
_CHOICE_TABLE_MAX = 1 << 20  # entries of the per-candidate choice table (small batches only)
FALLBACKS = ("best_effort", "fastest")


@dataclass(frozen=True)
class ServingStats:
    """Per hardware point results of one simulated trace (all ``[P]``)."""

    mean_latency_ms: np.ndarray
    p99_latency_ms: np.ndarray
    mean_response_ms: np.ndarray
    served_acc_pct: np.ndarray
    latency_miss_rate: np.ndarray
    accuracy_miss_rate: np.ndarray
    miss_rate: np.ndarray
    offchip_bytes: np.ndarray  # per query, including PB refills
    onchip_mj: np.ndarray  # per query
    hit_ratio: np.ndarray  # weight bytes served from the PB / weight bytes of served SubNets
    switches: np.ndarray
    fetch_share: np.ndarray  # no-PB weight-fetch share of latency of the served SubNets


def _queue_response(service_ms: np.ndarray, arrival_ms: np.ndarray) -> np.ndarray:
    """Mean response time of a FIFO single server (Lindley recursion, closed form).

    ``W_n = C_n - min(0, min_{k <= n} C_k)`` with ``C_n = sum_{i < n} (S_i - (a_{i+1} - a_i))``.
    """
    gaps = np.diff(arrival_ms)
    c = np.zeros(service_ms.shape, dtype=np.float64)
    np.cumsum(service_ms[:, :-1] - gaps[None, :], axis=1, out=c[:, 1:])
    wait_sum = (c - np.minimum(np.minimum.accumulate(c, axis=1), 0.0)).sum(axis=1)
    return (wait_sum + service_ms.sum(axis=1, dtype=np.float64)) / service_ms.shape[1]


def check_serving_inputs(tables: ServingTables, policy: np.ndarray, fallback: str) -> np.ndarray:
    """The policies as an array, after checking them, the fallback and the pool.

    Raises:
        ValueError: naming an unknown policy or fallback, or an empty pool.
    """
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback={fallback!r}: expected one of {', '.join(FALLBACKS)}")
    policy = np.asarray(policy)
    bad = ~np.isin(policy, POLICIES)
    if bad.any():
        raise ValueError(f"policy={policy[bad][0]!r}: expected one of {', '.join(POLICIES)}")
    if tables.lat_ms.shape[1] == 0:
        raise ValueError("SubNet pool is empty: nothing to serve")
    return policy


def simulate(
    tables: ServingTables,
    acc: np.ndarray,
    trace: Trace,
    policy: np.ndarray,
    update_period: int,
    window: int,
    switch_blocking: np.ndarray,
    fallback: str = "best_effort",
    detail: np.ndarray | None = None,
) -> ServingStats:
    """Serve ``trace`` at every hardware point of ``tables`` under each point's ``policy``.

    Args:
        tables: Serving tables ``[P, S, G]`` (last candidate: empty PB; the one before it: the
            pool's common SubGraph).
        acc: Top-1 (%) of the pool's SubNets ``[S]``.
        trace: The queries.
        policy: Policy name per point ``[P]`` (see :data:`POLICIES`).
        update_period: ``Q``, queries between PB decisions (one value for all points).
        window: History window in queries (one value for all points).
        switch_blocking: Whether a PB switch stalls the next query ``[P]``.
        fallback: See the module docstring.
        detail: Points ``[P]`` that need per-query statistics (p99, response time, SLO
            misses); the others (e.g. a baseline only used for savings) get NaN there and
            cost less. Default: every point.

    Points whose PB never changes (``static_pb``, ``no_pb``) need no per-block decisions and
    are simulated apart, in large query chunks.
    """
    policy = check_serving_inputs(tables, policy, fallback)
    dynamic = np.isin(policy, ("sushi", "cache_oblivious"))
    blocking = np.asarray(switch_blocking, dtype=bool)
    wants = np.ones(len(policy), dtype=bool) if detail is None else np.asarray(detail, bool)
    kind = dynamic * 2 + wants
    parts = []
    for key in np.unique(kind):
        rows = np.flatnonzero(kind == key)
        sub = (
            tables
            if len(rows) == len(policy)
            else ServingTables(**{k: getattr(tables, k)[rows] for k in _TABLE_FIELDS})
        )
        stats = _simulate(
            sub,
            acc,
            trace,
            policy[rows],
            update_period,
            window,
            blocking[rows],
            fallback,
            bool(key % 2),
        )
        if len(rows) == len(policy):
            return stats
        parts.append((rows, stats))
    merged = {}
    for name in ServingStats.__dataclass_fields__:
        col = np.empty(len(policy), dtype=getattr(parts[0][1], name).dtype)
        for rows, stats in parts:
            col[rows] = getattr(stats, name)
        merged[name] = col
    return ServingStats(**merged)


_SORTED: dict[int, tuple[Trace, np.ndarray, np.ndarray]] = {}


def _sorted_targets(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """The trace's targets sorted and the inverse permutation (cached per trace object)."""
    hit = _SORTED.get(id(trace))
    if hit is not None and hit[0] is trace:
        return hit[1], hit[2]
    order = np.argsort(trace.target_q, kind="stable")
    inv = np.empty(len(order), dtype=np.int64)
    inv[order] = np.arange(len(order))
    if len(_SORTED) >= 16:  # a few traces at a time; the cache holds them alive
        _SORTED.pop(next(iter(_SORTED)))
    _SORTED[id(trace)] = (trace, trace.target_q[order], inv)
    return trace.target_q[order], inv


def _rank_counts(u: np.ndarray, q_sorted: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """``k[r, t] = #{s : u[r, s] <= q_t}`` for rows ``u`` ``[R, S]``, ``[R, T]`` in trace order.

    One sort of the shared targets (``q_sorted``, ``inv`` its inverse permutation), one
    ``searchsorted`` and a cumulative count: ``O(R (S log T + T))`` instead of ``O(R S T)``.
    """
    n_rows = u.shape[0]
    n_q = len(q_sorted)
    # first sorted target >= each normalized latency: from there on that SubNet qualifies
    pos = np.searchsorted(q_sorted, u, side="left")
    flat = (pos + (np.arange(n_rows) * (n_q + 1))[:, None]).ravel()
    marks = np.bincount(flat, minlength=n_rows * (n_q + 1)).reshape(n_rows, n_q + 1)
    return np.cumsum(marks[:, :n_q], axis=1)[:, inv]


def _simulate(
    tables: ServingTables,
    acc: np.ndarray,
    trace: Trace,
    policy: np.ndarray,
    update_period: int,
    window: int,
    switch_blocking: np.ndarray,
    fallback: str,
    detail: bool,
) -> ServingStats:
    """:func:`simulate` for points that are all dynamic or all static, all detailed or not."""
    n_pts, n_sub, n_cand = tables.lat_ms.shape
    empty, common = n_cand - 1, n_cand - 2
    # Sort the pool by accuracy so "most accurate feasible" is the highest feasible index.
    perm = np.argsort(acc, kind="stable")
    acc_s = np.asarray(acc, dtype=np.float64)[perm]
    lat = tables.lat_ms[:, perm, :]
    offchip = tables.offchip_bytes[:, perm, :]
    hit = tables.hit_bytes[:, perm, :]
    wbytes = tables.weight_bytes[:, perm]
    onchip = tables.onchip_mj[:, perm]
    share = tables.fetch_share[:, perm]
    lat_nopb = lat[:, :, empty]
    switch_ms = tables.switch_bytes / tables.bw_bytes_per_ms[:, None, None]

    n_q = len(trace)
    dynamic = np.isin(policy, ("sushi", "cache_oblivious"))
    q = max(1, int(update_period))
    w_blocks = max(1, -(-int(window) // q))
    lo, hi = lat_nopb.min(axis=1), lat_nopb.max(axis=1)
    alpha = acc_s[0] + trace.target_q * (acc_s[-1] - acc_s[0])  # [T]
    first_ok = np.searchsorted(acc_s, alpha - 1e-9, side="left")  # [T], n_sub: none
    is_lat = trace.is_latency

    oblivious = policy == "cache_oblivious"
    blocking = switch_blocking
    cur = np.where(policy == "static_pb", common, empty)
    pts = np.arange(n_pts)
    sw_bytes = tables.switch_bytes[pts, empty, cur]  # the initial fill of a static PB
    pend = np.where(blocking, switch_ms[pts, empty, cur], 0.0)
    switches = (sw_bytes > 0).astype(np.int64)

    # Per (point, PB content) decision tables, so each block is a few gathers.
    l_sel_all = np.where(oblivious[:, None, None], lat_nopb[:, :, None], lat)  # [P, S, G]
    by_lat = np.argsort(l_sel_all, axis=1, kind="stable")
    # sorted latencies laid out [S, G, P]: counting along the leading axis adds whole vectors
    lat_sorted = np.ascontiguousarray(
        np.take_along_axis(l_sel_all, by_lat, axis=1).transpose(1, 2, 0)
    )
    # most accurate (highest index) among the k fastest
    fastest = by_lat[:, 0, :]  # [P, G]
    # lat_pick[p, g, k]: the SubNet for a target met by exactly the k fastest (k = 0: fallback)
    lat_pick = np.concatenate(
        [fastest[:, :, None], np.maximum.accumulate(by_lat, axis=1).transpose(0, 2, 1)], axis=2
    )
    # pick[p, g, i]: i <= S is a latency target met by the i fastest; i = S + 1 + f an
    # accuracy floor first met by SubNet f (f = S: none; the fallback)
    pick = np.empty((n_pts, n_cand, 2 * n_sub + 2), dtype=np.int64)
    pick[:, :, : n_sub + 1] = lat_pick
    pick[:, :, 2 * n_sub + 1] = n_sub - 1 if fallback == "best_effort" else fastest
    run_best = np.full((n_pts, n_cand), n_sub - 1)
    for s in range(n_sub - 1, -1, -1):  # suffix argmin over SubNets at or above the floor
        better = l_sel_all[:, s, :] < l_sel_all[pts[:, None], run_best, np.arange(n_cand)]
        run_best = np.where(better | (s == n_sub - 1), s, run_best)
        pick[:, :, n_sub + 1 + s] = run_best
    acc_idx = (n_sub + 1 + first_ok)[None, :]

    pts_c = pts[:, None]
    # Targets are quantiles of the no-PB latency range: compare normalized latencies
    # u = (L - L_min) / (L_max - L_min) with the target quantile q, shared by every point.
    span = np.where(hi > lo, hi - lo, 1.0)
    u_sorted = (lat_sorted - lo[None, None, :]) / span[None, None, :]  # [S, G, P]
    q_sorted, inv = _sorted_targets(trace)
    q_all = trace.target_q
    any_dynamic = bool(dynamic.any())
    if not any_dynamic:
        q = n_q  # the PB never changes: one block, decided at once
    n_blocks = -(-n_q // q)
    choice = None  # [P, G, T]: the SubNet each query gets under each PB content
    if not any_dynamic:
        k = _rank_counts(u_sorted[:, cur, pts].T, q_sorted, inv)  # [P, T]
        choice_fixed = pick[pts_c, cur[:, None], np.where(is_lat[None, :], k, acc_idx)]
    elif n_pts * n_cand * n_q <= _CHOICE_TABLE_MAX:
        # few points: each (point, PB content) row of choices is tabulated for the whole trace
        # the first time the PB holds that content (the loop is then a gather)
        choice = np.empty((n_pts, n_cand, n_q), dtype=np.int64)
        have = np.zeros((n_pts, n_cand), dtype=bool)

    # The loop only decides; per query the SubNet is stored, per block the PB content, and
    # switch bytes and stalls are charged afterwards from consecutive block contents.
    served = np.empty((n_pts, n_q), dtype=np.int32)
    cur_hist = np.empty((n_pts, n_blocks + 1), dtype=np.int64)
    cur_hist[:, 0] = cur
    ring = np.zeros((w_blocks, n_pts, n_cand))
    use_counts = n_pts * q > 256
    flat_off = (pts * n_sub)[:, None]
    # ties keep the PB as it is: staying is a hair cheaper than any equal alternative
    switch_score = switch_ms - 1e-9 * np.eye(n_cand)[None]
    for b in range(n_blocks):
        sl = slice(b * q, min(n_q, (b + 1) * q))
        if not any_dynamic:
            chosen = choice_fixed
        elif choice is not None:
            new_rows = ~have[pts, cur]
            if new_rows.any():
                rp, rg = pts[new_rows], cur[new_rows]
                k = _rank_counts(u_sorted[:, rg, rp].T, q_sorted, inv)  # [R, T]
                idx = np.where(is_lat[None, :], k, acc_idx)
                choice[rp, rg] = np.take_along_axis(pick[rp, rg], idx, axis=1)
                have[rp, rg] = True
            chosen = choice[pts, cur, sl]
        else:
            # many points: rank each point's normalized latencies among the block's targets
            n_b = sl.stop - sl.start
            order_b = np.argsort(q_all[sl], kind="stable")
            inv_b = np.empty(n_b, dtype=np.int64)
            inv_b[order_b] = np.arange(n_b)
            k = _rank_counts(u_sorted[:, cur, pts].T, q_all[sl][order_b], inv_b)
            chosen = pick[pts_c, cur[:, None], np.where(is_lat[None, sl], k, acc_idx[:, sl])]
        served[:, sl] = chosen
        if any_dynamic and b + 1 < n_blocks:
            # latency the block's SubNets would have had under each candidate PB content
            if use_counts:  # many points: per-SubNet counts times the table beats a gather
                hist = np.bincount((chosen + flat_off).ravel(), minlength=n_pts * n_sub)
                ring[b % w_blocks] = np.matmul(hist.reshape(n_pts, 1, n_sub), lat)[:, 0, :]
            else:
                ring[b % w_blocks] = lat[pts_c, chosen, :].sum(axis=1)
            cur = (ring.sum(axis=0) + switch_score[pts, cur, :]).argmin(axis=1)
        cur_hist[:, b + 1] = cur

    # switches between consecutive blocks: traffic, count, and a stall on the next block
    frm, to = cur_hist[:, :-2], cur_hist[:, 1:-1]
    moved = tables.switch_bytes[pts_c, frm, to]  # [P, n_blocks - 1]
    sw_bytes = sw_bytes + moved.sum(axis=1)
    switches = switches + (moved > 0).sum(axis=1)
    stall = np.zeros((n_pts, n_blocks))
    stall[:, 0] = pend
    stall[:, 1:] = np.where(blocking[:, None], switch_ms[pts_c, frm, to], 0.0)
    block_cur = np.repeat(cur_hist[:, :-1], q, axis=1)[:, :n_q]
    code = served * n_cand + block_cur

    # Pair counts give every mean; per-query latency is needed for misses, p99 and queueing.
    flat = (code + (pts * n_sub * n_cand)[:, None]).ravel()
    counts = np.bincount(flat, minlength=n_pts * n_sub * n_cand).reshape(n_pts, n_sub, n_cand)
    nan = np.full(n_pts, np.nan)
    lat_miss, acc_miss, any_miss = nan, nan, nan
    p99, response = nan, nan
    mean_lat = ((counts * lat).sum(axis=(1, 2)) + stall.sum(axis=1)) / n_q
    if detail:
        served_lat = np.empty((n_pts, n_q), dtype=np.float32)
        lat_miss, acc_miss, any_miss = np.zeros(n_pts), np.zeros(n_pts), np.zeros(n_pts)
        lat_flat = lat.reshape(n_pts, n_sub * n_cand)
        block_of = np.arange(n_q) // q
        first_in_block = np.arange(n_q) % q == 0
        for t0 in range(0, n_q, _T_CHUNK):
            sl = slice(t0, min(n_q, t0 + _T_CHUNK))
            c = code[:, sl]
            got = np.take_along_axis(lat_flat, c, axis=1)
            got += np.where(first_in_block[None, sl], stall[:, block_of[sl]], 0.0)
            served_lat[:, sl] = got
            lm = is_lat[None, sl] & ((got - lo[:, None]) / span[:, None] > q_all[None, sl])
            am = ~is_lat[None, sl] & (acc_s[c // n_cand] < alpha[None, sl] - 1e-9)
            lat_miss += lm.sum(axis=1)
            acc_miss += am.sum(axis=1)
            any_miss += (lm | am).sum(axis=1)
        p99 = np.percentile(served_lat, 99, axis=1).astype(np.float64)
        response = _queue_response(served_lat, trace.t_arrival_s * 1e3)
    n_lat = max(1, int(is_lat.sum()))
    n_acc = max(1, int((~is_lat).sum()))
    per_sub = counts.sum(axis=2)  # [P, S]
    off = (counts * offchip).sum(axis=(1, 2)) + sw_bytes
    hits = (counts * hit).sum(axis=(1, 2))
    weights = (per_sub * wbytes).sum(axis=1)
    return ServingStats(
        mean_latency_ms=mean_lat,
        p99_latency_ms=p99,
        mean_response_ms=response,
        served_acc_pct=(per_sub * acc_s).sum(axis=1) / n_q,
        latency_miss_rate=lat_miss / n_lat,
        accuracy_miss_rate=acc_miss / n_acc,
        miss_rate=any_miss / n_q,
        offchip_bytes=off / n_q,
        onchip_mj=(per_sub * onchip).sum(axis=1) / n_q,
        hit_ratio=hits / np.maximum(weights, 1e-30),
        switches=switches,
        fetch_share=(per_sub * share).sum(axis=1) / n_q,
    )
