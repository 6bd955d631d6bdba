"""Sweep mode: exhaustive enumeration or a vectorized evolutionary search, for cheap models.

Optuna costs milliseconds per trial; an analytical model costs microseconds per point. A sweep
therefore evaluates whole chunks of ``chunk_size`` points at once and streams them through

* a running Pareto filter over the feasible points (:class:`dse._pareto.ParetoFront`), which
  keeps every tie (designs with equal objectives); only the same design evaluated twice is
  folded at the end (:func:`distinct_designs`);
* a reservoir sample of ``sample_rest`` other points (kept for context in the dashboards);
* a columnar points table (:mod:`dse._columnar`) of the feasible points, or of every point
  with ``save = "all"``, each row numbered by ``row`` (evaluation order);

in memory bounded by the chunk size plus the front. A complete sweep writes its whole front to
a front table. The caller then records the front and the sample as completed trials, so
dashboards and export treat sweeps and trials alike. After every chunk the table's row count
and a plain-data checkpoint (:mod:`dse._sweep_state`) are published, so a killed sweep resumes
where it stopped with no row lost or repeated; the checkpoint outlives the sweep until the
caller has recorded it (:func:`finish_sweep`).

The evolutionary search (whole populations per model call, NSGA-II-like survival) is
:mod:`dse._evolution`; this module streams what it evaluates like any other chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dse._columnar import ColumnarWriter, table_bytes
from dse._errors import DseError
from dse._evolution import PopulationEvaluator, crowding_distance, evolve
from dse._problem import Problem
from dse._spec import SweepSpec
from dse._sweep_state import SweepState, load_checkpoint, save_checkpoint
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
    #: The per-chunk history the progress hook kept in the sweep's state (checkpointed with it).
    history: dict[str, list[Any]] = field(default_factory=dict)


ROW = "row"  # the column numbering evaluated points in order: each point's key
SYNC_INTERVAL_S = 1.0  # at most one fsync of the sweep's files per this many seconds


def _columns(
    problem: Problem, batch: Batch, ev: Any, first_row: int, rows: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Params, metrics, ``__F``, ``__G`` and ``__row`` of a chunk (only ``rows`` when given)."""
    cols = {p.name: np.asarray(batch[p.name]) for p in problem.space.params}
    cols.update({k: np.asarray(v) for k, v in ev.metrics.items()})
    cols["__F"] = ev.F
    cols["__G"] = ev.G
    cols["__row"] = np.arange(first_row, first_row + len(ev.F), dtype=np.int64)
    if rows is not None:
        cols = {k: v[rows] for k, v in cols.items()}
    return cols


def table_columns(problem: Problem, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns a sweep table stores: params, metrics, constraint values and the row key."""
    out = {k: v for k, v in cols.items() if not k.startswith("__")}
    G = cols["__G"]
    for j, key in enumerate(problem.constraint_keys):
        out[f"constraint:{key}"] = G[:, j]
    out[ROW] = cols["__row"]
    return out


def table_roles(problem: Problem) -> dict[str, list[str]]:
    """Column names by role, stored in each sweep table's ``meta.json`` for readers."""
    return {
        "params": [p.name for p in problem.space.params],
        "objectives": list(problem.objective_keys),
        "constraints": [f"constraint:{k}" for k in problem.constraint_keys],
        "key": [ROW],
    }


def distinct_designs(space: Space, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One row per distinct design (params equal where active), first occurrence first.

    Equal objective vectors of *different* designs are all kept (every tie is on the front);
    only the same design evaluated twice, which the evolutionary search can do, is dropped.
    """
    if not cols or len(cols["__F"]) < 2:
        return cols
    flat = {k: v for k, v in cols.items() if not k.startswith("__")}
    codes = []
    for p in space.params:
        if p.name not in cols:
            continue
        _, code = np.unique(np.asarray(cols[p.name]), return_inverse=True)
        code = code.astype(np.int64).ravel()
        code[~space.active_mask(flat, p.name)] = -1  # inactive: any value is the same design
        codes.append(code)
    if not codes:
        return cols
    _, first = np.unique(np.stack(codes, axis=1), axis=0, return_index=True)
    if len(first) == len(cols["__F"]):
        return cols
    first.sort()
    return {c: v[first] for c, v in cols.items()}


def _absorb(state: SweepState, problem: Problem, batch: Batch, ev: Any) -> None:
    """Fold one evaluated chunk into the running front, sample and counters."""
    ok = ev.ok
    feasible = ev.feasible_where(ok)
    feasible_rows = np.flatnonzero(feasible)
    first_row = state.evaluated
    state.evaluated += len(ok)
    state.feasible += len(feasible_rows)
    state.failed += int(len(ok) - np.count_nonzero(ok))

    def gather_feasible(idx: np.ndarray) -> dict[str, np.ndarray]:
        return _columns(problem, batch, ev, first_row, feasible_rows[idx])

    def gather(rows: np.ndarray) -> dict[str, np.ndarray]:
        return _columns(problem, batch, ev, first_row, rows)

    if len(feasible_rows):
        state.front.update(ev.F[feasible_rows], gather_feasible)
    elif not state.feasible and ok.any() and ev.G.shape[1]:
        total = np.where(ok, np.clip(ev.G, 0.0, None).sum(axis=1), np.inf)
        best = int(np.argmin(total))
        if total[best] < state.least_violation:
            state.least_violation = float(total[best])
            state.least_violating = gather(np.asarray([best]))
    state.reservoir.offer(np.flatnonzero(ok), gather)
    state.chunks += 1


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


def sweep_files(sweep_dir: Path) -> dict[str, Path]:
    """The files of a sweep in a study's folder: points table, front table, checkpoint."""
    return {"points": sweep_dir / "points", "front": sweep_dir / "front",
            "checkpoint": sweep_dir / "checkpoint.npz"}


def files_bytes(sweep_dir: Path | None) -> int:
    """Bytes on disk of a sweep's files."""
    if sweep_dir is None:
        return 0
    files = sweep_files(sweep_dir)
    ckpt = files["checkpoint"]
    return (table_bytes(files["points"]) + table_bytes(files["front"])
            + (ckpt.stat().st_size if ckpt.is_file() else 0))


def finish_sweep(sweep_dir: Path) -> None:
    """Remove the checkpoint once the sweep's result is recorded in the study."""
    sweep_files(sweep_dir)["checkpoint"].unlink(missing_ok=True)


def _points_writer(
    problem: Problem, spec: SweepSpec, folder: Path, state: SweepState, resumed: bool
) -> ColumnarWriter | None:
    if spec.save not in ("all", "feasible"):
        return None
    return ColumnarWriter(folder, resume_rows=state.written if resumed else None,
                          roles=table_roles(problem))


def run_sweep(
    problem: Problem,
    spec: SweepSpec,
    seed: int | None = None,
    sweep_dir: Path | None = None,
    fingerprint: str = "",
    progress: Callable[[SweepState], None] | None = None,
    timeout_s: float | None = None,
    chunk_evaluator: ChunkEvaluator | None = None,
    population_evaluator: PopulationEvaluator | None = None,
    guard: Callable[[], None] | None = None,
) -> SweepResult:
    """Run a sweep over ``problem.space``; resumes from ``sweep_dir``'s checkpoint if present.

    ``guard`` is called before each write to ``sweep_dir`` (a chunk, the front) and raises to
    stop the sweep there: a driver whose claim on the study was taken over writes nothing more.

    With a ``sweep_dir`` every chunk is durable when the next starts: the points table's rows
    and row count, then the checkpoint. A complete sweep writes its whole front (ties included)
    to the front table and leaves its checkpoint, marked complete, until the caller has
    recorded the result and calls :func:`finish_sweep`; a re-run before that evaluates nothing.
    """
    t0 = time.perf_counter()
    deadline = time.monotonic() + timeout_s if timeout_s else None
    n_obj = len(problem.objectives)
    files = sweep_files(sweep_dir) if sweep_dir is not None else None
    state = load_checkpoint(files["checkpoint"], fingerprint, n_obj) if files else None
    resumed = state is not None
    if state is None:
        state = SweepState(n_obj, spec.sample_rest, seed)
    writer = None
    if files is not None and not state.complete:
        try:
            writer = _points_writer(problem, spec, files["points"], state, resumed)
            if resumed and writer is not None and writer.n != state.written:
                raise DseError("the points table is gone")
        except DseError:
            if not resumed:
                raise  # a folder this module did not write: refused, left alone
            # The table no longer holds what the checkpoint accounts for: start over.
            state, resumed = SweepState(n_obj, spec.sample_rest, seed), False
            writer = _points_writer(problem, spec, files["points"], state, resumed)

    def write(batch: Batch, ev: Any, first_row: int, sync: bool) -> None:
        if writer is None:
            return
        rows = None if spec.save == "all" else np.flatnonzero(ev.feasible)
        cols = table_columns(problem, _columns(problem, batch, ev, first_row, rows))
        cols["feasible"] = ev.feasible if rows is None else np.ones(len(rows), dtype=bool)
        writer.append(cols, sync=sync)
        state.written = writer.n

    last_sync = -np.inf

    def on_batch(batch: Batch, ev: Any) -> None:
        nonlocal last_sync
        if guard is not None:
            guard()
        # Every chunk survives a killed process; fsyncs (for power loss) at most once a second.
        sync = time.monotonic() - last_sync >= SYNC_INTERVAL_S
        if sync:
            last_sync = time.monotonic()
        first_row = state.evaluated
        _absorb(state, problem, batch, ev)
        write(batch, ev, first_row, sync)
        if progress is not None:
            progress(state)  # before the checkpoint: the history it extends is checkpointed
        if files is not None:
            save_checkpoint(files["checkpoint"], state, fingerprint, sync=sync)

    complete = True
    if state.complete:
        pass  # evaluated and checkpointed before; only the recording was left
    elif spec.method == "exhaustive":
        evaluate = chunk_evaluator or _serial_chunks(problem)
        for batch, ev in evaluate(chunk_ranges(problem.space, spec.chunk_size, state.chunks)):
            on_batch(batch, ev)
            if deadline is not None and time.monotonic() > deadline:
                complete = (state.chunks * spec.chunk_size) >= (problem.space.size or 0)
                break
    else:
        # A wall-time budget is how an evolutionary search may be meant to end: it completes.
        evolve(problem, spec, state, on_batch, deadline,
               population_evaluator or problem.evaluate)
    if writer is not None:
        writer.close()  # syncs what the last chunks left unsynced
    front = distinct_designs(problem.space, state.front.payload)
    if complete and not state.complete:
        if guard is not None:
            guard()
        if files is not None and spec.save != "none":
            front_table = ColumnarWriter(files["front"], roles=table_roles(problem))
            if front:
                front_table.append({**table_columns(problem, front),
                                    "feasible": np.ones(len(front["__F"]), dtype=bool)})
        state.complete = True
        if files is not None:
            save_checkpoint(files["checkpoint"], state, fingerprint)
    return SweepResult(
        evaluated=state.evaluated,
        feasible=state.feasible,
        failed=state.failed,
        front=front,
        sample=state.reservoir.cols,
        seconds=time.perf_counter() - t0,
        sweep_dir=sweep_dir,
        chunks=state.chunks,
        complete=complete,
        least_violating={} if state.feasible else state.least_violating,
        history={k: list(v) for k, v in state.history.items()},
    )
