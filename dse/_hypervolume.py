"""Hypervolume of a minimization front, behind one project-owned function.

Two objectives use an exact sorted sweep (``O(n log n)``); more delegate to Optuna's exact WFG
implementation, a private module whose shape changed across 4.x and 5.0, so it is imported here
and nowhere else. Points outside the reference box contribute nothing.
"""

from __future__ import annotations

import numpy as np


__all__ = ["hypervolume", "reference_point"]


def hypervolume(F: np.ndarray, reference: np.ndarray) -> float:
    """Exact hypervolume dominated by ``F`` (minimization) and bounded by ``reference``."""
    F = np.asarray(F, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if F.size == 0:
        return 0.0
    F = F[np.isfinite(F).all(axis=1) & (F < reference).all(axis=1)]
    if len(F) == 0:
        return 0.0
    if F.shape[1] == 1:
        return float(reference[0] - F[:, 0].min())
    if F.shape[1] == 2:
        order = np.lexsort((F[:, 1], F[:, 0]))
        f0, f1 = F[order, 0], F[order, 1]
        best = np.minimum.accumulate(f1)
        keep = np.concatenate(([True], best[1:] < best[:-1]))
        f0, f1 = f0[keep], best[keep]
        widths = np.diff(np.concatenate((f0, [reference[0]])))
        return float(np.sum(widths * (reference[1] - f1)))
    from optuna._hypervolume import compute_hypervolume

    return float(compute_hypervolume(F, reference))


def reference_point(F: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """A reference point: the observed nadir pushed out by ``margin`` of the range."""
    F = np.asarray(F, dtype=np.float64)
    F = F[np.isfinite(F).all(axis=1)]
    if len(F) == 0:
        return np.zeros(0)
    hi, lo = F.max(axis=0), F.min(axis=0)
    span = np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1.0))
    return hi + margin * span
