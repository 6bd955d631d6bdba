"""Sweep mode: exhaustive enumeration or a vectorized evolutionary search, for cheap models.

Optuna costs milliseconds per trial; an analytical model costs microseconds per point. A sweep
therefore evaluates whole chunks of ``chunk_size`` points at once and streams them through

* a running Pareto filter over the feasible points (:class:`dse._pareto.ParetoFront`),
* a reservoir sample of ``sample_rest`` other points (kept for context in the dashboards),
* optionally a columnar file holding every point (:mod:`dse._columnar`),

in memory bounded by the chunk size plus the front. The front and the sample are then written to
the Optuna study as completed trials, so dashboards and export treat sweeps and trials alike.
A checkpoint after each chunk lets a killed sweep resume where it stopped.

The evolutionary search is NSGA-II-like (Deb et al., IEEE TEC 6(2), 2002): uniform crossover
and Gaussian mutation in the unit-cube encoding of the space, survival by constrained
non-domination rank then crowding distance, over whole populations at a time.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dse._columnar import ColumnarWriter
from dse._errors import DseError
from dse._pareto import ParetoFront, pareto_ranks
from dse._problem import Problem
from dse._spec import SweepSpec
from search_spaces import Batch, Space


__all__ = [
    "ChunkEvaluator",
    "PopulationEvaluator",
    "SweepResult",
    "chunk_ranges",
    "crowding_distance",
    "evaluate_range",
    "run_sweep",
]


@dataclass
class SweepResult:
    """What a sweep found.

    ``front`` and ``sample`` are column dicts holding params, objective values (``F`` oriented
    for minimization in ``__F``), violations and metrics of the points. When no point was
    feasible, ``least_violating`` holds the point of least total violation (one row).
    """

    evaluated: int
    feasible: int
    failed: int
    front: dict[str, np.ndarray]
    sample: dict[str, np.ndarray]
    seconds: float
    sweep_dir: Path | None = None
    chunks: int = 0
    complete: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    least_violating: dict[str, np.ndarray] = field(default_factory=dict)


class _Reservoir:
    """A uniform sample of ``k`` points over a stream, by smallest random keys."""

    def __init__(self, k: int, rng: np.random.Generator) -> None:
        self.k = k
        self.rng = rng
        self.keys = np.empty(0)
        self.cols: dict[str, np.ndarray] = {}

    def offer(self, candidates: np.ndarray,
              gather: Callable[[np.ndarray], dict[str, np.ndarray]]) -> None:
        """Offer the chunk rows ``candidates``; only the taken rows are gathered."""
        n = len(candidates)
        if self.k == 0 or n == 0:
            return
        if len(self.keys) >= self.k:
            # Only keys below the current k-th smallest can enter: draw how many of the n
            # uniform keys fall there, where, and their values, instead of all n keys.
            threshold = float(self.keys.max())
            count = int(self.rng.binomial(n, threshold))
            if count == 0:
                return
            take = np.sort(self.rng.choice(n, count, replace=False))
            keys = np.zeros(n)
            keys[take] = self.rng.random(count) * threshold
        else:
            keys = self.rng.random(n)
            take = np.arange(n)
        if len(take) > self.k:
            take = take[np.argpartition(keys[take], self.k - 1)[: self.k]]
        cols = gather(candidates[take])
        new_keys = np.concatenate([self.keys, keys[take]])
        merged = {c: np.concatenate([self.cols[c], v]) if c in self.cols else v
                  for c, v in cols.items()}
        if len(new_keys) > self.k:
            keep = np.argpartition(new_keys, self.k - 1)[: self.k]
            new_keys = new_keys[keep]
            merged = {c: v[keep] for c, v in merged.items()}
        self.keys, self.cols = new_keys, merged


def _columns(
    problem: Problem, batch: Batch, ev: Any, rows: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Params, metrics, ``__F`` and ``__G`` of a chunk (only ``rows`` when given)."""
    cols = {p.name: np.asarray(batch[p.name]) for p in problem.space.params}
    cols.update({k: np.asarray(v) for k, v in ev.metrics.items()})
    cols["__F"] = ev.F
    cols["__G"] = ev.G
    if rows is not None:
        cols = {k: v[rows] for k, v in cols.items()}
    return cols


def _flat(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v for k, v in cols.items() if not k.startswith("__")}


class _State:
    """Everything a sweep accumulates; pickled as the checkpoint."""

    def __init__(self, n_obj: int, sample_rest: int, seed: int | None) -> None:
        self.front = ParetoFront(n_obj)
        self.rng = np.random.default_rng(seed)
        self.reservoir = _Reservoir(sample_rest, self.rng)
        self.evaluated = 0
        self.feasible = 0
        self.failed = 0
        self.chunks = 0
        self.written = 0
        self.extra: dict[str, Any] = {}
        # While nothing is feasible: the evaluated point of least total violation.
        self.least_violation = np.inf
        self.least_violating: dict[str, np.ndarray] = {}

    def absorb(self, problem: Problem, batch: Batch, ev: Any) -> None:
        ok = ev.ok
        feasible = ev.feasible_where(ok)
        feasible_rows = np.flatnonzero(feasible)
        self.evaluated += len(ok)
        self.feasible += len(feasible_rows)
        self.failed += int(len(ok) - np.count_nonzero(ok))

        def gather_feasible(idx: np.ndarray) -> dict[str, np.ndarray]:
            return _columns(problem, batch, ev, feasible_rows[idx])

        def gather(rows: np.ndarray) -> dict[str, np.ndarray]:
            return _columns(problem, batch, ev, rows)

        if len(feasible_rows):
            self.front.update(ev.F[feasible_rows], gather_feasible)
        elif not self.feasible and ok.any() and ev.G.shape[1]:
            total = np.where(ok, np.clip(ev.G, 0.0, None).sum(axis=1), np.inf)
            best = int(np.argmin(total))
            if total[best] < self.least_violation:
                self.least_violation = float(total[best])
                self.least_violating = gather(np.asarray([best]))
        self.reservoir.offer(np.flatnonzero(ok), gather)
        self.chunks += 1


def _checkpoint_path(sweep_dir: Path) -> Path:
    return sweep_dir.with_suffix(".checkpoint")


def _save_checkpoint(path: Path, state: _State, fingerprint: str) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump({"fingerprint": fingerprint, "state": state}, fh)
    tmp.replace(path)


def _load_checkpoint(path: Path, fingerprint: str) -> _State | None:
    if not path.exists():
        return None
    try:
        with path.open("rb") as fh:
            data = pickle.load(fh)
    except Exception:
        return None  # a torn checkpoint means starting over, never a crash
    if data.get("fingerprint") != fingerprint:
        return None
    state = data["state"]
    return state if isinstance(state, _State) else None


def chunk_ranges(space: Space, chunk: int, start_chunk: int = 0) -> Iterator[tuple[int, int]]:
    """Index ranges ``[start, stop)`` of an exhaustive sweep, chunk by chunk."""
    size = space.size
    if size is None:
        bad = [p.name for p in space.params if p.size is None]
        raise DseError(
            f"an exhaustive sweep needs a finite space; {', '.join(bad)} are continuous: give "
            "them steps or choices in [space.override], or use sweep.method = 'evolutionary'"
        )
    for start in range(start_chunk * chunk, size, chunk):
        yield start, min(start + chunk, size)


def evaluate_range(problem: Problem, start: int, stop: int) -> tuple[Batch, Any]:
    """Enumerate and evaluate points ``start .. stop - 1`` of a finite space."""
    batch = problem.space.point(np.arange(start, stop, dtype=np.int64), distinct=True)
    return batch, problem.evaluate(batch)


# Maps chunk ranges to (batch, evaluation) pairs, in order; the serial one evaluates in-process,
# an executor-backed one spreads chunks over workers (dse._run).
ChunkEvaluator = Callable[[Iterator[tuple[int, int]]], Iterator[tuple[Batch, Any]]]


def _serial_chunks(problem: Problem) -> ChunkEvaluator:
    def run(ranges: Iterator[tuple[int, int]]) -> Iterator[tuple[Batch, Any]]:
        for start, stop in ranges:
            yield evaluate_range(problem, start, stop)

    return run


def crowding_distance(F: np.ndarray) -> np.ndarray:
    n, m = F.shape
    if n <= 2:
        return np.full(n, np.inf)
    d = np.zeros(n)
    for j in range(m):
        order = np.argsort(F[:, j], kind="stable")
        f = F[order, j]
        span = f[-1] - f[0]
        d[order[[0, -1]]] = np.inf
        if span > 0:
            d[order[1:-1]] += (f[2:] - f[:-2]) / span
    return d


def _survive(F: np.ndarray, G: np.ndarray, ok: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` survivors: feasible by rank and crowding, then least violation."""
    n = len(F)
    viol = np.where(ok, np.clip(np.nan_to_num(G, nan=np.inf), 0, None).sum(axis=1)
                    if G.shape[1] else 0.0, np.inf)
    feasible = np.flatnonzero(ok & (viol <= 0))
    chosen: list[np.ndarray] = []
    taken = 0
    # One non-dominated sort (moocore) gives every layer at once.
    ranks = pareto_ranks(F[feasible])
    for r in range(int(ranks.max()) + 1 if len(ranks) else 0):
        if taken >= k:
            break
        layer = feasible[ranks == r]
        if taken + len(layer) > k:
            crowd = crowding_distance(F[layer])
            layer = layer[np.argsort(-crowd, kind="stable")[: k - taken]]
        chosen.append(layer)
        taken += len(layer)
    if taken < k:
        rest = np.setdiff1d(np.arange(n), np.concatenate(chosen) if chosen else [])
        chosen.append(rest[np.argsort(viol[rest], kind="stable")[: k - taken]])
    return np.concatenate(chosen) if chosen else np.arange(min(k, n))


# Evaluates a whole population; the serial one is Problem.evaluate, an executor-backed one
# splits it over workers (dse._run).
PopulationEvaluator = Callable[[Batch], Any]


def _evolve(
    problem: Problem, spec: SweepSpec, state: _State,
    on_batch: Callable[[Batch, Any], None], deadline: float | None,
    evaluate: PopulationEvaluator,
) -> None:
    space = problem.space
    d = len(space.searched)
    rng = state.rng
    pop_n = spec.population
    if "U" not in state.extra:
        U = rng.random((pop_n, d))
        batch = space.decode(U)
        ev = evaluate(batch)
        state.extra.update(U=U, F=np.nan_to_num(ev.F, nan=np.inf), G=ev.G, ok=ev.ok, gen=0)
        on_batch(batch, ev)
    while state.extra["gen"] < spec.generations:
        if deadline is not None and time.monotonic() > deadline:
            return
        U, F, G, ok = (state.extra[k] for k in ("U", "F", "G", "ok"))
        # Binary tournaments on survival order (lower index = better after _survive).
        a, b = rng.integers(0, pop_n, (2, pop_n))
        parents1 = U[np.minimum(a, b)]
        a, b = rng.integers(0, pop_n, (2, pop_n))
        parents2 = U[np.minimum(a, b)]
        cross = rng.random((pop_n, d)) < 0.5
        child = np.where(cross, parents1, parents2)
        mutate = rng.random((pop_n, d)) < max(1.0 / max(d, 1), 0.1)
        child = np.where(mutate, child + rng.normal(0.0, 0.1, (pop_n, d)), child)
        child = np.clip(child, 0.0, 1.0)
        batch = space.decode(child)
        ev = evaluate(batch)
        allU = np.concatenate([U, child])
        allF = np.concatenate([F, np.nan_to_num(ev.F, nan=np.inf)])
        allG = np.concatenate([G, ev.G])
        allok = np.concatenate([ok, ev.ok])
        keep = _survive(allF, allG, allok, pop_n)
        state.extra.update(U=allU[keep], F=allF[keep], G=allG[keep], ok=allok[keep],
                           gen=state.extra["gen"] + 1)
        on_batch(batch, ev)


def run_sweep(
    problem: Problem,
    spec: SweepSpec,
    seed: int | None = None,
    sweep_dir: Path | None = None,
    fingerprint: str = "",
    progress: Callable[[_State], None] | None = None,
    timeout_s: float | None = None,
    chunk_evaluator: ChunkEvaluator | None = None,
    population_evaluator: PopulationEvaluator | None = None,
) -> SweepResult:
    """Run a sweep over ``problem.space``; resumes from ``sweep_dir``'s checkpoint if present."""
    t0 = time.perf_counter()
    deadline = time.monotonic() + timeout_s if timeout_s else None
    checkpoint = _checkpoint_path(sweep_dir) if sweep_dir is not None else None
    state = _load_checkpoint(checkpoint, fingerprint) if checkpoint is not None else None
    resumed = state is not None
    if state is None:
        state = _State(len(problem.objectives), spec.sample_rest, seed)
    writer = None
    if sweep_dir is not None and spec.save != "none":
        writer = ColumnarWriter(sweep_dir, resume_rows=state.written if resumed else None)

    def write(batch: Batch, ev: Any) -> None:
        if writer is None:
            return
        if spec.save == "front":
            return
        feasible = ev.feasible
        if spec.save == "feasible":
            cols = _flat(_columns(problem, batch, ev, np.flatnonzero(feasible)))
            cols["feasible"] = np.ones(len(cols["__F"]) if "__F" in cols else
                                       int(feasible.sum()), dtype=bool)
        else:
            cols = _flat(_columns(problem, batch, ev))
            cols["feasible"] = feasible
        writer.append(cols)
        state.written = writer.n

    def after_chunk() -> None:
        if checkpoint is not None:
            _save_checkpoint(checkpoint, state, fingerprint)
        if progress is not None:
            progress(state)

    def on_batch(batch: Batch, ev: Any) -> None:
        state.absorb(problem, batch, ev)
        write(batch, ev)
        after_chunk()

    complete = True
    if spec.method == "exhaustive":
        evaluate = chunk_evaluator or _serial_chunks(problem)
        for batch, ev in evaluate(chunk_ranges(problem.space, spec.chunk_size, state.chunks)):
            on_batch(batch, ev)
            if deadline is not None and time.monotonic() > deadline:
                complete = (state.chunks * spec.chunk_size) >= (problem.space.size or 0)
                break
    else:
        # A wall-time budget is how an evolutionary search may be meant to end: it completes.
        _evolve(problem, spec, state, on_batch, deadline,
                population_evaluator or problem.evaluate)
        complete = True
    if writer is not None and spec.save == "front":
        writer.append({**_flat(state.front.payload),
                       "feasible": np.ones(len(state.front), dtype=bool)})
    folder = writer.close() if writer is not None else None
    if complete and checkpoint is not None and checkpoint.exists():
        checkpoint.unlink()
    return SweepResult(
        evaluated=state.evaluated,
        feasible=state.feasible,
        failed=state.failed,
        front=state.front.payload,
        sample=state.reservoir.cols,
        seconds=time.perf_counter() - t0,
        sweep_dir=folder,
        chunks=state.chunks,
        complete=complete,
        least_violating={} if state.feasible else state.least_violating,
    )
