"""Nested against flat trial mode at equal wall time, for the nested studies (``joint``,
``codesign``).

A nested study pays one proxy training per outer proposal (an N:M ratio and recipe) and sweeps
the cheap inner space (engine, server, cluster) under it, vectorized. The alternative is flat
trial mode: the same models, objectives, constraints, space and sampler, with every parameter
suggested by the sampler and one evaluation per trial. Which reaches more hypervolume in the
same wall time?

For each study and each seed, both variants run through the Python API (``dse.run_study``, a
fresh in-memory study each) with the same wall-time budget (``[budget] timeout_s``, and a trial
budget too large to bind):

* **nested**: the shipped study file as it is;
* **flat**: the same file with ``study.mode = "trial"`` and no ``[nested]`` or ``[sweep]``
  table. The engine has no flat switch; this spec is built here from the study file
  (``dse.load_spec`` of the edited dict). ``[pruner] name = "none"``, because nested mode prunes
  nothing, so both modes run every training they start to its end.

**Proxy trainings.** Both variants use the proxy at a reduced length (``--steps``, default 120
of the default fidelity's 600 steps: the same proxy network, about a fifth of the time) and each
run gets its own empty training cache, so trainings are memoized *within* a run (the pipeline's
memo and the model's disk cache: a recipe drawn twice trains once, in either mode) and never
*across* runs. A cache shared across runs would hand the later runs free trainings and make the
result depend on run order; with per-run caches each run pays for exactly the trainings it
needs. ``trainings`` below counts the results each run's cache holds at the end.

**Scoring.** One reference per study, fixed after all its runs: the ideal and nadir of the union
of every run's final feasible front, reference point nadir x 1.1 (``dse.reference_point``).
Every run of the study, in both modes, is scored under it, from its trials' completion times: the
hypervolume of the feasible trials completed by time ``t`` after the run started (a nested
proposal's inner front is recorded when it returns), at fractions of the wall budget; work past
the budget (a trial started before the deadline and finished after) does not count. The
fraction of the union front's hypervolume is printed too, and the CPU time (this process,
``time.process_time``: other load on the machine does not count) next to wall time, sampled
during the run so the hypervolume can also be read at equal CPU seconds.

Prints the machine line, one table per study and the ratio nested / flat of the median
hypervolume at each checkpoint; writes ``benchmarks/out/nested_vs_flat.json`` (every run's
curve) and ``benchmarks/out/nested_vs_flat.html`` (plotly, offline).

Usage: ``nice -n 10 python benchmarks/nested_vs_flat.py [--studies joint codesign] [--seeds 3]
[--wall 100] [--steps 120] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

import dse
from benchmarks._common import machine_line
from dse._hypervolume import Reference, reference_point
from dse._pareto import pareto_mask


OUT = Path(__file__).resolve().parent / "out"
MODES = ("nested", "flat")
#: Checkpoints, as fractions of the wall budget, at which the hypervolume is compared.
CHECKPOINTS = (0.25, 0.5, 0.75, 1.0)
#: A trial budget no run reaches within its wall budget, so the wall budget alone stops it.
UNBOUNDED_TRIALS = 100_000


@dataclass
class Run:
    """One run of one mode: its trials' completion times, values and feasibility."""

    study: str
    mode: str
    seed: int
    wall_budget_s: float
    wall_s: float
    cpu_s: float
    trials: int
    trainings: int
    t_wall: np.ndarray  # (n,) seconds after the run started at which each trial completed
    t_cpu: np.ndarray  # (n,) CPU seconds of this process by then
    F: np.ndarray  # (n, m) minimisation-oriented objective values
    feasible: np.ndarray  # (n,) feasible, finite, COMPLETE
    objectives: list[str]  # metric names, in the columns of F
    signs: np.ndarray  # (m,) -1 for a maximised objective: F * signs is in its own direction
    hv_wall: list[float] = field(default_factory=list)  # at CHECKPOINTS x wall budget
    hv_cpu: list[float] = field(default_factory=list)  # at CHECKPOINTS x the study's CPU axis

    def front(self) -> np.ndarray:
        """The run's final feasible Pareto front (minimisation-oriented)."""
        good = self.F[self.feasible]
        return good[pareto_mask(good)] if len(good) else good

    def best_by(self, t: float) -> np.ndarray:
        """Each objective's best feasible value completed by ``t`` (wall), in its own units."""
        done = self.feasible & (self.t_wall <= t)
        if not done.any():
            return np.full(len(self.signs), np.nan)
        return self.F[done].min(axis=0) * self.signs

    def hypervolume_by(self, ref: Reference, clock: np.ndarray, t: float) -> float:
        """Normalised hypervolume of the feasible trials completed by ``t`` on ``clock``."""
        done = self.feasible & (clock <= t)
        return ref.hypervolume(self.F[done])


class CpuClock:
    """Samples (wall, process CPU) pairs in a thread, to read CPU time at any wall instant.

    Optuna records when each trial completed (wall clock) but not the CPU spent by then; a
    sample every 0.2 s, interpolated, gives it within that step at no measurable cost.
    """

    def __init__(self, period_s: float = 0.2) -> None:
        self._period = period_s
        self._wall: list[float] = []
        self._cpu: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._wall.append(time.time())
            self._cpu.append(time.process_time())
            self._stop.wait(self._period)

    def __enter__(self) -> CpuClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._wall.append(time.time())
        self._cpu.append(time.process_time())

    def cpu_at(self, wall: np.ndarray) -> np.ndarray:
        """Process CPU seconds at the given ``time.time()`` instants (interpolated)."""
        return np.interp(wall, np.asarray(self._wall), np.asarray(self._cpu))


def variant_specs(study: str, steps: int, wall_s: float) -> dict[str, dse.StudySpec]:
    """The study's nested spec and its flat trial-mode twin, both at ``steps`` proxy steps.

    Both keep the study's models (with ``steps`` set on every proxy training), space,
    objectives, constraints and sampler; ``[outputs]`` is dropped (nothing is written).
    """
    raw = dse.load_spec(study).raw
    if raw["study"].get("mode") != "nested":
        raise SystemExit(f"{study}: not a nested study (study.mode = "
                         f"{raw['study'].get('mode')!r}); expected one of joint, codesign")
    models = {}
    for ns, table in raw["models"].items():
        if table.get("model", ns) == "nm_training":
            table = {**table, "options": {**table.get("options", {}), "steps": steps}}
        models[ns] = table
    base = {k: v for k, v in raw.items() if k != "outputs"}
    base["models"] = models
    base["budget"] = {"n_trials": UNBOUNDED_TRIALS, "timeout_s": float(wall_s)}
    flat = {k: v for k, v in base.items() if k not in ("nested", "sweep")}
    flat["study"] = {**raw["study"], "mode": "trial"}
    flat["pruner"] = {"name": "none"}
    return {"nested": dse.load_spec(base), "flat": dse.load_spec(flat)}


def _with_cache(spec: dse.StudySpec, cache: Path) -> dse.StudySpec:
    """``spec`` with every proxy training's result cache in ``cache`` (fresh per run)."""
    from dataclasses import replace

    models = tuple(replace(m, options={**m.options, "cache_dir": str(cache)})
                   if m.model == "nm_training" else m for m in spec.models)
    return replace(spec, models=models)


def _feasible(t: FrozenTrial) -> bool:
    return (t.state == TrialState.COMPLETE and t.values is not None
            and bool(np.isfinite(t.values).all())
            and all(v <= 0 for v in (t.constraints or {}).values()))


def run_once(study: str, mode: str, spec: dse.StudySpec, seed: int, wall_s: float,
             scratch: Path) -> Run:
    """Run one mode for one seed in a fresh in-memory study with a fresh training cache."""
    cache = scratch / f"{study}-{mode}-s{seed}"
    spec = _with_cache(spec, cache)
    name = f"nvf-{study}-{mode}-s{seed}-{time.time_ns()}"
    t0 = time.time()
    c0 = time.process_time()
    with CpuClock() as clock:
        result = dse.run_study(spec, storage=":memory:", seed=seed, name=name)
    wall = time.time() - t0
    cpu = time.process_time() - c0
    assert result.study is not None
    trials = [t for t in result.study.get_trials(deepcopy=False) if t.datetime_complete]
    trials.sort(key=lambda t: t.datetime_complete)  # type: ignore[arg-type, return-value]
    done = np.asarray([t.datetime_complete.timestamp() for t in trials])  # type: ignore[union-attr]
    signs = np.asarray([-1.0 if d == optuna.study.StudyDirection.MAXIMIZE else 1.0
                        for d in result.study.directions])
    F = np.asarray([t.values if t.values is not None else [np.nan] * len(signs)
                    for t in trials], dtype=float).reshape(-1, len(signs)) * signs
    feasible = np.asarray([_feasible(t) for t in trials], dtype=bool)
    trainings = sum(1 for _ in cache.rglob("*.json")) if cache.is_dir() else 0
    outer = sum(1 for t in trials if t.user_attrs.get("dse.mode") != "nested-inner")
    names = [o["metric"] for o in result.study.user_attrs.get("dse.objectives") or []]
    run = Run(study, mode, seed, wall_s, wall, cpu, outer, trainings, done - t0,
              clock.cpu_at(done) - c0, F, feasible, names, signs)
    print(f"  [{study}] {mode:<6} seed {seed}: {wall:6.1f} s wall, {cpu:6.1f} s CPU, "
          f"{outer} trials ({len(trials)} recorded, {int(feasible.sum())} feasible), "
          f"{trainings} trainings", flush=True)
    return run


def _stats(xs: list[float]) -> str:
    return f"{np.median(xs):.4f} / {min(xs):.4f}"


def _ratio(a: list[float], b: list[float]) -> str:
    na, nb = float(np.median(a)), float(np.median(b))
    if nb > 0:
        return f"{na / nb:.2f}x"
    return "inf (flat 0)" if na > 0 else "n/a (both 0)"


def _bests(names: list[str], runs: list[Run], wall_s: float) -> str:
    best = np.asarray([r.best_by(wall_s) for r in runs])
    found = ~np.isnan(best).all(axis=1)
    if not found.any():
        return "no feasible design in any seed"
    median = np.median(best[found], axis=0)
    return ", ".join(f"{n} {v:.4g}" for n, v in zip(names, median)) + \
        f" ({int(found.sum())}/{len(runs)} seeds)"


def score_study(study: str, runs: list[Run], wall_s: float) -> dict[str, Any]:
    """Score every run of a study under one reference; print its table."""
    union = np.concatenate([r.front() for r in runs])
    if not len(union):
        print(f"{study}: no run found a feasible design; nothing to score")
        return {"study": study, "runs": [], "reference": None}
    directions = ["minimize"] * union.shape[1]  # values are minimisation-oriented already
    ref = reference_point(union, directions)
    best = ref.hypervolume(union)  # the union front's: what all runs found together
    cpu_axis = min(r.cpu_s for r in runs)  # every run reached this much CPU
    for r in runs:
        r.hv_wall = [r.hypervolume_by(ref, r.t_wall, f * wall_s) for f in CHECKPOINTS]
        r.hv_cpu = [r.hypervolume_by(ref, r.t_cpu, f * cpu_axis) for f in CHECKPOINTS]
    by_mode = {m: [r for r in runs if r.mode == m] for m in MODES}
    print(f"\n== {study}: {union.shape[1]} objectives; reference from the union of "
          f"{len(runs)} runs' fronts ({len(union)} points), nadir x 1.1; union-front "
          f"hypervolume {best:.4f}")
    head = " ".join(f"{f'HV @ {f:.0%} wall':>17}" for f in CHECKPOINTS)
    print(f"{'mode':<7} {'seeds':>5} {'budget s':>8} {head} {'of union':>9} "
          f"{'trials':>7} {'trainings':>9} {'wall s':>7} {'CPU s':>7}")
    rows = []
    for mode, rs in by_mode.items():
        if not rs:
            continue
        cols = [[r.hv_wall[i] for r in rs] for i in range(len(CHECKPOINTS))]
        final = cols[-1]
        row: dict[str, Any] = {
            "mode": mode, "seeds": [r.seed for r in rs], "wall_budget_s": wall_s,
            "hv_wall": cols, "hv_cpu": [[r.hv_cpu[i] for r in rs]
                                        for i in range(len(CHECKPOINTS))],
            "fraction_of_union": [h / best for h in final],
            "trials": [r.trials for r in rs], "trainings": [r.trainings for r in rs],
            "wall_s": [r.wall_s for r in rs], "cpu_s": [r.cpu_s for r in rs],
        }
        rows.append(row)
        print(f"{mode:<7} {len(rs):>5} {wall_s:>8.0f} "
              + " ".join(f"{_stats(c):>17}" for c in cols)
              + f" {np.median(row['fraction_of_union']):>9.3f}"
              f" {np.median(row['trials']):>7.0f} {np.median(row['trainings']):>9.0f}"
              f" {np.median(row['wall_s']):>7.1f} {np.median(row['cpu_s']):>7.1f}")
    print("(HV: median / min over seeds, normalised under the study's one reference)")
    names = runs[0].objectives or [f"objective {i}" for i in range(union.shape[1])]
    print("best value per objective within the budget, median over seeds that found a "
          "feasible design: " + "; ".join(f"{mode}: {_bests(names, rs, wall_s)}"
                                          for mode, rs in by_mode.items() if rs))
    for row in rows:
        row["best"] = {n: [float(r.best_by(wall_s)[j]) for r in by_mode[row["mode"]]]
                       for j, n in enumerate(names)}
    if all(by_mode.values()):
        n, f = ([r.hv_wall for r in by_mode[m]] for m in MODES)
        nc, fc = ([r.hv_cpu for r in by_mode[m]] for m in MODES)
        print("nested / flat, median HV at equal wall time: " + ", ".join(
            f"{p:.0%} {_ratio([x[i] for x in n], [x[i] for x in f])}"
            for i, p in enumerate(CHECKPOINTS)))
        print(f"nested / flat, median HV at equal CPU time (axis {cpu_axis:.0f} CPU s, the "
              "least any run used): " + ", ".join(
                  f"{p:.0%} {_ratio([x[i] for x in nc], [x[i] for x in fc])}"
                  for i, p in enumerate(CHECKPOINTS)))
    return {"study": study, "reference": ref.to_attr(), "union_front": len(union),
            "union_hypervolume": best, "cpu_axis_s": cpu_axis,
            "checkpoints": list(CHECKPOINTS), "modes": rows,
            "curves": [_curve(r, ref) for r in runs]}


def _curve(run: Run, ref: Reference) -> dict[str, Any]:
    """A run's hypervolume after each feasible trial, against wall and CPU seconds."""
    order = np.flatnonzero(run.feasible)
    hist = ref.history(run.F[order], time_budget_s=20.0) if len(order) else np.empty(0)
    within = run.feasible & (run.t_wall <= run.wall_budget_s)
    good = run.F[within]
    front = good[pareto_mask(good)] * run.signs if len(good) else good
    return {"mode": run.mode, "seed": run.seed, "t_wall": run.t_wall[order].round(3).tolist(),
            "t_cpu": run.t_cpu[order].round(3).tolist(), "hv": hist.round(6).tolist(),
            "objectives": run.objectives, "front_within_budget": front.tolist()}


def _plot(results: list[dict[str, Any]]) -> Path:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    scored = [r for r in results if r.get("curves")]
    fig = make_subplots(rows=len(scored), cols=2, subplot_titles=[
        f"{r['study']}: hypervolume vs {axis} seconds" for r in scored
        for axis in ("wall", "CPU")])
    colors = {"nested": "#1f77b4", "flat": "#d62728"}
    for row, r in enumerate(scored, start=1):
        for c in r["curves"]:
            for col, key in ((1, "t_wall"), (2, "t_cpu")):
                fig.add_trace(go.Scatter(
                    x=c[key], y=c["hv"], mode="lines", line={"shape": "hv", "width": 1,
                                                             "color": colors[c["mode"]]},
                    name=c["mode"], legendgroup=c["mode"],
                    showlegend=row == 1 and col == 1 and c["seed"] == 0), row, col)
        fig.add_vline(x=r["modes"][0]["wall_budget_s"], line_dash="dot", line_color="grey",
                      row=row, col=1)
    fig.update_yaxes(title_text="HV (one reference per study)")
    fig.update_layout(title="Nested against flat trial mode", width=1300,
                      height=450 * max(1, len(scored)))
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "nested_vs_flat.html"
    fig.write_html(path, include_plotlyjs=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", nargs="+", default=["joint", "codesign"])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--wall", type=float, default=100.0,
                    help="wall-time budget of every run, seconds (default 100)")
    ap.add_argument("--steps", type=int, default=120,
                    help="proxy training steps in both modes (default 120; the study files' "
                         "default fidelity trains 600)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 1 seed, 20 s budget, 40 steps")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.wall, args.steps = 1, 20.0, 40
    for label, value in (("--seeds", args.seeds), ("--steps", args.steps)):
        if value < 1:
            ap.error(f"{label} {value}: expected an integer >= 1")
    if not args.wall > 0:
        ap.error(f"--wall {args.wall}: expected a positive number of seconds")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("optuna").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    import torch  # noqa: F401  (imported once here, so no run pays the import in its budget)

    print(machine_line())
    print(f"wall budget {args.wall:.0f} s per run, {args.seeds} seeds, proxy {args.steps} "
          "steps, a fresh training cache per run (memoized within a run only)")
    results = []
    with tempfile.TemporaryDirectory(prefix="dse-nvf-") as tmp:
        for study in args.studies:
            try:
                specs = variant_specs(study, args.steps, args.wall)
            except dse.DseError as exc:
                raise SystemExit(f"{study}: {exc}") from None
            runs = [run_once(study, mode, specs[mode], seed, args.wall, Path(tmp))
                    for seed in range(args.seeds) for mode in MODES]
            results.append(score_study(study, runs, args.wall))
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / "nested_vs_flat.json"
    out.write_text(json.dumps({"machine": machine_line(), "wall_budget_s": args.wall,
                               "steps": args.steps, "seeds": args.seeds,
                               "studies": results}, indent=1))
    print(f"\nfigures: {out}\nplots: {_plot(results)}")


if __name__ == "__main__":
    main()
