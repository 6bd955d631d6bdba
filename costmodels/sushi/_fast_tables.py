"""Serving tables for many hardware points, with shared work done once per distinct setting.

Same equations as :func:`costmodels.sushi._accelerator.serving_tables` (module docstring there;
notes section 6), evaluated so that each piece is computed once per *distinct* input it depends on
and gathered to the points:

* PB contents, hits and switch costs (:mod:`._cache`) depend only on the pool, the fill priority,
  the PB capacity in parameters and the weight-byte scale; they are memoized across calls (a
  sweep of the ``sushi`` space has 225 distinct settings per SuperNet, against millions of points);
* per-slot compute time depends only on the PE array, clock, utilizations and the GEMM latency
  scale; activation spills only on the precision and the activation buffer; weight bytes only on
  the precision and the weight-byte scale.

Every value equals the reference's bit for bit: the same element-wise operations and the same
reductions over the same contiguous slot axis, merely on fewer rows (tested).

**External engine columns** (co-design links; both default 1.0, per point). A *GEMM-shaped* slot
is every slot that is not depthwise (convolutions, 1x1 convolutions, SE and classifier matrices):

* ``weight_bytes_scale`` ``r_w``: stored bytes of a GEMM-shaped slot over its dense bytes,
  including sparse metadata. A slot of ``n`` parameters stores ``n * (bits / 8) * r_w`` bytes: it
  is fetched, read on chip and held in the PB at that size (a PB of ``C`` bytes holds ``1 / r_w``
  times more GEMM parameters). Depthwise slots keep ``r_w = 1``. The fill order stays the dense
  one (a uniform ``r_w`` does not reorder GEMM-shaped slots among themselves).
* ``gemm_latency_scale`` ``r_t``: compute time of a GEMM-shaped slot on the linked engine over
  this accelerator's own ``t_c`` (``t_c -> r_t t_c``); per-layer overhead ``tau``, weight fetch
  and depthwise slots are unchanged.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from costmodels._pipeline import _distinct_rows as distinct_rows
from costmodels.sushi._accelerator import (
    MB,
    ServingTables,
    _pool_order,
    _pool_overlaps,
    compute_seconds,
    onchip_energy_mj,
)
from costmodels.sushi._cache import fill, hit_per_slot, switch_params
from costmodels.sushi._cache import hit_sum as _hit_sum
from costmodels.sushi._pool import SubNetPool
from costmodels.sushi._supernet import DEPTHWISE, LayerTable
from costmodels.sushi._table_kernel import base_latency, pb_point_tables


__all__ = ["COMPUTE_FIELDS", "clear_cache_memo", "fast_serving_tables"]

# Inputs the per-slot compute time depends on (with the GEMM latency scale).
COMPUTE_FIELDS = ("pe_k", "pe_c", "pe_rs", "clock_mhz", "util_dense", "util_depthwise")
_PER_SUBNET_FIELDS = ("out_ch", "in_ch", "taps", "out_px", "in_act", "out_act")  # [S, L]
_MEMO_MAX = 2048  # memoized PB settings (about 40 kB each for a 48-SubNet pool)
_COMPUTE_MAX = 512  # memoized compute settings (about 40 kB each for a 48-SubNet pool)
_SWITCH_BLOCK = 64  # distinct PB settings per switch-cost block (bounds [B, G, G, L] memory)
_DOUBLE_ELEMS = 4_000_000  # elements of the per-slot [B, S, G, L] double-buffer arrays

# (pool id, priority, capacity, weight scale) -> (hits [S, G], held total [G]); switch [G, G]
_HITS: OrderedDict[tuple[int, str, float, float], tuple[np.ndarray, np.ndarray]] = OrderedDict()
_SWITCH: OrderedDict[tuple[int, str, float, float], np.ndarray] = OrderedDict()
_COMPUTE: OrderedDict[tuple[object, ...], np.ndarray] = OrderedDict()  # -> t_c [S, L] (ms)
_POOLS: dict[int, SubNetPool] = {}  # keeps memoized pools alive, so their ids stay unique


def clear_cache_memo() -> None:
    """Forget memoized PB settings (tests; memory)."""
    _HITS.clear()
    _SWITCH.clear()
    _COMPUTE.clear()
    _POOLS.clear()


def _remember(
    memo: OrderedDict,  # type: ignore[type-arg]
    key: tuple,  # type: ignore[type-arg]
    value: object,
    limit: int = _MEMO_MAX,
) -> None:
    memo[key] = value
    if len(memo) > limit:
        memo.popitem(last=False)


def _slot_scale(pool: SubNetPool, scale: np.ndarray) -> np.ndarray:
    """Per-slot factor ``[U, L]``: ``scale`` on GEMM-shaped slots, 1 on depthwise slots."""
    gemm = pool.layers.kind != DEPTHWISE
    return np.where(gemm[None, :], np.asarray(scale, dtype=np.float64)[:, None], 1.0)


def _scaled_overlaps(pool: SubNetPool, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cand_params, shared, shared_gg = _pool_overlaps(pool)
    if scale == 1.0:
        return cand_params, shared, shared_gg
    f = _slot_scale(pool, np.asarray([scale]))[0]
    return cand_params * f, shared * f, shared_gg * f


def _pb_tables(
    pool: SubNetPool,
    prio: np.ndarray,
    cap: np.ndarray,
    scale: np.ndarray,
    switching: np.ndarray,
    subnet_order: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct (priority, capacity, scale) setting: hits ``[U, S, G]`` (SubNets in
    ``subnet_order``), held totals ``[U, G]``, switch parameters ``[U, G, G]`` (zero for
    settings no switching point uses), and each point's setting ``[P]``.

    Work is per setting, memoized across calls; :func:`._table_kernel.pb_point_tables`
    gathers the points' tables (switch costs from the empty PB only where the PB never
    changes, as in the reference).
    """
    g1 = _pool_overlaps(pool)[0].shape[0]
    names, code = np.unique(np.asarray(prio).astype(str), return_inverse=True)
    first, inv = _distinct_rows(code.reshape(-1), cap, scale)
    keys = [
        (id(pool), str(names[code.reshape(-1)[i]]), float(cap[i]), float(scale[i])) for i in first
    ]
    u_switch = np.zeros(len(first), dtype=bool)
    np.logical_or.at(u_switch, inv, switching)
    for memo, wanted in ((_HITS, np.ones(len(first), bool)), (_SWITCH, u_switch)):
        by_setting: dict[tuple[str, float], list[float]] = {}
        for j in np.flatnonzero(wanted):
            if keys[j] not in memo:
                by_setting.setdefault((keys[j][1], keys[j][3]), []).append(keys[j][2])
        for (pr, s), caps in by_setting.items():
            params, shared, shared_gg = _scaled_overlaps(pool, s)
            order = _pool_order(pool, pr)
            for start in range(0, len(caps), _SWITCH_BLOCK):
                blk = caps[start : start + _SWITCH_BLOCK]
                f = fill(params, order, np.asarray(blk))
                if memo is _SWITCH:
                    sw = switch_params(f.held(), shared_gg)
                    for i, c in enumerate(blk):
                        _remember(memo, (id(pool), pr, c, s), sw[i])
                else:
                    h, tot = _hit_sum(shared, f), f.held_total()
                    for i, c in enumerate(blk):
                        _remember(memo, (id(pool), pr, c, s), (h[i], tot[i]))
    hits_u = np.stack([_HITS[k][0][subnet_order] for k in keys])
    held_u = np.stack([_HITS[k][1] for k in keys])
    switch_u = np.zeros((len(keys), g1, g1))
    for j in np.flatnonzero(u_switch):
        switch_u[j] = _SWITCH[keys[j]]
    return hits_u, held_u, switch_u, inv


def _compute_ms(
    pool: SubNetPool,
    sub: LayerTable,
    order: np.ndarray,
    hw: Mapping[str, np.ndarray],
    r_t: np.ndarray,
    first: np.ndarray,
    stride2_full_res: bool,
) -> np.ndarray:
    """Compute time per slot ``[U, S, L]`` (ms) of the distinct compute settings ``first``,
    memoized across calls (a sweep revisits the same PE arrays and clocks)."""
    head = (id(pool), tuple(order.tolist()), stride2_full_res)
    settings = np.column_stack(
        [np.asarray(hw[k], dtype=np.float64)[first] for k in COMPUTE_FIELDS] + [r_t[first]]
    )
    keys = [head + tuple(row) for row in settings.tolist()]
    found = {j: _COMPUTE[key] for j, key in enumerate(keys) if key in _COMPUTE}
    missing = [j for j in range(len(keys)) if j not in found]
    if missing:
        rows = first[missing]
        hw_c = {k: np.asarray(hw[k])[rows] for k in COMPUTE_FIELDS}
        tc = compute_seconds(sub, hw_c, stride2_full_res) * 1e3
        if (r_t[rows] != 1.0).any():
            tc = tc * _slot_scale(pool, r_t[rows])[:, None, :]
        for j, row in zip(missing, tc):
            found[j] = row
            _remember(_COMPUTE, keys[j], row, _COMPUTE_MAX)
    return np.stack([found[j] for j in range(len(keys))])


def _distinct_rows(*cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of one representative per distinct row of ``cols`` and each point's row."""
    return distinct_rows([np.asarray(c, dtype=np.float64) for c in cols])


def fast_serving_tables(
    pool: SubNetPool,
    hw: Mapping[str, np.ndarray],
    stride2_full_res: bool = True,
    switching: np.ndarray | None = None,
    weight_bytes_scale: np.ndarray | None = None,
    gemm_latency_scale: np.ndarray | None = None,
    subnet_order: np.ndarray | None = None,
) -> ServingTables:
    """:func:`~costmodels.sushi._accelerator.serving_tables` with distinct work done once.

    Args:
        pool: The SubNet pool.
        hw: Hardware columns ``[P]`` (:data:`~costmodels.sushi._accelerator.HW_FIELDS`).
        stride2_full_res: Compute stride-2 layers at full input resolution.
        switching: Points whose PB may change content (default: all).
        weight_bytes_scale: ``r_w`` per point (module docstring); default 1.
        gemm_latency_scale: ``r_t`` per point (module docstring); default 1.
        subnet_order: Lay the SubNet axis out in this order of the pool's SubNets (the fast
            scheduler wants accuracy order); default: pool order.
    """
    _POOLS[id(pool)] = pool  # memo keys hold the pool's id: keep the pool alive
    o = np.arange(len(pool)) if subnet_order is None else np.asarray(subnet_order)
    sub = replace(
        pool.layers,
        **{k: getattr(pool.layers, k)[o] for k in _PER_SUBNET_FIELDS},
    )
    n_pts = len(np.asarray(hw["pe_k"]))
    ones = np.ones(n_pts)
    r_w = ones if weight_bytes_scale is None else np.asarray(weight_bytes_scale, np.float64)
    r_t = ones if gemm_latency_scale is None else np.asarray(gemm_latency_scale, np.float64)
    sw = np.ones(n_pts, bool) if switching is None else np.asarray(switching, bool)
    bpw = np.asarray(hw["quant_bits"], dtype=np.float64) / 8.0
    bw = np.asarray(hw["dram_bw_gbps"], dtype=np.float64) * 1e6  # bytes per ms
    tau_ms = np.asarray(hw["layer_overhead_us"], dtype=np.float64) * 1e-3
    act_buf = np.asarray(hw["act_buf_mb"], dtype=np.float64) * MB
    cap = np.asarray(hw["pb_mb"], dtype=np.float64) * MB / bpw  # in dense parameters
    double = np.asarray(hw["overlap"]) == "double_buffer"
    active = (sub.out_ch > 0).sum(axis=1).astype(np.float64)  # [S]
    params_s = sub.params.astype(np.float64)  # [S, L]

    # compute time per distinct (PE array, clock, utilizations, GEMM scale)
    c_first, c_inv = _distinct_rows(*(hw[k] for k in COMPUTE_FIELDS), r_t)
    tc_u = _compute_ms(pool, sub, o, hw, r_t, c_first, stride2_full_res)  # [U, S, L]
    # weight bytes per distinct (precision, weight scale)
    w_first, w_inv = _distinct_rows(bpw, r_w)
    w_sl_u = params_s[None] * (bpw[w_first][:, None] * _slot_scale(pool, r_w[w_first]))[:, None]
    weight_bytes = w_sl_u.sum(axis=2)[w_inv]
    # activation spills per distinct (precision, activation buffer)
    a_first, a_inv = _distinct_rows(bpw, act_buf)
    act_sl_u = sub.act_elems.astype(np.float64)[None] * bpw[a_first][:, None, None]
    a_off_u = np.where(act_sl_u > act_buf[a_first][:, None, None], act_sl_u, 0.0)
    a_off_sum = a_off_u.sum(axis=2)[a_inv]
    act_sum = act_sl_u.sum(axis=2)[a_inv]

    # the reference's serialized sum where(active, (tau + t_c) + (w + a_off) / B, 0) summed over
    # slots (SlotTerms.serial_ms), slot by slot the same: (tau + t_c) and (w + a_off) are formed
    # once per distinct setting, zero on absent slots (0 / B + 0 = 0), then one pass per distinct
    # (compute, overhead, bytes, spills, bandwidth)
    present = sub.out_ch > 0  # [S, L]
    b_first, b_inv = _distinct_rows(c_inv, tau_ms, w_inv, a_inv, bw)
    base_u = np.empty((len(b_first), len(o)))
    base_latency(w_sl_u, a_off_u, tc_u, present, tau_ms, bw, w_inv, a_inv, c_inv, b_first, base_u)
    base_ms = base_u[b_inv]  # [P, S]
    fetch_share = weight_bytes / bw[:, None] / base_ms

    hits_u, held_u, switch_u, pb_inv = _pb_tables(
        pool, np.asarray(hw["fill_priority"]), cap, r_w, sw, o
    )
    n_cand = hits_u.shape[2]
    hit_bytes = np.empty((n_pts, len(o), n_cand))
    lat = np.empty_like(hit_bytes)
    offchip = np.empty_like(hit_bytes)
    switch_bytes = np.empty((n_pts, n_cand, n_cand))
    held_bytes = np.empty((n_pts, n_cand))
    pb_point_tables(hits_u, held_u, switch_u, pb_inv, sw, bpw, bw, base_ms, weight_bytes,
                    a_off_sum, hit_bytes, lat, offchip, switch_bytes, held_bytes)
    prio = np.asarray(hw["fill_priority"]).astype(str)
    n_sub, n_slots = params_s.shape
    step = max(1, _DOUBLE_ELEMS // (n_sub * n_cand * n_slots))
    # double buffering needs per-slot hits [B, S, G, L]: per distinct (priority, weight scale),
    # in chunks of points
    d_first, d_inv = _distinct_rows(np.unique(prio, return_inverse=True)[1].reshape(-1), r_w)
    for j, head in enumerate(d_first):
        dbl_all = np.flatnonzero(double & (d_inv == j))
        if len(dbl_all) == 0:
            continue
        params, shared, _ = _scaled_overlaps(pool, float(r_w[head]))
        shared = shared[o]
        order = _pool_order(pool, str(prio[head]))
        for start in range(0, len(dbl_all), step):
            dbl = dbl_all[start : start + step]
            held = fill(params, order, cap[dbl]).held()
            hit_l = hit_per_slot(shared, held) * bpw[dbl, None, None, None]
            fetch = (
                w_sl_u[w_inv[dbl]][:, :, None, :] - hit_l + a_off_u[a_inv[dbl]][:, :, None, :]
            ) / bw[dbl, None, None, None]
            per_layer = np.maximum(tc_u[c_inv[dbl]][:, :, None, :], fetch)
            lat[dbl] = tau_ms[dbl, None, None] * active[None, :, None] + per_layer.sum(3)
    return ServingTables(
        lat_ms=lat,
        offchip_bytes=offchip,
        onchip_mj=onchip_energy_mj(hw, weight_bytes, act_sum, sub.macs),
        weight_bytes=weight_bytes,
        hit_bytes=hit_bytes,
        switch_bytes=switch_bytes,
        held_bytes=held_bytes,
        bw_bytes_per_ms=bw,
        e_dram_mj_per_byte=np.asarray(hw["e_dram_pj_per_byte"], dtype=np.float64) * 1e-9,
        fetch_share=fetch_share,
    )
