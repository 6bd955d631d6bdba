"""Physics properties of the cluster model on sampled valid configurations.

More bandwidth, compute or network capacity (or less latency or oversubscription) never makes
an iteration slower; more accelerators at fixed tensor and pipeline parallelism (a larger
data-parallel degree, same global batch) never need more memory per accelerator; more HBM
never overflows more. Sampled from the enumerated valid configurations with fixed seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from costmodels.cluster import ClusterModel, enumerate_configs


N_SAMPLES = 160
RTOL = 1e-9
Grow = Callable[[np.random.Generator, np.ndarray], np.ndarray]


@pytest.fixture(scope="module")
def model() -> ClusterModel:
    return ClusterModel(workload="gpt3_175b")


@pytest.fixture(scope="module")
def points(model: ClusterModel) -> dict[str, Any]:
    """Valid execution configurations on 64 nodes with random hardware and network inputs."""
    cfg = enumerate_configs(model.workload, 64, 8, offload=True)
    cfg.pop("dp")
    rng = np.random.default_rng(0)
    pick = rng.choice(len(cfg["tp"]), N_SAMPLES, replace=False)
    cols: dict[str, Any] = {k: np.asarray(v)[pick] for k, v in cfg.items()}
    n = N_SAMPLES
    cols |= {
        "peak_tflops": rng.uniform(100, 1000, n),
        "mm_eff": rng.uniform(0.3, 0.9, n),
        "hbm_bw_tbps": rng.uniform(1.0, 4.0, n),
        "hbm_capacity_gb": rng.uniform(40, 200, n),
        "intra_bw_gbps": rng.uniform(100, 900, n),
        "inter_bw_gbps": rng.uniform(12.5, 100, n),
        "intra_latency_us": rng.uniform(0.5, 5, n),
        "inter_latency_us": rng.uniform(1, 20, n),
        "oversubscription": rng.uniform(1, 4, n),
        "leaf_nodes": rng.integers(2, 64, n),
        "inter_topology": rng.choice(["fat_tree", "rail_only"], n),
        "collective_algo": rng.choice(["hierarchical", "ring"], n),
        "exp_mem_topology": rng.choice(["per_accelerator", "per_node", "pooled"], n),
        "exp_mem_capacity_gb": rng.uniform(256, 4096, n),
        "exp_mem_bw_gbps": rng.uniform(16, 256, n),
        "mode": rng.choice(["training", "inference"], n, p=[0.8, 0.2]),
    }
    return cols


def _grow(factor_hi: float, cap: float = np.inf) -> Grow:
    return lambda rng, v: np.minimum(v * rng.uniform(1.0, factor_hi, v.size), cap)


def _shrink(floor: float) -> Grow:
    return lambda rng, v: np.maximum(v * rng.uniform(0.0, 1.0, v.size), floor)


FASTER: dict[str, Grow] = {
    "peak_tflops": _grow(4.0),
    "mm_eff": _grow(3.0, 1.0),
    "hbm_bw_tbps": _grow(4.0),
    "intra_bw_gbps": _grow(4.0),
    "inter_bw_gbps": _grow(4.0),
    "exp_mem_bw_gbps": _grow(4.0),
    "intra_latency_us": _shrink(0.0),
    "inter_latency_us": _shrink(0.0),
    "oversubscription": _shrink(1.0),
    "leaf_nodes": lambda rng, v: v * rng.integers(1, 8, v.size),
}


@pytest.mark.parametrize("knob", list(FASTER))
def test_more_capacity_never_slower(
    model: ClusterModel, points: dict[str, Any], knob: str
) -> None:
    rng = np.random.default_rng(len(knob))
    more = dict(points)
    more[knob] = FASTER[knob](rng, np.asarray(points[knob]))
    slow = model.evaluate(model.batch(**points))
    fast = model.evaluate(model.batch(**more))
    assert np.all(fast["iter_time_s"] <= slow["iter_time_s"] * (1 + RTOL)), knob
    # capacity of the network or compute moves no memory
    np.testing.assert_allclose(fast["mem_total_gb"], slow["mem_total_gb"], rtol=1e-12)


def test_more_hbm_never_overflows_more(model: ClusterModel, points: dict[str, Any]) -> None:
    more = dict(points)
    more["hbm_capacity_gb"] = np.asarray(points["hbm_capacity_gb"]) * 2
    a = model.evaluate(model.batch(**points))
    b = model.evaluate(model.batch(**more))
    assert np.all(b["mem_over_gb"] <= a["mem_over_gb"] + 1e-9)


@pytest.mark.parametrize("zero", [0, 1, 3])
@pytest.mark.parametrize("mode", ["training", "inference"])
def test_more_gpus_at_fixed_parallelism_never_more_memory_per_gpu(
    model: ClusterModel, zero: int, mode: str
) -> None:
    # t 8 and p 8 (p 1 for ZeRO-3) fixed; 16 ... 192 nodes give d = 2 ... 24 (16 ... 192 at
    # p 1), all dividing the batch of 1536.
    pp = 1 if zero == 3 else 8
    nodes = [16, 32, 64, 96, 192]
    cols = dict(
        num_nodes=nodes,
        tp=8,
        pp=pp,
        microbatch=1,
        recompute="full",
        zero_stage=zero,
        mode=mode,
    )
    out = model.evaluate(model.batch(**cols))
    assert out["invalid_config"].max() == 0
    for k in ("mem_total_gb", "mem_weights_gb", "mem_optimizer_gb", "mem_activations_gb"):
        assert np.all(np.diff(out[k]) <= 1e-9), (k, out[k])
