"""One mapping from a point to each model's inputs: binds, pins, nested inner params, defaults.

The ``joint`` study is the test bed: ``sparsity.n`` is bound to ``hw.nm_n`` (model default 2)
and ``hw.load_port_bytes`` is pinned to 64 (model default 128). Export, the dashboards and the
workers must all see 1 and 64.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

import dse
from costmodels import get_model
from dashboards import load_study_data
from dashboards._figures import _local_params
from dse import InputMap, Problem, load_spec, model_inputs, open_storage, shipped_studies
from dse._optuna_bridge import make_sampler
from dse._study import open_study, record_points


@pytest.fixture(scope="module")
def joint() -> Problem:
    return Problem(load_spec(shipped_studies()["joint"]))


def _joint_study(problem: Problem, path: Path, n: int = 1) -> optuna.Study:
    """A joint study holding one recorded point with ``sparsity.n = 1`` (no training run)."""
    storage = open_storage(str(path))
    sampler = make_sampler(problem.spec.sampler, 0, problem.space, len(problem.objectives))
    study = open_study(problem, storage, sampler)
    batch = problem.space.sample(np.random.default_rng(0), 1)
    batch["sparsity.n"] = np.asarray([n])
    batch["sparsity.m"] = np.asarray([8])
    cols: dict[str, Any] = dict(batch)
    cols["__F"] = np.asarray([[-70.0, 1.5, 1.2]])  # top1 maximized: stored negated
    cols["__G"] = np.zeros((1, len(problem.constraint_keys)))
    record_points(study, problem, cols, "sweep")
    return study


def test_binds_and_pins_reach_the_models(joint: Problem) -> None:
    inputs = model_inputs(joint, {"sparsity.n": 1, "sparsity.m": 8})
    assert inputs["hw"]["nm_n"] == 1 and inputs["hw"]["nm_m"] == 8
    assert inputs["nm"]["n"] == 1 and inputs["nm"]["m"] == 8
    assert inputs["hw"]["load_port_bytes"] == 64  # pinned in the study file
    assert inputs["hw"]["sparsity"] == "nm"  # pinned by the joint domain
    model = joint.models["hw"]
    assert set(inputs["hw"]) == {p.name for p in model.inputs}  # every input, defaults too


def test_the_mapping_matches_what_the_pipeline_evaluates(joint: Problem) -> None:
    # The workers complete a batch with the space, then read each input through its bind.
    batch = joint.space.sample(np.random.default_rng(3), 4)
    full = joint.space.complete(batch)
    for i in range(4):
        point = {k: v[i].item() for k, v in batch.items()}
        mapped = model_inputs(joint, point)
        for stage in joint.pipeline.stages:
            for name, column in stage.input_keys.items():
                if column in full:
                    assert mapped[stage.namespace][name] == full[column][i].item(), name


def test_the_stored_study_maps_like_the_problem(joint: Problem, tmp_path: Path) -> None:
    study = _joint_study(joint, tmp_path / "s.journal")
    trial = study.trials[0]
    stored = model_inputs(study, trial.params)
    assert stored == model_inputs(joint, trial.params)
    assert InputMap.from_dict(InputMap.of_problem(joint).as_dict()) == InputMap.of_problem(joint)
    assert study.user_attrs["dse.models"][1]["bind"] == {"nm_n": "sparsity.n",
                                                         "nm_m": "sparsity.m"}


def test_joint_export_shows_bound_and_pinned_values(joint: Problem, tmp_path: Path) -> None:
    study = _joint_study(joint, tmp_path / "s.journal")
    (record,) = dse.study_records(study)
    hw = get_model("sparse_gemm", **record["config"]["hw"]["options"])
    flat = hw.from_native(record["config"]["hw"]["params"])
    assert flat["nm_n"] == 1 and flat["nm_m"] == 8
    assert flat["load_port_bytes"] == 64
    nm = get_model("nm_training", **record["config"]["nm"]["options"])
    nm_flat = nm.from_native(record["config"]["nm"]["params"])
    assert nm_flat["n"] == 1 and nm_flat["m"] == 8


def test_joint_dashboards_show_bound_and_pinned_values(joint: Problem, tmp_path: Path) -> None:
    path = tmp_path / "s.journal"
    _joint_study(joint, path)
    data = load_study_data(str(path), "joint")
    number = int(data.trials.index[0])
    hw = _local_params(data, number, "hw")  # what the engine view hands the model's breakdown
    assert hw["nm_n"] == 1 and hw["load_port_bytes"] == 64 and hw["sparsity"] == "nm"
    assert data.model_inputs(number)["nm"]["n"] == 1


def test_nested_inner_params_are_part_of_the_point(tmp_path: Path) -> None:
    spec = load_spec(shipped_studies()["demo"])
    problem = Problem(spec)
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_user_attr("dse.inputs", InputMap.of_problem(problem).as_dict())
    study.add_trial(optuna.trial.create_trial(
        params={"demo.x": 0.25}, distributions={
            "demo.x": optuna.distributions.FloatDistribution(0, 1)},
        values=[0.25, 0.5], user_attrs={"dse.inner_params": {"demo.y": 0.0, "demo.level": 2}}))
    from dse._study import trial_config

    point = trial_config(study.trials[0])
    assert model_inputs(study, point) == {"demo": {"x": 0.25, "y": 0.0, "level": 2}}


def test_studies_without_the_stored_map_use_binds_and_fixed() -> None:
    attrs = {"dse.models": [{"namespace": "hw", "model": "sparse_gemm",
                             "bind": {"nm_n": "sparsity.n"}}],
             "dse.fixed": {"hw.load_port_bytes": 64}}
    hw = model_inputs(attrs, {"sparsity.n": 1})["hw"]
    assert hw["nm_n"] == 1 and hw["load_port_bytes"] == 64


def test_a_foreign_study_is_one_clear_error() -> None:
    with pytest.raises(dse.DseError, match="records no models"):
        model_inputs({}, {"x": 1})
