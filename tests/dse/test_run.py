"""Running studies in each mode, parametrized over storages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from costmodels.demo import front_f2
from dse import load_spec, open_storage, run_study, study_records
from dse._columnar import read_columns
from dse._study import named_constraints


def _study(storage_url: str, name: str = "demo") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(storage_url))


def test_trial_mode_runs_and_resumes_to_total_budget(study_file, storage_url: str) -> None:
    spec = load_spec(study_file(n_trials=12)).with_overrides(storage=storage_url)
    first = run_study(spec)
    assert first.n_new == 12 and first.n_finished == 12
    again = run_study(spec)
    assert again.n_new == 0  # the budget is the study's total, not 12 more
    more = run_study(spec.with_overrides(n_trials=20))
    assert more.n_new == 8
    study = _study(storage_url)
    assert len(study.trials) == 20
    assert study.metric_names == ["demo.f1", "demo.f2"]
    t = study.trials[0]
    assert set(t.user_attrs["metrics"]) == {"demo.budget"}
    budget = pytest.approx(t.user_attrs["metrics"]["demo.budget"])
    assert named_constraints(t) == {"demo.budget": budget}
    # optuna-dashboard reads only the list form: it is there too.
    assert t.system_attrs["constraints"] == [budget]
    assert study.user_attrs["dse.objectives"][0] == {
        "metric": "demo.f1", "direction": "minimize", "unit": ""}


def test_sweep_mode_finds_the_exact_front(study_file, storage_url: str, tmp_path: Path) -> None:
    path = study_file(mode="sweep", extra_space="""
        [space.override]
        "demo.x" = { steps = 51 }
        "demo.y" = { steps = 11 }
    """, body="""
        [sweep]
        chunk_size = 1000
        sample_rest = 30
        save = "all"
    """)
    spec = load_spec(path).with_overrides(storage=storage_url)
    summary = run_study(spec)
    assert summary.sweep["evaluated"] == 51 * 11 * 4
    assert summary.sweep["front"] == 51
    study = _study(storage_url)
    front = study.best_trials
    assert len(front) == 51
    f1 = np.array([t.values[0] for t in front])
    f2 = np.array([t.values[1] for t in front])
    assert np.allclose(f2, front_f2(f1))
    rest = [t for t in study.trials if not t.user_attrs["dse.pareto"]]
    assert 20 <= len(rest) <= 30 and len(study.trials) == 51 + len(rest)
    # the sample is "the rest": never a copy of a front point
    best = {t.number for t in front}
    assert not any(t.number in best for t in rest)
    cols = read_columns(study.user_attrs["dse.sweep_file"])
    assert len(cols["demo.x"]) == 51 * 11 * 4
    expected = np.asarray(cols["demo.x"]) + np.asarray(cols["demo.y"]) <= 1.5
    assert (np.asarray(cols["feasible"]).astype(bool) == expected).all()
    # the per-chunk history the report plots: points evaluated, front size, hypervolume
    history = study.user_attrs["dse.sweep_summary"]["history"]
    assert history["evaluated"] == [1000, 2000, 51 * 11 * 4]
    assert history["front"][-1] == 51 and all(n > 0 for n in history["front"])
    hv = history["hypervolume"]
    assert all(a <= b + 1e-9 for a, b in zip(hv, hv[1:], strict=False))
    assert hv[-1] == pytest.approx(summary.hypervolume, abs=1e-6)
    # re-running a finished sweep adds nothing
    assert run_study(spec).n_new == 0


def test_evolutionary_sweep_approaches_the_front(study_file, tmp_path: Path) -> None:
    path = study_file(mode="sweep", body="""
        [sweep]
        method = "evolutionary"
        population = 200
        generations = 30
        sample_rest = 0
        save = "front"
        max_front_trials = 60
    """)
    spec = load_spec(path).with_overrides(storage=str(tmp_path / "s.journal"))
    summary = run_study(spec)
    assert summary.sweep["evaluated"] == 200 * 31
    study = _study(str(tmp_path / "s.journal"))
    F = np.array([t.values for t in study.best_trials])
    gap = F[:, 1] - front_f2(F[:, 0])
    assert np.median(gap) < 0.05 and len(F) == 60
    # the thinned front keeps both extremes of the whole front, which its table holds
    assert "dse.sweep_file" not in study.user_attrs  # save = "front": no points table
    cols = read_columns(study.user_attrs["dse.sweep_front"])
    assert summary.sweep["front"] == len(cols["demo.f1"]) > 60
    assert F[:, 0].min() == np.min(cols["demo.f1"]) and F[:, 0].max() == np.max(cols["demo.f1"])


def test_nested_mode_optimizes_inner_params_per_proposal(study_file, storage_url: str) -> None:
    path = study_file(mode="nested", n_trials=4, extra_space="""
        [space.override]
        "demo.x" = { steps = 21 }
        "demo.y" = { steps = 5 }
    """, body="""
        [nested]
        outer = ["demo.level"]
    """)
    spec = load_spec(path).with_overrides(storage=storage_url)
    summary = run_study(spec)
    assert summary.n_complete == 4
    study = _study(storage_url)
    outer = [t for t in study.trials if t.user_attrs.get("dse.mode") == "nested-outer"]
    assert len(outer) == 4
    for t in outer:
        assert t.user_attrs["dse.inner_params"]["demo.y"] == 0.0  # inner sweep found y = 0
    inner = [t for t in study.trials if t.user_attrs.get("dse.mode") == "nested-inner"]
    assert len(inner) == 4 * 20  # each proposal's front minus its knee
    records = study_records(study, pareto_only=True)
    assert all(r["params"]["demo.level"] == 0 for r in records)


def test_failing_model_fails_its_trial_not_the_study(study_file, storage_url: str) -> None:
    spec = load_spec(study_file(options="fail_above = 0.5", n_trials=20)).with_overrides(
        storage=storage_url)
    summary = run_study(spec)
    study = _study(storage_url)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed and summary.n_failed == len(failed)
    assert all(t.params["demo.x"] > 0.5 for t in failed)
    assert all(t.user_attrs["dse.fail_reason"] == "model returned NaN for demo.f2"
               for t in failed)
    assert summary.n_finished == 20


def test_raising_model_in_a_batch_fails_only_its_point(study_file, tmp_path: Path) -> None:
    spec = load_spec(study_file(options="raise_above = 0.7", n_trials=24, body="""
        [executor]
        batch_size = 8
    """)).with_overrides(storage=str(tmp_path / "s.journal"))
    run_study(spec)
    study = _study(str(tmp_path / "s.journal"))
    for t in study.trials:
        if t.params["demo.x"] > 0.7:
            assert t.state == TrialState.FAIL
            assert "RuntimeError: demo model asked to raise" in t.user_attrs["dse.fail_reason"]
        else:
            assert t.state == TrialState.COMPLETE


def test_constraints_and_bounds_reach_optuna(study_file, tmp_path: Path) -> None:
    spec = load_spec(study_file(n_trials=40, body="""
        [[constraints]]
        metric = "demo.f2"
        max = 1.0
    """)).with_overrides(storage=str(tmp_path / "s.journal"))
    run_study(spec)
    study = _study(str(tmp_path / "s.journal"))
    for t in study.trials:
        assert set(named_constraints(t)) == {"demo.budget", "bound.demo.f2"}
        assert t.constraints["bound.demo.f2"] == pytest.approx(t.values[1] - 1.0)
    assert all(t.values[1] <= 1.0 for t in study.best_trials)


def test_pruning_stops_bad_expensive_trials(study_file, tmp_path: Path) -> None:
    spec = load_spec(study_file(
        options="expensive = true, report_steps = 5", n_trials=30, sampler="random",
    )).with_overrides(storage=str(tmp_path / "s.journal"))
    summary = run_study(spec)
    study = _study(str(tmp_path / "s.journal"))
    assert summary.n_pruned > 0
    evaluated = [t for t in study.trials
                 if t.state == TrialState.COMPLETE and np.isfinite(t.values).all()]
    assert evaluated and all(len(t.user_attrs["dse.curve"]) == 5 for t in evaluated)


def test_every_sampler_runs(study_file, tmp_path: Path) -> None:
    for sampler in ("tpe", "tpe-multivariate", "nsga2", "nsga3", "random"):
        spec = load_spec(study_file(name=f"s-{sampler}", sampler=sampler, n_trials=8))
        run_study(spec.with_overrides(storage=str(tmp_path / "s.journal")))
    pytest.importorskip("torch")
    gp = load_spec(study_file(name="s-gp", sampler="gp", n_trials=3))
    assert run_study(gp.with_overrides(storage=str(tmp_path / "s.journal"))).n_complete == 3
    grid = load_spec(study_file(name="grid", sampler="grid", n_trials=8, extra_space="""
        [space.override]
        "demo.x" = { steps = 3 }
        "demo.y" = [0.0]
    """)).with_overrides(storage=str(tmp_path / "s.journal"))
    assert run_study(grid).n_complete == 8


def test_a_stopped_exhaustive_sweep_resumes_without_duplicates(study_file, tmp_path) -> None:
    path = study_file(mode="sweep", extra_space="""
        [space.override]
        "demo.x" = { steps = 201 }
        "demo.y" = { steps = 51 }
    """, body="""
        [sweep]
        chunk_size = 500
        sample_rest = 10
        save = "all"
    """)
    spec = load_spec(path).with_overrides(storage=str(tmp_path / "s.journal"))
    stopped = run_study(spec.with_overrides(timeout_s=1e-6))
    assert stopped.interrupted and not stopped.sweep["complete"]
    assert stopped.sweep["evaluated"] < 201 * 51 * 4
    assert _study(str(tmp_path / "s.journal")).trials == []  # nothing recorded yet
    done = run_study(spec)
    assert done.sweep["complete"] and not done.interrupted
    study = _study(str(tmp_path / "s.journal"))
    assert len(study.best_trials) == 201
    cols = read_columns(study.user_attrs["dse.sweep_file"])
    assert len(cols["demo.x"]) == 201 * 51 * 4  # every point written exactly once


def test_expensive_model_never_runs_on_points_the_space_rules_out(study_file, tmp_path) -> None:
    # The demo space's constraint x + y <= 1.5 screens points before the (here expensive)
    # model: they complete as infeasible designs with worst objectives, never as failures.
    spec = load_spec(study_file(options="expensive = true, raise_above = 0.95", n_trials=40,
                                extra_space="""
        [space.override]
        "demo.x" = [0.2, 0.9, 0.99]
        "demo.y" = [0.0, 0.7]
    """)).with_overrides(storage=str(tmp_path / "s.journal"))
    summary = run_study(spec)
    study = _study(str(tmp_path / "s.journal"))
    screened = [t for t in study.trials if t.params["demo.x"] + t.params["demo.y"] > 1.5]
    assert screened, "the sampler should have tried an infeasible point"
    for t in screened:
        assert t.state == TrialState.COMPLETE  # x = 0.99 would raise if it had been evaluated
        assert t.values == [float("inf"), float("inf")]
        assert t.constraints["demo.budget"] > 0
        assert t.user_attrs["dse.note"].startswith("infeasible, not evaluated: demo.budget")
    assert all(t.values[0] < 1 for t in study.best_trials)
    raised = [t for t in study.trials if t.state == TrialState.FAIL]
    assert all(t.params["demo.x"] == 0.99 and t.params["demo.y"] == 0.0 for t in raised)
    assert summary.n_failed == len(raised)
