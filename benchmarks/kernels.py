"""Pareto and hypervolume kernels: moocore (what dse uses) against the numpy code dse had
before, side by side in one run, on identical inputs, with identical answers checked.

Measured (issue "Search that can be trusted and compared", goal: the survival step at least
100x faster at a population of 1,024 on three objectives):

1. The evolutionary sweep's survival step (non-dominated sorting + crowding) on a merged
   population of 2 x 1,024 points, three objectives, taking 1,024.
2. Non-dominated filtering of 10^4 and 10^6 points, 2 to 4 objectives.
3. Exact hypervolume of mutually non-dominated fronts, 3 to 5 objectives.

Usage: ``python benchmarks/kernels.py [--quick]``. Times are the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks import _baseline_kernels as before
from benchmarks._common import machine_line
from dse._evolution import survive
from dse._hypervolume import hypervolume
from dse._pareto import nondominated_mask


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _population(n: int, m: int, seed: int) -> np.ndarray:
    # A DTLZ2-like cloud: a curved front plus dominated points behind it, as a population
    # mid-run looks (several fronts, many ties in rank).
    rng = np.random.default_rng(seed)
    x = rng.random((n, m))
    return x / np.linalg.norm(x, axis=1, keepdims=True) * (1 + 0.5 * rng.random((n, 1)))


def _row(what: str, t_old: float, t_new: float) -> None:
    print(f"  {what:<48} before {t_old * 1e3:10.2f} ms   moocore {t_new * 1e3:9.3f} ms   "
          f"{t_old / t_new:8.0f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs (a smoke run)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(machine_line())
    big = 100_000 if args.quick else 1_000_000

    print("survival step (rank + crowding), 3 objectives:")
    for pop in (256, 1024) if args.quick else (256, 1024, 4096):
        F = _population(2 * pop, 3, pop)
        G = np.empty((len(F), 0))
        ok = np.ones(len(F), dtype=bool)
        t_old, a = _best(lambda F=F, pop=pop: before.survive(F, pop), args.repeat)
        t_new, b = _best(lambda F=F, G=G, ok=ok, pop=pop: survive(F, G, ok, pop), args.repeat)
        assert sorted(a.tolist()) == sorted(b.tolist()), "survivors differ"
        _row(f"population {pop} (merged {2 * pop})", t_old, t_new)

    print("non-dominated filter:")
    for n, m in ((10_000, 2), (10_000, 3), (10_000, 4), (big, 3)):
        F = np.random.default_rng(n + m).random((n, m))
        t_old, a = _best(lambda F=F: before.nondominated_mask(F), 1 if n > 10**5 else args.repeat)
        t_new, b = _best(lambda F=F: nondominated_mask(F), args.repeat)
        assert np.array_equal(a, b), "fronts differ"
        _row(f"{n:,} points, {m} objectives (front {int(b.sum())})", t_old, t_new)

    print("exact hypervolume of a non-dominated front:")
    for n, m in ((1_000, 3), (5_000, 3), (300, 4), (100, 5)):
        F = _population(n, m, n * m)
        F = F[nondominated_mask(F)]
        ref = np.full(m, 1.6)
        t_old, a = _best(lambda F=F, ref=ref: before.hypervolume(F, ref), 1)
        t_new, b = _best(lambda F=F, ref=ref: hypervolume(F, ref), args.repeat)
        assert abs(a - b) <= 1e-9 * max(abs(a), 1.0), (a, b)
        _row(f"{len(F):,} points, {m} objectives", t_old, t_new)


if __name__ == "__main__":
    main()
