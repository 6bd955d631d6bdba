"""Search space of COMET-style cluster design: provisioning x parallelism (``costmodels.cluster``).

Parameter names are the ``cluster`` model's input names. Two groups:

* **provisioning** (what to buy): nodes, accelerators per node, HBM capacity, memory expansion
  (topology, capacity, bandwidth), scale-up and scale-out bandwidth, scale-out topology;
* **parallelism / execution** (how to run): TP, PP, micro-batch, interleaving, sequence
  parallelism, recompute, ZeRO stage, offload and overlap flags.

Grids follow the reference notes §7 and the Calculon SC'23 sweeps (HBM 20/40/80/120 GB, DDR
expansion 0/256/512/1024 GB); powers of two for the parallel degrees. Expansion capacity,
bandwidth and the offload flags are active only when the cluster has expansion memory.

The space is workload-agnostic, so its own constraints are the two that need no workload:
TP fits inside a node and ``tp * pp`` divides the accelerator count. Divisibility by heads,
layers and batch, and memory fit, are the model's constraint outputs (``invalid_config``,
``mem_over_gb``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from search_spaces._params import Categorical, Condition, Int
from search_spaces._space import Constraint, Space


__all__ = ["EXECUTION", "PROVISIONING", "space"]

_BOOL = (False, True)
_EXPANDED = Condition("exp_mem_topology", ("per_accelerator", "per_node", "pooled"))

PROVISIONING = (
    "num_nodes",
    "gpus_per_node",
    "hbm_capacity_gb",
    "exp_mem_topology",
    "exp_mem_capacity_gb",
    "exp_mem_bw_gbps",
    "intra_bw_gbps",
    "inter_bw_gbps",
    "inter_topology",
)
EXECUTION = (
    "tp",
    "pp",
    "microbatch",
    "interleave",
    "seq_parallel",
    "recompute",
    "zero_stage",
    "offload_weights",
    "offload_activations",
    "offload_optimizer",
    "tp_overlap",
    "dp_overlap",
)


def _tp_inside_node(b: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.asarray(b["tp"], dtype=np.float64) - np.asarray(b["gpus_per_node"])


def _degrees_divide(b: Mapping[str, np.ndarray]) -> np.ndarray:
    n = np.asarray(b["num_nodes"], dtype=np.int64) * np.asarray(b["gpus_per_node"])
    return (n % (np.asarray(b["tp"]) * np.asarray(b["pp"])) != 0).astype(np.float64)


def space() -> Space:
    """Provisioning x parallelism for the ``cluster`` model (defaults: Megatron's 1T run)."""
    return Space(
        params=(
            # -- provisioning --
            Int("num_nodes", 1, 4096, log=True, default_value=384, doc="nodes"),
            Categorical(
                "gpus_per_node",
                (1, 2, 4, 8, 16, 32, 64, 72),
                default_value=8,
                doc="accelerators per node (scale-up domain)",
            ),
            Categorical(
                "hbm_capacity_gb",
                (20.0, 40.0, 80.0, 120.0),
                default_value=80.0,
                unit="GB",
                doc="HBM per accelerator (Calculon SC'23 sweep)",
            ),
            Categorical(
                "exp_mem_topology",
                ("none", "per_accelerator", "per_node", "pooled"),
                default_value="none",
                doc="memory expansion sharing",
            ),
            Categorical(
                "exp_mem_capacity_gb",
                (256.0, 512.0, 1024.0, 2048.0),
                default_value=512.0,
                unit="GB",
                doc="capacity of one expansion device",
                condition=_EXPANDED,
            ),
            Categorical(
                "exp_mem_bw_gbps",
                (32.0, 64.0, 128.0, 256.0, 450.0),
                default_value=64.0,
                unit="GB/s",
                doc="bandwidth of one expansion device",
                condition=_EXPANDED,
            ),
            Categorical(
                "intra_bw_gbps",
                (150.0, 300.0, 450.0, 900.0),
                default_value=300.0,
                unit="GB/s",
                doc="scale-up bandwidth per accelerator per direction",
            ),
            Categorical(
                "inter_bw_gbps",
                (12.5, 25.0, 50.0, 100.0),
                default_value=25.0,
                unit="GB/s",
                doc="scale-out bandwidth per accelerator",
            ),
            Categorical(
                "inter_topology",
                ("fat_tree", "rail_only"),
                default_value="fat_tree",
                doc="scale-out fabric",
            ),
            # -- parallelism and execution --
            Categorical("tp", (1, 2, 4, 8, 16, 32, 64), default_value=8, doc="tensor parallel"),
            Categorical(
                "pp", (1, 2, 4, 8, 16, 32, 64, 128), default_value=64, doc="pipeline parallel"
            ),
            Categorical(
                "microbatch",
                (1, 2, 4, 8, 16),
                default_value=1,
                unit="sequences",
                doc="micro-batch size",
            ),
            Categorical("interleave", (1, 2, 4, 8), default_value=1, doc="chunks per stage"),
            Categorical("seq_parallel", _BOOL, default_value=False, doc="sequence parallelism"),
            Categorical(
                "recompute",
                ("none", "selective", "full"),
                default_value="full",
                doc="activation recomputation",
            ),
            Categorical("zero_stage", (0, 1, 2, 3), default_value=0, doc="ZeRO stage"),
            Categorical(
                "offload_weights",
                _BOOL,
                default_value=False,
                condition=_EXPANDED,
                doc="weights and gradients in expansion memory",
            ),
            Categorical(
                "offload_activations",
                _BOOL,
                default_value=False,
                condition=_EXPANDED,
                doc="activations in expansion memory",
            ),
            Categorical(
                "offload_optimizer",
                _BOOL,
                default_value=False,
                condition=_EXPANDED,
                doc="optimizer state in expansion memory",
            ),
            Categorical("tp_overlap", _BOOL, default_value=False, doc="overlap TP collectives"),
            Categorical("dp_overlap", _BOOL, default_value=False, doc="overlap DP collectives"),
        ),
        constraints=(
            Constraint(
                "tp_inside_node",
                _tp_inside_node,
                ("tp", "gpus_per_node"),
                "tp <= gpus_per_node (TP groups stay on the scale-up network)",
            ),
            Constraint(
                "degrees_divide",
                _degrees_divide,
                ("num_nodes", "gpus_per_node", "tp", "pp"),
                "tp * pp divides num_nodes * gpus_per_node",
            ),
        ),
        name="comet",
        doc="COMET cluster design: provisioning x parallelism of dense-transformer training",
    )
