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


__all__ = ["FALLBACKS", "POLICIES", "ServingStats", "simulate"]

POLICIES = ("sushi", "static_pb", "cache_oblivious", "no_pb")
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
    """Mean response time of a FIFO single server (Lindley recursion, closed form)."""
    gaps = np.diff(arrival_ms)
    x = service_ms[:, :-1] - gaps[None, :]
    c = np.concatenate([np.zeros((len(service_ms), 1)), np.cumsum(x, axis=1)], axis=1)
    wait = c - np.minimum(np.minimum.accumulate(c, axis=1), 0.0)
    return (wait + service_ms).mean(axis=1)


def simulate(
    tables: ServingTables,
    acc: np.ndarray,
    trace: Trace,
    policy: np.ndarray,
    update_period: int,
    window: int,
    switch_blocking: np.ndarray,
    fallback: str = "best_effort",
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
    """
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback={fallback!r}: expected one of {', '.join(FALLBACKS)}")
    policy = np.asarray(policy)
    bad = ~np.isin(policy, POLICIES)
    if bad.any():
        raise ValueError(f"policy={policy[bad][0]!r}: expected one of {', '.join(POLICIES)}")
    n_pts, n_sub, n_cand = tables.lat_ms.shape
    if n_sub == 0:
        raise ValueError("SubNet pool is empty: nothing to serve")
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
    q = max(1, int(update_period))
    w_blocks = max(1, -(-int(window) // q))
    lo, hi = lat_nopb.min(axis=1), lat_nopb.max(axis=1)
    lam = lo[:, None] + trace.target_q[None, :] * (hi - lo)[:, None]  # [P, T]
    alpha = acc_s[0] + trace.target_q * (acc_s[-1] - acc_s[0])  # [T]
    first_ok = np.searchsorted(acc_s, alpha - 1e-9, side="left")  # [T], n_sub: none
    is_lat = trace.is_latency

    dynamic = np.isin(policy, ("sushi", "cache_oblivious"))
    oblivious = policy == "cache_oblivious"
    blocking = np.asarray(switch_blocking, dtype=bool)
    cur = np.where(policy == "static_pb", common, empty)
    pts = np.arange(n_pts)
    sw_bytes = tables.switch_bytes[pts, empty, cur]  # the initial fill of a static PB
    pend = np.where(blocking, switch_ms[pts, empty, cur], 0.0)
    switches = (sw_bytes > 0).astype(np.int64)

    # Per (point, PB content) decision tables, so each block is a few gathers.
    l_sel_all = np.where(oblivious[:, None, None], lat_nopb[:, :, None], lat)  # [P, S, G]
    by_lat = np.argsort(l_sel_all, axis=1, kind="stable")
    lat_sorted = np.take_along_axis(l_sel_all, by_lat, axis=1).transpose(0, 2, 1)  # [P, G, S]
    # most accurate (highest index) among the k fastest
    fastest = by_lat[:, 0, :]  # [P, G]
    # lat_pick[p, g, k]: the SubNet for a target met by exactly the k fastest (k = 0: fallback)
    lat_pick = np.concatenate(
        [fastest[:, :, None], np.maximum.accumulate(by_lat, axis=1).transpose(0, 2, 1)], axis=2
    )
    acc_pick = np.empty((n_pts, n_cand, n_sub + 1), dtype=np.int64)
    acc_pick[:, :, n_sub] = n_sub - 1 if fallback == "best_effort" else fastest
    run_best = np.full((n_pts, n_cand), n_sub - 1)
    for s in range(n_sub - 1, -1, -1):  # suffix argmin over SubNets at or above the floor
        better = l_sel_all[:, s, :] < l_sel_all[pts[:, None], run_best, np.arange(n_cand)]
        run_best = np.where(better | (s == n_sub - 1), s, run_best)
        acc_pick[:, :, s] = run_best

    cur_at = np.empty((n_pts, n_q), dtype=np.int64)
    served_idx = np.empty((n_pts, n_q), dtype=np.int64)
    stall = np.zeros((n_pts, n_q))
    ring = np.zeros((w_blocks, n_pts * n_sub))
    flat_off = (pts * n_sub)[:, None]
    pts_c = pts[:, None]
    any_dynamic = bool(dynamic.any())
    for b, start in enumerate(range(0, n_q, q)):
        sl = slice(start, min(n_q, start + q))
        cur_c = cur[:, None]
        k = (lat_sorted[pts, cur][:, None, :] <= lam[:, sl, None]).sum(axis=2)
        chosen = np.where(
            is_lat[None, sl], lat_pick[pts_c, cur_c, k], acc_pick[pts_c, cur_c, first_ok[None, sl]]
        )
        served_idx[:, sl] = chosen
        cur_at[:, sl] = cur[:, None]
        stall[:, start] = pend
        if any_dynamic:
            ring[b % w_blocks] = np.bincount((chosen + flat_off).ravel(), minlength=n_pts * n_sub)
            hist = ring.sum(axis=0).reshape(n_pts, n_sub)
            score = np.einsum("ps,psg->pg", hist, lat) + switch_ms[pts, cur, :]
            score[pts, cur] -= 1e-9 * np.abs(score[pts, cur])  # ties keep the PB as it is
            new = np.where(dynamic, score.argmin(axis=1), cur)
            moved = tables.switch_bytes[pts, cur, new]
            changed = moved > 0
            sw_bytes = sw_bytes + moved
            pend = np.where(blocking & changed, switch_ms[pts, cur, new], 0.0)
            switches = switches + changed
            cur = new
        else:
            pend = np.zeros(n_pts)

    row = pts[:, None]
    served_lat = lat[row, served_idx, cur_at] + stall
    acc_served = acc_s[served_idx]
    lat_miss = is_lat[None, :] & (served_lat > lam)
    acc_miss = ~is_lat[None, :] & (acc_served < alpha[None, :] - 1e-9)
    n_lat = max(1, int(is_lat.sum()))
    n_acc = max(1, int((~is_lat).sum()))
    off = offchip[row, served_idx, cur_at].sum(axis=1) + sw_bytes
    hits = hit[row, served_idx, cur_at].sum(axis=1)
    weights = wbytes[row, served_idx].sum(axis=1)
    return ServingStats(
        mean_latency_ms=served_lat.mean(axis=1),
        p99_latency_ms=np.percentile(served_lat, 99, axis=1),
        mean_response_ms=_queue_response(served_lat, trace.t_arrival_s * 1e3),
        served_acc_pct=acc_served.mean(axis=1),
        latency_miss_rate=lat_miss.sum(axis=1) / n_lat,
        accuracy_miss_rate=acc_miss.sum(axis=1) / n_acc,
        miss_rate=(lat_miss | acc_miss).mean(axis=1),
        offchip_bytes=off / n_q,
        onchip_mj=onchip[row, served_idx].mean(axis=1),
        hit_ratio=hits / weights,
        switches=switches,
        fetch_share=share[row, served_idx].mean(axis=1),
    )
