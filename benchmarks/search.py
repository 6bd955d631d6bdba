"""Search quality against ground truth: the true hypervolume of each shipped study that can be
enumerated, and how fast each search method gets to it.

For every study given (default: ``vegeta``, ``comet_1t`` and ``demo``):

1. **Ground truth.** ``vegeta`` and ``comet_1t`` are finite: one exhaustive sweep gives their
   true Pareto front. ``demo`` (ZDT1) is continuous and its front is known in closed form
   (``f2 = 1 - sqrt(f1)``, ``costmodels.demo.front_f2``), sampled at 20,001 points.
2. **One fixed reference** per study, used for every method and seed: the study file's
   ``bounds`` when declared, else the true front's ideal and nadir with the reference point at
   nadir x 1.1 (``dse.reference_point``); the true hypervolume is the true front's under it.
3. **Methods**, each for ``--seeds`` seeds, on the same problem object the engine uses:
   Optuna's random, TPE (default and multivariate), NSGA-II, NSGA-III and GP samplers (GP only
   with torch) through an ask/tell loop with one evaluation per trial, as dse's trial mode,
   each run stopped at ``--n-trials`` or at ``--cpu-budget`` CPU seconds, whichever comes
   first (the same budget for every sampler: GP costs seconds per trial, the others
   milliseconds); dse's evolutionary sweep with the engine's defaults (``SweepSpec``); the
   exhaustive sweep (chunk order); and a plain uniform random sample of ``k`` points in one
   vectorized call, for log-spaced ``k``, each ``k`` timed as its own call.
4. For each run: the hypervolume reached against evaluations and against CPU seconds
   (``time.process_time`` of this process, so other load on the machine does not count), the
   evaluations and CPU seconds to reach 99 % of the true hypervolume, and the final fraction.
5. **Speed-up over the best Optuna sampler**, side by side from the same run: the sampler with
   the least median CPU time to 99 %, over a method's; when no sampler reaches 99 % in at
   least half its seeds, the best sampler by median final fraction (of those within 0.01 of
   it, the quickest there) and the CPU time at which it first reached that fraction (median
   over seeds), which is a **lower bound** of its time to 99 % (it had not got there when its
   budget ran out); and, as a same-quality figure, the method's CPU time to that fraction.

GP runs with one torch thread: the figures are CPU seconds, and two intra-op threads spend
twice the CPU on the same step (measured on comet_1t: 1.1 against 0.58 CPU s per step).

Prints a table per study, writes ``benchmarks/out/search_<study>.html`` (plotly, offline) with
the curves, and ``benchmarks/out/search_<studies>.json`` with every figure.

Usage: ``python benchmarks/search.py [--studies vegeta comet_1t demo] [--seeds 5]
[--cpu-budget 20] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import optuna

from benchmarks._common import machine_line
from dse import load_spec
from dse._hypervolume import Reference, ReferenceKeeper, reference_point
from dse._optuna_bridge import make_sampler, suggest, suggest_order
from dse._pareto import nondominated_mask
from dse._problem import Problem
from dse._spec import SamplerSpec, SweepSpec
from dse._sweep import run_sweep


OUT = Path(__file__).resolve().parent / "out"
TARGET = 0.99
TIE = 0.01  # final fractions this close are equally good when picking the baseline sampler


@dataclass
class Curve:
    """Hypervolume fraction reached after each recorded step of one run."""

    method: str
    seed: int
    evaluations: np.ndarray
    cpu_s: np.ndarray
    fraction: np.ndarray

    def cpu_at_best(self) -> float:
        """CPU seconds at which the run first reached its best fraction."""
        return float(self.cpu_s[int(np.argmax(self.fraction))])

    def to_target(self, target: float = TARGET) -> tuple[float | None, float | None]:
        hit = np.flatnonzero(self.fraction >= target)
        if not len(hit):
            return None, None
        return float(self.evaluations[hit[0]]), float(self.cpu_s[hit[0]])


class _Ref:
    """The study's one reference, fixed from bounds or from the true front."""

    def __init__(self, study: Any, problem: Problem, truth_min: np.ndarray) -> None:
        bounds = [o.bounds for o in problem.spec.objectives]
        if all(b is not None for b in bounds):
            keeper = ReferenceKeeper(study, problem.directions, bounds=bounds)  # type: ignore[arg-type]
            assert keeper.reference is not None
            self.ref: Reference = keeper.reference
        else:
            self.ref = reference_point(truth_min, problem.directions)
        self.true_hv = self.ref.hypervolume(truth_min)


class _Attrs:
    def __init__(self) -> None:
        self.user_attrs: dict[str, Any] = {}

    def set_user_attr(self, k: str, v: Any) -> None:
        self.user_attrs[k] = v


def _truth(name: str, problem: Problem) -> np.ndarray:
    if name == "demo":
        from costmodels.demo import front_f2

        f1 = np.linspace(0.0, 1.0, 20001)
        return np.column_stack([f1, front_f2(f1)])
    result = run_sweep(problem, SweepSpec(method="exhaustive", chunk_size=1 << 18,
                                          sample_rest=0, save="none"), seed=0)
    return result.front["__F"]


def _fraction_of_fronts(ref: _Ref, fronts: list[np.ndarray]) -> np.ndarray:
    return np.array([ref.ref.hypervolume(F) / ref.true_hv if len(F) else 0.0 for F in fronts])


def _optuna_run(problem: Problem, sampler_name: str, seed: int, n: int, ref: _Ref,
                cpu_budget: float) -> Curve:
    """One ask/tell run of ``n`` trials, stopped early once it has used ``cpu_budget`` CPU s."""
    warnings.filterwarnings("ignore")
    sampler = make_sampler(SamplerSpec(sampler_name), seed, problem.space,
                           len(problem.objectives))
    study = optuna.create_study(directions=problem.directions, sampler=sampler)  # type: ignore[arg-type]
    order = suggest_order(problem.space)
    F_all = np.full((n, len(problem.objectives)), np.nan)
    feas = np.zeros(n, dtype=bool)
    cpu = np.empty(n)
    t0 = time.process_time()
    for i in range(n):
        trial = study.ask()
        point = suggest(trial, problem.space, order)
        batch = {k: np.asarray([v]) for k, v in point.items()}
        ev = problem.evaluate(batch)
        ok = bool(ev.ok[0])
        f = bool(ev.feasible[0])
        if ok:
            for j, key in enumerate(ev.constraint_keys):
                trial.set_constraint(key, float(ev.G[0, j]))
            study.tell(trial, [float(v) for v in ev.values[0]])
            F_all[i], feas[i] = ev.F[0], f
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        cpu[i] = time.process_time() - t0
        if cpu[i] >= cpu_budget:
            n = i + 1
            break
    hist = ref.ref.history(F_all[:n], feas[:n]) / ref.true_hv
    return Curve(sampler_name, seed, np.arange(1, n + 1), cpu[:n], hist)


def _sweep_run(problem: Problem, method: str, seed: int, ref: _Ref,
               population: int = 0, generations: int | None = None) -> Curve:
    """One sweep; ``population`` 0 and ``generations`` None are the engine's defaults."""
    evals, cpu, fronts = [], [], []
    t0 = time.process_time()

    def hook(state: Any) -> None:
        evals.append(state.evaluated)
        cpu.append(time.process_time() - t0)
        fronts.append(state.front.F.copy())

    spec = SweepSpec(method=method, chunk_size=1 << 14, population=population,
                     generations=SweepSpec.generations if generations is None else generations,
                     sample_rest=0, save="none")
    run_sweep(problem, spec, seed=seed, progress=hook)
    label = "evolutionary sweep" if method == "evolutionary" else "exhaustive sweep"
    return Curve(label, seed, np.asarray(evals), np.asarray(cpu),
                 _fraction_of_fronts(ref, fronts))


def _random_sample(problem: Problem, seed: int, n: int, ref: _Ref) -> Curve:
    """Uniform random samples of log-spaced sizes ``k <= n``, each one vectorized call, timed
    as its own run (sampling, the model call and the Pareto filter)."""
    rng = np.random.default_rng(seed)
    size = problem.space.size
    if size is not None:
        idx = rng.choice(size, size=min(n, size), replace=False).astype(np.int64)
        points = problem.space.point(idx)
    else:
        points = problem.space.sample(rng, n)
    total = len(next(iter(points.values())))
    steps = np.unique(np.geomspace(1, total, 30).astype(int))
    cpu, fronts = [], []
    for k in steps:
        t0 = time.process_time()
        if size is not None:
            batch = problem.space.point(idx[:k])
        else:
            batch = {name: col[:k] for name, col in points.items()}
        ev = problem.evaluate(batch)
        good = ev.F[ev.feasible]
        fronts.append(good[nondominated_mask(good)] if len(good) else good)
        cpu.append(time.process_time() - t0)
    return Curve("random sample (vectorized)", seed, steps, np.asarray(cpu),
                 _fraction_of_fronts(ref, fronts))


def _plot(name: str, curves: list[Curve], true_hv: float) -> Path:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "fraction of the true hypervolume vs evaluations", "vs CPU seconds"))
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22"]
    colors: dict[str, str] = {}
    for c in curves:
        color = colors.setdefault(c.method, palette[len(colors) % len(palette)])
        show = c.seed == min(x.seed for x in curves if x.method == c.method)
        for col, x in ((1, c.evaluations), (2, c.cpu_s)):
            fig.add_trace(go.Scatter(x=x, y=c.fraction, mode="lines", name=c.method,
                                     legendgroup=c.method, showlegend=show and col == 1,
                                     line={"color": color, "width": 1}, opacity=0.7), 1, col)
    fig.update_xaxes(type="log", title_text="evaluations", row=1, col=1)
    fig.update_xaxes(type="log", title_text="CPU seconds", row=1, col=2)
    fig.update_yaxes(range=[0, 1.02], title_text="HV / true HV")
    fig.add_hline(y=TARGET, line_dash="dot", line_color="grey")
    fig.update_layout(title=f"{name}: true hypervolume {true_hv:.6g} (normalised)",
                      width=1300, height=520)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"search_{name}.html"
    fig.write_html(path, include_plotlyjs=True)
    return path


def _median(xs: list[float | None]) -> str:
    got = [x for x in xs if x is not None]
    if len(got) < len(xs) / 2:
        return f"not reached ({len(got)}/{len(xs)})"
    return f"{np.median(got + [np.inf] * (len(xs) - len(got))):.4g} ({len(got)}/{len(xs)})"


def _median_or_inf(xs: list[float | None]) -> float:
    """Median with unreached runs counted as infinite."""
    return float(np.median([np.inf if x is None else x for x in xs]))


def speedups(rows: list[dict[str, Any]], curves: list[Curve], samplers: list[str]
             ) -> dict[str, Any]:
    """Each non-Optuna method's CPU time to 99 % against the best Optuna sampler's.

    The best sampler is the one with the least median CPU time to 99 %; when none reaches 99 %
    in at least half its seeds, the one with the best median final fraction (within ``TIE``,
    the quickest to it), timed at the CPU time it first reached that fraction (median over
    seeds): a lower bound of its time to 99 %.
    ``at_equal_fraction`` compares both at that sampler's fraction instead (same quality).
    """
    optuna_rows = [r for r in rows if r["method"] in samplers]
    reached = [r for r in optuna_rows if np.isfinite(_median_or_inf(r["cpu_s_to_99"]))]
    if reached:
        best = min(reached, key=lambda r: _median_or_inf(r["cpu_s_to_99"]))
        base, bound = _median_or_inf(best["cpu_s_to_99"]), False
    else:
        # The best final fraction; samplers within TIE of it count as equally good, and of
        # those the one that got there on the least CPU is the baseline (the fastest bound).
        top = max(float(np.median(r["final_fraction"])) for r in optuna_rows)
        best = min((r for r in optuna_rows if float(np.median(r["final_fraction"])) >= top - TIE),
                   key=lambda r: float(np.median(r["cpu_s_at_best"])))
        base, bound = float(np.median(best["cpu_s_at_best"])), True
    fraction = float(np.median(best["final_fraction"]))
    out: dict[str, Any] = {"baseline": best["method"], "baseline_cpu_s": base,
                           "baseline_fraction": fraction, "lower_bound": bound, "ratios": {},
                           "at_equal_fraction": {}}
    for r in rows:
        if r["method"] in samplers:
            continue
        mine = _median_or_inf(r["cpu_s_to_99"])
        out["ratios"][r["method"]] = base / mine if np.isfinite(mine) else None
        if bound:
            same = _median_or_inf([c.to_target(fraction)[1] for c in curves
                                   if c.method == r["method"]])
            out["at_equal_fraction"][r["method"]] = base / same if np.isfinite(same) else None
    return out


def bench_study(name: str, seeds: int, n_trials: int, cpu_budget: float,
                population: int | None, quick: bool) -> dict[str, Any]:
    spec = load_spec(name)
    problem = Problem(spec)
    t = time.process_time()
    truth = _truth(name, problem)
    truth_cpu = time.process_time() - t
    ref = _Ref(_Attrs(), problem, truth)
    size = problem.space.size
    print(f"\n== {name}: {len(problem.objectives)} objectives, space "
          f"{'continuous' if size is None else f'{size:,} points'}; true front "
          f"{len(truth):,} points, true HV {ref.true_hv:.6g} ({ref.ref.source}); ground truth "
          f"in {truth_cpu:.2f} CPU s")
    sweep = SweepSpec(population=population or 0)
    pop = sweep.population_for(size)
    gens = sweep.generations if not quick else 15
    samplers = ["random", "tpe", "tpe-multivariate", "nsga2", "nsga3"]
    try:
        import torch

        torch.set_num_threads(1)  # CPU seconds are what is compared (module docstring)
        samplers.append("gp")
    except ImportError:
        pass
    curves: list[Curve] = []

    def add(curve: Curve) -> None:
        curves.append(curve)
        print(f"  [{name}] {curve.method} seed {curve.seed}: {int(curve.evaluations[-1])} "
              f"evaluations, {curve.cpu_s[-1]:.2f} CPU s, HV fraction {curve.fraction[-1]:.4f}",
              flush=True)

    for seed in range(seeds):
        for s in samplers:
            add(_optuna_run(problem, s, seed, n_trials, ref, cpu_budget))
        add(_sweep_run(problem, "evolutionary", seed, ref, population or 0, gens))
        add(_random_sample(problem, seed, min(size or 200_000, 200_000), ref))
    if size is not None:
        add(_sweep_run(problem, "exhaustive", 0, ref))
    rows = []
    print(f"{'method':<28} {'evals to 99%':>22} {'CPU s to 99%':>22} {'final HV fraction':>18}")
    for method in dict.fromkeys(c.method for c in curves):
        cs = [c for c in curves if c.method == method]
        hits = [c.to_target() for c in cs]
        final = [float(c.fraction[-1]) for c in cs]
        row = {
            "method": method, "runs": len(cs),
            "evaluations": [int(c.evaluations[-1]) for c in cs],
            "cpu_s": [float(c.cpu_s[-1]) for c in cs],
            "evals_to_99": [h[0] for h in hits], "cpu_s_to_99": [h[1] for h in hits],
            "final_fraction": final, "cpu_s_at_best": [c.cpu_at_best() for c in cs],
            "curves": [{"evaluations": c.evaluations.tolist(), "cpu_s": c.cpu_s.tolist(),
                        "fraction": c.fraction.tolist()} for c in cs],
        }
        rows.append(row)
        print(f"{method:<28} {_median(row['evals_to_99']):>22} "
              f"{_median(row['cpu_s_to_99']):>22} "
              f"{np.median(final):>10.4f} (min {min(final):.4f}) "
              f"after {np.median(row['evaluations']):.0f} evals, "
              f"{np.median(row['cpu_s']):.3g} CPU s")
    fast = speedups(rows, curves, samplers)
    how = (f"lower bound: {fast['baseline']} reached only {fast['baseline_fraction']:.3f}, "
           f"first at {fast['baseline_cpu_s']:.3g} CPU s" if fast["lower_bound"] else
           f"{fast['baseline']} reaches 99 % in {fast['baseline_cpu_s']:.3g} CPU s")
    print(f"speed-up to 99 % over the best Optuna sampler ({how}):")
    for method, ratio in fast["ratios"].items():
        shown = "not reached" if ratio is None else \
            f"{'>= ' if fast['lower_bound'] else ''}{ratio:.0f}x"
        same = fast["at_equal_fraction"].get(method)
        if same is not None:
            shown += f" (to the same {fast['baseline_fraction']:.3f}: {same:.0f}x)"
        print(f"  {method:<28} {shown}")
    html = _plot(name, curves, ref.true_hv)
    print(f"plots: {html}")
    return {"study": name, "true_hv": ref.true_hv, "true_front": len(truth),
            "reference": ref.ref.source, "population": pop, "generations": gens,
            "space_size": size, "methods": rows, "speedup": fast}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", nargs="+", default=["vegeta", "comet_1t", "demo"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--n-trials", type=int, default=300, help="trials per Optuna sampler run")
    ap.add_argument("--cpu-budget", type=float, default=20.0,
                    help="CPU seconds per Optuna sampler run (it stops at the first of the two)")
    ap.add_argument("--population", type=int, default=None,
                    help="evolutionary population (default: the engine's, SweepSpec)")
    ap.add_argument("--quick", action="store_true", help="2 seeds, 80 trials (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.n_trials, args.cpu_budget = 2, 80, 5.0
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    print(machine_line())
    results = [bench_study(s, args.seeds, args.n_trials, args.cpu_budget, args.population,
                           args.quick) for s in args.studies]
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"search_{'_'.join(args.studies)}.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"\nfigures: {out}\nat the end: {machine_line()}")


if __name__ == "__main__":
    main()
