"""Enumeration of valid execution configurations: only valid, distinct, and complete."""

from __future__ import annotations

import numpy as np
import pytest

from costmodels import ModelError
from costmodels.cluster import WORKLOADS, ClusterModel, enumerate_configs


def test_every_enumerated_config_is_valid_and_distinct() -> None:
    w = WORKLOADS["megatron_1t"]
    cfg = enumerate_configs(w, 384, 8, offload=True)
    n = len(cfg["tp"])
    assert n > 100_000
    assert (cfg["tp"] * cfg["pp"] * cfg["dp"] == 3072).all()
    assert (cfg["tp"] <= 8).all()
    model = ClusterModel(workload=w)
    dp = cfg.pop("dp")
    batch = model.batch(n, exp_mem_topology="per_node", exp_mem_capacity_gb=2048.0)
    batch.update(cfg)
    out = model.evaluate(batch)
    assert (out["invalid_config"] == 0).all()
    assert (out["tp_outside_node"] <= 0).all()
    rows = np.stack([np.asarray(v).astype(str) for v in cfg.values()], axis=1)
    assert len(np.unique(rows, axis=0)) == n
    assert dp.min() >= 1


def test_enumeration_is_complete_for_a_small_case() -> None:
    # Brute force over the raw grid of one structural family, filtered by the model's rules.
    w = WORKLOADS["megatron_1.7b"]
    cfg = enumerate_configs(
        w, 4, 8, recompute=("full",), seq_parallel=(False,), zero_stages=(0,), overlap=(False,)
    )
    got = set(
        zip(
            cfg["tp"].tolist(),
            cfg["pp"].tolist(),
            cfg["microbatch"].tolist(),
            cfg["interleave"].tolist(),
            strict=True,
        )
    )
    model = ClusterModel(workload=w)
    t, p, b, v = (
        a.ravel()
        for a in np.meshgrid(
            np.arange(1, 33), np.arange(1, 25), np.arange(1, 513), np.arange(1, 25)
        )
    )
    keep = (t <= 8) & (32 % (t * p) == 0)
    t, p, b, v = t[keep], p[keep], b[keep], v[keep]
    out = model.evaluate(model.batch(num_nodes=4, tp=t, pp=p, microbatch=b, interleave=v))
    ok = (out["invalid_config"] == 0) & (out["tp_outside_node"] <= 0)
    want = set(zip(t[ok].tolist(), p[ok].tolist(), b[ok].tolist(), v[ok].tolist(), strict=True))
    assert got == want


def test_tp_may_leave_the_node_on_request() -> None:
    w = WORKLOADS["megatron_1t"]
    inside = enumerate_configs(w, 384, 8)
    anywhere = enumerate_configs(w, 384, 8, tp_inside_node=False)
    assert inside["tp"].max() == 8 and anywhere["tp"].max() == 32


def test_bad_cluster() -> None:
    with pytest.raises(ModelError, match="num_nodes=0"):
        enumerate_configs(WORKLOADS["megatron_1t"], 0, 8)
