"""Benchmarks of the SUSHI serving model (costmodels.sushi): the fast path against the reference
implementation, side by side in one run, and a reference front of the ``sushi_cache`` study.

The reference (``SushiModel(impl="reference")``) is the model as it was before the fast path:
tables per point, one simulation per (pool, trace, Q, window) group with the no-PB baseline
stacked on the point axis. Both run on the same points and the same traces; every comparison also
checks the outputs agree (largest relative difference, switch counts equal). Each comparison
first evaluates its first batch with both, untimed (pools, traces and the fast path's memos
built), then times every batch.

1. One hardware point, 10,000-query trace (the anchors' regime), warm.
2. The ``sushi_cache`` workload (2,000-query Markov trace): 4,096 points sampled from the
   whole space, evaluated in batches of 512 (the study's evolutionary population).
3. The same workload in the sweep's enumeration order: 3 chunks of 4,096 consecutive points.
4. 1,000 sampled points with 10,000-query traces, and the Pareto front of the feasible ones.
5. Reference front of ``sushi_cache`` on an exhaustively swept sub-space (``--no-front`` skips
   it): the study's grid with the PE array fixed at the SushiAccel design (16x9x9), every clock;
   feasible = on-chip memory, MAC budget and SLO misses <= 5 %. Every point is enumerated;
   those whose buffers exceed the on-chip memory or whose PE array exceeds the MAC budget are
   infeasible from their columns alone (the model's violation outputs, the same formulas) and
   are not served; every other point is evaluated.

Goal: the fast path at least 10x the reference's points per CPU-second on the same traces.
Timing goals are reported, never asserted. Run: ``python benchmarks/sushi.py [--no-front]``.
"""

from __future__ import annotations

import sys
from pathlib import Path as _Path


sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))

import argparse
import time
from collections.abc import Callable, Iterator, Mapping

import numpy as np

from benchmarks._common import machine_line
from costmodels.sushi import SushiModel, pareto_mask
from costmodels.sushi._model import _violations
from dse._hypervolume import hypervolume
from search_spaces import domain


# the workload dse/studies/sushi_cache.toml pins with [space.override]
STUDY_WORKLOAD = {
    "stream_kind": "markov",
    "stream_dwell_queries": 200.0,
    "latency_query_share": 0.5,
    "n_queries": 2000,
}
# section 5: the sub-space swept exhaustively (the rest of the study's grid is kept)
FRONT_SUBSPACE = {"pe_k": 16, "pe_c": 9, "pe_rs": 9}
# objectives of the study (all minimized here: accuracy negated) and its SLO constraint
OBJECTIVES = ("latency_ms", "served_acc_pct", "offchip_energy_mj")
SLO_MAX_PCT = 5.0

Batch = dict[str, np.ndarray]


def _model_batch(model: SushiModel, points: Mapping[str, np.ndarray]) -> Batch:
    names = {p.name for p in model.inputs}
    return model.batch(**{k: v for k, v in points.items() if k in names})


def _cpu(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(CPU seconds, wall seconds, result) of one call."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - c0, time.perf_counter() - t0, out


def _agreement(want: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray]) -> str:
    worst = 0.0
    for k in want:
        a, b = np.asarray(want[k], float), np.asarray(got[k], float)
        both = np.isfinite(a) & np.isfinite(b)
        if not np.array_equal(np.isfinite(a), np.isfinite(b)):
            return f"DIFFER in {k} (finite vs not)"
        if both.any():
            rel = np.abs(a[both] - b[both]) / np.maximum(np.abs(a[both]), 1e-300)
            worst = max(worst, float(rel.max()))
    same_switches = np.array_equal(want["switch_count"], got["switch_count"])
    verdict = "equal" if worst <= 1e-12 and same_switches else "DIFFER"
    return (
        f"{verdict}: largest relative difference {worst:.1e}, switch counts equal {same_switches}"
    )


def _side_by_side(
    label: str, batches: list[Batch], ref: SushiModel, fast: SushiModel, repeats: int = 1
) -> None:
    """Evaluate the same batches with both paths (interleaved, so both see the same load)."""
    for m in (ref, fast):  # pools and traces built, memos primed with one batch, untimed
        m.evaluate(batches[0])
    ref_cpu = fast_cpu = ref_wall = fast_wall = 0.0
    n = sum(len(next(iter(b.values()))) for b in batches)
    for _ in range(repeats):
        for b in batches:
            c, w, want = _cpu(lambda b=b: ref.evaluate(b))  # type: ignore[misc]
            ref_cpu, ref_wall = ref_cpu + c, ref_wall + w
            c, w, got = _cpu(lambda b=b: fast.evaluate(b))  # type: ignore[misc]
            fast_cpu, fast_wall = fast_cpu + c, fast_wall + w
    n *= repeats
    ratio = ref_cpu / fast_cpu
    print(f"{label}")
    for name, c, w in (("reference", ref_cpu, ref_wall), ("fast", fast_cpu, fast_wall)):
        print(f"   {name:9s} {n / c:9.0f} points/CPU-s ({c:6.2f} s CPU, {w:6.2f} s wall)")
    print(
        f"   -> {ratio:5.1f}x CPU, {ref_wall / fast_wall:5.1f}x wall; goal >= 10x -> "
        f"{'met' if ratio >= 10 else 'MISSED'}"
    )
    checks = [_agreement(ref.evaluate(b), fast.evaluate(b)) for b in batches[:2]]
    print(f"   outputs: {checks[0]}" + ("" if checks[0] == checks[-1] else f"; {checks[-1]}"))


def bench_single_point(ref: SushiModel, fast: SushiModel) -> None:
    batch = fast.batch(1)  # the documented defaults: the headline regime, 10,000 queries
    for m in (ref, fast):
        m.evaluate(batch)
    times: dict[str, list[float]] = {"reference": [], "fast": []}
    for _ in range(15):
        for name, m in (("reference", ref), ("fast", fast)):
            times[name].append(_cpu(lambda m=m: m.evaluate(batch))[1] * 1e3)  # type: ignore[misc]
    r, f = min(times["reference"]), min(times["fast"])
    print("1) one hardware point, 10,000-query trace (policy + no-PB baseline), warm, min wall")
    print(f"   reference {r:7.1f} ms   fast {f:7.1f} ms   -> {r / f:4.1f}x")
    print(f"   outputs: {_agreement(ref.evaluate(batch), fast.evaluate(batch))}")


def _study_space():  # type: ignore[no-untyped-def]
    return domain("sushi").narrowed(STUDY_WORKLOAD)


def bench_study_sample(ref: SushiModel, fast: SushiModel) -> None:
    space = _study_space()
    sample = space.sample(np.random.default_rng(0), 4096)
    batches = [
        _model_batch(fast, {k: v[i : i + 512] for k, v in sample.items()})
        for i in range(0, 4096, 512)
    ]
    _side_by_side(
        "2) sushi_cache workload, 4,096 sampled points in batches of 512 (2,000-query trace)",
        batches,
        ref,
        fast,
    )


def bench_study_enumeration(ref: SushiModel, fast: SushiModel) -> None:
    space = _study_space()
    chunks = space.enumerate(4096)
    batches = [_model_batch(fast, next(chunks)) for _ in range(3)]
    _side_by_side(
        f"3) sushi_cache space ({space.size:,} points) in enumeration order, 3 chunks of 4,096",
        batches,
        ref,
        fast,
    )


def bench_long_traces(ref: SushiModel, fast: SushiModel) -> None:
    space = domain("sushi").narrowed({**STUDY_WORKLOAD, "n_queries": 10_000})
    sample = space.sample(np.random.default_rng(0), 1000)
    batch = _model_batch(fast, sample)
    _side_by_side("4) 1,000 sampled points, 10,000-query traces", [batch], ref, fast)
    out = fast.evaluate(batch)
    ok = _feasible(out)
    front = pareto_mask(_objectives(out)[ok])
    print(f"   feasible {int(ok.sum())} / 1000, Pareto front {int(front.sum())} points")


def _feasible(out: Mapping[str, np.ndarray]) -> np.ndarray:
    return (
        (out["onchip_mem_violation_mb"] <= 0)
        & (out["mac_budget_violation"] <= 0)
        & (out["slo_violation_pct"] <= SLO_MAX_PCT)
    )


def _objectives(out: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.column_stack([out["latency_ms"], -out["served_acc_pct"], out["offchip_energy_mj"]])


def _chunks(space, size: int) -> Iterator[Batch]:  # type: ignore[no-untyped-def]
    yield from space.enumerate(size)


def bench_reference_front(fast: SushiModel) -> None:
    space = _study_space().narrowed(FRONT_SUBSPACE)
    n_total = space.size
    front_obj = np.empty((0, 3))
    front_pts: list[Batch] = []
    n_feasible = n_served = 0
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    c0, t0 = time.process_time(), time.perf_counter()
    for chunk in _chunks(space, 8192):
        # infeasible from the columns alone (buffers beyond the on-chip memory, PE array
        # beyond the MAC budget): the model's own violation formulas, no need to serve them
        viol = _violations({k: np.asarray(v) for k, v in chunk.items()})
        fits = (viol["onchip_mem_violation_mb"] <= 0) & (viol["mac_budget_violation"] <= 0)
        if not fits.any():
            continue
        b = _model_batch(fast, {k: np.asarray(v)[fits] for k, v in chunk.items()})
        n_served += int(fits.sum())
        out = fast.evaluate(b)
        ok = _feasible(out)
        objs = _objectives(out)[ok]
        n_feasible += int(ok.sum())
        if len(objs):
            lo, hi = np.minimum(lo, objs.min(axis=0)), np.maximum(hi, objs.max(axis=0))
        pool = np.vstack([front_obj, objs])
        keep = pareto_mask(pool)
        rows = {k: np.concatenate([p[k] for p in front_pts] + [v[ok]]) for k, v in b.items()}
        front_obj = pool[keep]
        front_pts = [{k: v[keep] for k, v in rows.items()}]
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    print(
        f"5) reference front of sushi_cache, exhaustive on the sub-space {FRONT_SUBSPACE} "
        f"({n_total:,} points; {n_served:,} within on-chip memory and MAC budget, served)"
    )
    print(
        f"   {cpu:6.1f} s CPU ({wall:6.1f} s wall) = {n_served / cpu:7.0f} served points/CPU-s; "
        f"feasible {n_feasible:,}; front {len(front_obj)} points"
    )
    # fixed normalization: ideal = best, nadir = worst feasible value of the sub-space per
    # objective; reference point 1.1 (the engine's nadir x 1.1 rule)
    span = np.where(hi > lo, hi - lo, 1.0)
    hv = hypervolume((front_obj - lo) / span, np.full(3, 1.1))
    print(
        f"   feasible ranges: latency {lo[0]:.3f}-{hi[0]:.3f} ms, accuracy {-hi[1]:.2f}-"
        f"{-lo[1]:.2f} %, off-chip energy {lo[2]:.4f}-{hi[2]:.4f} mJ/query"
    )
    print(
        f"   hypervolume of the front, normalized to those ranges, reference point 1.1: {hv:.4f}"
    )
    pts = front_pts[0]
    names = ("policy", "clock_mhz", "pb_mb", "fill_priority", "update_period_q", "pool_size")
    for name in names:
        vals, counts = np.unique(pts[name], return_counts=True)
        print(f"   front {name}: " + ", ".join(f"{v} x{c}" for v, c in zip(vals, counts)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-front", action="store_true", help="skip section 5")
    parser.add_argument("--front-only", action="store_true", help="run section 5 only")
    args = parser.parse_args()
    print(f"sushi benchmark: {machine_line()}, numpy {np.__version__} (shared host)")
    ref, fast = SushiModel(impl="reference"), SushiModel()
    if args.front_only:
        bench_reference_front(fast)
        return
    bench_single_point(ref, fast)
    bench_study_sample(ref, fast)
    bench_study_enumeration(ref, fast)
    bench_long_traces(ref, fast)
    if not args.no_front:
        bench_reference_front(fast)


if __name__ == "__main__":
    main()
