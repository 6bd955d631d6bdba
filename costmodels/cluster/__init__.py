"""COMET-style cluster design: distributed dense-transformer training on a provisioned cluster.

``ClusterModel`` (registry name ``cluster``) evaluates, vectorized over design points, a
Megatron-style execution (tensor, pipeline and data parallelism, micro-batching, interleaving,
sequence parallelism, recompute none/selective/full, ZeRO 0-3, offload to expansion memory,
overlap flags, fp16/bf16/fp8/fp32, training or forward-only inference) of a workload (with
grouped-query attention, gated MLPs and a head width independent of ``d_model``) on a cluster
(nodes, accelerators per node, peak TFLOP/s per datatype with a size-dependent GEMM
efficiency, HBM, memory expansion per accelerator / node / pool, scale-up and scale-out
networks on a fat tree with leaf/spine oversubscription or a rail-only fabric, the network and
placement of each parallelism dimension, the collective algorithm, prices and power). Outputs:
iteration time with its breakdown, memory per accelerator by kind, MFU, time to train, capex,
energy, and constraint outputs (invalid configuration, TP outside the node, memory overflow,
budget).

Equations and sources: :mod:`costmodels.cluster._memory` (Korthikanti et al. activations, ZeRO
state), :mod:`costmodels.cluster._timing` (Megatron-LM pipeline, collectives, offload),
:mod:`costmodels.cluster._hardware` (efficiencies, collectives, prices); derivations and the
validation table in ``docs/models/cluster.md``.

Example::

    from costmodels.cluster import ClusterModel, enumerate_configs
    model = ClusterModel(workload="megatron_1t")
    out = model.evaluate(model.batch(tp=[8, 4], pp=[64, 32]))
    configs = enumerate_configs(model.workload, num_nodes=384, gpus_per_node=8)
"""

from __future__ import annotations

from costmodels.cluster._enumerate import best_config, enumerate_configs
from costmodels.cluster._hardware import PRESETS, ClusterPreset
from costmodels.cluster._model import DOCUMENTED_MM_EFF, ClusterModel
from costmodels.cluster._workloads import (
    WORKLOADS,
    Workload,
    WorkloadError,
    load_workloads,
    resolve_workload,
)


__all__ = [
    "DOCUMENTED_MM_EFF",
    "PRESETS",
    "WORKLOADS",
    "ClusterModel",
    "ClusterPreset",
    "Workload",
    "WorkloadError",
    "best_config",
    "enumerate_configs",
    "load_workloads",
    "resolve_workload",
]
