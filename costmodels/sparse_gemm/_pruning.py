"""N:M magnitude pruning along the reduction dimension.

For a weight matrix ``A[rows, K]`` (the sparse operand of ``C = A @ B``) the reduction dimension is
the last axis. It is cut into ``K / M`` groups of ``M`` consecutive elements; in each group the
``N`` elements of largest magnitude are kept and the rest set to zero (ties broken towards the
lower index, so the result is deterministic). This is the pattern VEGETA's sparse tile
instructions consume (2:4 for TILE_SPMM_U, 1:4 for TILE_SPMM_V; reference notes section 1.3) and
that NVIDIA's sparse tensor cores use for 2:4.
"""

from __future__ import annotations

import numpy as np

from costmodels._protocol import ModelError


__all__ = ["SUPPORTED_GROUP_SIZES", "check_pattern", "group_view", "nm_mask", "nm_prune"]

# Group sizes the functional engine accepts (the range); the hardware timing model is
# narrower (M = 4, see ``_timing``).
SUPPORTED_GROUP_SIZES = (2, 4, 8, 16, 32, 64, 128)


def check_pattern(n: int, m: int) -> None:
    """Raise :class:`ModelError` naming ``n`` or ``m`` unless ``1 <= n <= m``, ``m`` supported."""
    if m not in SUPPORTED_GROUP_SIZES:
        raise ModelError(
            f"group size m={m!r} is not supported: expected one of {SUPPORTED_GROUP_SIZES}"
        )
    if not 1 <= n <= m:
        raise ModelError(f"n={n!r} is out of range for m={m}: expected 1 <= n <= {m}")


def group_view(a: np.ndarray, m: int) -> np.ndarray:
    """``a[rows, K]`` viewed as ``[rows, K / m, m]`` groups along the reduction dimension.

    Raises:
        ModelError: when ``a`` is not 2-D or ``K`` is not a multiple of ``m`` (the shape does
            not tile into groups; pad ``K`` with zeros first).
    """
    if a.ndim != 2:
        raise ModelError(f"sparse operand must be a 2-D matrix [rows, K], got shape {a.shape}")
    rows, k = a.shape
    if k % m:
        raise ModelError(f"reduction dimension K={k} is not a multiple of the group size m={m}")
    return a.reshape(rows, k // m, m)


def _kept_slots(groups: np.ndarray, n: int) -> np.ndarray:
    """Positions (ascending) of the ``n`` largest-magnitude entries of each group."""
    # A stable sort on -|x| keeps the lower index first among equal magnitudes.
    order = np.argsort(-np.abs(groups), axis=-1, kind="stable")[..., :n]
    return np.sort(order, axis=-1)


def nm_mask(a: np.ndarray, n: int, m: int) -> np.ndarray:
    """Boolean keep-mask of N:M magnitude pruning of ``a`` (same shape as ``a``)."""
    check_pattern(n, m)
    groups = group_view(np.asarray(a), m)
    keep = np.zeros(groups.shape, dtype=bool)
    np.put_along_axis(keep, _kept_slots(groups, n), True, axis=-1)
    return keep.reshape(np.shape(a))


def nm_prune(a: np.ndarray, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """N:M magnitude pruning along the last (reduction) axis.

    Returns:
        ``(pruned, mask)``: the pruned matrix (same dtype) and its boolean keep-mask.
    """
    a = np.asarray(a)
    mask = nm_mask(a, n, m)
    return np.where(mask, a, np.zeros((), dtype=a.dtype)), mask
