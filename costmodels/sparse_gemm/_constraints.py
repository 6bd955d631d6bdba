"""Feasibility rules behind the model's violation outputs (the ``vegeta`` space uses those).

Columns in, columns out (numpy arrays, one entry per design point).
"""

from __future__ import annotations

import numpy as np


__all__ = ["live_tiles", "nm_stored_n", "unsupported_pattern"]

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


def live_tiles(b_m: np.ndarray, b_n: np.ndarray, g_b: np.ndarray) -> np.ndarray:
    """Tile registers a ``b_m x b_n`` register block needs: A tiles, B groups and C tiles."""
    return b_m + g_b * b_n + b_m * b_n
