"""Counts, traffic and engine time of one encoding of a layer, and the register blocking.

Everything broadcasts: the caller shapes the layer dimensions and the per-row inputs so that
``(row, layer)`` or ``(row, layer, candidate blocking)`` arrays come out. Notation as in
:mod:`costmodels.sparse_gemm._timing`.

**Register blocking** (``auto``). For each encoding of each layer the kernel takes, among the
blockings ``(b_m, b_n)`` in ``1..8 x 1..8`` that fit the tile registers
(``b_m + g_B b_n + b_m b_n <= tile_regs``), the one with the smallest layer time *without*
the DRAM term::

    T(b_m, b_n) = max(T_comp, T_rf(b_m, b_n), T_store, T_l2(b_m, b_n), T_dep(b_m, b_n))

so the choice sees the layer's shape (edge blocks of ``T_m mod b_m`` rows and ``T_n mod b_n``
columns have fewer accumulation chains and re-load fewer operands) and the L2 re-streaming of
the operand the loop order streams (``T_l2`` grows with the number of blocks of the other
operand). DRAM traffic does not depend on the register blocking (it is compulsory traffic plus
L2-blocking re-reads), so leaving it out of the choice does not change the best blocking:
``max(a, D)`` is smallest where ``a`` is. Ties (blockings within ``1e-9`` of the best, e.g.
several at the compute floor) go to the least register-fill plus L2 traffic. A larger register
file only adds candidates, so more tile registers are never slower.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from costmodels.sparse_gemm import _constants as k
from costmodels.sparse_gemm._constraints import live_tiles


__all__ = ["CANDIDATES", "SearchRows", "blocking_search", "engine_cycles", "layer_structure"]

# Tregs per B group of each instruction kind: TILE_GEMM, TILE_SPMM_U, TILE_SPMM_V, TILE_SPMM_R.
G_B_OF_KIND = np.asarray([1.0, 2.0, 4.0, 4.0])
# Candidate register blockings (b_m, b_n), 1..8 each: shape (2, 64).
CANDIDATES = np.stack(
    [a.reshape(-1) for a in np.meshgrid(np.arange(1, 9), np.arange(1, 9), indexing="ij")]
).astype(np.float64)
# Row-arrays x layers x candidates elements per search chunk (~16 MB per float64 array).
_SEARCH_ELEMENTS = 1 << 21


def engine_cycles(
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


def _tiles(
    dims: tuple[np.ndarray, np.ndarray, np.ndarray], kind: np.ndarray, n: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(T_mA, T_m, T_n, T_k)``: A tile rows (packed rows for row-wise), C tiles, K steps."""
    m_, n_, kk = dims
    t_m = np.ceil(m_ / k.TILE_ROWS)
    t_n = np.ceil(n_ / k.N_TILE)
    t_k = np.ceil(kk / (k.ELEMS_PER_ROW * G_B_OF_KIND[kind]))
    t_ma = np.where(kind == 3, np.ceil(m_ * n / k.TILE_ROWS), t_m)
    return t_ma, t_m, t_n, t_k


def _a_tile_bytes(kind: np.ndarray, n: np.ndarray, row_chunk: np.ndarray) -> np.ndarray:
    """Bytes of one A tile: values, 128 B metadata when sparse, N codes when row-wise.

    Row-wise tiles carry a 2-bit N code per stored chunk: ``512 / (E[N] L / 4)`` chunks.
    """
    codes = np.where(kind == 3, 2.0 * 512.0 / (n * row_chunk / 4.0) / 8.0, 0.0)
    return k.TILE_BYTES + (kind > 0) * (k.META_BYTES + codes)


def _operand_bytes(
    dims: tuple[np.ndarray, np.ndarray, np.ndarray], t_ma: np.ndarray, t_k: np.ndarray,
    a_bytes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored weights (tile-ready compressed layout, padding included), activations, outputs."""
    m_, n_, kk = dims
    return t_ma * t_k * a_bytes, kk * n_ * k.VALUE_BYTES, m_ * n_ * k.ACC_BYTES


class SearchRows(NamedTuple):
    """Per-row inputs of the blocking search, each ``(R, 1)``."""

    kind: np.ndarray
    n: np.ndarray
    row_chunk: np.ndarray
    n_outer: np.ndarray
    latency: np.ndarray
    load_bw: np.ndarray
    l2_bpc: np.ndarray

    def take(self, idx: np.ndarray) -> SearchRows:
        return SearchRows(*(x[idx] for x in self))


def blocking_search(
    dims: tuple[np.ndarray, np.ndarray, np.ndarray], rows: SearchRows, tile_regs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Best feasible ``(b_m, b_n)`` per (row, layer), see the module docstring.

    Args:
        dims: Layer ``M, N, K``, each ``(1, L)``.
        rows: The rows' encodings and core.
        tile_regs: ``(R, 1)`` tile registers per row.

    Returns:
        ``b_m, b_n``, each ``(R, L)``.
    """
    count, layers = len(rows.kind), dims[0].shape[-1]
    bm_all = np.empty((count, layers))
    bn_all = np.empty((count, layers))
    # Rows sharing (tile registers, B tregs) share one candidate list: only the blockings that
    # fit (2 of 64 for a vreg B in 8 registers, about 35 for a treg in 32).
    g_b = G_B_OF_KIND[rows.kind]
    groups, group_of = np.unique(
        np.concatenate([tile_regs, g_b], axis=1), axis=0, return_inverse=True
    )
    group_of = group_of.reshape(-1)
    for gi, (regs, g) in enumerate(groups):
        fits = live_tiles(CANDIDATES[0], CANDIDATES[1], g) <= regs
        cand = CANDIDATES[:, fits]
        members = np.nonzero(group_of == gi)[0]
        step = max(1, _SEARCH_ELEMENTS // (layers * cand.shape[1]))
        for lo in range(0, len(members), step):
            idx = members[lo : lo + step]
            bm_all[idx], bn_all[idx] = _search_chunk(dims, cand, rows.take(idx))
    return bm_all, bn_all


def _search_chunk(
    dims: tuple[np.ndarray, np.ndarray, np.ndarray], cand: np.ndarray, rows: SearchRows
) -> tuple[np.ndarray, np.ndarray]:
    """The search for rows that share one list of feasible candidates ``cand`` (2, C)."""
    kind, n, row_chunk, n_outer, latency, load_bw, l2_bpc = rows
    g_b = G_B_OF_KIND[kind]
    cand_m, cand_n = cand
    bm = cand_m[None, None, :]
    bn = cand_n[None, None, :]
    # Row inputs to (R, 1, 1), layer dimensions to (1, L, 1).
    kind3, n3, chunk3, outer3, lat3, bw3, l2bw3 = (
        x[:, :, None] for x in (kind, n, row_chunk, n_outer, latency, load_bw, l2_bpc)
    )
    dims3 = tuple(d[:, :, None] for d in dims)
    t_ma, t_m, t_n, t_k = _tiles(dims3, kind3, n3)  # type: ignore[arg-type]
    a_bytes = _a_tile_bytes(kind3, n3, chunk3)
    weight_bytes, act_bytes, out_bytes = _operand_bytes(dims3, t_ma, t_k, a_bytes)  # type: ignore[arg-type]
    nb_m = np.ceil(t_ma / bm)
    nb_n = np.ceil(t_n / bn)
    rf_bytes = t_ma * t_k * nb_n * a_bytes + t_n * t_k * nb_m * (g_b[:, :, None] * k.TILE_BYTES)
    l2_bytes = (
        weight_bytes * np.where(outer3, nb_n, 1.0)
        + act_bytes * np.where(outer3, 1.0, nb_m)
        + out_bytes
    )
    fixed = np.maximum(t_ma * t_n * t_k * k.ISSUE_INTERVAL, t_m * t_n * k.TILE_BYTES
                       / k.STORE_BYTES_PER_CYCLE)
    time = np.maximum(rf_bytes / bw3, l2_bytes / l2bw3)
    # The chain time depends on a row only through (latency, kind, N): once per distinct one.
    _, first, inverse = np.unique(
        np.concatenate([latency, kind, n], axis=1), axis=0, return_index=True,
        return_inverse=True,
    )
    chains = engine_cycles(t_ma[first], bm, t_n, bn, t_k[first], lat3[first])
    np.maximum(time, chains[inverse.reshape(-1)], out=time)
    np.maximum(time, fixed, out=time)
    best = time.min(axis=-1, keepdims=True)
    traffic = np.where(time <= best * (1.0 + 1e-9), rf_bytes + l2_bytes, np.inf)
    pick = np.argmin(traffic, axis=-1)
    return cand_m[pick], cand_n[pick]


def layer_structure(
    dims: tuple[np.ndarray, np.ndarray, np.ndarray],
    kind: np.ndarray,
    n: np.ndarray,
    row_chunk: np.ndarray,
    n_outer: np.ndarray,
    l2_bytes: np.ndarray,
    latency: np.ndarray,
    bm: np.ndarray,
    bn: np.ndarray,
) -> dict[str, np.ndarray]:
    """Counts, traffic and engine time of an encoding with a given blocking, per (row, layer).

    Row inputs are ``(R, 1)``, ``bm, bn`` ``(R, L)`` (or broadcastable), the layer dimensions
    ``(1, L)``. L2 traffic: the inner loop's operand block stays in L1, the other is streamed
    from L2 once per outer block (BLIS-like). DRAM: the kernel blocks the streamed operand for
    L2 (half of it; the rest holds the other operand's panels): the streamed operand is read
    from DRAM once, the other once per L2 block of it unless it fits in L2 as well.
    """
    g_b = G_B_OF_KIND[kind]
    meta = (kind > 0).astype(np.float64)
    t_ma, t_m, t_n, t_k = _tiles(dims, kind, n)
    a_bytes = _a_tile_bytes(kind, n, row_chunk)
    weight_bytes, act_bytes, out_bytes = _operand_bytes(dims, t_ma, t_k, a_bytes)
    nb_m = np.ceil(t_ma / bm)
    nb_n = np.ceil(t_n / bn)
    a_loads = t_ma * t_k * nb_n
    b_loads = t_n * t_k * nb_m
    stores = t_m * t_n
    half_l2 = 0.5 * l2_bytes
    act_reads = np.where(n_outer & (act_bytes > half_l2), np.ceil(weight_bytes / half_l2), 1.0)
    weight_reads = np.where(~n_outer & (weight_bytes > half_l2), np.ceil(act_bytes / half_l2), 1.0)
    m_, n_, kk = dims
    return {
        "instrs": t_ma * t_n * t_k,
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
        "engine_cycles": engine_cycles(t_ma, bm, t_n, bn, t_k, latency),
        "useful_macs": (m_ * n_ * kk) * (n / k.GROUP),
        "padded": ((m_ % k.TILE_ROWS > 0) | (n_ % k.N_TILE > 0)
                   | (kk % (k.ELEMS_PER_ROW * g_b) > 0)).astype(np.float64),
        "live_tiles": live_tiles(bm, bn, g_b),
    }
