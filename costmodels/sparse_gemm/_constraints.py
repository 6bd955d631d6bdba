"""Feasibility rules shared by the model's violation outputs and the ``vegeta`` search space.

All functions take columns (numpy arrays, one entry per design point) and return violations:
``<= 0`` feasible, ``> 0`` infeasible (by how much).
"""

from __future__ import annotations

import numpy as np


__all__ = [
    "b_tregs_per_group",
    "live_tiles",
    "nm_stored_n",
    "register_violation",
    "unsupported_pattern",
]

# Stored N per group of 4 for a worst group holding 0..4 nonzeros: the smallest of {1, 2, 4}.
_STORED_N = np.asarray([1.0, 1.0, 2.0, 4.0, 4.0])


def nm_stored_n(nm_n: np.ndarray, nm_m: np.ndarray) -> np.ndarray:
    """N of the N:4 an S engine stores an n:m pattern as (lossless; 3:4 is stored as 4:4).

    n:m with m >= 4 holds at most min(n, 4) nonzeros in any aligned group of 4; n:2 holds at
    most 2n. n = m is dense (4:4).
    """
    n = np.asarray(nm_n, dtype=np.float64)
    m = np.asarray(nm_m, dtype=np.float64)
    worst = np.where(m < 4, np.minimum(4.0, n * 4.0 / m), np.minimum(4.0, n))
    return np.where(n == m, 4.0, _STORED_N[np.ceil(worst).astype(np.int64)])


def unsupported_pattern(
    engine: np.ndarray,
    sparse_capable: np.ndarray,
    sparsity: np.ndarray,
    nm_n: np.ndarray,
    nm_m: np.ndarray,
    promote: bool = False,
) -> np.ndarray:
    """1 where an S engine is asked to run N:M natively with M != 4 (and N != M), else 0.

    S engines hold 2-bit metadata and a 4:1 multiplexer per MAC, so they run N:4 only
    (reference notes 2.1); ``promote`` stores other patterns as the smallest N:4 holding them.
    D engines and RASA-SM run every pattern dense, which is always possible.
    """
    sparse_hw = (np.asarray(engine) == "vegeta") & np.asarray(sparse_capable, dtype=bool)
    native = (np.asarray(nm_m) == 4) | (np.asarray(nm_n) == np.asarray(nm_m))
    bad = sparse_hw & (np.asarray(sparsity) == "nm") & ~native & (not promote)
    return bad.astype(np.float64)


def b_tregs_per_group(
    engine: np.ndarray,
    sparse_capable: np.ndarray,
    sparsity: np.ndarray,
    nm_n: np.ndarray,
    nm_m: np.ndarray,
) -> np.ndarray:
    """Tile registers one B operand occupies (treg 1, ureg 2, vreg 4), worst case per point.

    ``nm``: ``4 / stored N``; ``rowwise`` uses a vreg; ``per_layer`` depends on the workload,
    so the worst case (vreg) is taken. D engines and RASA-SM always use a treg, and so does a
    pattern an S engine cannot run (it is stored dense, see :func:`unsupported_pattern`).
    """
    sparse_hw = (np.asarray(engine) == "vegeta") & np.asarray(sparse_capable, dtype=bool)
    g = np.where(np.asarray(sparsity) == "nm", 4.0 / nm_stored_n(nm_n, nm_m), 4.0)
    dense = ~sparse_hw | (unsupported_pattern(engine, sparse_capable, sparsity, nm_n, nm_m) > 0)
    return np.where(dense, 1.0, g)


def live_tiles(b_m: np.ndarray, b_n: np.ndarray, g_b: np.ndarray) -> np.ndarray:
    """Tile registers a ``b_m x b_n`` register block needs: A tiles, B groups and C tiles."""
    return b_m + g_b * b_n + b_m * b_n


def register_violation(
    blocking: np.ndarray,
    b_m: np.ndarray,
    b_n: np.ndarray,
    g_b: np.ndarray,
    tile_regs: np.ndarray,
) -> np.ndarray:
    """Live tiles beyond the register file for manual blocking (auto blocking always fits)."""
    over = live_tiles(np.asarray(b_m), np.asarray(b_n), np.asarray(g_b)) - np.asarray(tile_regs)
    return np.where(np.asarray(blocking) == "manual", over, np.minimum(over, 0.0))
