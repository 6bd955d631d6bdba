"""Memory per accelerator: Korthikanti et al. activation formulas, model state, in-flight rule."""

from __future__ import annotations

import pytest

from costmodels.cluster import ClusterModel, Workload


GIB = 2.0**30


def _model(L: int, h: int, a: int, batch: int) -> ClusterModel:
    return ClusterModel(workload=Workload("w", L, h, a, 2048, 51200, batch))


def test_1t_activations_match_korthikanti_fig1_exactly() -> None:
    m = _model(128, 25600, 160, 64)
    out = m.evaluate(
        m.batch(
            num_nodes=64,
            tp=8,
            pp=64,
            recompute=["none", "selective", "full"],
            seq_parallel=[False, True, False],
        )
    )
    act = out["mem_activations_gb"] * 1e9 / GIB
    assert act[0] == pytest.approx(131.25, rel=1e-6)  # TP only
    assert act[1] == pytest.approx(26.5625, rel=1e-6)  # TP + SP + selective
    assert act[2] == pytest.approx(12.5, rel=1e-6)  # full recompute: 2 s b h x L


def test_interleaving_multiplies_in_flight_activations() -> None:
    # 175B of Fig. 1: p = 8, v = 3 -> x (1 + 7/24).
    m = _model(96, 12288, 96, 8)
    out = m.evaluate(m.batch(num_nodes=8, tp=8, pp=8, interleave=[1, 3], recompute="none"))
    act = out["mem_activations_gb"]
    assert act[1] / act[0] == pytest.approx(1 + 7 / 24)
    assert act[1] * 1e9 / GIB == pytest.approx(66.84, rel=0.001)


def test_fewer_micro_batches_than_stages_hold_less() -> None:
    m = _model(128, 25600, 160, 64)
    out = m.evaluate(m.batch(num_nodes=64, tp=8, pp=64, global_batch=[64, 16, 8]))
    act = out["mem_activations_gb"]
    assert act[1] == pytest.approx(act[0] / 4)
    assert act[2] == pytest.approx(act[0] / 8)


def test_state_bytes_per_parameter() -> None:
    m = ClusterModel()
    out = m.evaluate(m.batch(fp32_grads=[True, False]))
    per_param = out["mem_weights_gb"] + out["mem_grads_gb"] + out["mem_optimizer_gb"]
    assert per_param[0] / per_param[1] == pytest.approx(18 / 16)


def test_memory_fit_is_reported_not_raised() -> None:
    m = ClusterModel()
    out = m.evaluate(m.batch(recompute="none", hbm_capacity_gb=[80.0, 400.0]))
    assert out["mem_over_gb"][0] > 0
    assert out["mem_over_gb"][1] <= 0
    assert out["mem_over_gb"][0] == pytest.approx(out["mem_total_gb"][0] - 80.0)
