"""Benchmark: the offline report for a 10,000-trial, 3-objective study.

Goal (issue 7): the report builds in under 15 s on 2 cores and its largest page stays under
10 MB. Prints the measured figures next to the goals, plus where the build time goes.

The study is synthetic but shaped like an engine study: 8 parameters (float, log-float, int,
categorical), DTLZ2-like objectives with a maximised third one, two ``m.*`` metrics and a
constraint that about 10% of the trials violate, 1% failed trials, 1 s apart.

    python benchmarks/report.py [--trials 10000] [--journal]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from benchmarks._common import cpu_model
from dashboards import build_report
from dashboards._data import study_data
from dashboards._figures import study_panels


GOAL_SECONDS = 15.0
GOAL_PAGE_MB = 10.0


def make_study(storage: optuna.storages.BaseStorage, n: int, seed: int = 0) -> optuna.Study:
    rng = np.random.default_rng(seed)
    study = optuna.create_study(
        study_name="bench-10k", storage=storage, directions=["minimize", "minimize", "maximize"]
    )
    study.set_user_attr(
        "dse.objectives",
        [
            {"metric": "hw.latency_ms", "direction": "minimize", "unit": "ms"},
            {"metric": "hw.energy_mj", "direction": "minimize", "unit": "mJ"},
            {"metric": "hw.top1_acc", "direction": "maximize", "unit": ""},
        ],
    )
    dists = {
        "hw.x0": FloatDistribution(0.0, 1.0),
        "hw.x1": FloatDistribution(0.0, 1.0),
        "hw.x2": FloatDistribution(0.0, 1.0),
        "hw.freq_ghz": FloatDistribution(0.5, 3.0, log=True),
        "hw.pes": IntDistribution(1, 64),
        "hw.buffer_kb": IntDistribution(16, 4096, log=True),
        "hw.dataflow": CategoricalDistribution(["ws", "os", "is"]),
        "hw.sparse": CategoricalDistribution([True, False]),
    }
    t0 = dt.datetime(2026, 1, 1)
    trials = []
    for k in range(n):
        x0, x1, x2 = rng.random(3)
        g = (x2 - 0.5) ** 2 * 4
        f = (1 + g) * np.array(
            [
                np.cos(x0 * np.pi / 2) * np.cos(x1 * np.pi / 2),
                np.cos(x0 * np.pi / 2) * np.sin(x1 * np.pi / 2),
                np.sin(x0 * np.pi / 2),
            ]
        )
        params = {
            "hw.x0": float(x0),
            "hw.x1": float(x1),
            "hw.x2": float(x2),
            "hw.freq_ghz": float(np.exp(rng.uniform(np.log(0.5), np.log(3.0)))),
            "hw.pes": int(rng.integers(1, 65)),
            "hw.buffer_kb": int(np.exp(rng.uniform(np.log(16), np.log(4096)))),
            "hw.dataflow": str(rng.choice(["ws", "os", "is"])),
            "hw.sparse": bool(rng.random() < 0.5),
        }
        area = float(rng.normal(-1.0, 0.8))
        failed = rng.random() < 0.01
        trial = create_trial(
            state=TrialState.FAIL if failed else TrialState.COMPLETE,
            values=None if failed else [10 * f[0], 5 * f[1], 1 - 0.3 * f[2]],
            params=params,
            distributions=dists,
            user_attrs={"m.hw.area_mm2": 50 + 10 * x2, "m.hw.util": float(rng.random())}
            | ({"dse.fail_reason": "model returned NaN"} if failed else {"c.hw.area": area}),
            system_attrs={} if failed else {"constraints:hw.area": area},
        )
        trial.datetime_start = t0 + dt.timedelta(seconds=k)
        trial.datetime_complete = t0 + dt.timedelta(seconds=k + 0.8)
        trials.append(trial)
    study.add_trials(trials)
    return study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--journal", action="store_true", help="journal file instead of memory")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        if args.journal:
            from optuna.storages.journal import JournalFileBackend

            storage: optuna.storages.BaseStorage = optuna.storages.JournalStorage(
                JournalFileBackend(str(Path(tmp) / "bench.journal"))
            )
        else:
            storage = optuna.storages.InMemoryStorage()
        t = time.perf_counter()
        study = make_study(storage, args.trials)
        print(f"generated {args.trials} trials in {time.perf_counter() - t:.1f} s")

        # Where the time goes (measured separately, before the real build).
        t = time.perf_counter()
        data = study_data(study)
        load_s = time.perf_counter() - t
        parts = {}
        import dashboards._figures as figures

        for name in ("pareto_3d", "pareto_matrix", "parallel_coordinates"):
            t = time.perf_counter()
            getattr(figures, name)(data)
            parts[name] = time.perf_counter() - t
        ref = figures.study_reference(data)
        assert ref is not None
        t = time.perf_counter()
        figures.hypervolume_figure(data, ref)
        parts["hypervolume_figure"] = time.perf_counter() - t
        t = time.perf_counter()
        figures.importance_figure(data)
        parts["importance_figure"] = time.perf_counter() - t
        t = time.perf_counter()
        study_panels(data)
        parts["all panels"] = time.perf_counter() - t

        out = Path(tmp) / "report"
        t = time.perf_counter()
        build_report(storage, None, out)
        build_s = time.perf_counter() - t
        pages = {p.name: p.stat().st_size for p in out.glob("*.html")}
        largest = max(pages, key=lambda k: pages[k])
        largest_mb = pages[largest] / 1e6
        front = int(data.trials["pareto"].sum())

    print(f"machine: nproc={os.cpu_count()}, {cpu_model()}")
    print(f"study: {args.trials} trials, 3 objectives, {front} on the Pareto front")
    print(f"load study into frames: {load_s:.2f} s")
    for name, secs in parts.items():
        print(f"  {name:<22} {secs:6.2f} s")
    print(
        f"report build: {build_s:.2f} s   goal < {GOAL_SECONDS:.0f} s   "
        f"ratio {build_s / GOAL_SECONDS:.2f} of the goal"
    )
    print(
        f"largest page: {largest} {largest_mb:.2f} MB   goal < {GOAL_PAGE_MB:.0f} MB   "
        f"ratio {largest_mb / GOAL_PAGE_MB:.2f} of the goal"
    )
    print(f"plotly.min.js written once: {(out / 'plotly.min.js').name} (not counted in pages)")


if __name__ == "__main__":
    main()
