"""Does joint search matter? The codesign study's joint front against composed per-layer optima.

Run: ``python benchmarks/codesign.py [--fidelity default|tiny] [--cache-dir DIR]``.

Both sides evaluate designs of ``dse/studies/codesign.toml`` through the same pipeline (all four
models and the links), over the same candidates:

* **joint**: every recipe candidate x every engine x server x cluster point of the study's
  inner grid, evaluated together; the feasible Pareto front in the study's five objectives;
* **composed**: each layer optimized alone for its own objectives, then the optima composed and
  evaluated through the links:

  - training alone: the recipes' Pareto set of (proxy top-1 max, training FLOPs min);
  - engine alone: the Pareto set of (latency, area) at the engine's own design ratio 2:4 (the
    VEGETA paper's headline pattern);
  - serving alone: the Pareto set of (latency, served accuracy, energy) with dense weights;
  - cluster alone: the Pareto set of (time to train, capex) for dense training;

  every combination of the four sets, evaluated through the pipeline; its feasible front;
* **composed knees**: each layer's single best compromise (the point of its own front nearest
  its own ideal, normalized), the four composed into one design.

All hypervolumes are computed in one normalization (ideal 0, nadir 1 over the union of the
joint and composed fronts, reference point 1.1 per axis), so they compare. The script then
prints how many joint-front designs no composed design matches or beats, and per objective the
joint optimum next to the composed one, with the parameters that differ.
"""

from __future__ import annotations

import sys
from pathlib import Path as _Path


sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))

import argparse
import itertools
import os
import time
from dataclasses import replace
from typing import Any

import numpy as np

from benchmarks._common import machine_line
from dse import Problem, load_spec
from dse._hypervolume import reference_point
from dse._pareto import pareto_mask


# Recipe candidates: the ratios the engine runs natively (N:4), ones it runs only through a
# denser encoding (1:8 as 1:4, 2:8 as 2:4, 3:8 as dense), at the recipes the study searches.
RECIPES: list[dict[str, Any]] = [
    {"nm.recipe": "dense"},
    {"nm.recipe": "srste", "sparsity.n": 2, "sparsity.m": 4},
    {"nm.recipe": "srste", "sparsity.n": 1, "sparsity.m": 4},
    {"nm.recipe": "srste", "sparsity.n": 1, "sparsity.m": 8},
    {"nm.recipe": "srste", "sparsity.n": 3, "sparsity.m": 8},
    {"nm.recipe": "mdgf_exp", "sparsity.n": 2, "sparsity.m": 8},
    {"nm.recipe": "mdgf_exp", "sparsity.n": 1, "sparsity.m": 16},
    {"nm.recipe": "sdgf_geometric", "sparsity.n": 1, "sparsity.m": 16},
]
ENGINE_OWN_RATIO = {"sparsity.n": 2, "sparsity.m": 4, "nm.recipe": "srste"}
LAYERS = {"hw": "engine", "sushi": "serving", "cl": "cluster"}


def _problem(fidelity: str, cache_dir: str | None) -> Problem:
    spec = load_spec("codesign")
    models = tuple(
        replace(m, options={**m.options, "fidelity": fidelity,
                            **({"cache_dir": cache_dir} if cache_dir else {})})
        if m.model == "nm_training" else m
        for m in spec.models
    )
    return Problem(replace(spec, models=models))


def _outer(problem: Problem, recipe: dict[str, Any]) -> dict[str, Any]:
    point = {p.name: p.default for p in problem.space.params
             if p.name.startswith(("nm.", "sparsity."))}
    point.update(recipe)
    return point


def _grid(problem: Problem, outer: dict[str, Any]) -> dict[str, np.ndarray]:
    inner = problem.pinned(outer)
    parts = list(inner.space.enumerate())
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _evaluate(problem: Problem, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    ev = problem.evaluate(batch)
    out = dict(batch)
    out.update(ev.metrics)
    out["__F"] = ev.F
    out["__feasible"] = ev.feasible
    return out


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _own_front(cols: dict[str, np.ndarray], objectives: list[tuple[str, float]],
               feasible: np.ndarray) -> np.ndarray:
    """Indices of the feasible rows on the front of ``objectives`` (key, sign for min)."""
    F = np.stack([np.asarray(cols[k], np.float64) * s for k, s in objectives], axis=1)
    idx = np.flatnonzero(feasible & np.isfinite(F).all(axis=1))
    if not len(idx):
        return idx
    keep = idx[pareto_mask(F[idx])]
    # one row per distinct design of that layer
    _, first = np.unique(F[keep], axis=0, return_index=True)
    return keep[np.sort(first)]


def _knee(cols: dict[str, np.ndarray], objectives: list[tuple[str, float]],
          rows: np.ndarray) -> np.ndarray:
    """The one row of ``rows`` nearest the ideal of its own objectives (normalized)."""
    F = np.stack([np.asarray(cols[k], np.float64)[rows] * s for k, s in objectives], axis=1)
    lo, hi = F.min(axis=0), F.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return rows[[int(np.argmin(np.linalg.norm((F - lo) / span, axis=1)))]]


def _layer_params(problem: Problem, ns: str) -> list[str]:
    return [p.name for p in problem.space.searched if p.name.startswith(f"{ns}.")]


def _front(cols: dict[str, np.ndarray]) -> np.ndarray:
    ok = np.flatnonzero(cols["__feasible"])
    return ok[pareto_mask(cols["__F"][ok])] if len(ok) else ok


def _describe(problem: Problem, cols: dict[str, np.ndarray], i: int) -> str:
    shown = ["nm.recipe", "sparsity.n", "sparsity.m", "hw.engine", "hw.alpha",
             "hw.sparse_capable", "sushi.pb_mb", "cl.num_nodes", "cl.tp", "cl.pp"]
    return ", ".join(f"{k.split('.', 1)[1]}={cols[k][i]}" for k in shown if k in cols)


def _objective_line(problem: Problem, cols: dict[str, np.ndarray], i: int) -> str:
    return ", ".join(f"{o.key}={float(cols[o.key][i]):.4g}" for o in problem.objectives)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "inf"


def _covered(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Rows of ``P`` (minimized) that some row of ``Q`` equals or dominates."""
    if not len(Q):
        return np.zeros(len(P), dtype=bool)
    le = (Q[None, :, :] <= P[:, None, :] + 1e-12).all(axis=2)
    return le.any(axis=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fidelity", default="default", choices=("default", "tiny", "long"))
    ap.add_argument("--cache-dir", default=None, help="proxy training cache (default: auto)")
    args = ap.parse_args()
    print(f"machine: {machine_line()}")
    print(f"proxy fidelity: {args.fidelity}")
    problem = _problem(args.fidelity, args.cache_dir)
    t0, c0 = time.perf_counter(), os.times()

    # -- joint: every recipe x the whole inner grid -------------------------------------------
    parts = []
    for recipe in RECIPES:
        parts.append(_evaluate(problem, _grid(problem, _outer(problem, recipe))))
    joint = _concat(parts)
    jf = _front(joint)
    print(f"joint: {len(joint['__F']):,} designs ({len(RECIPES)} recipes x "
          f"{len(parts[0]['__F']):,} engine x server x cluster points), "
          f"{int(joint['__feasible'].sum()):,} feasible, front {len(jf)}")

    print("per recipe: proxy top-1 change vs dense [pp], best engine GEMM time and bytes vs "
          "dense, training steps on 2:4 sparse math")
    for recipe, part in zip(RECIPES, parts):
        name = f"{recipe['nm.recipe']} {part['sparsity.n'][0]}:{part['sparsity.m'][0]}"
        print(f"  {name:22s} {float(part['acc.acc_delta_pp'][0]):+6.2f} pp   "
              f"x{float(np.nanmin(part['link.gemm_latency_scale'])):.3f} time   "
              f"x{float(np.nanmin(part['link.weight_bytes_scale'])):.4f} bytes   "
              f"{float(part['train.accelerated_frac'][0]):.2f} of steps")

    # -- each layer alone -----------------------------------------------------------------------
    recipe_rows = np.asarray([np.flatnonzero(np.all(
        [joint[k] == v for k, v in _outer(problem, r).items() if k in joint], axis=0))[0]
        for r in RECIPES])
    rcols = {k: v[recipe_rows] for k, v in joint.items()}
    r_ok = ~np.isnan(rcols["nm.top1_acc"])
    r_star = recipe_rows[_own_front(rcols, [("nm.top1_acc", -1.0), ("nm.train_flops", 1.0)],
                                    r_ok)]
    engine_batch = _evaluate(problem, _grid(problem, _outer(problem, ENGINE_OWN_RATIO)))
    h_star = _own_front(engine_batch, [("hw.latency_ms", 1.0), ("hw.area_rel", 1.0)],
                        engine_batch["hw.register_violation"] <= 0)
    dense = parts[0]
    s_ok = (dense["sushi.onchip_mem_violation_mb"] <= 0) & (dense["sushi.mac_budget_violation"]
                                                            <= 0)
    s_star = _own_front(dense, [("sushi.latency_ms", 1.0), ("sushi.served_acc_pct", -1.0),
                                ("sushi.energy_mj", 1.0)], s_ok)
    c_ok = ((dense["cl.invalid_config"] <= 0) & (dense["cl.mem_over_gb"] <= 0)
            & (dense["cl.tp_outside_node"] <= 0))
    c_star = _own_front(dense, [("cl.time_to_train_days", 1.0), ("cl.capex_usd", 1.0)], c_ok)
    print(f"layers alone: {len(r_star)} recipes, {len(h_star)} engines, {len(s_star)} server "
          f"configs, {len(c_star)} clusters on their own fronts")

    layer_rows = {"hw": engine_batch, "sushi": dense, "cl": dense}

    def compose(rs: np.ndarray, hs: np.ndarray, ss: np.ndarray, cs: np.ndarray
                ) -> dict[str, np.ndarray]:
        combos: dict[str, list[Any]] = {name: [] for name in problem.space.names}
        for r, h, s, c in itertools.product(rs, hs, ss, cs):
            point = {name: joint[name][r] for name in problem.space.names}
            for ns, i in (("hw", h), ("sushi", s), ("cl", c)):
                for name in _layer_params(problem, ns):
                    point[name] = layer_rows[ns][name][i]
            for name in combos:
                combos[name].append(point[name])
        return _evaluate(problem, {name: np.asarray(v, dtype=problem.space[name].dtype)
                                   for name, v in combos.items()})

    composed = compose(r_star, h_star, s_star, c_star)
    cf = _front(composed)
    print(f"composed (every layer's own Pareto set): {len(composed['__F']):,} combinations, "
          f"{int(composed['__feasible'].sum()):,} feasible, front {len(cf)}")
    own = {"recipe": [("nm.top1_acc", -1.0), ("nm.train_flops", 1.0)],
           "engine": [("hw.latency_ms", 1.0), ("hw.area_rel", 1.0)],
           "server": [("sushi.latency_ms", 1.0), ("sushi.served_acc_pct", -1.0),
                      ("sushi.energy_mj", 1.0)],
           "cluster": [("cl.time_to_train_days", 1.0), ("cl.capex_usd", 1.0)]}
    knees = compose(_knee(joint, own["recipe"], r_star),
                    _knee(engine_batch, own["engine"], h_star),
                    _knee(dense, own["server"], s_star), _knee(dense, own["cluster"], c_star))
    kf = _front(knees)
    print(f"composed (every layer's knee, one design each): {len(kf)} feasible design(s)")
    for i in kf:
        print(f"    {_describe(problem, knees, i)}\n    {_objective_line(problem, knees, i)}")

    # -- hypervolume in one normalization ------------------------------------------------------
    directions = [o.direction for o in problem.objectives]
    union = np.vstack([joint["__F"][jf], composed["__F"][cf]])
    ref = reference_point(union, directions)
    hv_j = ref.hypervolume(joint["__F"][jf])
    hv_c = ref.hypervolume(composed["__F"][cf]) if len(cf) else 0.0
    hv_k = ref.hypervolume(knees["__F"][kf]) if len(kf) else 0.0
    print(f"hypervolume (normalized, reference 1.1 x nadir of both fronts): joint {hv_j:.4f}, "
          f"composed Pareto sets {hv_c:.4f} (joint/composed {_ratio(hv_j, hv_c)}), "
          f"composed knees {hv_k:.4f} (joint/knees {_ratio(hv_j, hv_k)})")
    covered = _covered(joint["__F"][jf], composed["__F"][cf])
    print(f"joint front designs no composed design matches or beats: {int((~covered).sum())} "
          f"of {len(jf)}")

    # -- where the joint optimum differs -----------------------------------------------------
    print("joint optimum per objective vs the composed set's:")
    for j, o in enumerate(problem.objectives):
        bj = jf[np.argmin(joint["__F"][jf, j])]
        line = f"  best {o.key}:\n    joint    {_describe(problem, joint, bj)}\n" \
               f"             {_objective_line(problem, joint, bj)}"
        if len(cf):
            bc = cf[np.argmin(composed["__F"][cf, j])]
            line += f"\n    composed {_describe(problem, composed, bc)}\n" \
                    f"             {_objective_line(problem, composed, bc)}"
        print(line)
    wall, cpu = time.perf_counter() - t0, sum(os.times()[:2]) - sum(c0[:2])
    print(f"time: {wall:.1f} s wall, {cpu:.1f} s CPU (proxy trainings included unless cached)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
