"""Analytical timing, traffic, energy and area of VEGETA-like engines, vectorized.

Every quantity broadcasts over ``(design point, layer)``: point columns have shape ``(P, 1)``,
layer columns ``(1, L)``. Notation as in the reference notes, section 5: ``C[M x N] += A[M x K]
B[K x N]``, ``A`` sparse with ``n`` stored values per group of 4.

**Engines.** VEGETA-{D,S}-alpha-beta is a weight-stationary array of 512 MACs: ``32/beta`` PE
rows (reduction) by ``16/alpha`` PE columns; ``alpha`` PUs per PE share one broadcast B input,
``beta`` MACs per PU feed a small adder tree [code: SparseAccelerator-RTL; naming unverified].
RASA-SM is the single-MAC-per-PE array (32 x 16 PEs, the fork's "SM" preset, read as alpha =
beta = 1) without sparse support [derived]. Per compute instruction::

    II = 16                                          (one B column per cycle, double-buffered A)
    L  = 16 + 32/beta + (16/alpha - 1) + log2(beta) + t_wb
         stream   reduction  eastbound skew  adder tree  write-back (t_wb FITTED)

**Instructions.** ``g_B = 4/n`` tregs of B per instruction (treg / ureg / vreg), effective
``K_i = 32 g_B``; ``T_m = ceil(M/16)``, ``T_n = ceil(N/16)``, ``T_k = ceil(K/K_i)``, compute
instructions ``I_c = T_mA T_n T_k`` where ``T_mA = T_m`` for layer-wise N:M and
``ceil(M E[N] / 16)`` for row-wise N:M (TILE_SPMM_R with rows packed by their N [derived]).

**Encoding.** Each layer runs on the fastest *lossless* encoding the engine supports: its
pattern's own instruction or any denser one (1:4 as 2:4 or dense, 2:4 and row-wise as dense;
a pattern the engine cannot run is stored dense, no speed-up). Ties go to the sparser.

**Register blocking.** ``b_m`` A tiles and ``b_n`` B groups live in registers with ``b_m b_n``
C tiles accumulated over an innermost K loop: ``b_m + g_B b_n + b_m b_n <= tile_regs``. In
``auto`` mode each (encoding, layer) takes the feasible blocking with the smallest layer time,
L2 re-streaming and the layer's edge blocks included (:mod:`._blocking`).

**Bounds** (core cycles; loads overlap compute as an out-of-order core allows)::

    T_comp = I_c II
    T_rf   = max(bytes_rf / (load_ports * load_port_bytes), bytes_store / 64)
    T_l2   = bytes_l2 / l2_bytes_per_cycle,   T_dram = bytes_dram / (dram_GBps / clock_GHz)
    T_dep  = sum_blocks c_b II + (T_k - 1) max(c_b II, L)    (c_b C chains per block)
    T      = max(T_comp, T_rf, T_l2, T_dram, T_dep) + L

with ``bytes_rf = L_A (1024 + 128 [sparse]) + L_B 1024 g_B``, ``L_A = T_mA T_k ceil(T_n/b_n)``,
``L_B = T_n T_k ceil(T_mA/b_m)``. L2 traffic follows the loop order (the inner loop's operand
block stays in L1, the other is re-streamed from L2 once per outer block); DRAM traffic is
compulsory plus re-reads of one operand per L2 block of the other (L2 blocking).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from costmodels.sparse_gemm import _constants as k
from costmodels.sparse_gemm._blocking import (
    G_B_OF_KIND,
    SearchRows,
    blocking_search,
    layer_structure,
)
from costmodels.sparse_gemm._constraints import live_tiles, nm_stored_n, unsupported_pattern
from costmodels.sparse_gemm._rowwise import expected_rowwise_n
from costmodels.sparse_gemm._workloads import Workload


__all__ = [
    "BOUNDS",
    "ENCODING_NAMES",
    "KIND_NAMES",
    "area_proxy",
    "engine_latency",
    "layer_pattern",
    "time_layers",
]

BOUNDS = ("compute", "register_fill", "l2", "dram", "dependency")
# Instruction kind per (point, layer): dense TILE_GEMM, 2:4 TILE_SPMM_U, 1:4 TILE_SPMM_V,
# row-wise TILE_SPMM_R.
KIND_NAMES = ("TILE_GEMM", "TILE_SPMM_U", "TILE_SPMM_V", "TILE_SPMM_R")
# The same index names the encoding a layer runs on (ENCODING_NAMES) and its stored N per 4.
ENCODING_NAMES = ("dense", "2:4", "1:4", "rowwise")
_N_OF_KIND = np.asarray([4.0, 2.0, 1.0, np.nan])
# Encodings tried per layer, sparsest first so that ties go to the sparser one (less traffic
# and energy at the same time).
_SLOT_ORDER = np.asarray([3, 2, 1, 0])


def engine_latency(alpha: np.ndarray, beta: np.ndarray, writeback: float) -> np.ndarray:
    """Result latency ``L`` of one tile instruction (cycles), see the module docstring."""
    return (
        k.N_TILE + k.ELEMS_PER_ROW / beta + (k.TILE_ROWS / alpha - 1.0) + np.log2(beta) + writeback
    )


def area_proxy(alpha: np.ndarray, beta: np.ndarray, sparse: np.ndarray) -> np.ndarray:
    """Engine area in units of one bf16 MAC, from documented component counts.

    Components: 512 MACs; 2 x 512 16-bit stationary registers (double buffer); one latched B
    input per PE, ``beta`` values wide (4x wider on S engines, where each MAC sees a block of 4
    B values); ``512 / beta`` 32-bit partial-sum registers (one per PU); on S engines a 4:1 x
    16-bit mux and 2 x 2-bit metadata registers per MAC; broadcast buffering of ``alpha - 1``
    extra sinks per B lane.
    """
    pes = (k.ELEMS_PER_ROW / beta) * (k.TILE_ROWS / alpha)
    width = np.where(sparse, float(k.GROUP), 1.0)
    b_lanes = pes * beta * width
    return (
        k.MACS * k.A_MAC
        + 2 * k.MACS * k.A_REG16
        + b_lanes * k.A_REG16
        + (k.MACS / beta) * k.A_REG32
        + np.where(sparse, k.MACS * (k.A_MUX4_16 + 2 * k.A_META_BIT2), 0.0)
        + b_lanes * (alpha - 1.0) * k.A_FANOUT_PER_SINK16
    )


RASA_SM_AREA = float(area_proxy(np.asarray(1.0), np.asarray(1.0), np.asarray(False)))


@dataclass(frozen=True)
class Pattern:
    """The sparsest encoding each (point, layer) allows: its instruction kind and stored N.

    Points in per-layer mode on an S engine (``layered``) take the workload's per-layer
    pattern (``layer_kind``, ``layer_n``); every other point has one pattern for all layers.
    """

    kind: np.ndarray  # (P,) int index into KIND_NAMES
    n: np.ndarray  # (P,) stored values per group of 4 (E[N] for row-wise)
    violation: np.ndarray  # (P,) > 0 when a requested pattern is not supported
    # (P,) equal for points whose per-layer patterns are equal.
    key: np.ndarray
    layered: np.ndarray  # (P,) bool
    layer_kind: np.ndarray  # (L,)
    layer_n: np.ndarray  # (L,)

    @classmethod
    def dense(cls, points: int, layers: int) -> Pattern:
        """Every layer of every point dense (the RASA-SM baseline)."""
        zeros = np.zeros(points)
        return cls(
            np.zeros(points, np.int64), np.full(points, 4.0), zeros, zeros,
            np.zeros(points, bool), np.zeros(layers, np.int64), np.full(layers, 4.0),
        )

    def kinds(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), L)`` instruction kinds of the given points."""
        return np.where(self.layered[rows, None], self.layer_kind[None, :], self.kind[rows, None])

    def ns(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), L)`` stored N of the given points."""
        return np.where(self.layered[rows, None], self.layer_n[None, :], self.n[rows, None])


# Stored N for a layer whose worst group of 4 holds 0..4 nonzeros (per-layer mode).
_PROMOTE = np.asarray([1.0, 1.0, 2.0, 4.0, 4.0])
# Instruction kind of a stored N of 1..4 (index int(N); 3 does not occur outside row-wise).
_KIND_OF_INT_N = np.asarray([0, 2, 1, 0, 0])


def layer_pattern(
    cols: Mapping[str, np.ndarray],
    workload: Workload,
    *,
    promote: bool = False,
    rowwise_n: Callable[[np.ndarray, np.ndarray], np.ndarray] = expected_rowwise_n,
) -> Pattern:
    """The sparsest instruction kind and stored N each (point, layer) allows.

    D engines and RASA-SM run every layer dense (a sparse weight matrix is stored and used as
    dense). S engines run N:4 natively with N in {1, 2, 4}; 3:4 is stored as 4:4 (reference
    notes 2.1). Other group sizes are a pattern violation, stored dense (no speed-up), unless
    ``promote`` stores them as the smallest N:4 that holds them losslessly (n:m with m >= 8
    holds at most min(n, 4) nonzeros per 4; n:2 holds at most 2n). Row-wise mode uses
    TILE_SPMM_R with ``E[N] = rowwise_n(density, row_chunk)``: the i.i.d. closed form by
    default, or measured on weight matrices (``_rowwise_measured.RowwiseProfile.expected_n``).
    The timing may still run a layer on a denser encoding when that is faster
    (:func:`time_layers`).
    """
    sparse_hw = (cols["engine"] == "vegeta") & cols["sparse_capable"].astype(bool)
    mode = cols["sparsity"]
    nm_n = cols["nm_n"]
    nm_m = cols["nm_m"]
    n = nm_stored_n(nm_n, nm_m)
    violation = unsupported_pattern(
        cols["engine"], cols["sparse_capable"], mode, nm_n, nm_m, promote
    )
    # A pattern the engine cannot run natively is stored dense: no speed-up (and flagged).
    n = np.where(violation > 0, 4.0, n)
    rowwise = mode == "rowwise"
    if rowwise.any():
        n[rowwise] = rowwise_n(cols["density"][rowwise], cols["row_chunk"][rowwise])
    n = np.where(sparse_hw, n, 4.0)
    kind = np.where(rowwise & sparse_hw, 3, _KIND_OF_INT_N[n.astype(np.int64)])
    layered = (mode == "per_layer") & sparse_hw
    layer_n = _PROMOTE[workload.layer_n]
    key = np.where(layered, -1.0, kind * 10.0 + n)
    return Pattern(
        kind=kind, n=n, violation=violation, key=key, layered=layered,
        layer_kind=_KIND_OF_INT_N[layer_n.astype(np.int64)], layer_n=layer_n,
    )


_HASH_WEIGHTS = np.random.default_rng(20230217).uniform(0.5, 1.5, 64)


def dedupe_rows(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the distinct rows of numeric columns, and each row's distinct-row index.

    Rows are hashed by a fixed random projection (one sort instead of one per column), then
    checked exactly; should two different rows ever share a hash, an exact radix key is used.
    """
    cols = [np.asarray(c, dtype=np.float64).reshape(-1) for c in columns]
    weights = _HASH_WEIGHTS[: len(cols)]
    projection = sum((w * c for w, c in zip(weights, cols, strict=True)), np.zeros(len(cols[0])))
    _, first, inverse = np.unique(projection, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if all(np.array_equal(c[first][inverse], c) for c in cols):
        return first, inverse
    key = np.zeros(len(cols[0]), dtype=np.int64)
    for col in cols:
        values, codes = np.unique(col, return_inverse=True)
        key = key * len(values) + codes.reshape(-1)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)




def time_layers(
    cols: Mapping[str, np.ndarray],
    workload: Workload,
    pattern: Pattern,
    *,
    writeback: float = k.WRITEBACK_CYCLES_FITTED,
    rasa: bool | None = None,
    detail: bool = True,
) -> dict[str, Any]:
    """Per-(point, layer) cycles on the fastest lossless encoding, bound, traffic and counts.

    Each layer may run on its own pattern's instruction or on any denser one that holds it
    losslessly (1:4 as 2:4 or dense, 2:4 and row-wise as dense); each encoding gets its best
    register blocking (:func:`_blocking.blocking_search`) and the layer takes the fastest,
    ties to the sparser. Work is shared twice: counts, traffic and blockings are computed once
    per distinct (engine latency, core, loop order, encoding, L2 size, manual blocking) row;
    the per-layer choice once per distinct (set of such rows, DRAM speed, pattern). Per point
    only the results are gathered.

    Args:
        cols: Point columns (``(P,)`` arrays of the model inputs).
        workload: The layers.
        pattern: From :func:`layer_pattern` (the sparsest encoding each layer allows).
        writeback: Write-back latency ``t_wb``.
        rasa: Force the RASA-SM engine (``True``) for the baseline; default reads ``engine``.
        detail: Also return ``(P, L)`` arrays: ``cycles``, the counts, ``bound`` (index into
            BOUNDS), ``b_m``, ``b_n``, ``kind`` (index into KIND_NAMES) and ``n_run``.

    Returns:
        ``totals``: ``(P,)`` count-weighted sums over layers of the counts and traffic
        (``instrs``, ``tile_loads``, ``meta_loads``, ``stores``, ``bytes_rf``, ``bytes_store``,
        ``bytes_l2``, ``bytes_dram``, ``weight_bytes``, ``useful_macs``, ``padded``), of
        ``cycles`` and ``log_cycles``, compute instructions per kind (``TILE_GEMM``, ...),
        ``compute_bound_cycles`` and ``denser_layers`` (layers run on a denser encoding than
        their pattern allows); ``latency`` (L) and ``register_violation`` ``(P,)``.
    """
    points = len(cols["engine"])
    layers = len(workload)
    is_rasa = (cols["engine"] == "rasa_sm") if rasa is None else np.full(points, rasa)
    alpha = np.where(is_rasa, 1.0, cols["alpha"].astype(np.float64))
    beta = np.where(is_rasa, 1.0, cols["beta"].astype(np.float64))
    lat = engine_latency(alpha, beta, writeback)
    load_bw = cols["load_ports"] * cols["load_port_bytes"].astype(np.float64)
    tile_regs = cols["tile_regs"].astype(np.float64)
    l2_bpc = cols["l2_bytes_per_cycle"].astype(np.float64)
    n_outer = cols["loop_order"] == "nm"
    manual = cols["blocking"] == "manual"
    bm_man = np.where(manual, cols["b_m"], 0).astype(np.float64)
    bn_man = np.where(manual, cols["b_n"], 0).astype(np.float64)
    l2_kib = cols["l2_kib"].astype(np.float64)
    dram_bpc = (cols["dram_gbps"] / cols["clock_ghz"]).astype(np.float64)

    # -- level 1: one row per distinct (point inputs that shape counts, encoding) ------------
    def may_use(kinds: np.ndarray) -> np.ndarray:
        """Which encodings (dense, 2:4, 1:4, row-wise) some layer of this pattern may use."""
        return np.stack(
            [np.ones_like(kinds, dtype=bool), (kinds == 1) | (kinds == 2), kinds == 2,
             kinds == 3],
            axis=-1,
        )

    has = np.where(
        pattern.layered[:, None], may_use(pattern.layer_kind).any(axis=0), may_use(pattern.kind)
    )
    slot_n = np.where(np.arange(4) == 3, pattern.n[:, None], _N_OF_KIND)
    slot_chunk = np.where(np.arange(4) == 3, cols["row_chunk"][:, None], 1).astype(np.float64)
    pp, ss = np.nonzero(has)
    first1, inv1 = dedupe_rows(
        lat[pp], load_bw[pp], l2_bpc[pp], tile_regs[pp], n_outer[pp], ss, slot_n[pp, ss],
        slot_chunk[pp, ss], bm_man[pp], bn_man[pp], l2_kib[pp],
    )
    row_of_slot = np.full((points, 4), -1, dtype=np.int64)
    row_of_slot[pp, ss] = inv1
    rp, rk = pp[first1], ss[first1]
    rows = len(first1)
    kind_r = rk[:, None]
    n_r = slot_n[rp, rk][:, None]
    chunk_r = slot_chunk[rp, rk][:, None]
    outer_r = n_outer[rp][:, None]
    lat_r = lat[rp][:, None]
    dims = (
        workload.m[None, :].astype(np.float64),
        workload.n[None, :].astype(np.float64),
        workload.k[None, :].astype(np.float64),
    )
    bm = np.broadcast_to(bm_man[rp][:, None], (rows, layers)).copy()
    bn = np.broadcast_to(bn_man[rp][:, None], (rows, layers)).copy()
    auto = bm_man[rp] == 0
    if auto.any():
        sel = np.nonzero(auto)[0]
        search = SearchRows(
            kind_r, n_r, chunk_r, outer_r, lat_r, load_bw[rp][:, None], l2_bpc[rp][:, None]
        )
        bm[sel], bn[sel] = blocking_search(dims, search.take(sel), tile_regs[rp][sel, None])
    st = layer_structure(
        dims, kind_r, n_r, chunk_r, outer_r, l2_kib[rp][:, None] * 1024.0, lat_r, bm, bn
    )
    st = {name: np.broadcast_to(v, (rows, layers)) for name, v in st.items()}
    comp = st["instrs"] * k.ISSUE_INTERVAL
    rf = np.maximum(
        st["bytes_rf"] / load_bw[rp][:, None], st["bytes_store"] / k.STORE_BYTES_PER_CYCLE
    )
    l2 = st["bytes_l2"] / l2_bpc[rp][:, None]
    dep = st["engine_cycles"]
    no_dram = np.maximum(np.maximum(comp, rf), np.maximum(l2, dep))
    # A manual blocking that overflows the registers rules out a sparse encoding; dense is
    # always kept (and the point flagged by register_violation when even it overflows).
    runnable = (st["live_tiles"] <= tile_regs[rp][:, None]) | (kind_r == 0)

    st["comp"], st["rf"], st["l2"] = comp, rf, l2
    for q, op in enumerate(KIND_NAMES):
        st[op] = np.where(kind_r == q, st["instrs"], 0.0)
    summed = np.stack([st[name] for name in _SUMMED], axis=1)
    level1 = _Rows(st, summed, no_dram, runnable, rk, bm, bn, n_r[:, 0])

    # -- level 2: the per-layer choice, once per distinct (rows, DRAM speed, pattern) --------
    first2, inv2 = dedupe_rows(*row_of_slot.T, dram_bpc, pattern.key)
    count = workload.count.astype(np.float64)
    step = max(1, _CHOICE_ELEMENTS // layers)
    parts = [
        _choose(
            level1, row_of_slot[idx], pattern.kinds(idx), dram_bpc[idx], lat[idx], count, detail
        )
        for idx in (first2[lo : lo + step] for lo in range(0, len(first2), step))
    ]
    totals2 = {name: np.concatenate([p[0][name] for p in parts]) for name in parts[0][0]}
    level2 = {name: np.concatenate([p[1][name] for p in parts]) for name in parts[0][1]}
    live2 = totals2.pop("live_tiles")

    # Manual blockings are checked against the pattern's own encoding (what the space asks).
    g_native = np.where(
        pattern.layered, G_B_OF_KIND[pattern.layer_kind].max(), G_B_OF_KIND[pattern.kind]
    )
    register_violation = np.where(
        manual, live_tiles(bm_man, bn_man, g_native), live2[inv2]
    ) - tile_regs
    out: dict[str, Any] = {
        "totals": {name: v[inv2] for name, v in totals2.items()},
        "latency": lat,
        "register_violation": register_violation,
    }
    if detail:
        out.update({name: v[inv2] for name, v in level2.items()})
    return out


# Level-2 rows x layers per choice chunk (keeps the (rows, 4, layers) arrays in cache).
_CHOICE_ELEMENTS = 1 << 15
_SUMMED = (
    "instrs", "tile_loads", "meta_loads", "stores", "bytes_rf", "bytes_store", "bytes_l2",
    "bytes_dram", "weight_bytes", "useful_macs", "padded", *KIND_NAMES,
)
_TOTALS = (*_SUMMED, "compute_bound_cycles", "cycles", "log_cycles", "denser_layers")


@dataclass(frozen=True)
class _Rows:
    """Level-1 results: per (row, layer) counts and bounds of one encoding and blocking."""

    st: dict[str, np.ndarray]
    summed: np.ndarray  # (R, Q, L) the _SUMMED quantities, stacked for row gathers
    no_dram: np.ndarray  # max of every bound but DRAM
    runnable: np.ndarray  # the blocking fits the registers (or the encoding is dense)
    kind: np.ndarray  # (R,)
    bm: np.ndarray
    bn: np.ndarray
    n: np.ndarray  # (R,) the encoding's stored N


def _choose(
    rows: _Rows,
    slots: np.ndarray,
    want: np.ndarray,
    dram_bpc: np.ndarray,
    lat: np.ndarray,
    count: np.ndarray,
    detail: bool,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The fastest allowed encoding per layer for some level-2 rows, and their sums.

    Args:
        rows: Level-1 results.
        slots: ``(V, 4)`` level-1 row of each encoding (dense, 2:4, 1:4, row-wise), -1: none.
        want: ``(V, L)`` the sparsest kind each layer allows.
        dram_bpc, lat: ``(V,)`` DRAM bytes per cycle and engine latency.
        count: ``(L,)`` layer multiplicities.
        detail: Also return ``(V, L)`` per-layer arrays.

    Returns:
        ``(V,)`` count-weighted sums (and ``live_tiles``, the most over layers), and with
        ``detail`` the ``(V, L)`` per-layer arrays (else an empty dict).
    """
    cand = slots[:, _SLOT_ORDER]  # sparsest encoding first
    safe = np.maximum(cand, 0)
    layers = want.shape[1]
    allowed = np.stack([want == 3, want == 2, (want == 1) | (want == 2)], axis=1)
    allowed &= (cand[:, :3] >= 0)[:, :, None] & rows.runnable[safe[:, :3]]
    dram = rows.st["bytes_dram"][safe] / dram_bpc[:, None, None]
    t = np.maximum(rows.no_dram[safe], dram)
    t[:, :3] = np.where(allowed, t[:, :3], np.inf)  # dense (last) is always allowed
    pick = np.argmin(t, axis=1)
    row2 = np.take_along_axis(safe, pick, axis=1)  # (V, L) level-1 row each layer runs on
    lidx = np.arange(layers)[None, :]
    work = np.take_along_axis(t, pick[:, None, :], axis=1)[:, 0]
    cycles = work + lat[:, None]
    # Count-weighted sums: per encoding slot, gather whole rows (contiguous) and weight the
    # layers that run on that slot.
    sums = np.zeros((len(cand), len(_SUMMED)))
    for j in range(4):
        weight = np.where(pick == j, count, 0.0)
        used = weight.any(axis=1)
        if used.any():
            sums[used] += np.einsum("vql,vl->vq", rows.summed[safe[used, j]], weight[used])
    out = dict(zip(_SUMMED, sums.T, strict=True))
    comp = rows.st["comp"][row2, lidx]
    out["compute_bound_cycles"] = np.where(work <= comp, cycles, 0.0) @ count
    out["cycles"] = cycles @ count
    out["log_cycles"] = np.log(cycles) @ count
    # The sparsest allowed encoding is the first allowed slot (dense when none is).
    sparsest = np.where(allowed.any(axis=1), np.argmax(allowed, axis=1), 3)
    out["denser_layers"] = (pick != sparsest) @ count
    out["live_tiles"] = rows.st["live_tiles"][row2, lidx].max(axis=1)
    per: dict[str, np.ndarray] = {}
    if detail:
        per = {name: rows.st[name][row2, lidx] for name in (*_SUMMED[:11], "engine_cycles")}
        bounds = np.stack(
            [comp, rows.st["rf"][row2, lidx], rows.st["l2"][row2, lidx],
             np.take_along_axis(dram, pick[:, None, :], axis=1)[:, 0],
             rows.st["engine_cycles"][row2, lidx]]
        )
        per["cycles"] = cycles
        per["bound"] = np.argmax(bounds, axis=0)
        per["b_m"] = rows.bm[row2, lidx]
        per["b_n"] = rows.bn[row2, lidx]
        per["kind"] = rows.kind[row2]
        per["n_run"] = rows.n[row2]
    return out, per
