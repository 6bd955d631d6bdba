"""N:M recipes on the built-in proxy: accuracy (mean, std, paired deltas vs SR-STE) and FLOPs.

The qualitative claim of Bambhaniya et al. (CPAL 2025, Table 2): at high sparsity (1:16, 1:32)
the decay recipes (MDGF, SDGF) beat SR-STE; at 2:4 SR-STE ties or wins. This script trains the
default-fidelity proxy for every recipe, ratio and seed (each training on one thread, ``--jobs``
in parallel; results go through the model's on-disk cache, so a rerun is free) and prints a
markdown table with mean +- std over seeds, the paired difference to SR-STE with its standard
error, and the proxy's training FLOPs. Nothing is asserted: the measured table is the result.

    python benchmarks/nm_recipes.py --seeds 5 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import cpu_model
from costmodels import get_model


RECIPES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("srste", {}),
    ("ste", {}),
    ("mdgf_linear", {}),
    ("mdgf_exp", {}),
    ("mdgf_exp", {"backward": "scaled"}),
    ("sdgf_stepwise", {}),
    ("sdgf_geometric", {}),
)


def _label(recipe: str, extra: dict[str, Any]) -> str:
    return recipe + "".join(f"[{k}={v}]" for k, v in extra.items())


Job = tuple[str, dict[str, Any], int, int, int, dict[str, Any]]


def _run(job: Job) -> dict[str, Any]:
    recipe, extra, n, m, seed, options = job
    model = get_model("nm_training", **options)
    start = time.perf_counter()
    out = model.evaluate(model.batch(recipe=recipe, n=n, m=m, seed=seed, **extra))
    return {
        "label": _label(recipe, {k: v for k, v in extra.items() if k != "sparse_layers"}),
        "ratio": f"{n}:{m}" if recipe != "dense" else "dense",
        "seed": seed,
        "acc": float(out["top1_acc"][0]),
        "train_flops": float(out["train_flops"][0]),
        "grad_abs_var_q1": float(out["grad_abs_var_q1"][0]),
        "adam_v_var": float(out["adam_v_var"][0]),
        "mask_flip_rate": float(out["mask_flip_rate"][0]),
        "wall_s": time.perf_counter() - start,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cache-dir", default=None, help="result cache (default: the model's)")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw rows here")
    ap.add_argument(
        "--recipes",
        default=",".join(_label(r, e) for r, e in RECIPES),
        help="comma-separated recipe labels to run (srste is always included)",
    )
    ap.add_argument("--ratios", default="2:4,1:16,1:32", help="comma-separated N:M targets")
    ap.add_argument("--steps", type=int, default=None, help="override the proxy's step budget")
    ap.add_argument("--sparse-layers", default="ff", help="which projections are N:M")
    args = ap.parse_args()
    ratios = [tuple(int(v) for v in r.split(":")) for r in args.ratios.split(",")]
    options: dict[str, Any] = {"cache_dir": args.cache_dir or "auto", "steps": args.steps}
    wanted = set(args.recipes.split(",")) | {"srste"}
    recipes = [(r, e) for r, e in RECIPES if _label(r, e) in wanted]

    layers = {"sparse_layers": args.sparse_layers}
    jobs: list[Job] = [("dense", {}, 1, 4, s, options) for s in range(args.seeds)]
    jobs += [
        (r, extra | layers, n, m, s, options)
        for n, m in ratios
        for r, extra in recipes
        for s in range(args.seeds)
    ]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(_run, jobs))
    wall = time.perf_counter() - start

    print(
        f"nproc={os.cpu_count()} cpu={cpu_model()} jobs={args.jobs} seeds={args.seeds} "
        f"runs={len(rows)} wall={wall:.0f}s (per run: median "
        f"{np.median([r['wall_s'] for r in rows]):.1f}s incl. cache hits)"
    )
    print(f"proxy steps={args.steps or 'default'} sparse_layers={args.sparse_layers}")
    dense = np.array([r["acc"] for r in rows if r["label"] == "dense"])
    print(
        f"\ndense: {dense.mean():.2f} +- {dense.std(ddof=1):.2f} "
        f"(train {rows[0]['train_flops']:.3g} FLOP)\n"
    )
    print(
        "| ratio | recipe | top1 % mean +- std | delta vs SR-STE (paired) +- SE | wins/seeds "
        "| train FLOPs | var(abs g) Q1 | var(v_t) | mask flips |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    verdicts = []
    for n, m in ratios:
        ratio = f"{n}:{m}"
        by_label: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            if r["ratio"] == ratio:
                by_label.setdefault(r["label"], []).append(r)
        base = {r["seed"]: r["acc"] for r in by_label["srste"]}
        for label, rs in by_label.items():
            accs = np.array([r["acc"] for r in rs])
            diffs = np.array([r["acc"] - base[r["seed"]] for r in rs])
            se = diffs.std(ddof=1) / np.sqrt(len(diffs)) if len(diffs) > 1 else np.nan
            wins = int((diffs > 0).sum())
            delta = "—" if label == "srste" else f"{diffs.mean():+.2f} +- {se:.2f}"
            print(
                f"| {ratio} | {label} | {accs.mean():.2f} +- {accs.std(ddof=1):.2f} | {delta} "
                f"| {wins if label != 'srste' else '—'}/{len(rs)} | {rs[0]['train_flops']:.3g} "
                f"| {np.mean([r['grad_abs_var_q1'] for r in rs]):.2e} "
                f"| {np.mean([r['adam_v_var'] for r in rs]):.2e} "
                f"| {np.mean([r['mask_flip_rate'] for r in rs]):.4f} |"
            )
            if label.startswith(("mdgf", "sdgf")):
                verdicts.append((ratio, label, diffs.mean(), se))
    print("\nDecay recipe vs SR-STE (paired mean difference, standard error over seeds):")
    for ratio, label, d, se in verdicts:
        if ratio == "2:4":
            word = "SR-STE ties or wins" if d <= se else "decay recipe wins beyond SE"
        else:
            word = "beats SR-STE beyond SE" if d > se else "does NOT beat SR-STE beyond SE"
        print(f"  {ratio:5s} {label:28s} {d:+.2f} +- {se:.2f}  -> {word}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
