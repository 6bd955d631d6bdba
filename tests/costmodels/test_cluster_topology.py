"""Cluster network: collective algorithm, rail-only and oversubscribed fabrics, the network of
each parallelism dimension, and workloads whose head width is independent of ``d_model``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from costmodels.cluster import (
    WORKLOADS,
    ClusterModel,
    WorkloadError,
    best_config,
    enumerate_configs,
    load_workloads,
)
from costmodels.cluster._anchors import PARAM_COUNTS, model_params


@pytest.fixture(scope="module")
def model() -> ClusterModel:
    return ClusterModel(workload="gpt3_175b")


def _tp_time(model: ClusterModel, **cols: Any) -> np.ndarray:
    # TP 16 on 8-GPU nodes: each TP group spans two nodes.
    base = dict(num_nodes=64, tp=16, pp=8, recompute="full")
    return model.evaluate(model.batch(**(base | cols)))["time_tp_comm_s"]


def test_tp_collectives_follow_the_collective_algorithm(model: ClusterModel) -> None:
    hier, ring = _tp_time(model, collective_algo=["hierarchical", "ring"])
    assert ring > hier > 0
    # Inside a node the algorithm does not matter.
    inside = model.evaluate(
        model.batch(num_nodes=64, tp=8, pp=8, collective_algo=["hierarchical", "ring"])
    )["time_tp_comm_s"]
    assert inside[0] == pytest.approx(inside[1])


def test_rail_only_forwards_the_flat_ring_and_keeps_the_2level_rail_aligned(
    model: ClusterModel,
) -> None:
    topo = ["fat_tree", "rail_only"]
    fat, rail = _tp_time(model, collective_algo="ring", inter_topology=topo)
    assert rail > fat  # a flat ring's cross-node hops change rail: forwarded over NVLink
    fat, rail = _tp_time(model, collective_algo="hierarchical", inter_topology=topo)
    assert rail == pytest.approx(fat)  # the 2-level algorithm only talks along rails
    # TP across nodes costs more than TP inside a node on either fabric
    inside = model.evaluate(model.batch(num_nodes=64, tp=8, pp=16, inter_topology=topo))
    assert (inside["time_tp_comm_s"] < _tp_time(model, inter_topology=topo)).all()


def test_oversubscription_slows_only_traffic_that_crosses_the_spine(model: ClusterModel) -> None:
    # The DP group of (t 8, p 8) on 64 nodes spans 8 nodes; one of 2 x 16 = 32 nodes spans them.
    def dp(**cols: Any) -> np.ndarray:
        base = dict(num_nodes=64, tp=8, pp=8, oversubscription=[1.0, 4.0])
        return model.evaluate(model.batch(**(base | cols)))["time_dp_comm_s"]

    under_leaf = dp(leaf_nodes=16)
    assert under_leaf[0] == pytest.approx(under_leaf[1])
    across = dp(leaf_nodes=4)
    assert across[1] > across[0]
    rail = dp(leaf_nodes=4, inter_topology="rail_only")
    assert rail[0] == pytest.approx(rail[1])  # a rail-only fabric has no spine


def test_network_per_parallelism_dimension(model: ClusterModel) -> None:
    out = model.evaluate(
        model.batch(
            num_nodes=64, tp=[8, 8, 16], pp=8, tp_network=["auto", "scale_out", "scale_up"]
        )
    )
    # TP forced onto the NICs is slower than on NVLink; TP 16 cannot fit an 8-GPU node.
    assert out["time_tp_comm_s"][1] > out["time_tp_comm_s"][0]
    assert out["invalid_config"][2] > 0 and out["invalid_config"][:2].max() == 0
    # scale-out dimensions are placed outermost: the TP group now spans 8 nodes
    assert out["tp_outside_node"][1] > 0 >= out["tp_outside_node"][0]
    # TP 1 on 8 nodes: the DP group of 8 fills a node either way, so mapping DP to the
    # scale-up tier changes nothing; forcing it onto the NICs costs more.
    dp = model.evaluate(
        model.batch(num_nodes=8, tp=1, pp=8, dp_network=["auto", "scale_up", "scale_out"])
    )
    assert dp["invalid_config"].max() == 0
    assert dp["time_dp_comm_s"][1] == pytest.approx(dp["time_dp_comm_s"][0])
    assert dp["time_dp_comm_s"][2] > dp["time_dp_comm_s"][0]
    # DP 8 and TP 8 cannot both be innermost in an 8-GPU node.
    both = model.evaluate(
        model.batch(num_nodes=64, tp=8, pp=8, tp_network="scale_up", dp_network="scale_up")
    )
    assert both["invalid_config"][0] > 0


def test_head_dim_is_a_workload_input(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(
        "[workloads.gpt3_13b_file]\nlayers = 40\nhidden = 5140\nheads = 40\nhead_dim = 128\n"
        "seq_len = 2048\nvocab = 50257\nglobal_batch = 1024\nffn = 20560\n"
    )
    w = load_workloads(path)["gpt3_13b_file"]
    assert (w.head_dim, w.q_width, w.ffn) == (128, 5120.0, 20560)
    assert model_params(w) == pytest.approx(model_params(WORKLOADS["gpt3_13b"]))
    with pytest.raises(WorkloadError, match="give head_dim"):
        load_workloads(
            _write(
                tmp_path,
                "[workloads.x]\nlayers=2\nhidden=5140\nheads=40\nseq_len=8\n"
                "vocab=10\nglobal_batch=1\n",
            )
        )
    with pytest.raises(WorkloadError, match="head_dim"):
        load_workloads(
            _write(
                tmp_path,
                "[workloads.x]\nlayers=2\nhidden=64\nheads=4\nhead_dim=0.5\n"
                "seq_len=8\nvocab=10\nglobal_batch=1\n",
            )
        )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


def test_explicit_default_head_dim_changes_nothing() -> None:
    base = WORKLOADS["megatron_18.4b"]
    same = ClusterModel(workload=base.as_dict() | {"head_dim": base.hidden // base.heads})
    ref = ClusterModel(workload=base)
    cols = dict(num_nodes=32, tp=8, pp=1, microbatch=[1, 2], recompute=["full", "none"])
    a, b = ref.evaluate(ref.batch(**cols)), same.evaluate(same.batch(**cols))
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-12, err_msg=k)


def test_a_wider_attention_costs_more_flops_memory_and_time() -> None:
    base = WORKLOADS["megatron_18.4b"]
    wide = ClusterModel(workload=base.as_dict() | {"name": "wide", "head_dim": 256})
    ref = ClusterModel(workload=base)
    cols = dict(num_nodes=32, tp=8, pp=1, recompute="none")
    a, b = ref.evaluate(ref.batch(**cols)), wide.evaluate(wide.batch(**cols))
    for k in ("time_fwd_s", "mem_weights_gb", "mem_activations_gb"):
        assert b[k][0] > a[k][0], k


def test_param_counts_match_the_papers() -> None:
    for w, published, _ in PARAM_COUNTS:
        assert model_params(w) == pytest.approx(published, rel=0.01), w.name


def test_enumerate_crosses_networks_per_dimension(model: ClusterModel) -> None:
    nets = [
        ("auto", "auto", "auto"),
        ("scale_out", "scale_up", "auto"),
        ("auto", "auto", "scale_out"),
    ]
    base = enumerate_configs(model.workload, 16, 8, zero_stages=(0,), overlap=(False,))
    cfg = enumerate_configs(
        model.workload, 16, 8, zero_stages=(0,), overlap=(False,), networks=nets
    )
    assert len(cfg["tp"]) > len(base["tp"])
    # a non-auto network only where that dimension has degree > 1 (no duplicates)
    assert not ((cfg["tp_network"] != "auto") & (cfg["tp"] == 1)).any()
    assert not ((cfg["dp_network"] != "auto") & (cfg["dp"] == 1)).any()
    assert not ((cfg["pp_network"] != "auto") & (cfg["pp"] == 1)).any()
    cfg.pop("dp")
    out = model.evaluate(model.batch(**cfg))
    # DP on the scale-up tier (TP moved to the NICs) is valid exactly when DP tiles a node
    dp = 128 // (cfg["tp"] * cfg["pp"])  # 16 nodes x 8
    up = cfg["dp_network"] == "scale_up"
    tiles = (dp <= 8) & (8 % dp == 0)
    assert up.any()
    assert ((out["invalid_config"][up] > 0) == ~tiles[up]).all()
    best = best_config(model, {"num_nodes": 16, "gpus_per_node": 8}, networks=nets)
    assert best["feasible"] > 0 and best["params"]["tp_network"] in ("auto", "scale_out")
