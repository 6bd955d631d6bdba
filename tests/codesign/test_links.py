"""The co-design links: their equations, the shared workload, and shared-parameter checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from costmodels import ModelError, Pipeline, Stage, get_model
from costmodels.codesign import VIT_B16, accelerated_fraction, cluster_workload
from costmodels.nm_training._accounting import ARCHS
from costmodels.sparse_gemm._workloads import load_workload
from dse import Problem, load_spec


def test_engine_link_is_the_ratio_of_sparse_to_dense_on_the_same_engine() -> None:
    link = get_model("codesign_engine")
    out = link.evaluate(link.batch(sparse_latency_ms=[1.0, 4.0], dense_latency_ms=[2.0, 4.0],
                                   sparse_weights_mb=[9.0, 16.0], dense_weights_mb=[16.0, 16.0]))
    assert out["gemm_latency_scale"].tolist() == [0.5, 1.0]
    assert out["weight_bytes_scale"].tolist() == [9.0 / 16.0, 1.0]


def test_accuracy_link_adds_the_proxy_change_and_stays_a_percentage() -> None:
    link = get_model("codesign_accuracy")
    out = link.evaluate(link.batch(proxy_acc_pct=[70.0, 60.0, 99.0],
                                   dense_proxy_acc_pct=[71.5, 71.5, 50.0],
                                   served_acc_pct=[76.0, 5.0, 80.0]))
    assert np.allclose(out["acc_delta_pp"], [-1.5, -11.5, 49.0])
    assert np.allclose(out["served_acc_pct"], [74.5, 0.0, 100.0])


def _recipes(**cols: list[object]) -> dict[str, np.ndarray]:
    n = len(next(iter(cols.values())))
    base = {"recipe": ["srste"] * n, "n": [2] * n, "m": [4] * n, "dense_warmup_frac": [0.1] * n,
            "decay_end_frac": [0.7] * n, "finetune_frac": [0.15] * n, "sdgf_k": [4] * n,
            "backward": ["ste"] * n}
    base.update(cols)
    return {k: np.asarray(v) for k, v in base.items()}


def test_only_binary_phases_in_a_pattern_the_accelerator_runs_are_sped_up() -> None:
    b = _recipes(recipe=["srste", "srste", "srste", "dense", "mdgf_exp", "srste"],
                 n=[2, 1, 3, 2, 1, 4], m=[4, 8, 8, 4, 8, 4])
    a = accelerated_fraction(b, 2, 4)
    # SR-STE after a 10 % warm-up; 1:8 fits 2:4 (at most one kept weight per 4); 3:8 does not;
    # dense and 4:4 never; MDGF only after its decay (from 70 % of the steps).
    assert np.allclose(a, [0.9, 0.9, 0.0, 0.0, 0.3, 0.0])
    assert np.allclose(accelerated_fraction(b, 0, 1), 0.0)  # no sparse math


def test_training_link_saves_compute_time_and_adds_the_mask_to_memory() -> None:
    link = get_model("codesign_training", accelerator_pattern="2:4", sparse_speedup=2.0)
    cluster = {"iter_time_s": 10.0, "time_fwd_s": 3.0, "time_bwd_s": 6.0,
               "time_recompute_s": 0.0, "time_to_train_days": 2.0, "energy_mwh": 4.0,
               "capex_usd": 365.0 * 4 * 1000.0, "mem_weights_gb": 1.6, "mem_total_gb": 20.0,
               "mem_over_gb": -60.0}
    b = link.batch(2, **cluster)
    b.update(_recipes(recipe=["dense", "srste"], dense_warmup_frac=[0.0, 0.0]))
    b["sparse_layers"] = np.asarray(["ff", "ff"])
    out = link.evaluate(b)
    s = _ff_flop_share()
    saved = 0.5 * s * (3.0 + 6.0 / 2)
    assert out["iter_time_s"][0] == 10.0 and np.isclose(out["iter_time_s"][1], 10.0 - saved)
    scale = (10.0 - saved) / 10.0
    assert np.isclose(out["time_to_train_days"][1], 2.0 * scale)
    assert np.isclose(out["cost_usd"][1], 1000.0 * 2.0 * scale + 4.0 * scale * 100.0)
    p = 2 * 768 * 3072 / (2 * 768 * 3072 + 4 * 768 * 768)
    assert out["mem_total_gb"][0] == 20.0
    assert np.isclose(out["mem_total_gb"][1], 20.0 + 1.6 * p / 16)


def _ff_flop_share() -> float:
    # FF matmuls over all GEMM FLOPs of a ViT-B/16 layer (Q/K/V/O, logits, attend, FF1, FF2).
    t, d, f = VIT_B16.tokens, VIT_B16.hidden, VIT_B16.ffn
    ff = 2 * 2.0 * t * d * f
    return ff / (ff + 4 * 2.0 * t * d * d + 2 * 2.0 * t * t * d)


def test_one_workload_flows_through_proxy_accounting_engine_and_cluster() -> None:
    vit = ARCHS["vit_b"]
    assert (vit.n_layers, vit.d_model, vit.d_ff) == (VIT_B16.layers, VIT_B16.hidden, VIT_B16.ffn)
    engine = load_workload("vit_b16")
    # (output, reduction) of Q/K/V/O, FF1 and FF2; every GEMM streams the 197 tokens.
    shapes = {(int(m), int(k)) for m, k in zip(engine.m, engine.k)}
    d, f = VIT_B16.hidden, VIT_B16.ffn
    assert shapes == {(d, d), (f, d), (d, f)}
    assert set(engine.n.tolist()) == {VIT_B16.tokens}
    assert int(engine.count.sum()) == 6 * VIT_B16.layers
    spec = load_spec("codesign")
    options = {m.namespace: m.options for m in spec.models}
    assert options["cl"]["workload"] == cluster_workload()
    assert options["nm"]["workload"] == options["nmd"]["workload"] == "vit_b"
    assert options["hw"]["workload"] == options["hwd"]["workload"] == "vit_b16"


def test_models_disagreeing_on_a_shared_parameter_fail_at_load_naming_both() -> None:
    serving = get_model("codesign_accuracy")
    engine = get_model("codesign_engine")
    # A percentage and a latency in ms read from one column: one line naming both models.
    with pytest.raises(ModelError, match=r"'a' \(codesign_accuracy.proxy_acc_pct\) and 'b' "
                                         r"\(codesign_engine.sparse_latency_ms\).*unit"):
        Pipeline([Stage(serving, "a", {"proxy_acc_pct": "shared.x"}),
                  Stage(engine, "b", {"sparse_latency_ms": "shared.x"})])


def test_models_with_disjoint_ranges_for_a_shared_parameter_fail_naming_both() -> None:
    from costmodels import CostModel, Output
    from search_spaces import Float

    class Low(CostModel):
        name = "low"
        inputs = (Float("x", 0.0, 1.0, unit="GHz"),)
        outputs = (Output("y"),)

        def evaluate(self, batch, context=None):  # type: ignore[no-untyped-def]
            return {"y": batch["x"]}

    class High(Low):
        name = "high"
        inputs = (Float("x", 2.0, 3.0, unit="GHz"),)

    with pytest.raises(ModelError, match=r"'a' \(low.x\) and 'b' \(high.x\) share 'shared.x' "
                                         r"but accept no common value"):
        Pipeline([Stage(Low(), "a", {"x": "shared.x"}), Stage(High(), "b", {"x": "shared.x"})])


def test_codesign_study_loads_with_links_in_dependency_order() -> None:
    problem = Problem(load_spec("codesign"))
    order = [s.namespace for s in problem.pipeline.stages]
    for before, after in (("hw", "link"), ("hwd", "link"), ("nm", "acc"), ("nmd", "acc"),
                          ("sushi", "acc"), ("cl", "train")):
        assert order.index(before) < order.index(after)
    assert len(problem.objectives) >= 4
    assert {"bound.sushi.p99_latency_ms", "bound.train.cost_usd"} <= set(problem.constraint_keys)


def test_a_missing_torch_stops_the_run_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    from dse.cli import main

    real = importlib.import_module

    def no_torch(name: str, *args: object) -> object:
        if name == "torch":
            raise ImportError("No module named 'torch'")
        return real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr("costmodels.nm_training._model.importlib.import_module", no_torch)
    journal = tmp_path / "s.journal"
    assert main(["run", "codesign", "--storage", str(journal)]) == 2
    err = capsys.readouterr().err
    assert "models.nm" in err and "pip install 'dse[train]'" in err
    assert not journal.exists()
