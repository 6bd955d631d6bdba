"""Hypervolume of a minimisation front, its history over trials, and a study's fixed reference:
the project's one implementation (progress line, ``dse status``, the dashboards, the comparison
page and the benchmarks all go through :class:`Reference`).

All values here are minimisation-oriented (negate maximised objectives first) and the reference
point must be worse than every point that should count: points not strictly better than the
reference in every objective add nothing.

The kernel is moocore's exact hypervolume (``moocore.hypervolume``: the dimension-sweep
algorithms of Fonseca, Paquete and Lopez-Ibanez for 2-D and 3-D, and the HV4D+/WFG-style
recursion above), measured 100 to 6000 times faster than the numpy slicing code this module had
before on 3-D and 4-D fronts (``benchmarks/engine.py``).

The history is incremental, as Optuna's ``plot_hypervolume_history`` does it: walking the trials
in order, a new non-dominated point adds its exclusive contribution, ``volume(box(p, ref)) -
HV(max(front, p), ref)``, and the points it dominates leave the front.

**A fixed reference.** A study's hypervolume is only comparable over time, across resumes and
between studies when its normalisation and reference point never move. A study's
:class:`Reference` is therefore fixed once and stored with the study (study attr
``dse.reference``):

- from the study file, when every objective declares ``bounds = [a, b]`` (in its own units; the
  better end by direction is normalised to 0, the worse to 1, and the reference point is the
  worse end, 1.0), at creation; or
- from the first :data:`FIX_AFTER` feasible results (a sweep: its first chunk's front), when
  the bounds are not declared: ideal = their best value, nadir = their worst value per
  objective, reference point = nadir x 1.1 in normalised units.

Until it is fixed, views use a *provisional* reference from every feasible result so far and
say so. Because the reference never moves once fixed, a study's hypervolume never falls as
trials are added.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import moocore
import numpy as np


__all__ = [
    "FIX_AFTER",
    "REFERENCE_ATTR",
    "Reference",
    "ReferenceKeeper",
    "hypervolume",
    "hypervolume_history",
    "reference_point",
    "study_reference",
]

#: The default reference point sits this far beyond the nadir, in normalised units
#: (ideal = 0, nadir = 1 on every axis), the usual "nadir x 1.1" choice.
NADIR_FACTOR = 1.1

#: Feasible results a study collects before its reference is fixed from data.
FIX_AFTER = 10

#: The study user attribute that stores a study's fixed reference.
REFERENCE_ATTR = "dse.reference"


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
    if ref.size == 1:
        return float(ref[0] - pts[:, 0].min())
    return float(moocore.hypervolume(pts, ref=ref))


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
            so with many objectives and large fronts this keeps a report bounded.

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


def _signs(directions: Sequence[str]) -> np.ndarray:
    return np.array([-1.0 if d == "maximize" else 1.0 for d in directions])


@dataclass(frozen=True)
class Reference:
    """A normalisation and a reference point, both minimisation-oriented.

    Attributes:
        ideal: the value normalised to 0, per objective.
        scale: nadir - ideal per objective (normalised 1 is the nadir).
        point: the reference point in normalised units.
        source: how it was chosen, for captions (``"study file bounds"``, ...).
        fixed: True when stored with the study (it will never move); False for a provisional
            reference computed from the results so far.
    """

    ideal: np.ndarray
    scale: np.ndarray
    point: np.ndarray
    source: str
    fixed: bool = False

    def normalize(self, values_min: np.ndarray) -> np.ndarray:
        """Normalised values (``(v - ideal) / scale``) of minimisation-oriented values."""
        return (np.asarray(values_min, dtype=np.float64) - self.ideal) / self.scale

    def point_in_units(self, directions: Sequence[str]) -> np.ndarray:
        """The reference point in the objectives' own units and directions."""
        return (self.point * self.scale + self.ideal) * _signs(directions)

    def hypervolume(self, values_min: np.ndarray, feasible: np.ndarray | None = None) -> float:
        """Normalised hypervolume of minimisation-oriented values (infeasible rows skipped)."""
        F = np.asarray(values_min, dtype=np.float64).reshape(-1, self.point.size)
        if feasible is not None:
            F = F[np.asarray(feasible, dtype=bool)]
        return hypervolume(self.normalize(F), self.point)

    def history(
        self, values_min: np.ndarray, feasible: np.ndarray | None = None,
        time_budget_s: float | None = None,
    ) -> np.ndarray:
        """Normalised hypervolume after each row (see :func:`hypervolume_history`)."""
        return hypervolume_history(self.normalize(values_min), self.point, feasible,
                                   time_budget_s)

    def to_attr(self) -> dict[str, Any]:
        """The JSON-able form stored as the study attr :data:`REFERENCE_ATTR`."""
        return {"ideal_min": self.ideal.tolist(), "scale": self.scale.tolist(),
                "point": self.point.tolist(), "source": self.source}

    @classmethod
    def from_attr(cls, attr: Mapping[str, Any], n_objectives: int) -> Reference:
        """Read a stored reference back.

        Raises:
            ValueError: when the attribute is malformed or has the wrong number of objectives.
        """
        try:
            ideal, scale, point = (np.asarray(attr[k], dtype=np.float64).reshape(-1)
                                   for k in ("ideal_min", "scale", "point"))
            source = str(attr.get("source", "stored"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed {REFERENCE_ATTR} attribute: {exc}") from None
        if not (ideal.size == scale.size == point.size == n_objectives) or not (
            np.all(np.isfinite(ideal)) and np.all(scale > 0) and np.all(np.isfinite(point))
        ):
            raise ValueError(f"malformed {REFERENCE_ATTR} attribute for {n_objectives} objectives")
        return cls(ideal, scale, point, source, fixed=True)


def _from_bounds(bounds: Sequence[Sequence[float]], directions: Sequence[str]) -> Reference:
    b = np.asarray(bounds, dtype=np.float64).reshape(len(directions), 2)
    b = b * _signs(directions)[:, None]
    ideal, worst = b.min(axis=1), b.max(axis=1)
    return Reference(ideal, worst - ideal, np.ones(len(directions)), "study file bounds",
                     fixed=True)


def _from_values(values_min: np.ndarray, source: str) -> Reference:
    ideal = values_min.min(axis=0)
    scale = values_min.max(axis=0) - ideal
    # A one-point (or flat) axis has no spread; scale by the value's magnitude instead (or 1).
    flat = ~(scale > 0)
    scale[flat] = np.where(np.abs(ideal[flat]) > 0, np.abs(ideal[flat]), 1.0)
    return Reference(ideal, scale, np.full(values_min.shape[1], NADIR_FACTOR), source)


def _feasible_finite(values_min: np.ndarray, n_obj: int,
                     feasible: np.ndarray | None) -> np.ndarray:
    F = np.asarray(values_min, dtype=np.float64).reshape(-1, n_obj)
    ok = np.isfinite(F).all(axis=1)
    if feasible is not None:
        ok &= np.asarray(feasible, dtype=bool)
    return F[ok]


def reference_point(
    front_min: np.ndarray,
    directions: Sequence[str],
    declared: Sequence[float] | None = None,
) -> Reference:
    """A provisional normalisation and reference point from a set of results.

    Objectives are normalised so that the set's ideal point is 0 and its nadir is 1. The
    reference point is ``declared`` (in the objectives' own units) when given, else the
    nadir x 1.1 in normalised units. Studies use :func:`study_reference`, which prefers the
    reference fixed with the study.

    Raises:
        ValueError: if the set is empty or ``declared`` has the wrong length.
    """
    front = _feasible_finite(front_min, len(directions), None)
    if len(front) == 0:
        raise ValueError("reference_point: the front is empty")
    ref = _from_values(front, "front nadir x 1.1 (normalised)")
    if declared is None:
        return ref
    point = np.asarray(declared, dtype=np.float64).reshape(-1)
    if point.size != len(directions) or not np.all(np.isfinite(point)):
        raise ValueError(
            f"reference point {list(declared)} must have {len(directions)} finite values, "
            "one per objective"
        )
    return Reference(ref.ideal, ref.scale, (point * _signs(directions) - ref.ideal) / ref.scale,
                     "declared reference point")


def study_reference(
    user_attrs: Mapping[str, Any],
    directions: Sequence[str],
    values_min: np.ndarray | None = None,
    feasible: np.ndarray | None = None,
) -> Reference | None:
    """A study's hypervolume reference: the one stored with it, else a provisional one.

    Args:
        user_attrs: the study's user attributes (``study.user_attrs``).
        directions: ``"minimize"`` / ``"maximize"`` per objective.
        values_min: minimisation-oriented results so far, for a provisional reference when none
            is stored (older studies, or fewer than :data:`FIX_AFTER` feasible results yet).
        feasible: optional mask of the rows of ``values_min`` that are feasible.

    Returns:
        The reference (``fixed`` says which kind), or None when nothing is stored and there are
        no feasible results.
    """
    attr = user_attrs.get(REFERENCE_ATTR)
    if isinstance(attr, Mapping):
        try:
            return Reference.from_attr(attr, len(directions))
        except ValueError:
            pass  # a damaged attribute: fall back to a provisional reference, never crash a view
    if values_min is None:
        return None
    F = _feasible_finite(values_min, len(directions), feasible)
    if len(F) == 0:
        return None
    return _from_values(F, f"provisional: {len(F)} feasible results so far, nadir x 1.1")


class ReferenceKeeper:
    """Fixes a running study's reference once and stores it with the study.

    Args:
        study: the Optuna study (anything with ``user_attrs`` and ``set_user_attr``).
        directions: ``"minimize"`` / ``"maximize"`` per objective.
        bounds: per-objective ``(a, b)`` bounds from the study file, or None when any objective
            has none.
        existing: minimisation-oriented feasible results already in the study (a resume).
    """

    def __init__(
        self, study: Any, directions: Sequence[str],
        bounds: Sequence[Sequence[float]] | None = None,
        existing: np.ndarray | None = None,
    ) -> None:
        self._study = study
        self._n = len(directions)
        self.reference = study_reference(study.user_attrs, directions)
        if self.reference is not None and not self.reference.fixed:
            self.reference = None
        self._seen = np.empty((0, self._n))
        if self.reference is None and bounds is not None:
            self._store(_from_bounds(bounds, directions))
        elif self.reference is None and existing is not None:
            self.observe(existing)

    def _store(self, ref: Reference) -> None:
        ref = Reference(ref.ideal, ref.scale, ref.point, ref.source, fixed=True)
        self._study.set_user_attr(REFERENCE_ATTR, ref.to_attr())
        self.reference = ref
        self._seen = np.empty((0, self._n))

    def observe(self, values_min: np.ndarray, feasible: np.ndarray | None = None,
                at_once: bool = False) -> None:
        """Count new results; fix the reference once :data:`FIX_AFTER` feasible ones exist.

        Args:
            values_min: ``(k, m)`` minimisation-oriented results.
            feasible: optional mask of the feasible rows.
            at_once: fix from these results whatever their number (a sweep's first front).
        """
        if self.reference is not None or self._n < 1:
            return
        F = _feasible_finite(values_min, self._n, feasible)
        if len(F) == 0:
            return
        self._seen = np.concatenate([self._seen, F])
        if at_once or len(self._seen) >= FIX_AFTER:
            source = (f"first {len(self._seen)} feasible results, nadir x 1.1"
                      if not at_once else "first chunk's front, nadir x 1.1")
            self._store(_from_values(self._seen, source))

    def hypervolume(self, front_min: np.ndarray) -> float | None:
        """Normalised hypervolume of a front under the fixed reference (None before it is)."""
        if self.reference is None or self._n < 2:
            return None
        return self.reference.hypervolume(front_min)
