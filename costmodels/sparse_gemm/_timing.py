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

**Register blocking.** ``b_m`` A tiles and ``b_n`` B groups live in registers with ``b_m b_n``
C tiles accumulated over an innermost K loop: ``b_m + g_B b_n + b_m b_n <= tile_regs``. In
``auto`` mode each point takes, per ``g_B``, the feasible blocking with the smallest time per
instruction ``max(II, L / (b_m b_n), bytes_per_instr / load_bw)``.

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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from costmodels.sparse_gemm import _constants as k
from costmodels.sparse_gemm._constraints import live_tiles, nm_stored_n, unsupported_pattern
from costmodels.sparse_gemm._rowwise import expected_rowwise_n
from costmodels.sparse_gemm._workloads import Workload


__all__ = [
    "BOUNDS",
    "KIND_NAMES",
    "area_proxy",
    "best_blocking",
    "engine_latency",
    "layer_pattern",
    "time_layers",
]

BOUNDS = ("compute", "register_fill", "l2", "dram", "dependency")
# Instruction kind per (point, layer): dense TILE_GEMM, 2:4 TILE_SPMM_U, 1:4 TILE_SPMM_V,
# row-wise TILE_SPMM_R.
KIND_NAMES = ("TILE_GEMM", "TILE_SPMM_U", "TILE_SPMM_V", "TILE_SPMM_R")
_G_B_OF_KIND = np.asarray([1.0, 2.0, 4.0, 4.0])
_GIDX_OF_KIND = np.asarray([0, 1, 2, 2])  # which blocking table (g_B = 1, 2, 4) a kind uses
_G_B = np.asarray([1.0, 2.0, 4.0])
# Candidate register blockings (b_m, b_n), 1..8 each.
_CAND_BM, _CAND_BN = (
    a.reshape(-1).astype(np.float64)
    for a in np.meshgrid(np.arange(1, 9), np.arange(1, 9), indexing="ij")
)


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


def _a_tile_bytes(sparse_meta: np.ndarray | float) -> np.ndarray:
    return k.TILE_BYTES + np.asarray(sparse_meta) * k.META_BYTES


def best_blocking(
    tile_regs: np.ndarray, latency: np.ndarray, load_bw: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Best feasible ``(b_m, b_n)`` per point and per ``g_B`` in (1, 2, 4): arrays ``(P, 3)``."""
    bm = _CAND_BM[None, None, :]
    bn = _CAND_BN[None, None, :]
    g = _G_B[None, :, None]
    feasible = live_tiles(bm, bn, g) <= tile_regs[:, None, None]
    a_bytes = _a_tile_bytes(g > 1)
    per_instr_bytes = a_bytes / bn + g * k.TILE_BYTES / bm
    t = np.maximum(
        np.maximum(k.ISSUE_INTERVAL, latency[:, None, None] / (bm * bn)),
        per_instr_bytes / load_bw[:, None, None],
    )
    # Ties (several blockings at the issue-interval floor) go to the least register-fill traffic.
    score = np.where(feasible, t + 1e-6 * per_instr_bytes, np.inf)
    best = np.argmin(score, axis=-1)
    return _CAND_BM[best], _CAND_BN[best]


@dataclass(frozen=True)
class Pattern:
    """What the engine executes per (point, layer)."""

    kind: np.ndarray  # int index into KIND_NAMES, (P, L)
    n: np.ndarray  # stored values per group of 4 (E[N] for row-wise), (P, L)
    violation: np.ndarray  # (P,) > 0 when a requested pattern is not supported
    # (P,) equal for points whose kind and n rows are equal (the per-layer pattern of the
    # workload is one row shared by every per-layer point on an S engine).
    key: np.ndarray


# Stored N for a layer whose worst group of 4 holds 0..4 nonzeros (per-layer mode).
_PROMOTE = np.asarray([1.0, 1.0, 2.0, 4.0, 4.0])


def _kind_of_n(n: np.ndarray) -> np.ndarray:
    return np.where(n == 1.0, 2, np.where(n == 2.0, 1, 0))


def layer_pattern(
    cols: Mapping[str, np.ndarray], workload: Workload, *, promote: bool = False
) -> Pattern:
    """Instruction kind and stored N per (point, layer) from the sparsity inputs.

    D engines and RASA-SM run every layer dense (a sparse weight matrix is stored and used as
    dense). S engines run N:4 natively with N in {1, 2, 4}; 3:4 is stored as 4:4 (reference
    notes 2.1). Other group sizes are a pattern violation unless ``promote`` stores them as the
    smallest N:4 that holds them losslessly (n:m with m >= 8 holds at most min(n, 4) nonzeros per
    4; n:2 holds at most 2n). Row-wise mode uses TILE_SPMM_R with ``E[N]`` from the closed form.

    The arrays are ``(P, 1)`` when no point uses the per-layer mode (the pattern is then the
    same for every layer, which keeps the timing cheap), else ``(P, L)``.
    """
    sparse_hw = (cols["engine"] == "vegeta") & cols["sparse_capable"].astype(bool)
    mode = cols["sparsity"]
    nm_n = cols["nm_n"]
    nm_m = cols["nm_m"]
    n = nm_stored_n(nm_n, nm_m)
    violation = unsupported_pattern(
        cols["engine"], cols["sparse_capable"], mode, nm_n, nm_m, promote
    )
    rowwise = mode == "rowwise"
    if rowwise.any():
        rw_n = expected_rowwise_n(cols["density"][rowwise], cols["row_chunk"][rowwise])
        n[rowwise] = rw_n
    n = n[:, None]
    per_layer = (mode == "per_layer")[:, None]
    if per_layer.any():
        n = np.where(per_layer, _PROMOTE[workload.layer_n][None, :], n)
    n = np.where(sparse_hw[:, None], n, 4.0)
    kind = np.where((rowwise & sparse_hw)[:, None], 3, _kind_of_n(n))
    key = np.where(per_layer[:, 0] & sparse_hw, -1.0, kind[:, 0] * 10.0 + n[:, 0])
    return Pattern(kind=kind, n=n, violation=violation, key=key)


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


def _engine_cycles(
    t_m: np.ndarray,
    b_m: np.ndarray,
    t_n: np.ndarray,
    b_n: np.ndarray,
    t_k: np.ndarray,
    latency: np.ndarray,
) -> np.ndarray:
    """Engine-issue time of all register blocks: issue slots plus accumulation-chain waits.

    A block with ``c`` C tiles issues ``c`` instructions per K step; from the second step on,
    each chain waits ``L`` for its previous accumulation: ``c II + (T_k - 1) max(c II, L)``.
    Full blocks have ``b_m b_n`` chains, edge blocks fewer (``T_m mod b_m`` rows,
    ``T_n mod b_n`` columns). Blocks issue in program order.
    """
    full_m = np.floor(t_m / b_m)
    full_n = np.floor(t_n / b_n)
    rem_m = t_m - full_m * b_m
    rem_n = t_n - full_n * b_n
    total: np.ndarray = np.zeros(1)
    for count_m, c_m in ((full_m, b_m), (1.0, rem_m)):
        for count_n, c_n in ((full_n, b_n), (1.0, rem_n)):
            issue = c_m * c_n * k.ISSUE_INTERVAL
            block = issue + (t_k - 1.0) * np.maximum(issue, latency)
            total = total + np.where(issue > 0, count_m * count_n * block, 0.0)
    return np.asarray(total)


def _structure(
    workload: Workload,
    kind: np.ndarray,
    n: np.ndarray,
    bm: np.ndarray,
    bn: np.ndarray,
    row_chunk: np.ndarray,
    n_outer: np.ndarray,
    l2_bytes: np.ndarray,
    latency: np.ndarray,
) -> dict[str, np.ndarray]:
    """Counts, traffic and engine time per (row, layer): everything but the memory speeds.

    Row arrays are ``(U, 1)`` or ``(U, L)``; results are ``(U, L)`` (or ``(1, L)``).
    """
    g_b = _G_B_OF_KIND[kind]
    meta = (kind > 0).astype(np.float64)
    m_ = workload.m[None, :].astype(np.float64)
    n_ = workload.n[None, :].astype(np.float64)
    kk = workload.k[None, :].astype(np.float64)
    t_m = np.ceil(m_ / k.TILE_ROWS)
    t_n = np.ceil(n_ / k.N_TILE)
    k_i = k.ELEMS_PER_ROW * g_b
    t_k = np.ceil(kk / k_i)
    rowwise = kind == 3
    t_ma = np.where(rowwise, np.ceil(m_ * n / k.TILE_ROWS), t_m)
    nb_m = np.ceil(t_ma / bm)
    nb_n = np.ceil(t_n / bn)
    mk = t_ma * t_k  # A tiles of one pass over K
    # Row-wise tiles also carry a 2-bit N code per stored chunk: 512 / (E[N] L / 4) chunks.
    codes = np.where(rowwise, 2.0 * 512.0 / (n * row_chunk / 4.0) / 8.0, 0.0)
    a_bytes = k.TILE_BYTES + meta * (k.META_BYTES + codes)
    a_loads = mk * nb_n
    b_loads = t_n * t_k * nb_m
    stores = t_m * t_n
    weight_bytes = mk * a_bytes  # tile-ready compressed layout, padding included
    act_bytes = kk * n_ * k.VALUE_BYTES
    out_bytes = m_ * n_ * k.ACC_BYTES
    # BLIS-style: the inner loop's operand block stays in L1, the other is streamed from L2
    # once per outer block. For DRAM the kernel blocks the streamed operand for L2 (half of it,
    # the rest holds the other operand's panels): the streamed operand is read from DRAM once,
    # the other once per L2 block of it unless it fits in L2 as well.
    half_l2 = 0.5 * l2_bytes
    act_reads = np.where(n_outer & (act_bytes > half_l2), np.ceil(weight_bytes / half_l2), 1.0)
    weight_reads = np.where(~n_outer & (weight_bytes > half_l2), np.ceil(act_bytes / half_l2), 1.0)
    return {
        "instrs": mk * t_n,
        "tile_loads": a_loads + b_loads,
        "meta_loads": a_loads * meta,
        "stores": stores,
        "bytes_rf": a_loads * a_bytes + b_loads * (g_b * k.TILE_BYTES),
        "bytes_store": stores * k.TILE_BYTES,
        "bytes_l2": weight_bytes * np.where(n_outer, nb_n, 1.0)
        + act_bytes * np.where(n_outer, 1.0, nb_m)
        + out_bytes,
        "bytes_dram": weight_bytes * weight_reads + act_bytes * act_reads + out_bytes,
        "weight_bytes": weight_bytes,
        "engine_cycles": _engine_cycles(t_ma, bm, t_n, bn, t_k, latency),
        "useful_macs": (m_ * n_ * kk) * (n / k.GROUP),
        "padded": (m_ % k.TILE_ROWS > 0) | (n_ % k.N_TILE > 0) | (kk % k_i > 0),
    }


def time_layers(
    cols: Mapping[str, np.ndarray],
    workload: Workload,
    pattern: Pattern,
    *,
    writeback: float = k.WRITEBACK_CYCLES_FITTED,
    rasa: bool | None = None,
    detail: bool = True,
) -> dict[str, np.ndarray]:
    """Per-(point, layer) cycles, bound, traffic and counts.

    Counts and traffic depend on a point only through a few discrete choices (pattern, blocking,
    loop order, L2 size), so they are computed once per distinct combination and gathered; only
    the cycles need one pass over (point x layer).

    Args:
        cols: Point columns (``(P,)`` arrays of the model inputs).
        workload: The layers.
        pattern: From :func:`layer_pattern`.
        writeback: Write-back latency ``t_wb`` (the fitted constant by default).
        rasa: Force the RASA-SM engine (``True``) for the baseline; default reads ``engine``.
        detail: Also return per-(point, layer) counts, the binding bound, the blocking and the
            instruction kind.

    Returns:
        ``cycles`` ``(P, L)``; ``totals``: a dict of ``(P,)`` count-weighted sums over layers of
        ``instrs``, ``tile_loads``, ``meta_loads``, ``stores``, ``bytes_rf``, ``bytes_store``,
        ``bytes_l2``, ``bytes_dram``, ``weight_bytes``, ``useful_macs``, ``padded``, compute
        instructions per kind (``TILE_GEMM``, ...) and ``compute_bound_cycles``; ``(P,)``
        ``latency`` (L) and ``register_violation``; with ``detail`` the same counts per
        (point, layer) and ``bound`` (index into BOUNDS), ``b_m``, ``b_n``, ``kind``.
    """
    points = len(cols["engine"])
    is_rasa = (cols["engine"] == "rasa_sm") if rasa is None else np.full(points, rasa)
    alpha = np.where(is_rasa, 1.0, cols["alpha"].astype(np.float64))
    beta = np.where(is_rasa, 1.0, cols["beta"].astype(np.float64))
    lat = engine_latency(alpha, beta, writeback)
    load_bw = cols["load_ports"] * cols["load_port_bytes"].astype(np.float64)
    tile_regs = cols["tile_regs"].astype(np.float64)

    # The best blocking depends on (tile_regs, L, load bandwidth) only: solve once per distinct
    # combination (a few hundred at most), not once per point.
    b_first, b_inverse = dedupe_rows(tile_regs, lat, load_bw)
    auto_bm, auto_bn = best_blocking(tile_regs[b_first], lat[b_first], load_bw[b_first])

    # Counts, traffic and engine time depend on a point only through discrete choices: compute
    # them once per distinct (L, blocking solution, pattern, manual blocking, row chunk, loop
    # order, L2 size).
    manual = cols["blocking"] == "manual"
    rowwise = pattern.kind[:, 0] == 3
    n_outer = cols["loop_order"] == "nm"
    # Points share counts when their blocking *solutions* agree (b_m, b_n in 1..8 per g_B).
    solution = ((auto_bm - 1) * 8 + (auto_bn - 1)) @ (64.0 ** np.arange(3))
    first, inverse = dedupe_rows(
        lat,
        solution[b_inverse],
        pattern.key,
        np.where(manual, cols["b_m"], 0),
        np.where(manual, cols["b_n"], 0),
        np.where(rowwise, cols["row_chunk"], 1),
        n_outer,
        cols["l2_kib"],
    )
    kind = pattern.kind[first]
    gidx = _GIDX_OF_KIND[kind]
    auto = b_inverse[first]
    man = manual[first][:, None]
    bm = np.where(man, cols["b_m"][first][:, None], np.take_along_axis(auto_bm[auto], gidx, 1))
    bn = np.where(man, cols["b_n"][first][:, None], np.take_along_axis(auto_bn[auto], gidx, 1))
    live = live_tiles(bm, bn, _G_B_OF_KIND[kind]).max(axis=1)
    register_violation = live[inverse] - tile_regs
    st = _structure(
        workload,
        kind,
        pattern.n[first],
        bm,
        bn,
        np.where(kind == 3, cols["row_chunk"][first][:, None], 1),
        n_outer[first][:, None],
        cols["l2_kib"][first][:, None] * 1024.0,
        lat[first][:, None],
    )
    st = {name: np.broadcast_to(v, (len(first), len(workload))) for name, v in st.items()}

    count = workload.count.astype(np.float64)
    totals = {name: (v.astype(np.float64) @ count)[inverse] for name, v in st.items()}
    kinds = np.broadcast_to(kind, st["instrs"].shape)
    for q, op in enumerate(KIND_NAMES):
        totals[op] = (np.where(kinds == q, st["instrs"], 0.0) @ count)[inverse]

    lat2 = lat[:, None]
    dram_bpc = (cols["dram_gbps"] / cols["clock_ghz"])[:, None]
    store_t = st["bytes_store"][inverse] / k.STORE_BYTES_PER_CYCLE
    bounds = (
        st["instrs"][inverse] * k.ISSUE_INTERVAL,
        np.maximum(st["bytes_rf"][inverse] / load_bw[:, None], store_t, out=store_t),
        st["bytes_l2"][inverse] / cols["l2_bytes_per_cycle"][:, None],
        st["bytes_dram"][inverse] / dram_bpc,
        st["engine_cycles"][inverse],
    )
    worst = np.maximum(bounds[0], bounds[1])
    for b in bounds[2:]:
        np.maximum(worst, b, out=worst)
    compute_bound = worst == bounds[0]
    worst += lat2
    totals["compute_bound_cycles"] = np.where(compute_bound, worst, 0.0) @ count
    out: dict[str, Any] = {
        "cycles": worst,
        "totals": totals,
        "latency": lat,
        "register_violation": register_violation,
    }
    if detail:
        shape = worst.shape
        out.update({name: v[inverse] for name, v in st.items()})
        out["bound"] = np.argmax(np.stack(np.broadcast_arrays(*bounds)), axis=0)
        out["b_m"] = np.broadcast_to(bm[inverse], shape)
        out["b_n"] = np.broadcast_to(bn[inverse], shape)
        out["kind"] = np.broadcast_to(kind[inverse], shape)
    return out
