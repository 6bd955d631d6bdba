"""Every valid execution configuration of a (workload, cluster) pair, built vectorized.

Rules (reference notes §7, Calculon's search, Megatron-LM's constraints):

* ``t p d = n`` with ``t | heads``, ``t | kv_heads``, ``t | h_ff``, and (by default)
  ``t <= g`` with ``t | g`` (TP inside a node, tiling it);
* ``p | L`` and ``v | L/p``; ``v > 1`` needs ``p > 1`` and ``m % p == 0``;
* ``d b | B`` (whole micro-batches per data-parallel rank);
* sequence parallelism only with ``t > 1`` and ``t | s b``;
* ZeRO stages 1-3 only with ``d > 1``; stages 2-3 only without pipelining (DeepSpeed);
* TP overlap only with ``t > 1``; DP overlap only with ``d > 1``;
* offload flags only when the cluster has expansion memory (``offload=True``);
* a network choice (``networks``: ``(tp, dp, pp)`` tiers, Calculon's per-dimension network)
  other than ``auto`` only for a dimension of degree > 1.

Duplicates (a knob that changes nothing, e.g. ZeRO with ``d = 1``) are left out, so every
configuration is distinct. Memory fit is *not* filtered here: the model reports ``mem_over_gb``.
The structural part (t, p, b, v) is a few hundred rows; the knobs are crossed onto it with
``np.repeat``/``np.tile`` and masked, so ~1e6 configurations take well under a second.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from costmodels._protocol import CostModel, ModelError
from costmodels.cluster._workloads import Workload


__all__ = ["best_config", "enumerate_configs"]


def _divisors(k: int) -> np.ndarray:
    r = np.arange(1, int(np.sqrt(k)) + 1)
    small = r[k % r == 0]
    return np.unique(np.concatenate([small, k // small]))


def _structural(
    w: Workload, n: int, g: int, batch: int, tp_inside_node: bool, max_microbatch: int | None
) -> dict[str, np.ndarray]:
    t = _divisors(n)
    t = t[(w.heads % t == 0) & (w.kv_heads % t == 0) & (w.ffn % t == 0)]
    if tp_inside_node:
        t = t[(t <= g) & (g % t == 0)]
    p = _divisors(w.layers)
    tt, pp = (a.ravel() for a in np.meshgrid(t, p, indexing="ij"))
    keep = n % (tt * pp) == 0
    tt, pp = tt[keep], pp[keep]
    dd = n // (tt * pp)
    keep = batch % dd == 0
    tt, pp, dd = tt[keep], pp[keep], dd[keep]
    b = _divisors(batch)
    if max_microbatch is not None:
        b = b[b <= max_microbatch]
    v = _divisors(w.layers)
    i, j, k = (
        a.ravel()
        for a in np.meshgrid(
            np.arange(len(tt)), np.arange(len(b)), np.arange(len(v)), indexing="ij"
        )
    )
    t_, p_, d_, b_, v_ = tt[i], pp[i], dd[i], b[j], v[k]
    per_rank = batch // d_
    m = per_rank // b_
    keep = (per_rank % b_ == 0) & ((w.layers // p_) % v_ == 0)
    keep &= (v_ == 1) | ((p_ > 1) & (m % p_ == 0))
    return {
        "tp": t_[keep],
        "pp": p_[keep],
        "dp": d_[keep],
        "microbatch": b_[keep],
        "interleave": v_[keep],
    }


def enumerate_configs(
    workload: Workload,
    num_nodes: int,
    gpus_per_node: int,
    *,
    global_batch: int | None = None,
    recompute: Sequence[str] = ("none", "selective", "full"),
    seq_parallel: Sequence[bool] = (False, True),
    zero_stages: Sequence[int] = (0, 1, 2, 3),
    offload: bool = False,
    overlap: Sequence[bool] = (False, True),
    dtypes: Sequence[str] = ("fp16",),
    networks: Sequence[tuple[str, str, str]] = (("auto", "auto", "auto"),),
    tp_inside_node: bool = True,
    max_microbatch: int | None = None,
) -> dict[str, np.ndarray]:
    """Columns of every distinct valid execution configuration (see the module docstring).

    Returns:
        A batch with ``num_nodes``, ``gpus_per_node``, ``global_batch`` and the execution
        inputs of :class:`~costmodels.cluster.ClusterModel` (``tp``, ``pp``, ``microbatch``,
        ``interleave``, ``seq_parallel``, ``recompute``, ``zero_stage``, offload and overlap
        flags, ``dtype``, ``tp_network``/``dp_network``/``pp_network``), plus ``dp`` for
        convenience (not a model input).

    Raises:
        ModelError: for a non-positive node or accelerator count.
    """
    if num_nodes < 1 or gpus_per_node < 1:
        raise ModelError(
            f"enumerate_configs: num_nodes={num_nodes}, gpus_per_node={gpus_per_node}; "
            "expected positive integers"
        )
    n = num_nodes * gpus_per_node
    batch = workload.global_batch if global_batch is None else int(global_batch)
    s = _structural(workload, n, gpus_per_node, batch, tp_inside_node, max_microbatch)
    flags = (False, True) if offload else (False,)
    knobs = np.array(
        list(
            itertools.product(
                range(len(recompute)),
                seq_parallel,
                zero_stages,
                flags,
                flags,
                flags,
                overlap,
                overlap,
                range(len(dtypes)),
                range(len(networks)),
            )
        ),
        dtype=np.int64,
    )
    tiers = np.asarray(networks, dtype=str).reshape(-1, 3)
    rows = len(s["tp"])
    k = len(knobs)
    si = np.repeat(np.arange(rows), k)
    ki = np.tile(np.arange(k), rows)
    t, p, d, b = s["tp"][si], s["pp"][si], s["dp"][si], s["microbatch"][si]
    sp, zero, tpo, dpo = (knobs[ki, c] for c in (1, 2, 6, 7))
    keep = (sp == 0) | ((t > 1) & ((workload.seq_len * b) % t == 0))
    keep &= (zero == 0) | ((d > 1) & ((zero <= 1) | (p == 1)))
    keep &= (tpo == 0) | (t > 1)
    keep &= (dpo == 0) | (d > 1)
    net = tiers[knobs[ki, 9]]
    for col, degree in enumerate((t, d, p)):
        keep &= (net[:, col] == "auto") | (degree > 1)
    si, ki = si[keep], ki[keep]
    kn = knobs[ki]
    size = len(si)
    return {
        "num_nodes": np.full(size, num_nodes, dtype=np.int64),
        "gpus_per_node": np.full(size, gpus_per_node, dtype=np.int64),
        "global_batch": np.full(size, batch, dtype=np.int64),
        "tp": s["tp"][si],
        "pp": s["pp"][si],
        "dp": s["dp"][si],
        "microbatch": s["microbatch"][si],
        "interleave": s["interleave"][si],
        "recompute": np.asarray(recompute)[kn[:, 0]],
        "seq_parallel": kn[:, 1].astype(bool),
        "zero_stage": kn[:, 2],
        "offload_weights": kn[:, 3].astype(bool),
        "offload_activations": kn[:, 4].astype(bool),
        "offload_optimizer": kn[:, 5].astype(bool),
        "tp_overlap": kn[:, 6].astype(bool),
        "dp_overlap": kn[:, 7].astype(bool),
        "dtype": np.asarray(dtypes)[kn[:, 8]],
        "tp_network": tiers[kn[:, 9], 0],
        "dp_network": tiers[kn[:, 9], 1],
        "pp_network": tiers[kn[:, 9], 2],
    }


def best_config(
    model: CostModel,
    cluster: Mapping[str, Any],
    objective: str = "iter_time_s",
    **enumerate_options: Any,
) -> dict[str, Any]:
    """The feasible configuration minimizing ``objective`` over :func:`enumerate_configs`.

    ``cluster`` holds the model's non-execution inputs (``num_nodes``, ``gpus_per_node`` and
    any hardware or price values); the workload is the model's own.

    Returns:
        ``{"params": {...}, "metrics": {...}, "candidates": int, "feasible": int}``; params and
        metrics are empty when nothing is feasible.
    """
    workload = getattr(model, "workload", None)
    if not isinstance(workload, Workload):
        raise ModelError(f"best_config needs a cluster model with a workload, got {model.name!r}")
    configs = enumerate_configs(
        workload,
        int(cluster.get("num_nodes", 384)),
        int(cluster.get("gpus_per_node", 8)),
        **enumerate_options,
    )
    configs.pop("dp")
    size = len(configs["tp"])
    cols = {k: v for k, v in cluster.items() if k not in configs}
    batch = model.batch(size, **cols) if size else {}
    batch.update(configs)
    if not size:
        return {"params": {}, "metrics": {}, "candidates": 0, "feasible": 0}
    out = model.evaluate(batch)
    ok = np.ones(size, dtype=bool)
    for name in model.constraint_names():
        ok &= out[name] <= 0
    if not ok.any():
        return {"params": {}, "metrics": {}, "candidates": size, "feasible": 0}
    score = np.where(ok, out[objective], np.inf)
    if model.output(objective).direction == "maximize":
        score = np.where(ok, -out[objective], np.inf)
    i = int(np.argmin(score))
    return {
        "params": {k: v[i].item() for k, v in batch.items()},
        "metrics": {k: float(v[i]) for k, v in out.items()},
        "candidates": size,
        "feasible": int(ok.sum()),
    }
