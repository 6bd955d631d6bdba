"""The evolutionary search of sweep mode: whole populations per model call, in the unit cube.

NSGA-II-like (Deb et al., IEEE TEC 6(2), 2002) over the unit-cube encoding of the space
(``Space.decode``): binary tournaments on survival order, uniform crossover (each gene from
either parent with probability 1/2), Gaussian mutation (each gene with probability
``max(1/d, 0.1)``, standard deviation 0.1, clipped to ``[0, 1]``), and survival of the merged
parents and children by constrained non-domination: feasible points first by non-domination
rank, ties at the cut broken by crowding distance

    cd_i = sum_j (f_j[next(i)] - f_j[prev(i)]) / (max f_j - min f_j)   (extremes: infinite),

then the infeasible ones by least total violation ``sum_k max(g_k, 0)``.

One change to the textbook loop: **no design is evaluated twice** (finite spaces). Each point
gets an integer key, the mixed-radix index of its parameter values (:func:`design_keys`,
computed from the unit-cube row the way ``Space.decode`` bins it); children whose design was
already evaluated, or that repeat another child, are dropped before they are decoded, and each
generation draws ``OVERSAMPLE`` times the children it needs so that it still offers a full
population of new designs. In a discrete space the plain loop re-evaluates its own population
more and more often as it converges, and every copy of a front design joins the running front
as a tie until the end: on comet_1t dropping repeats cut the evaluations to 99 % of the true
hypervolume by a quarter, and on vegeta a whole run's evaluations from 7,052 to about 1,400.

Measured and not adopted (``docs/benchmarks.md``): a first generation of four populations
(better on vegeta, whose random sample of 700 already holds 99 %, worse on comet_1t and demo)
and a uniform redraw as the mutation of categorical genes (a third more evaluations on
comet_1t, whose numeric choices are ordered, so a small step is a small change).

The result is the sweep's running front over every point evaluated (an archive of all
non-dominated designs, ``dse._pareto.ParetoFront``), not only the last population.
Deterministic per seed: every draw comes from the sweep state's generator, which the checkpoint
saves together with the population, so a resumed search continues the same sequence.
The choices above are measured on every shipped study with a ground truth in
``benchmarks/search.py`` (``docs/benchmarks.md``, "Search against the true hypervolume").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dse._pareto import pareto_ranks
from dse._problem import Problem
from dse._spec import SweepSpec
from dse._sweep_state import SweepState
from search_spaces import Batch, Int, Param, Space


__all__ = [
    "OVERSAMPLE",
    "PopulationEvaluator",
    "crowding_distance",
    "design_keys",
    "evolve",
    "planned_evaluations",
    "survive",
]

OVERSAMPLE = 2  # children drawn per child needed: dropping repeats still fills a generation
MUTATION_SIGMA = 0.1  # standard deviation of the Gaussian mutation in the unit cube
MAX_KEY = 1 << 62  # larger finite spaces are keyed like continuous ones (no repeat check)

# Evaluates a whole population; the serial one is Problem.evaluate, an executor-backed one
# splits it over workers (dse._run).
PopulationEvaluator = Callable[[Batch], Any]


def planned_evaluations(spec: SweepSpec, space_size: int | None,
                        generations: int | None = None) -> int:
    """Evaluations planned through ``generations`` (default: all): generation 0 and then one
    population per generation.

    An upper bound: in a finite space a generation can offer fewer new designs than a
    population once most designs near the front are evaluated. The sweep's progress counts
    these planned slots, so it ends at its total whatever was dropped.
    """
    pop = spec.population_for(space_size)
    first = pop if space_size is None else min(pop, space_size)
    return first + pop * (spec.generations if generations is None else generations)


def crowding_distance(F: np.ndarray) -> np.ndarray:
    """Crowding distance of each row of ``F`` (extremes of every objective: infinite).

    All objectives at once: one stable argsort per column, the normalised gap between each
    point's neighbours scattered back to its row and summed over the objectives.
    """
    n, m = F.shape
    if n <= 2:
        return np.full(n, np.inf)
    order = np.argsort(F, axis=0, kind="stable")
    f = np.take_along_axis(F, order, axis=0)
    span = f[-1] - f[0]
    gaps = np.where(span > 0, (f[2:] - f[:-2]) / np.where(span > 0, span, 1.0), 0.0)
    contrib = np.zeros((n, m))
    np.put_along_axis(contrib, order[1:-1], gaps, axis=0)
    d = contrib.sum(axis=1)
    d[order[0]] = np.inf
    d[order[-1]] = np.inf
    return d


def total_violation(G: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``sum_k max(g_k, 0)`` per point; failed points (not ``ok``) and NaN count as infinite."""
    if not G.shape[1]:
        return np.where(ok, 0.0, np.inf)
    viol = np.clip(np.nan_to_num(G, nan=np.inf), 0, None).sum(axis=1)
    return np.where(ok, viol, np.inf)


def survive(F: np.ndarray, G: np.ndarray, ok: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` survivors, best first: feasible by rank and crowding, then violation."""
    n = len(F)
    viol = total_violation(G, ok)
    feasible = np.flatnonzero(viol <= 0)
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


def design_keys(space: Space, U: np.ndarray) -> np.ndarray | None:
    """One integer per row of ``U`` naming the design it decodes to, or ``None`` if unkeyable.

    The key is the mixed-radix index of the row's searched values, each value's position in
    its parameter's values, computed from ``U`` the way ``Space.decode`` bins it (so rows are
    keyed before they are decoded). A parameter switched off by its condition counts as its
    first value: rows differing only there are one design. ``None`` for spaces with a
    continuous parameter or more than ``MAX_KEY`` points.
    """
    searched = space.searched
    if any(p.size is None for p in searched):
        return None
    sizes = np.array([p.size or 1 for p in searched], dtype=np.int64)
    if math.prod(sizes.tolist()) > MAX_KEY:
        return None
    # Every column binned at once, as Param.decode bins it; log-spaced Ints bin by value.
    digits = np.minimum((np.clip(U, 0.0, 1.0) * sizes).astype(np.int64), sizes - 1)
    column = {p.name: j for j, p in enumerate(searched)}
    for j, p in enumerate(searched):
        if isinstance(p, Int) and p.log:
            digits[:, j] = np.searchsorted(p.values(), p.decode(U[:, j]))
    conditional = [p for p in searched if p.condition is not None]
    if conditional:
        # The values of every parameter a condition reads (up its chain), for active_mask.
        parents: dict[str, np.ndarray] = {}
        for p in conditional:
            q: Param = p
            while q.condition is not None and q.condition.parent not in parents:
                q = space[q.condition.parent]
                parents[q.name] = (q.decode(U[:, column[q.name]]) if q.name in column
                                   else q.column(q.default, len(U)))
        for p in conditional:
            j = column[p.name]
            digits[:, j] = np.where(space.active_mask(parents, p.name), digits[:, j], 0)
    # Mixed-radix place values: the last parameter varies fastest, as in Space.point.
    place = np.ones(len(sizes), dtype=np.int64)
    place[:-1] = np.cumprod(sizes[::-1])[::-1][1:]
    return digits @ place


def _new_designs(keys: np.ndarray, seen: np.ndarray, want: int) -> np.ndarray:
    """Positions of at most ``want`` keys not in ``seen`` (sorted) and not repeated, in order."""
    _, first = np.unique(keys, return_index=True)
    first.sort()
    pos = np.searchsorted(seen, keys[first])
    known = (pos < len(seen)) & (seen[np.minimum(pos, len(seen) - 1)] == keys[first]) \
        if len(seen) else np.zeros(len(first), dtype=bool)
    return first[~known][:want]


def _children(rng: np.random.Generator, U: np.ndarray, n: int) -> np.ndarray:
    """``n`` children of population ``U`` (best first): tournaments, crossover, mutation."""
    pop_n, d = U.shape
    # Binary tournaments on survival order (lower index = better after survive()).
    a, b = rng.integers(0, pop_n, (2, n))
    parents1 = U[np.minimum(a, b)]
    a, b = rng.integers(0, pop_n, (2, n))
    parents2 = U[np.minimum(a, b)]
    child = np.where(rng.random((n, d)) < 0.5, parents1, parents2)
    mutate = rng.random((n, d)) < max(1.0 / max(d, 1), 0.1)
    child = np.where(mutate, child + rng.normal(0.0, MUTATION_SIGMA, (n, d)), child)
    return np.clip(child, 0.0, 1.0)


def evolve(
    problem: Problem, spec: SweepSpec, state: SweepState,
    on_batch: Callable[[Batch, Any], None], deadline: float | None,
    evaluate: PopulationEvaluator,
) -> None:
    """Run the search from ``state`` (fresh or resumed) to ``spec.generations`` or ``deadline``.

    ``state.extra`` holds the population (``U``, ``F``, ``G``, ``ok``, best first), the
    generation reached and, for a keyed space, the sorted keys of every design evaluated
    (``seen``); ``on_batch`` receives each evaluated batch (and checkpoints the state).
    """
    space = problem.space
    d = len(space.searched)
    rng = state.rng
    pop_n = spec.population_for(space.size)
    extra = state.extra
    if "U" not in extra:
        first_n = pop_n if space.size is None else min(pop_n, space.size)
        U = rng.random((first_n, d))
        keys = design_keys(space, U)
        if keys is not None:
            rows = _new_designs(keys, np.empty(0, dtype=np.int64), first_n)
            U, keys = U[rows], keys[rows]
        batch = space.decode(U)
        ev = evaluate(batch)
        F = np.nan_to_num(ev.F, nan=np.inf)
        keep = survive(F, ev.G, ev.ok, len(F))  # best first, for the tournaments
        extra.update(U=U[keep], F=F[keep], G=ev.G[keep], ok=ev.ok[keep], gen=0)
        if keys is not None:
            extra["seen"] = np.sort(keys)
        on_batch(batch, ev)
    while extra["gen"] < spec.generations:
        if deadline is not None and time.monotonic() > deadline:
            return
        U, F, G, ok = (extra[k] for k in ("U", "F", "G", "ok"))
        seen: np.ndarray | None = extra.get("seen")
        child = _children(rng, U, pop_n * OVERSAMPLE if seen is not None else pop_n)
        if seen is not None:
            keys = design_keys(space, child)
            assert keys is not None
            rows = _new_designs(keys, seen, pop_n)
            child, keys = child[rows], keys[rows]
            if not len(rows):
                # Every child was a known design: an empty generation, reported and
                # checkpointed like the others (an empty batch reaches no model).
                batch = space.decode(child)
                extra["gen"] += 1
                on_batch(batch, problem.evaluate(batch))
                continue
            extra["seen"] = np.union1d(seen, keys)
        batch = space.decode(child)
        ev = evaluate(batch)
        allU = np.concatenate([U, child])
        allF = np.concatenate([F, np.nan_to_num(ev.F, nan=np.inf)])
        allG = np.concatenate([G, ev.G])
        allok = np.concatenate([ok, ev.ok])
        keep = survive(allF, allG, allok, pop_n)
        extra.update(U=allU[keep], F=allF[keep], G=allG[keep], ok=allok[keep],
                     gen=extra["gen"] + 1)
        on_batch(batch, ev)
