"""Search space of COMET-style cluster design: provisioning x parallelism (``costmodels.cluster``).

Parameter names are the ``cluster`` model's input names. Two groups:

* **provisioning** (what to buy): nodes, accelerators per node, HBM capacity, memory expansion
  (topology, capacity, bandwidth), scale-up and scale-out bandwidth, scale-out topology;
* **parallelism / execution** (how to run): TP, PP, micro-batch, interleaving, sequence
  parallelism, recompute, ZeRO stage, offload and overlap flags.

Grids follow the reference notes §7 and the Calculon SC'23 sweeps (HBM 20/40/80/120 GB, DDR
expansion 0/256/512/1024 GB); powers of two for the parallel degrees. Expansion capacity,
bandwidth and the offload flags are active only when the cluster has expansion memory.

Every parameter is the model's own declaration (doc, unit, default), narrowed here to a grid.
The space adds no constraints: TP inside a node, ``tp * pp`` dividing the accelerator count,
divisibility by heads, layers and batch, and memory fit are the model's constraint outputs
(``tp_outside_node``, ``invalid_config``, ``mem_over_gb``), defined once there.
"""

from __future__ import annotations

from typing import Any

from costmodels.cluster import ClusterModel
from search_spaces._declared import declared
from search_spaces._params import Condition, Param
from search_spaces._space import Space


__all__ = ["EXECUTION", "PROVISIONING", "space"]

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


def space() -> Space:
    """Provisioning x parallelism for the ``cluster`` model (defaults: Megatron's 1T run)."""

    def p(name: str, narrow: Any = None, *, default: Any = None, expanded: bool = False) -> Param:
        return declared(ClusterModel, name, narrow, default=default,
                        condition=_EXPANDED if expanded else None)

    return Space(
        params=(
            # -- provisioning --
            p("num_nodes", {"high": 4096, "log": True}, default=384),
            p("gpus_per_node", [1, 2, 4, 8, 16, 32, 64, 72]),
            p("hbm_capacity_gb", [20.0, 40.0, 80.0, 120.0]),  # Calculon SC'23 sweep
            p("exp_mem_topology"),
            p("exp_mem_capacity_gb", [256.0, 512.0, 1024.0, 2048.0], default=512.0,
              expanded=True),
            p("exp_mem_bw_gbps", [32.0, 64.0, 128.0, 256.0, 450.0], expanded=True),
            p("intra_bw_gbps", [150.0, 300.0, 450.0, 900.0]),
            p("inter_bw_gbps", [12.5, 25.0, 50.0, 100.0]),
            p("inter_topology"),
            # -- parallelism and execution --
            p("tp", [1, 2, 4, 8, 16, 32, 64]),
            p("pp", [1, 2, 4, 8, 16, 32, 64, 128]),
            p("microbatch", [1, 2, 4, 8, 16]),
            p("interleave", [1, 2, 4, 8]),
            p("seq_parallel"),
            p("recompute"),
            p("zero_stage"),
            p("offload_weights", expanded=True),
            p("offload_activations", expanded=True),
            p("offload_optimizer", expanded=True),
            p("tp_overlap"),
            p("dp_overlap"),
        ),
        name="comet",
        doc="COMET cluster design: provisioning x parallelism of dense-transformer training",
    )
