"""Hypervolume of a minimisation front, and its history over trials: the project's one
implementation (the engine's status and progress line and the dashboards use it).

All values here are minimisation-oriented (negate maximised objectives first) and the reference
point must be worse than every point that should count: points not strictly better than the
reference in every objective add nothing.

- 2-D: exact sweep. Sort by the first objective; the dominated region is a union of rectangles
  ``(x[i+1] - x[i]) * (ref_y - min(y[:i+1]))`` (O(n log n)).
- 3-D: exact slicing. Sort by the third objective; between two consecutive ``z`` values the
  dominated region is the 2-D region of the points seen so far, extruded. All slices at once
  are a cumulative minimum over an n x n grid (x ranks by z order), vectorized in blocks:
  O(n^2) time, O(512 n) memory.
- 4-D and more: Optuna's exact WFG implementation (While et al., "A Fast Way of Calculating Exact
  Hypervolumes", IEEE TEVC 16(1), 2012). It is a private Optuna module, so it is wrapped in
  exactly one place, :func:`_hypervolume_wfg`.

The history is incremental, as Optuna's ``plot_hypervolume_history`` does it: walking the trials
in order, a new non-dominated point adds its exclusive contribution, ``volume(box(p, ref)) -
HV(max(front, p), ref)``, and the points it dominates leave the front. A from-scratch hypervolume
per trial would cost O(n) full computations; this costs one small computation per front change.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


__all__ = ["Reference", "hypervolume", "hypervolume_history", "reference_point"]

#: The default reference point sits this far beyond the front's nadir, in normalised units
#: (ideal = 0, nadir = 1 on every axis), the usual "nadir x 1.1" choice.
NADIR_FACTOR = 1.1


def _hypervolume_wfg(points: np.ndarray, reference: np.ndarray) -> float:
    # The only use of Optuna's private hypervolume module in the project.
    from optuna._hypervolume import compute_hypervolume

    return float(compute_hypervolume(points, reference, assume_pareto=False))


def _check(values: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pts = np.asarray(values, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    if pts.ndim == 1:
        pts = pts.reshape(-1, ref.size) if pts.size else np.empty((0, ref.size))
    if pts.ndim != 2 or pts.shape[1] != ref.size:
        raise ValueError(
            f"hypervolume: values have shape {pts.shape}, expected (n, {ref.size}) to match the "
            f"reference point {ref.tolist()}"
        )
    if ref.size < 1 or not np.all(np.isfinite(ref)):
        raise ValueError(f"hypervolume: reference point must be finite, got {ref.tolist()}")
    return pts, ref


def _inside(pts: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Points that are finite and strictly better than the reference in every objective."""
    ok = np.all(np.isfinite(pts), axis=1) & np.all(pts < ref, axis=1)
    return pts[ok]


def _hv2d(pts: np.ndarray, ref: np.ndarray) -> float:
    if len(pts) == 0:
        return 0.0
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    x = pts[order, 0]
    y = np.minimum.accumulate(pts[order, 1])
    widths = np.diff(np.append(x, ref[0]))
    return float(np.sum(widths * (ref[1] - y)))


def _hv3d(pts: np.ndarray, ref: np.ndarray, block: int = 512) -> float:
    # Sorted by z, the volume is sum_k area_k * (z[k+1] - z[k]) where area_k is the 2-D area of
    # the first k points. With x compressed to ranks, cell j (width x[j+1] - x[j]) of prefix k
    # is covered down to M[k, j] = min{y_i : i <= k, rank_x(i) <= j}: a cumulative minimum along
    # x, then along the z order. Rows are processed in blocks to bound memory at block * n.
    if len(pts) == 0:
        return 0.0
    pts = pts[np.argsort(pts[:, 2], kind="stable")]
    n = len(pts)
    by_x = np.argsort(pts[:, 0], kind="stable")
    widths = np.diff(np.append(pts[by_x, 0], ref[0]))
    rank = np.empty(n, dtype=np.intp)
    rank[by_x] = np.arange(n)
    heights = np.diff(np.append(pts[:, 2], ref[2]))
    carry = np.full(n, ref[1])
    volume = 0.0
    for start in range(0, n, block):
        stop = min(n, start + block)
        rows = np.full((stop - start, n), ref[1])
        rows[np.arange(stop - start), rank[start:stop]] = pts[start:stop, 1]
        np.minimum.accumulate(rows, axis=1, out=rows)
        rows[0] = np.minimum(rows[0], carry)
        np.minimum.accumulate(rows, axis=0, out=rows)
        carry = rows[-1].copy()
        volume += float(((ref[1] - rows) @ widths) @ heights[start:stop])
    return volume


def _pivot_survivors(pts: np.ndarray, n_pivots: int = 32, strict: bool = False) -> np.ndarray:
    """Mask of the points not dominated by one of the lowest-sum points (a cheap prefilter).

    Not a full Pareto filter, but it removes almost every dominated point in O(n_pivots * n):
    in the incremental history the clipped fronts collapse onto a handful of points, and a big
    study's front is a small part of it. The lowest-sum point of a set is never strictly
    dominated, so pivots are taken in sum order. ``strict=False`` also drops duplicates and
    weakly dominated points (fine for hypervolume); ``strict=True`` keeps them (Pareto flags).
    """
    alive = np.ones(len(pts), dtype=bool)
    if len(pts) <= n_pivots:
        return alive
    order = np.argsort(pts.sum(axis=1), kind="stable")
    for j in order[:n_pivots]:
        if alive[j]:
            dominated = np.all(pts >= pts[j], axis=1)
            if strict:
                dominated &= np.any(pts > pts[j], axis=1)
            dominated[j] = False
            alive &= ~dominated
    return alive


def hypervolume(values: np.ndarray, reference: np.ndarray) -> float:
    """Exact hypervolume dominated by ``values`` and bounded by ``reference``.

    Args:
        values: ``(n, m)`` objective values, minimisation-oriented. Dominated, non-finite and
            out-of-box points are allowed; they add nothing.
        reference: ``(m,)`` reference point (finite).

    Returns:
        The hypervolume (0.0 for an empty set or when no point beats the reference).

    Raises:
        ValueError: if the shapes disagree or the reference is not finite.
    """
    pts, ref = _check(values, reference)
    pts = _inside(pts, ref)
    if len(pts) == 0:
        return 0.0
    m = ref.size
    if m == 1:
        return float(ref[0] - pts[:, 0].min())
    if m == 2:
        return _hv2d(pts, ref)
    pts = pts[_pivot_survivors(pts)]
    if m == 3:
        return _hv3d(pts, ref)
    return _hypervolume_wfg(pts, ref)


def hypervolume_history(
    values: np.ndarray,
    reference: np.ndarray,
    feasible: np.ndarray | None = None,
    time_budget_s: float | None = None,
) -> np.ndarray:
    """Hypervolume after each trial, computed incrementally.

    Args:
        values: ``(n, m)`` minimisation-oriented values in trial order; rows with NaN (failed or
            pruned trials) are skipped.
        reference: ``(m,)`` reference point.
        feasible: optional ``(n,)`` booleans; infeasible rows are skipped.
        time_budget_s: stop when a front update would start after this much time; the rest of
            the history is NaN. Exact hypervolume is exponential in the number of objectives,
            so with 4 or more and large fronts this keeps a report or a progress bar bounded.

    Returns:
        ``(n,)`` non-decreasing hypervolume after each row (NaN after a spent budget).
    """
    pts, ref = _check(values, reference)
    n = len(pts)
    ok = np.all(np.isfinite(pts), axis=1) & np.all(pts < ref, axis=1)
    if feasible is not None:
        ok &= np.asarray(feasible, dtype=bool)
    history = np.zeros(n)
    front = np.empty((0, ref.size))
    hv = 0.0
    deadline = None if time_budget_s is None else time.perf_counter() + time_budget_s
    for i in range(n):
        if ok[i]:
            p = pts[i]
            if not (len(front) and np.any(np.all(front <= p, axis=1))):
                if deadline is not None and time.perf_counter() > deadline:
                    history[i:] = np.nan
                    return history
                box = float(np.prod(ref - p))
                hv += box - hypervolume(np.maximum(front, p), ref) if len(front) else box
                front = np.vstack([front[~np.all(p <= front, axis=1)], p])
        history[i] = hv
    return history


@dataclass(frozen=True)
class Reference:
    """A normalisation and a reference point, both minimisation-oriented.

    Attributes:
        ideal: best value per objective on the front (normalised 0).
        scale: nadir - ideal per objective (normalised 1 is the nadir).
        point: the reference point in normalised units.
        source: how the point was chosen, for the plot's caption.
    """

    ideal: np.ndarray
    scale: np.ndarray
    point: np.ndarray
    source: str

    def normalize(self, values_min: np.ndarray) -> np.ndarray:
        """Normalised values (``(v - ideal) / scale``) of minimisation-oriented values."""
        return (np.asarray(values_min, dtype=np.float64) - self.ideal) / self.scale

    def point_in_units(self, directions: Sequence[str]) -> np.ndarray:
        """The reference point in the objectives' own units and directions."""
        sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
        return (self.point * self.scale + self.ideal) * sign


def reference_point(
    front_min: np.ndarray,
    directions: Sequence[str],
    declared: Sequence[float] | None = None,
) -> Reference:
    """The normalisation and reference point for a study's hypervolume.

    Objectives are normalised so that the front's ideal point is 0 and its nadir is 1. The
    reference point is ``declared`` (in the objectives' own units, e.g. the study attr
    ``dse.reference_point``) when given, else the nadir x 1.1 in normalised units.

    Args:
        front_min: ``(k, m)`` minimisation-oriented values of the Pareto front (k >= 1).
        directions: ``"minimize"`` / ``"maximize"`` per objective.
        declared: an explicit reference point in the objectives' units and directions.

    Raises:
        ValueError: if the front is empty or ``declared`` has the wrong length.
    """
    front = np.asarray(front_min, dtype=np.float64).reshape(-1, len(directions))
    front = front[np.all(np.isfinite(front), axis=1)]
    if len(front) == 0:
        raise ValueError("reference_point: the front is empty")
    ideal = front.min(axis=0)
    scale = front.max(axis=0) - ideal
    # A one-point (or flat) axis has no spread; scale by the value's magnitude instead (or 1).
    flat = ~(scale > 0)
    scale[flat] = np.where(np.abs(ideal[flat]) > 0, np.abs(ideal[flat]), 1.0)
    if declared is not None:
        ref = np.asarray(declared, dtype=np.float64).reshape(-1)
        if ref.size != len(directions) or not np.all(np.isfinite(ref)):
            raise ValueError(
                f"reference point {list(declared)} must have {len(directions)} finite values, "
                "one per objective"
            )
        sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
        point = (ref * sign - ideal) / scale
        return Reference(ideal, scale, point, "study attr dse.reference_point")
    point = np.full(len(directions), NADIR_FACTOR)
    return Reference(ideal, scale, point, "front nadir x 1.1 (normalised)")
