"""SushiAccel-like accelerator: latency and energy per (SubNet, cached SubGraph), vectorized over
hardware points.

**Compute** (engine form, reference notes section 6; FEATHER/SushiAccel ZCU104 design, section 4):
a ``pe_k x pe_c x pe_rs`` MAC array takes ``pe_k`` output channels, ``pe_c`` input channels and
``pe_rs`` kernel taps per cycle::

    cycles = ceil(K / pe_k) * ceil(C / pe_c) * ceil(RS / pe_rs) * P       (k x k conv, RS = k^2)
    cycles = ceil(K / pe_k) * ceil(C / (pe_c pe_rs)) * P                   (1x1 conv, FC: folded)
    t_c    = cycles / (f * u)                                              u = util_dense / util_dw

A depthwise slot has ``C = 1`` per group, so it uses ``1 / pe_c`` of the array: on the 16x9x9
engine a 7x7 depthwise layer runs at about 11 % of peak, the "u_dw = 0.11" of the notes. ``u`` is
the pipeline efficiency, 0.88 = 1/1.141 from the FEATHER ZCU104 fit (notes section 4). ``P`` is
the output pixels; with ``stride2_full_res`` a stride-2 layer is computed at full input
resolution (``P * 4``), as the FEATHER fit found.

**Latency** (serialized weight fetch, notes section 6, matching the FEATHER measurements)::

    L[s, g] = sum_l ( tau + t_c[s, l] + (w[s, l] - hit[s, g, l]) / B + a_off[s, l] / B )

or with ``double_buffer`` ``sum_l ( tau + max(t_c, (w - hit) / B + a_off / B) )``. ``w`` is in
bytes (``quant_bits / 8`` per parameter), ``B`` the effective DRAM bandwidth, ``tau`` the
per-layer overhead (over the active slots). A slot's activations ``a_off`` (input plus output
feature maps) go off chip when they exceed the activation buffer (``act_buf_mb``), else 0.

**Energy per query** (notes section 4, 6)::

    E_off = e_DRAM * ((W[s] - H[s, g]) + A_off[s])
    E_on  = e_SRAM * (W[s] + A[s]) + e_MAC * MACs[s]

every weight and activation byte is read once from an on-chip SRAM (PB or stream buffer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from costmodels.sushi._cache import fill, fill_order, hit_per_slot, hit_sum, switch_params
from costmodels.sushi._pool import SubNetPool
from costmodels.sushi._supernet import DEPTHWISE, LayerTable, shared_params


__all__ = [
    "HW_FIELDS",
    "ServingTables",
    "compute_seconds",
    "SlotTerms",
    "serial_layer_ms",
    "serving_tables",
    "slot_terms",
]

MB = 1e6  # buffers and traffic are in decimal megabytes
HW_FIELDS = (
    "pe_k",
    "pe_c",
    "pe_rs",
    "clock_mhz",
    "util_dense",
    "util_depthwise",
    "dram_bw_gbps",
    "layer_overhead_us",
    "overlap",
    "pb_mb",
    "act_buf_mb",
    "quant_bits",
    "fill_priority",
    "e_dram_pj_per_byte",
    "e_sram_pj_per_byte",
    "e_mac_pj",
)
# Per-point working-set bound for the [P, S, G, L] double-buffer arrays (elements).
_CHUNK_ELEMS = 4_000_000


@dataclass(frozen=True)
class ServingTables:
    """Per hardware point ``p``, SubNet ``s`` and PB content ``g`` (last ``g`` = empty PB).

    Attributes:
        lat_ms: Service latency ``[P, S, G]``.
        offchip_bytes: Off-chip bytes per query ``[P, S, G]``.
        onchip_mj: On-chip energy per query ``[P, S]`` (does not depend on ``g``).
        weight_bytes: Weight bytes of each SubNet ``[P, S]``.
        hit_bytes: Weight bytes served from the PB ``[P, S, G]``.
        switch_bytes: Bytes loaded to switch the PB from ``g`` to ``h`` ``[P, G, G]``.
        held_bytes: Bytes the PB holds with each candidate ``[P, G]``.
        bw_bytes_per_ms: Effective DRAM bandwidth ``[P]``.
        e_dram_mj_per_byte: ``[P]``.
        fetch_share: Share of no-PB latency spent fetching weights ``[P, S]``.
    """

    lat_ms: np.ndarray
    offchip_bytes: np.ndarray
    onchip_mj: np.ndarray
    weight_bytes: np.ndarray
    hit_bytes: np.ndarray
    switch_bytes: np.ndarray
    held_bytes: np.ndarray
    bw_bytes_per_ms: np.ndarray
    e_dram_mj_per_byte: np.ndarray
    fetch_share: np.ndarray

    @property
    def empty(self) -> int:
        return self.lat_ms.shape[2] - 1


def compute_seconds(
    layers: LayerTable, hw: Mapping[str, np.ndarray], stride2_full_res: bool = True
) -> np.ndarray:
    """Compute time per slot ``[P, S, L]`` in seconds."""
    k = layers.out_ch[None].astype(np.float64)
    c = layers.in_ch[None].astype(np.float64)
    rs = layers.taps[None].astype(np.float64)
    pk = np.asarray(hw["pe_k"], dtype=np.float64)[:, None, None]
    pc = np.asarray(hw["pe_c"], dtype=np.float64)[:, None, None]
    prs = np.asarray(hw["pe_rs"], dtype=np.float64)[:, None, None]
    px = layers.out_px.astype(np.float64)
    if stride2_full_res:
        px = px * np.where(layers.stride == 2, 4.0, 1.0)[None, :]
    folded = rs <= 1
    per_px = np.ceil(k / pk) * np.where(
        folded, np.ceil(c / (pc * prs)), np.ceil(c / pc) * np.ceil(rs / prs)
    )
    cycles = per_px * px[None]
    u = np.where(
        layers.kind[None, None, :] == DEPTHWISE,
        np.asarray(hw["util_depthwise"], dtype=np.float64)[:, None, None],
        np.asarray(hw["util_dense"], dtype=np.float64)[:, None, None],
    )
    f = np.asarray(hw["clock_mhz"], dtype=np.float64)[:, None, None] * 1e6
    return cycles / (f * u)


@dataclass(frozen=True)
class SlotTerms:
    """Per-slot latency terms ``[P, S, L]`` of a layer table on hardware points ``[P]``.

    Attributes:
        tc_ms: Compute time.
        w_bytes: Weight bytes.
        act_bytes: Input plus output feature-map bytes.
        a_off: Feature-map bytes that spill off chip (over the activation buffer), else 0.
        tau_ms: Per-layer overhead ``[P, 1, 1]``.
        bw: Effective DRAM bandwidth in bytes per ms ``[P, 1, 1]``.
        active: Slots present in each SubNet ``[1, S, L]``.
    """

    tc_ms: np.ndarray
    w_bytes: np.ndarray
    act_bytes: np.ndarray
    a_off: np.ndarray
    tau_ms: np.ndarray
    bw: np.ndarray
    active: np.ndarray

    def serial_ms(self) -> np.ndarray:
        """``tau + t_c + (w + a_off) / B`` per active slot (the no-PB serialized latency)."""
        return np.where(
            self.active, self.tau_ms + self.tc_ms + (self.w_bytes + self.a_off) / self.bw, 0.0
        )


def slot_terms(
    layers: LayerTable, hw: Mapping[str, np.ndarray], stride2_full_res: bool = True
) -> SlotTerms:
    """The latency terms of every slot of ``layers`` on every hardware point of ``hw``."""
    bpw = np.asarray(hw["quant_bits"], dtype=np.float64)[:, None, None] / 8.0
    act_buf = np.asarray(hw["act_buf_mb"], dtype=np.float64)[:, None, None] * MB
    act = layers.act_elems.astype(np.float64)[None] * bpw
    return SlotTerms(
        tc_ms=compute_seconds(layers, hw, stride2_full_res) * 1e3,
        w_bytes=layers.params.astype(np.float64)[None] * bpw,
        act_bytes=act,
        a_off=np.where(act > act_buf, act, 0.0),
        tau_ms=np.asarray(hw["layer_overhead_us"], dtype=np.float64)[:, None, None] * 1e-3,
        bw=np.asarray(hw["dram_bw_gbps"], dtype=np.float64)[:, None, None] * 1e6,
        active=(layers.out_ch > 0)[None],
    )


def serial_layer_ms(
    layers: LayerTable, hw: Mapping[str, np.ndarray], stride2_full_res: bool = True
) -> np.ndarray:
    """Serialized latency of every slot with nothing cached ``[P, S, L]`` in ms."""
    return slot_terms(layers, hw, stride2_full_res).serial_ms()


def _with_empty(table_params: np.ndarray) -> np.ndarray:
    return np.concatenate([table_params, np.zeros((1, table_params.shape[1]))], axis=0)


@lru_cache(maxsize=32)
def _pool_overlaps(pool: SubNetPool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hardware-independent arrays of a pool, computed once: candidate parameters ``[G, L]``,
    SubNet-candidate overlaps ``[S, G, L]`` and candidate-candidate overlaps ``[G, G, L]``
    (exact nested overlaps in parameters), each with the empty candidate appended last."""
    cand = pool.subgraph_layers
    cand_params = _with_empty(cand.params.astype(np.float64))
    shared = shared_params(pool.layers, cand).astype(np.float64)
    shared = np.concatenate([shared, np.zeros((shared.shape[0], 1, shared.shape[2]))], axis=1)
    shared_gg = np.pad(shared_params(cand, cand).astype(np.float64), ((0, 1), (0, 1), (0, 0)))
    for arr in (cand_params, shared, shared_gg):
        arr.setflags(write=False)  # shared by every call: never modified in place
    return cand_params, shared, shared_gg


@lru_cache(maxsize=96)
def _pool_order(pool: SubNetPool, priority: str) -> np.ndarray:
    """Fill order of a pool's candidates ``[G, L]`` (the empty candidate last)."""
    order = fill_order(pool.subgraph_layers, priority)
    order = np.vstack([order, np.arange(order.shape[1])[None]])
    order.setflags(write=False)
    return order


def serving_tables(
    pool: SubNetPool,
    hw: Mapping[str, np.ndarray],
    stride2_full_res: bool = True,
    switching: np.ndarray | None = None,
) -> ServingTables:
    """Latency, traffic and energy tables for every hardware point of ``hw`` (columns ``[P]``).

    ``switching`` marks the points whose PB may change content (default: all); the others get
    only the switch costs from an empty PB (their one initial fill), which is much cheaper.
    """
    sub = pool.layers
    n_pts = len(np.asarray(hw["pe_k"]))
    bpw = np.asarray(hw["quant_bits"], dtype=np.float64) / 8.0  # bytes per weight/activation
    bw = np.asarray(hw["dram_bw_gbps"], dtype=np.float64) * 1e6  # bytes per ms
    tau_ms = np.asarray(hw["layer_overhead_us"], dtype=np.float64) * 1e-3
    cap = np.asarray(hw["pb_mb"], dtype=np.float64) * MB / bpw  # in parameters
    double = np.asarray(hw["overlap"]) == "double_buffer"
    prio = np.asarray(hw["fill_priority"])

    terms = slot_terms(sub, hw, stride2_full_res)  # [P, S, L] each
    w_bytes_sl, tc_ms, act_sl, a_off_sl = terms.w_bytes, terms.tc_ms, terms.act_bytes, terms.a_off
    active = (sub.out_ch > 0).sum(axis=1).astype(np.float64)  # [S]

    base_ms = terms.serial_ms().sum(axis=2)  # [P, S]
    weight_bytes = w_bytes_sl.sum(axis=2)
    fetch_share = weight_bytes / bw[:, None] / base_ms

    cand_params, shared, shared_gg = _pool_overlaps(pool)
    g1 = cand_params.shape[0]

    hits = np.zeros((n_pts, len(pool), g1))
    held_tot = np.zeros((n_pts, g1))
    switch = np.zeros((n_pts, g1, g1))
    lat = np.repeat(base_ms[:, :, None], g1, axis=2)
    for pr in np.unique(prio):
        pts = np.flatnonzero(prio == pr)
        order = _pool_order(pool, str(pr))
        f = fill(cand_params, order, cap[pts])
        hits[pts] = hit_sum(shared, f)
        held_tot[pts] = f.held_total()
        step = max(1, _CHUNK_ELEMS // (g1 * g1 * cand_params.shape[1]))
        for start in range(0, len(pts), step):
            blk = pts[start : start + step]
            sub_fill = fill(cand_params, order, cap[blk])
            held = sub_fill.held()
            moving = blk if switching is None else blk[switching[blk]]
            if len(moving):
                switch[moving] = switch_params(held[np.isin(blk, moving)], shared_gg)
            dbl = blk[double[blk]]
            if len(dbl):
                held_d = held[double[blk]]
                hit_l = hit_per_slot(shared, held_d) * bpw[dbl, None, None, None]
                fetch = (
                    w_bytes_sl[dbl][:, :, None, :] - hit_l + a_off_sl[dbl][:, :, None, :]
                ) / bw[dbl, None, None, None]
                per_layer = np.maximum(tc_ms[dbl][:, :, None, :], fetch)
                lat[dbl] = tau_ms[dbl, None, None] * active[None, :, None] + per_layer.sum(3)
    if switching is not None:  # from an empty PB: load everything the candidate holds
        fixed = ~switching
        switch[fixed, g1 - 1, :] = held_tot[fixed]
    hit_bytes = hits * bpw[:, None, None]
    serial = ~double
    lat[serial] = base_ms[serial][:, :, None] - hit_bytes[serial] / bw[serial, None, None]
    offchip = weight_bytes[:, :, None] - hit_bytes + a_off_sl.sum(axis=2)[:, :, None]
    return assemble_tables(hw, sub.macs, weight_bytes, act_sl.sum(axis=2), lat, offchip,
                           hit_bytes, switch, held_tot, bpw, bw, fetch_share)


def onchip_energy_mj(
    hw: Mapping[str, np.ndarray], weight_bytes: np.ndarray, act_bytes: np.ndarray,
    macs: np.ndarray,
) -> np.ndarray:
    """On-chip energy per query ``E_sram (weights + activations) + E_mac MACs`` (pJ -> mJ)
    ``[P, S]``."""
    e_sram = np.asarray(hw["e_sram_pj_per_byte"], dtype=np.float64)
    e_mac = np.asarray(hw["e_mac_pj"], dtype=np.float64)
    return (
        e_sram[:, None] * (weight_bytes + act_bytes) + e_mac[:, None] * macs.sum(axis=1)[None]
    ) * 1e-9


def assemble_tables(
    hw: Mapping[str, np.ndarray], macs: np.ndarray, weight_bytes: np.ndarray,
    act_bytes: np.ndarray, lat: np.ndarray, offchip: np.ndarray, hit_bytes: np.ndarray,
    switch: np.ndarray, held: np.ndarray, bpw: np.ndarray, bw: np.ndarray,
    fetch_share: np.ndarray,
) -> ServingTables:
    """The serving tables from their parts (:func:`onchip_energy_mj`); switch and held
    counts become bytes at ``bpw`` bytes per weight."""
    return ServingTables(
        lat_ms=lat,
        offchip_bytes=offchip,
        onchip_mj=onchip_energy_mj(hw, weight_bytes, act_bytes, macs),
        weight_bytes=weight_bytes,
        hit_bytes=hit_bytes,
        switch_bytes=switch * bpw[:, None, None],
        held_bytes=held * bpw[:, None],
        bw_bytes_per_ms=bw,
        e_dram_mj_per_byte=np.asarray(hw["e_dram_pj_per_byte"], dtype=np.float64) * 1e-9,
        fetch_share=fetch_share,
    )
