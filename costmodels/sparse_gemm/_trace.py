"""Tile-instruction traces of a GEMM on 8 tile registers of 16 x 64 B, and their counts.

The kernel (reference notes section 5, loop order ``nm`` or ``mn`` over register blocks, K
innermost so C stays in registers)::

    for each (n-block, m-block) in loop order:        # b_m A tiles x b_n B groups per block
        TILE_ZERO   C[i, j]                           # b_m x b_n C tiles (fp32 16 x 16)
        for kt in range(T_k):
            TILE_LOAD_T A[i, kt] (+ TILE_LOAD_M meta[i, kt] when sparse)
            TILE_LOAD_{T,U,V} B[kt, j]                # 1, 2 or 4 tregs (treg / ureg / vreg)
            TILE_{GEMM,SPMM_U,SPMM_V} C[i, j] += A[i, kt] B[kt, j]
        TILE_STORE_T C[i, j]

Counts (vectorized, used by the timing model): ``I_c = T_m T_n T_k``, A loads
``T_m T_k ceil(T_n/b_n)``, B loads ``T_n T_k ceil(T_m/b_m)``, metadata loads = A loads when
sparse, stores ``T_m T_n``. Row-wise N:M (TILE_SPMM_R, B in a vreg, K windows of 128) packs the
stored values of each K window into A tiles of 512 values ([derived]: rows sorted by N),
``ceil(stored_w / 512)`` tiles per window.

:func:`execute_trace` runs a trace on real data (compressed A tiles with their 128-byte
metadata, B tiles, C accumulators) so tests can check the trace computes ``A @ B``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, NamedTuple

import numpy as np

from costmodels._protocol import ModelError
from costmodels.sparse_gemm import _constants as k
from costmodels.sparse_gemm._compression import compress
from costmodels.sparse_gemm._rowwise import RowwiseNM


__all__ = [
    "KINDS",
    "Instr",
    "execute_trace",
    "rowwise_trace_counts",
    "tile_trace",
    "trace_counts",
    "trace_histogram",
]

# Pattern -> (compute instruction, B load instruction, tregs per B group, stored N per 4).
KINDS = {
    "dense": ("TILE_GEMM", "TILE_LOAD_T", 1, 4),
    "2:4": ("TILE_SPMM_U", "TILE_LOAD_U", 2, 2),
    "1:4": ("TILE_SPMM_V", "TILE_LOAD_V", 4, 1),
}


class Instr(NamedTuple):
    """One tile instruction: opcode, destination register, and tile coordinates."""

    op: str
    reg: int
    i: int = -1  # M tile
    j: int = -1  # N tile
    kt: int = -1  # K step
    srcs: tuple[int, ...] = ()


def _kind(kind: str) -> tuple[str, str, int, int]:
    if kind not in KINDS:
        raise ModelError(
            f"pattern {kind!r} has no tile instruction: expected one of {list(KINDS)}"
        )
    return KINDS[kind]


def _tiles(m: int, n: int, kk: int, g_b: int) -> tuple[int, int, int]:
    return (
        math.ceil(m / k.TILE_ROWS),
        math.ceil(n / k.N_TILE),
        math.ceil(kk / (k.ELEMS_PER_ROW * g_b)),
    )


def tile_trace(
    m: int,
    n: int,
    kk: int,
    kind: str = "dense",
    *,
    b_m: int = 2,
    b_n: int = 1,
    loop_order: str = "nm",
    tile_regs: int = 8,
) -> list[Instr]:
    """The instruction trace of ``C[m x n] += A[m x kk] B[kk x n]`` (explicit, for small shapes).

    Raises:
        ModelError: naming ``b_m``/``b_n`` when the live tiles exceed ``tile_regs``, or the
            ``loop_order``/pattern when unknown.
    """
    compute, load_b, g_b, n_stored = _kind(kind)
    live = b_m + g_b * b_n + b_m * b_n
    if live > tile_regs:
        raise ModelError(
            f"b_m={b_m}, b_n={b_n}: {live} live tiles for {kind} "
            f"(b_m + {g_b} b_n + b_m b_n) exceed tile_regs={tile_regs}"
        )
    if loop_order not in ("nm", "mn"):
        raise ModelError(f"loop_order={loop_order!r}: expected 'nm' or 'mn'")
    t_m, t_n, t_k = _tiles(m, n, kk, g_b)
    sparse = n_stored < k.GROUP
    a_reg = list(range(b_m))
    b_reg = [b_m + g_b * j for j in range(b_n)]
    c_reg = [[b_m + g_b * b_n + i * b_n + j for j in range(b_n)] for i in range(b_m)]
    m_blocks = range(0, t_m, b_m)
    n_blocks = range(0, t_n, b_n)
    pairs = (
        [(i0, j0) for j0 in n_blocks for i0 in m_blocks]
        if loop_order == "nm"
        else [(i0, j0) for i0 in m_blocks for j0 in n_blocks]
    )
    out: list[Instr] = []
    for i0, j0 in pairs:
        rows = range(min(b_m, t_m - i0))
        cols = range(min(b_n, t_n - j0))
        out += [Instr("TILE_ZERO", c_reg[a][b], i0 + a, j0 + b) for a in rows for b in cols]
        for kt in range(t_k):
            for a in rows:
                out.append(Instr("TILE_LOAD_T", a_reg[a], i=i0 + a, kt=kt))
                if sparse:
                    out.append(Instr("TILE_LOAD_M", a_reg[a], i=i0 + a, kt=kt))
            out += [Instr(load_b, b_reg[b], j=j0 + b, kt=kt) for b in cols]
            out += [
                Instr(compute, c_reg[a][b], i0 + a, j0 + b, kt, (a_reg[a], b_reg[b]))
                for a in rows
                for b in cols
            ]
        out += [Instr("TILE_STORE_T", c_reg[a][b], i0 + a, j0 + b) for a in rows for b in cols]
    return out


def trace_histogram(trace: list[Instr]) -> dict[str, int]:
    """Instruction counts per opcode."""
    return dict(Counter(ins.op for ins in trace))


def trace_counts(
    m: np.ndarray | int,
    n: np.ndarray | int,
    kk: np.ndarray | int,
    kind: str = "dense",
    *,
    b_m: np.ndarray | int = 2,
    b_n: np.ndarray | int = 1,
) -> dict[str, np.ndarray]:
    """Closed-form counts of :func:`tile_trace` (vectorized over shapes and blockings)."""
    compute, load_b, g_b, n_stored = _kind(kind)
    t_m = np.ceil(np.asarray(m) / k.TILE_ROWS)
    t_n = np.ceil(np.asarray(n) / k.N_TILE)
    t_k = np.ceil(np.asarray(kk) / (k.ELEMS_PER_ROW * g_b))
    a_loads = t_m * t_k * np.ceil(t_n / b_n)
    b_loads = t_n * t_k * np.ceil(t_m / b_m)
    counts = {
        compute: t_m * t_n * t_k,
        "TILE_LOAD_T": a_loads + (b_loads if load_b == "TILE_LOAD_T" else 0),
        "TILE_STORE_T": t_m * t_n,
        "TILE_ZERO": t_m * t_n,
    }
    if load_b != "TILE_LOAD_T":
        counts[load_b] = b_loads
    if n_stored < k.GROUP:
        counts["TILE_LOAD_M"] = a_loads
    return counts


def rowwise_trace_counts(a: RowwiseNM, n: int, *, b_m: int = 2, b_n: int = 1) -> dict[str, int]:
    """TILE_SPMM_R counts for a row-wise N:M matrix times a dense ``[K, n]`` operand.

    Each 128-wide K window (one vreg of B) needs ``ceil(stored_w / 512)`` packed A tiles.
    """
    window = k.ELEMS_PER_ROW * 4
    if window % a.chunk:
        raise ModelError(f"row_chunk={a.chunk}: must divide the TILE_SPMM_R K window {window}")
    per_chunk = a.chunk_n.astype(np.int64) * (a.chunk // k.GROUP)  # stored values per chunk
    chunks_per_window = window // a.chunk
    n_windows = math.ceil(per_chunk.shape[1] / chunks_per_window)
    padded = np.zeros((per_chunk.shape[0], n_windows * chunks_per_window), dtype=np.int64)
    padded[:, : per_chunk.shape[1]] = per_chunk
    stored_w = padded.reshape(per_chunk.shape[0], n_windows, chunks_per_window).sum(axis=(0, 2))
    tiles_w = np.ceil(stored_w / (k.TILE_ROWS * k.ELEMS_PER_ROW))
    t_n = math.ceil(n / k.N_TILE)
    t_m = math.ceil(a.shape[0] / k.TILE_ROWS)
    a_loads = int(tiles_w.sum()) * math.ceil(t_n / b_n)
    return {
        "TILE_SPMM_R": int(tiles_w.sum()) * t_n,
        "TILE_LOAD_T": a_loads,
        "TILE_LOAD_M": a_loads,
        "TILE_LOAD_V": t_n * int(np.ceil(tiles_w / b_m).sum()),
        "TILE_STORE_T": t_m * t_n,
    }


def execute_trace(trace: list[Instr], a: np.ndarray, b: np.ndarray, kind: str) -> np.ndarray:
    """Run a trace on data: A tiles come from the compressed form (values + 128 B metadata).

    ``a`` must already satisfy the pattern (e.g. from :func:`nm_prune`); shapes are zero-padded
    to whole tiles. Returns ``C = A @ B`` as the trace computes it (float64).
    """
    _, _, g_b, n_stored = _kind(kind)
    k_i = k.ELEMS_PER_ROW * g_b
    t_m, t_n, t_k = _tiles(a.shape[0], b.shape[1], a.shape[1], g_b)
    a_pad = np.zeros((t_m * k.TILE_ROWS, t_k * k_i))
    a_pad[: a.shape[0], : a.shape[1]] = a
    b_pad = np.zeros((t_k * k_i, t_n * k.N_TILE))
    b_pad[: b.shape[0], : b.shape[1]] = b
    packed = compress(a_pad, n_stored, k.GROUP, strict=True)
    gpt = k_i // k.GROUP  # groups per A tile row
    regs: dict[int, np.ndarray] = {}
    meta: dict[int, np.ndarray] = {}
    c = np.zeros((t_m * k.TILE_ROWS, t_n * k.N_TILE))
    for ins in trace:
        rows = slice(ins.i * k.TILE_ROWS, (ins.i + 1) * k.TILE_ROWS)
        cols = slice(ins.j * k.N_TILE, (ins.j + 1) * k.N_TILE)
        if ins.op == "TILE_ZERO":
            regs[ins.reg] = np.zeros((k.TILE_ROWS, k.N_TILE))
        elif ins.op == "TILE_LOAD_T" and ins.i >= 0:
            regs[ins.reg] = packed.values[rows, ins.kt * gpt : (ins.kt + 1) * gpt]
        elif ins.op == "TILE_LOAD_M":
            tile_meta = packed.metadata[rows]  # 2 bits x 32 values = 8 B per row
            byte0 = ins.kt * gpt * n_stored * 2 // 8
            meta[ins.reg] = tile_meta[:, byte0 : byte0 + 8]
        elif ins.op.startswith("TILE_LOAD"):
            regs[ins.reg] = b_pad[ins.kt * k_i : (ins.kt + 1) * k_i, cols]
        elif ins.op == "TILE_STORE_T":
            c[rows, cols] = regs[ins.reg]
        else:
            a_reg, b_reg = ins.srcs
            vals = regs[a_reg]
            if n_stored < k.GROUP:
                idx = np.unpackbits(meta[a_reg], axis=1).reshape(k.TILE_ROWS, -1, 2)
                pos = (idx[..., 0] * 2 + idx[..., 1]).reshape(vals.shape)
            else:
                pos = np.broadcast_to(np.arange(k.GROUP), vals.shape)
            dense = np.zeros((k.TILE_ROWS, gpt, k.GROUP))
            np.put_along_axis(dense, pos.astype(np.intp), vals, axis=-1)
            regs[ins.reg] = regs[ins.reg] + dense.reshape(k.TILE_ROWS, k_i) @ regs[b_reg]
    return c[: a.shape[0], : b.shape[1]]


# Bytes each tile instruction moves between memory and the register file.
_BYTES = {
    "TILE_LOAD_T": k.TILE_BYTES,
    "TILE_LOAD_U": 2 * k.TILE_BYTES,
    "TILE_LOAD_V": 4 * k.TILE_BYTES,
    "TILE_LOAD_M": k.META_BYTES,
    "TILE_STORE_T": k.TILE_BYTES,
}


def simulate_trace(
    trace: list[Instr],
    *,
    issue_interval: float,
    latency: float,
    load_bytes_per_cycle: float,
    store_bytes_per_cycle: float = k.STORE_BYTES_PER_CYCLE,
    renamed: bool = True,
) -> float:
    """Cycles of a trace under a small list scheduler: a check of the analytical bounds.

    Resources: one engine (a compute instruction occupies it ``issue_interval`` cycles, its C
    result is ready ``latency`` cycles after it starts), an in-order load path of
    ``load_bytes_per_cycle`` and a store path. Dependences: true (operands ready); with
    ``renamed=False`` also write-after-read (a load into a tile register waits until the
    instructions reading it have streamed it, ``issue_interval`` after their start), i.e. no
    tile-register renaming. Memory is an ideal L1 (no L2/DRAM limits).
    """
    ready: dict[Any, float] = {}
    free: dict[Any, float] = {}
    engine = load = store = end = 0.0
    for ins in trace:
        if ins.op == "TILE_ZERO":
            ready[ins.reg] = free.get(ins.reg, 0.0) if not renamed else 0.0
        elif ins.op == "TILE_STORE_T":
            start = max(store, ready[ins.reg])
            store = start + _BYTES[ins.op] / store_bytes_per_cycle
            end = max(end, store)
            free[ins.reg] = store
        elif ins.op.startswith("TILE_LOAD"):
            target = ("meta", ins.reg) if ins.op == "TILE_LOAD_M" else ins.reg
            start = max(load, free.get(target, 0.0)) if not renamed else load
            load = start + _BYTES[ins.op] / load_bytes_per_cycle
            ready[target] = load
        else:
            a_reg, b_reg = ins.srcs
            operands = [a_reg, b_reg, ins.reg] + (
                [("meta", a_reg)] if ("meta", a_reg) in ready else []
            )
            start = max([engine] + [ready[r] for r in operands])
            engine = start + issue_interval
            ready[ins.reg] = start + latency
            for r in operands[:2] + operands[3:]:
                free[r] = max(free.get(r, 0.0), start + issue_interval)
            end = max(end, start + latency)
    return max(end, engine, store)
