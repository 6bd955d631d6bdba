"""Cluster model: fp32 and the forward-only inference mode."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from costmodels.cluster import ClusterModel


POINT: dict[str, Any] = dict(num_nodes=128, tp=8, pp=8, microbatch=1, recompute="none")


@pytest.fixture(scope="module")
def model() -> ClusterModel:
    return ClusterModel(workload="gpt3_175b")


def _both(model: ClusterModel, key: str, values: list[Any], **cols: Any) -> dict[str, np.ndarray]:
    return model.evaluate(model.batch(**(POINT | cols | {key: values})))


def test_inference_is_the_forward_pass_alone(model: ClusterModel) -> None:
    out = _both(model, "mode", ["training", "inference"])
    train, infer = (dict((k, v[i]) for k, v in out.items()) for i in (0, 1))
    assert infer["time_fwd_s"] == pytest.approx(train["time_fwd_s"])
    for k in ("time_bwd_s", "time_recompute_s", "time_dp_comm_s", "time_optimizer_s"):
        assert infer[k] == 0.0, k
    # 2 of the 4 TP all-reduces per layer, and activations only travel forward
    assert infer["time_tp_comm_s"] == pytest.approx(train["time_tp_comm_s"] / 2)
    assert infer["time_pp_comm_s"] == pytest.approx(train["time_pp_comm_s"] / 2)
    assert infer["iter_time_s"] < train["iter_time_s"] / 2
    # no gradients, optimizer state or stored activations
    for k in ("mem_grads_gb", "mem_optimizer_gb", "mem_activations_gb"):
        assert infer[k] == 0.0, k
    assert infer["mem_weights_gb"] == pytest.approx(train["mem_weights_gb"])
    assert infer["mem_total_gb"] < train["mem_total_gb"]
    # MFU counts the forward's 2 P FLOPs per token
    ratio = (infer["mfu"] * infer["iter_time_s"]) / (train["mfu"] * train["iter_time_s"])
    assert ratio == pytest.approx(1 / 3)
    assert infer["invalid_config"] == 0


def test_inference_ignores_training_only_knobs(model: ClusterModel) -> None:
    out = model.evaluate(
        model.batch(
            **(
                POINT
                | {
                    "mode": "inference",
                    "recompute": ["none", "full"],
                    "zero_stage": [0, 1],
                    "offload_optimizer": [False, True],
                }
            )
        )
    )
    for k, v in out.items():
        assert v[0] == pytest.approx(v[1]), k


def test_fp32_doubles_bytes_and_runs_at_the_fp32_peak(model: ClusterModel) -> None:
    out = _both(model, "dtype", ["fp16", "fp32"], fp32_grads=True)
    half, full = (dict((k, v[i]) for k, v in out.items()) for i in (0, 1))
    assert full["mem_weights_gb"] == pytest.approx(2 * half["mem_weights_gb"])
    assert full["mem_grads_gb"] == pytest.approx(half["mem_grads_gb"])  # fp32 either way
    # Adam without a master copy: 8 B/param against 12
    assert full["mem_optimizer_gb"] == pytest.approx(half["mem_optimizer_gb"] * 8 / 12)
    assert full["mem_activations_gb"] == pytest.approx(2 * half["mem_activations_gb"])
    assert full["time_tp_comm_s"] > 1.9 * half["time_tp_comm_s"]
    # 19.5 TFLOP/s against 312: the GEMMs dominate the forward
    assert full["time_fwd_s"] > 10 * half["time_fwd_s"]
    no_engine = model.evaluate(model.batch(**POINT, dtype="fp32", peak_tflops_fp32=0.0))
    assert no_engine["invalid_config"][0] > 0


def test_mixed_batch_equals_pointwise(model: ClusterModel) -> None:
    # Constant columns take fast paths (squeezed flags, Megatron's placement); a mixed batch
    # takes the general ones: both must give the same numbers.
    cols: dict[str, Any] = dict(
        num_nodes=[128, 128, 64, 128, 256, 128],
        tp=[8, 16, 8, 4, 8, 2],
        pp=[8, 4, 8, 8, 8, 16],
        mode=["training", "inference", "training", "inference", "training", "training"],
        dtype=["fp16", "fp32", "bf16", "fp16", "fp32", "fp16"],
        tp_network=["auto", "auto", "scale_out", "scale_up", "auto", "auto"],
        dp_network=["auto", "scale_out", "auto", "auto", "scale_up", "auto"],
        pp_network=["auto", "auto", "auto", "scale_out", "auto", "scale_up"],
        collective_algo=["ring", "hierarchical", "ring", "ring", "hierarchical", "ring"],
        inter_topology=["rail_only", "fat_tree", "fat_tree", "rail_only", "fat_tree", "fat_tree"],
        oversubscription=[1.0, 2.0, 4.0, 1.0, 3.0, 2.0],
        leaf_nodes=[4, 8, 16, 32, 2, 64],
        recompute=["full", "selective", "none", "full", "selective", "none"],
        zero_stage=[0, 1, 0, 3, 1, 0],
    )
    together = model.evaluate(model.batch(**cols))
    for i in range(len(cols["tp"])):
        alone = model.evaluate(model.batch(**{k: v[i] for k, v in cols.items()}))
        for k, v in together.items():
            assert alone[k][0] == pytest.approx(v[i], rel=1e-12, abs=1e-12), (i, k)
