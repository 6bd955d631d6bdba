from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import optuna
import pytest

from dashboards import StudyNotFoundError, load_study_data, resolve_storage


def test_engine_conventions_name_and_annotate(demo_storage: optuna.storages.BaseStorage) -> None:
    data = load_study_data(demo_storage, "demo-zdt1")
    assert data.objectives == ["demo.f1", "demo.f2"]
    assert data.directions == ["minimize", "minimize"]
    assert list(data.metrics.columns) == ["demo.g"]
    assert list(data.constraints.columns) == ["demo.budget"]
    t = data.trials
    assert data.state_counts() == {"COMPLETE": 60, "FAIL": 1}
    assert t.loc[60, "fail_reason"] == "demo model returned NaN"
    budget = data.constraints["demo.budget"]
    assert np.array_equal(t["feasible"].to_numpy(), ~(budget > 0).to_numpy())
    # Every Pareto trial is feasible and no feasible trial dominates it.
    vals = data.values_min()
    feas = (t["state"] == "COMPLETE").to_numpy() & t["feasible"].to_numpy()
    for i in np.flatnonzero(t["pareto"].to_numpy()):
        assert feas[i]
        dominated = np.all(vals[feas] <= vals[i], axis=1) & np.any(vals[feas] < vals[i], axis=1)
        assert not dominated.any()
    cfg = data.config(int(t.index[t["pareto"]][0]))
    assert isinstance(cfg["params"]["demo.level"], int)  # int params stay ints
    assert set(cfg) >= {"params", "values", "metrics", "constraints", "feasible", "pareto"}


def test_per_key_metric_and_constraint_attrs_are_read(studies: ModuleType, tmp_path: Path) -> None:
    storage = studies.journal(tmp_path / "j.log")
    study = studies.make_study(storage, "legacy", ["minimize", "minimize"])
    attrs = {"m.hw.area_mm2": 3.0, "c.hw.power": 0.5}
    study.add_trials([studies.simple_trial(0, [1.0, 2.0], {"hw.x": 0.1}, attrs)])
    data = load_study_data(storage, "legacy")
    assert data.metrics.loc[0].to_dict() == {"hw.area_mm2": 3.0}
    assert data.constraints.loc[0].to_dict() == {"hw.power": 0.5}
    assert not data.trials.loc[0, "feasible"]


def test_nested_inner_params_join_the_params(studies: ModuleType, tmp_path: Path) -> None:
    storage = studies.journal(tmp_path / "j.log")
    study = studies.make_study(storage, "nested", ["minimize", "minimize"])
    attrs = {"dse.inner_params": {"nm.lr": 0.01, "nm.m": 4}}
    study.add_trials([studies.simple_trial(0, [1.0, 2.0], {"nm.n": 0.5}, attrs)])
    cfg = load_study_data(storage, "nested").config(0)
    assert cfg["params"] == {"nm.n": 0.5, "nm.lr": 0.01, "nm.m": 4}


def test_any_optuna_study_falls_back_to_values_i(studies: ModuleType, tmp_path: Path) -> None:
    storage = studies.journal(tmp_path / "j.log")
    study = studies.make_study(storage, "plain", ["minimize", "maximize"])
    study.add_trials([studies.simple_trial(k, [k, k], {"a": k / 10}) for k in range(5)])
    data = load_study_data(storage, "plain")
    assert data.objectives == ["values_0", "values_1"]
    assert data.units == ["", ""]
    assert data.trials["pareto"].all()  # a strict trade-off: every point is on the front
    assert data.constraints.shape[1] == 0 and data.trials["feasible"].all()


def test_metric_names_and_units_from_names(studies: ModuleType, tmp_path: Path) -> None:
    storage = studies.journal(tmp_path / "j.log")
    study = studies.make_study(storage, "named", ["minimize", "minimize"])
    studies.set_metric_names(study, ["latency_ms", "energy_mj"])
    data = load_study_data(storage, "named")
    assert data.objectives == ["latency_ms", "energy_mj"]
    assert data.labels == ["latency_ms [ms]", "energy_mj [mJ]"]


def test_set_constraint_values_count_as_constraints(studies: ModuleType, tmp_path: Path) -> None:
    storage = studies.journal(tmp_path / "j.log")
    study = studies.make_study(storage, "cons", ["minimize", "minimize"])
    study.add_trials(
        [
            studies.simple_trial(0, [0.0, 0.0], constraints={"area": 2.0}),
            studies.simple_trial(1, [1.0, 1.0], constraints={"area": -1.0}),
        ]
    )
    data = load_study_data(storage, "cons")
    assert data.trials["feasible"].tolist() == [False, True]
    assert data.trials["violation"].tolist() == [2.0, 0.0]
    assert data.trials["pareto"].tolist() == [False, True]  # infeasible points are never on it


def test_unknown_study_lists_the_existing_ones(demo_storage: optuna.storages.BaseStorage) -> None:
    with pytest.raises(StudyNotFoundError, match=r"no study named 'nope'.*'demo-zdt1'") as err:
        load_study_data(demo_storage, "nope")
    assert isinstance(err.value, ValueError)
    assert "\n" not in str(err.value)


def test_resolve_storage_accepts_objects_paths_and_urls(
    studies: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "j.log"
    storage = studies.journal(path)
    studies.make_demo_study(storage, n=3)
    assert resolve_storage(storage) is storage
    assert load_study_data(str(path), "demo-zdt1").name == "demo-zdt1"
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    optuna.create_study(study_name="s", storage=url)
    assert load_study_data(url, "s").name == "s"
    with pytest.raises(ValueError, match="no such journal file"):
        resolve_storage(tmp_path / "missing.log")
