"""Evaluating one batch on a worker: failure isolation, pruning context, result packaging.

A model that raises fails only the points it raised for: a failing batch is re-run point by
point so one bad point does not fail its neighbours. NaN objectives are reported per point with
the metric's name. The outcome is plain numpy, so it crosses process boundaries cheaply.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from costmodels import PruneRequested
from dse._problem import Problem


__all__ = ["BatchOutcome", "JobFailure", "PointContext", "evaluate_batch", "work"]


@dataclass(frozen=True)
class JobFailure:
    """A job that produced no result, with the reason (executors turn it into a failed Done)."""

    reason: str


@dataclass
class BatchOutcome:
    """Per-point results of one batch (``errors[i]`` / ``pruned[i]`` mark failed points)."""

    n: int
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    values: np.ndarray | None = None
    G: np.ndarray | None = None
    errors: list[str | None] = field(default_factory=list)
    pruned: list[bool] = field(default_factory=list)


class PointContext:
    """The :class:`costmodels.EvalContext` for one point: forwards reports, asks for pruning."""

    def __init__(
        self,
        key: int,
        report: Callable[[int, int, Mapping[str, float]], None],
        should_prune: Callable[[int], bool],
    ) -> None:
        self.key = key
        self._report = report
        self._should_prune = should_prune

    def report(self, step: int, values: Mapping[str, float]) -> None:
        self._report(self.key, step, {k: float(v) for k, v in values.items()})

    def should_prune(self) -> bool:
        return self._should_prune(self.key)


def _one_line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    loc = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}: {msg}{loc}"[:500]


def evaluate_batch(
    problem: Problem,
    batch: Mapping[str, np.ndarray],
    keys: list[int],
    contexts: Callable[[int], Any] | None = None,
) -> BatchOutcome:
    """Evaluate ``batch`` (one point per entry of ``keys``) with failure isolation."""
    n = len(keys)
    context = contexts(keys[0]) if contexts is not None and n == 1 else None
    try:
        ev = problem.evaluate(batch, context)
    except PruneRequested:
        return BatchOutcome(n, errors=[None] * n, pruned=[True] * n)
    except Exception as exc:  # a failing model fails its points, not the study
        if n == 1:
            return BatchOutcome(n, errors=[_one_line(exc)], pruned=[False])
        parts = [
            evaluate_batch(problem, {k: v[i : i + 1] for k, v in batch.items()}, [keys[i]],
                           contexts)
            for i in range(n)
        ]
        return _concat(parts)
    errors: list[str | None] = [None] * n
    ok = ev.ok
    for i in np.flatnonzero(~ok):
        errors[i] = ev.nan_reason(int(i), problem.objective_keys)
    return BatchOutcome(n, ev.metrics, ev.values, ev.G, errors, [False] * n)


def _concat(parts: list[BatchOutcome]) -> BatchOutcome:
    n = sum(p.n for p in parts)
    good = [p for p in parts if p.values is not None]
    out = BatchOutcome(n, errors=[e for p in parts for e in p.errors],
                       pruned=[x for p in parts for x in p.pruned])
    if not good:
        return out
    k = good[0].values.shape[1]  # type: ignore[union-attr]
    c = good[0].G.shape[1]  # type: ignore[union-attr]
    out.values = np.full((n, k), np.nan)
    out.G = np.full((n, c), np.nan)
    keys = list(good[0].metrics)
    out.metrics = {key: np.full(n, np.nan) for key in keys}
    i = 0
    for p in parts:
        if p.values is not None:
            out.values[i : i + p.n] = p.values
            out.G[i : i + p.n] = p.G  # type: ignore[index]
            for key in keys:
                out.metrics[key][i : i + p.n] = p.metrics[key]
        i += p.n
    return out


class _CurveRecorder:
    """An :class:`costmodels.EvalContext` that keeps the first curve reported to it."""

    def __init__(self) -> None:
        self.curve: list[tuple[int, float]] = []
        self._closed = False

    def report(self, step: int, values: Mapping[str, float]) -> None:
        if self._closed or not values:
            return
        if self.curve and step <= self.curve[-1][0]:
            self._closed = True  # a second model (or seed) starts its own curve
            return
        self.curve.append((int(step), float(next(iter(values.values())))))

    def should_prune(self) -> bool:
        return False


def _first_curve(inner: Problem) -> list[tuple[int, float]]:
    """The training curve of a nested proposal's expensive model (its first one, in pipeline
    order): one point of the inner space is evaluated with a recording context, so the
    proposal's training runs (or is read from its cache) once, reporting; the inner sweep then
    finds it memoized. Empty when no model is expensive or that point is screened out."""
    if not any(m.expensive for m in inner.models.values()):
        return []
    recorder = _CurveRecorder()
    inner.evaluate(inner.space.complete({}), recorder)
    return recorder.curve


def work(
    problem: Problem,
    kind: str,
    payload: Any,
    keys: list[int],
    contexts: Callable[[int], Any] | None = None,
) -> Any:
    """Run one job on a worker: ``batch`` (trial mode), ``chunk`` (an index range of an
    exhaustive sweep), ``points`` (part of an evolutionary population) or ``inner_sweep``
    (nested mode).

    An ``inner_sweep`` job pins the outer parameters in ``payload["outer"]`` and sweeps the
    rest; it returns the inner front as columns, or a :class:`JobFailure`, never raises.
    """
    if kind == "batch":
        return evaluate_batch(problem, payload, keys, contexts)
    if kind == "inner_sweep":
        from dse._sweep import run_sweep

        try:
            inner = problem.pinned(payload["outer"])
            curve = _first_curve(inner)
            result = run_sweep(inner, payload["sweep"], payload.get("seed"))
        except Exception as exc:  # a failing model fails this proposal, not the study
            return JobFailure(_one_line(exc))
        return {"front": result.front, "evaluated": result.evaluated,
                "least_violating": result.least_violating, "curve": curve}
    if kind == "chunk":
        from dse._sweep import evaluate_range

        return evaluate_range(problem, *payload)
    if kind == "points":
        return problem.evaluate(payload)
    raise ValueError(f"unknown job kind {kind!r}")
