"""The nm_sparsity domain: params match the model's inputs and ranges, constraints work."""

from __future__ import annotations

import numpy as np

from costmodels.nm_training import NMTrainingModel
from search_spaces import Categorical, Fixed, Float, Int, domain


def test_params_are_model_inputs_within_their_valid_ranges() -> None:
    sp = domain("nm_sparsity")
    for p in sp.params:
        model_p = NMTrainingModel.input(p.name)
        values = p.values()
        if values is None:
            assert isinstance(p, Float) and isinstance(model_p, Float)
            assert model_p.low <= p.low and p.high <= model_p.high
        else:
            assert model_p.contains(values).all(), p.name
        assert model_p.contains(np.asarray([p.default])).all(), p.name
    assert isinstance(sp["seed"], Fixed)
    assert isinstance(sp["recipe"], Categorical) and isinstance(sp["n"], Int)


def test_sampled_points_satisfy_the_model_when_the_space_says_feasible() -> None:
    sp = domain("nm_sparsity")
    batch = sp.sample(np.random.default_rng(0), 2000)
    feasible = sp.feasible(batch)
    assert 0 < feasible.sum() < len(feasible)  # sampling does hit the constraints
    model = NMTrainingModel(fidelity="tiny", cache_dir=None)
    viol, _ = model.violations(batch)
    assert np.all(viol[feasible] <= 0)


def test_constraints_name_the_violated_rule() -> None:
    sp = domain("nm_sparsity")
    pts = sp.complete(
        {
            "recipe": np.array(["srste", "mdgf_exp", "sdgf_stepwise", "dense"]),
            "n": np.array([4, 1, 1, 8]),
            "m": np.array([4, 8, 8, 4]),
            "decay_end_frac": np.array([0.7, 0.9, 0.5, 0.7]),
            "finetune_frac": np.array([0.15, 0.2, 0.1, 0.15]),
            "dense_warmup_frac": np.array([0.05, 0.05, 0.05, 0.05]),
        }
    )
    v = sp.violations(pts)
    assert v["n_below_m"].tolist()[0] > 0 and v["n_below_m"][3] <= 0  # dense ignores N:M
    assert v["decay_before_finetune"][1] > 0 and v["decay_before_finetune"][2] <= 0
    assert np.all(v["decay_after_warmup"] <= 0)
    assert sp.feasible(pts).tolist() == [False, False, True, True]


def test_conditional_knobs_fall_back_to_defaults() -> None:
    sp = domain("nm_sparsity")
    pts = sp.complete(
        {
            "recipe": np.array(["srste", "mdgf_exp"]),
            "srste_lambda_w": np.array([1e-3, 1e-3]),
            "backward": np.array(["scaled", "scaled"]),
        }
    )
    assert pts["srste_lambda_w"].tolist() == [1e-3, 2e-4]
    assert pts["backward"].tolist() == ["ste", "scaled"]


def test_shipped_study_loads_and_reads_this_space() -> None:
    from pathlib import Path

    from dse import load_spec

    path = Path(__file__).resolve().parents[2] / "dse" / "studies" / "nm_decay.toml"
    spec = load_spec(str(path))
    assert spec.mode == "trial"
    assert [m.model for m in spec.models] == ["nm_training"]
    assert {o.metric for o in spec.objectives} >= {"nm.top1_acc", "nm.train_flops"}
