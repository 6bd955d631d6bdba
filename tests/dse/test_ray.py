"""The Ray executor: one local Ray cluster for the whole module (start-up costs seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from dse import load_spec, open_storage, run_study


pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("ray_cluster")]


def test_local_ray_listens_on_loopback_only() -> None:
    import psutil

    procs = [psutil.Process(), *psutil.Process().children(recursive=True)]
    listening = []
    for p in procs:
        try:
            conns = p.net_connections(kind="inet")
        except psutil.Error:  # a worker that just ended
            continue
        listening += [(p.name(), c.laddr.ip) for c in conns if c.status == psutil.CONN_LISTEN]
    assert listening  # the GCS, the raylet, the driver's core worker at least
    assert all(ip in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for _, ip in listening), listening


def _study(storage: str, name: str = "demo") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(storage))


def test_trial_mode_on_two_workers(study_file, tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    spec = load_spec(study_file(n_trials=16, body="""
        [executor]
        kind = "ray"
        workers = 2
        batch_size = 2
    """)).with_overrides(storage=storage)
    summary = run_study(spec)
    assert summary.n_complete == 16
    assert len(_study(storage).trials) == 16


def test_sweep_and_nested_modes_on_ray(study_file, tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    grid = """
        [space.override]
        "demo.x" = { steps = 41 }
        "demo.y" = { steps = 5 }
    """
    sweep = load_spec(study_file(name="sw", mode="sweep", extra_space=grid, body="""
        [executor]
        kind = "ray"
        workers = 2
        [sweep]
        chunk_size = 100
    """)).with_overrides(storage=storage)
    assert run_study(sweep).sweep["front"] == 41
    assert len(_study(storage, "sw").best_trials) == 41
    nested = load_spec(study_file(name="ne", mode="nested", n_trials=4, extra_space=grid,
                                  body="""
        [executor]
        kind = "ray"
        workers = 2
        [nested]
        outer = ["demo.level"]
    """)).with_overrides(storage=storage)
    assert run_study(nested).n_complete == 4


def test_dead_worker_is_retried_then_fails(study_file, tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    marker = tmp_path / "died-once"
    # Dies once (creates the marker), succeeds on the retry.
    once = load_spec(study_file(name="once", n_trials=3,
                                options=f'die_above = 0.0, die_marker = "{marker}"', body="""
        [executor]
        kind = "ray"
        workers = 1
    """)).with_overrides(storage=storage)
    assert run_study(once).n_complete == 3
    assert marker.exists()
    # Dies every time: retried once, then the points fail with the reason.
    always = load_spec(study_file(name="always", n_trials=2, options="die_above = 0.0",
                                  body="""
        [executor]
        kind = "ray"
        workers = 1
    """)).with_overrides(storage=storage)
    summary = run_study(always)
    assert summary.n_failed == 2
    for t in _study(storage, "always").trials:
        assert t.state == TrialState.FAIL
        assert t.user_attrs["dse.fail_reason"].startswith("Ray worker died 2 times")


def test_pruning_decisions_reach_ray_workers(study_file, tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    spec = load_spec(study_file(n_trials=24, options="expensive = true, report_steps = 4",
                                body="""
        [executor]
        kind = "ray"
        workers = 2
    """)).with_overrides(storage=storage)
    summary = run_study(spec)
    assert summary.n_pruned > 0
    curves = [t.user_attrs.get("dse.curve") for t in _study(storage).trials
              if t.state == TrialState.COMPLETE and np.isfinite(t.values).all()]
    assert curves and all(len(c) == 4 for c in curves)
    assert np.isfinite([v for c in curves for _, v in c]).all()


def test_evolutionary_sweep_on_ray_matches_the_serial_one(study_file, tmp_path: Path) -> None:
    # Every random draw happens in the driver; workers only evaluate slices of each
    # generation, so two workers must find exactly the serial front.
    body = """
        [sweep]
        method = "evolutionary"
        population = 64
        generations = 5
        sample_rest = 0
        save = "front"
    """
    fronts = []
    for kind in ("serial", "ray"):
        storage = str(tmp_path / f"{kind}.journal")
        spec = load_spec(study_file(name=f"evo-{kind}", mode="sweep", body=body + f"""
        [executor]
        kind = "{kind}"
        workers = 2
        """)).with_overrides(storage=storage)
        summary = run_study(spec)
        assert summary.sweep["evaluated"] == 64 * 6
        study = _study(storage, f"evo-{kind}")
        fronts.append(sorted(tuple(t.values) for t in study.best_trials))
    assert fronts[0] == fronts[1] and len(fronts[0]) > 5
