"""The joint co-design space and study: one N:M ratio shared by the training and engine models."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pytest

from dse import Problem, load_spec, open_storage, run_study, shipped_studies
from search_spaces import domain


def test_joint_space_shares_the_ratio_and_keeps_every_constraint() -> None:
    s = domain("joint")
    names = set(s.names)
    assert {"sparsity.n", "sparsity.m"} <= names
    assert not {"nm.n", "nm.m", "hw.nm_n", "hw.nm_m"} & names
    assert s["hw.sparsity"].default == "nm"
    # The recipe's constraints screen trainings; the engine's are sparse_gemm's own outputs.
    assert {c.name for c in s.constraints} >= {"nm.n_below_m"}
    b = s.sample(np.random.default_rng(0), 200)
    v = s.violations(b)["nm.n_below_m"]
    sparse = b["nm.recipe"] != "dense"
    expected = np.where(sparse, b["sparsity.n"] - b["sparsity.m"] + 1.0, -1.0)
    assert np.allclose(v, expected)


def test_the_ratio_is_active_only_under_a_sparse_recipe_and_dense_means_4_4() -> None:
    s = domain("joint")
    assert s["sparsity.n"].condition is not None
    assert "dense" not in s["sparsity.m"].condition.values  # type: ignore[union-attr]
    b = s.complete({"nm.recipe": np.asarray(["dense", "srste"]),
                    "sparsity.n": np.asarray([1, 1]), "sparsity.m": np.asarray([16, 16])})
    # The dense recipe's inactive ratio is 4:4, every weight kept: the engine runs it dense.
    assert b["sparsity.n"].tolist() == [4, 1] and b["sparsity.m"].tolist() == [4, 16]


def test_joint_study_binds_both_models_to_the_shared_ratio() -> None:
    spec = load_spec(shipped_studies()["joint"])
    problem = Problem(spec)
    stages = {s.namespace: s for s in problem.pipeline.stages}
    assert stages["nm"].key("n") == "sparsity.n" and stages["hw"].key("nm_m") == "sparsity.m"


@pytest.mark.slow
def test_joint_study_runs_nested_with_a_tiny_proxy(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    spec = load_spec(shipped_studies()["joint"])
    nm = replace(spec.models[0], options={"fidelity": "tiny", "n_seeds": 1,
                                          "cache_dir": str(tmp_path / "cache")})
    spec = replace(spec, models=(nm,) + spec.models[1:]).with_overrides(
        storage=str(tmp_path / "s.journal"), n_trials=2)
    summary = run_study(spec)
    assert summary.n_complete == 2
    storage = open_storage(str(tmp_path / "s.journal"))
    study = optuna.load_study(study_name="joint", storage=storage)
    outer = [t for t in study.trials if t.user_attrs.get("dse.mode") == "nested-outer"]
    assert len(outer) == 2
    for t in outer:
        assert "hw.engine" in t.user_attrs["dse.inner_params"]
        if t.constraints.get("nm.n_below_m", 0.0) > 0:  # e.g. 4:4 under a sparse recipe
            continue  # screened: infeasible, never trained
        assert 0.0 <= t.values[0] <= 100.0 and t.values[1] > 0 and t.values[2] > 0
