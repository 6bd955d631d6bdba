"""The scheduler of :mod:`._scheduler`, simulated with less work per point; same decisions.

Same policies, rules and statistics as :func:`costmodels.sushi._scheduler.simulate` (its module
docstring gives them); this module changes only how the work is organized:

* **The no-PB baseline costs ``O(S log T)`` a point, not ``O(T)``.** With the PB fixed, the SubNet
  a query gets depends only on where its target falls among the point's ``S`` sorted normalized
  latencies (latency query) or on the first SubNet meeting its floor (accuracy query, the same
  for every point). Counting the trace's sorted latency targets between consecutive thresholds
  (one ``searchsorted``) and the accuracy floors per first-qualifying SubNet (once per trace)
  gives the exact per-SubNet counts from which every mean follows. The baseline needs only means.
* **The time loop is compiled** (:mod:`._serve_kernel`): each point is served query by query on
  its own, whatever its policy, ``Q`` and window (a fixed PB is one block with no decision); the
  kernel builds each ``(point, PB content)`` decision row the first time the PB holds that
  content and forms misses, totals, the FIFO queue and the p99 per point; no numpy call per tick
  and no ``[P, T]`` temporaries. The means come from compiled count sums (``count_sums``).
* The suffix argmin behind the baseline's accuracy-floor choices is a reversed
  ``minimum.accumulate`` over strict records instead of a Python loop over SubNets.

Decisions and statistics use the reference's arithmetic (the same element-wise operations, and
sums in numpy's pairwise order over the reference's shapes), so the results are equal (tested on
sampled points; ``docs/models/sushi.md`` section 11).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodels.sushi._accelerator import ServingTables
from costmodels.sushi._scheduler import (
    ServingStats,
    check_serving_inputs,
)
from costmodels.sushi._serve_kernel import count_sums, serve_points
from costmodels.sushi._streams import Trace


__all__ = ["BaselineStats", "simulate_with_baseline"]



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
    sums = _count_sums(t, cnt[:, :, None], n_cand - 1)  # the reference's sums, same shapes
    n_q = len(trace)
    return BaselineStats(
        mean_latency_ms=(sums[:, 0] + 0.0) / n_q,
        served_acc_pct=sums[:, 3] / n_q,
        offchip_bytes=(sums[:, 1] + 0.0) / n_q,
        fetch_share=sums[:, 6] / n_q,
    )


def _count_sums(t: _Sorted, counts: np.ndarray, column: int = -1) -> np.ndarray:
    """``[P, 7]`` sums of the counts times the tables (:func:`._serve_kernel.count_sums`)."""
    out = np.empty((t.lat.shape[0], 7))
    count_sums(
        np.ascontiguousarray(counts),
        column,
        np.ascontiguousarray(t.lat),
        np.ascontiguousarray(t.offchip),
        np.ascontiguousarray(t.hit),
        t.acc,
        np.ascontiguousarray(t.wbytes),
        np.ascontiguousarray(t.onchip),
        np.ascontiguousarray(t.share),
        out,
    )
    return out


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
    sums = _count_sums(t, res.counts)
    return ServingStats(
        mean_latency_ms=(sums[:, 0] + res.stall_ms) / n_q,
        p99_latency_ms=res.p99,
        mean_response_ms=res.response,
        served_acc_pct=sums[:, 3] / n_q,
        latency_miss_rate=res.lat_miss / n_lat,
        accuracy_miss_rate=np.full(len(sums), acc_miss / n_acc),
        miss_rate=(res.lat_miss + acc_miss) / n_q,
        offchip_bytes=(sums[:, 1] + res.sw_bytes) / n_q,
        onchip_mj=sums[:, 5] / n_q,
        hit_ratio=sums[:, 2] / np.maximum(sums[:, 4], 1e-30),
        switches=res.switches,
        fetch_share=sums[:, 6] / n_q,
    )


def _by_counts(period: np.ndarray, w_blocks: np.ndarray) -> np.ndarray:
    """Rows whose block sums the reference forms as per-SubNet counts times the table ``[R]``.

    The reference does so when its group (points sharing period and window) times the period
    exceeds 256; the group here is the largest window class among the rows of each period.
    """
    pairs, n_pair = np.unique(np.column_stack([period, w_blocks]), axis=0, return_counts=True)
    periods, at = np.unique(pairs[:, 0], return_inverse=True)
    group = np.zeros(len(periods), dtype=np.int64)
    np.maximum.at(group, at.reshape(-1), n_pair)
    flag = group * periods > 256
    return flag[np.searchsorted(periods, period)]


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
    # dynamic rows start from an empty PB; fixed ones hold their content for one block
    start = np.where(dynamic, n_cand - 1, np.where(policy == "static_pb", n_cand - 2, n_cand - 1))
    period = np.where(dynamic, q, len(trace))
    w_rows = np.where(dynamic, w, 1)
    by_counts = np.zeros(n_pts, dtype=bool)
    if dynamic.any():
        by_counts[dynamic] = _by_counts(q[dynamic], w[dynamic])
    n_q = len(trace)
    serve_points(  # fills res at every point
        np.ascontiguousarray(t.lat),
        np.ascontiguousarray(tables.switch_bytes),
        tables.bw_bytes_per_ms,
        t.lo,
        t.span,
        np.arange(n_pts, dtype=np.int64),
        oblivious,
        start.astype(np.int64),
        period.astype(np.int64),
        w_rows.astype(np.int64),
        by_counts,
        blocking,
        fallback == "best_effort",
        trace.is_latency,
        trace.target_q,
        (n_sub + 1 + t.first_ok).astype(np.int64),
        np.diff(trace.t_arrival_s * 1e3),
        float((n_q - 1) * np.true_divide(99, 100)),  # numpy's virtual index of the p99
        res.counts,
        res.lat_miss,
        res.sw_bytes,
        res.switches,
        res.stall_ms,
        res.p99,
        res.response,
    )
    return _final_stats(t, trace, res), _baseline(t, trace, fallback)
