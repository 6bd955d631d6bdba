"""``ClusterModel``: the cost model class (inputs, outputs, evaluate, breakdown, native form)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from costmodels._protocol import Anchor, CostModel, EvalContext, ModelError, Output
from costmodels.cluster._hardware import (
    ETA_INTER,
    ETA_INTRA,
    EXP_TOPOLOGIES,
    INTER_TOPOLOGIES,
    NETWORK_TIERS,
    PRESETS,
    capex_usd,
    place_groups,
    power_w,
)
from costmodels.cluster._memory import memory
from costmodels.cluster._timing import timing
from costmodels.cluster._workloads import Workload, layer_params, resolve_workload
from search_spaces import Categorical, Float, Int, Param


__all__ = ["ClusterModel", "evaluate_columns", "prepare"]

_BOOL = (False, True)
DTYPES = ("fp16", "bf16", "fp8", "fp32")
MODES = ("training", "inference")
# Rows evaluated per numpy pass (see ClusterModel.evaluate).
CHUNK = 32768

# Documented large-GEMM efficiency: ASTRA-sim 2.0 (ISPASS'23, §V) assumes A100 compute at a
# measured 234 TFLOP/s, i.e. 234 / 312 = 0.75 of the dense fp16 peak.
DOCUMENTED_MM_EFF = 0.75

# Input groups, in the order of the native schema (``native_config``).
CLUSTER_INPUTS: tuple[Param, ...] = (
    Int("num_nodes", 1, 16384, default_value=384, doc="nodes in the cluster"),
    Int("gpus_per_node", 1, 72, default_value=8, doc="accelerators per node (scale-up domain)"),
    Float(
        "peak_tflops",
        10.0,
        10000.0,
        default_value=312.0,
        unit="TFLOP/s",
        doc="dense fp16/bf16 peak per accelerator (A100: 312)",
    ),
    Float(
        "peak_tflops_fp8",
        0.0,
        20000.0,
        default_value=0.0,
        unit="TFLOP/s",
        doc="dense fp8 peak per accelerator; 0 = no fp8 (A100)",
    ),
    Float(
        "peak_tflops_fp32",
        0.0,
        20000.0,
        default_value=19.5,
        unit="TFLOP/s",
        doc="dense fp32 peak per accelerator (A100: 19.5; 156 with TF32 tensor cores)",
    ),
    Float(
        "mm_eff",
        0.05,
        1.0,
        default_value=DOCUMENTED_MM_EFF,
        doc="large-GEMM fraction of peak (0.75: ASTRA-sim 2.0's measured A100 234 TFLOP/s)",
    ),
    Float(
        "hbm_capacity_gb", 4.0, 1024.0, default_value=80.0, unit="GB", doc="HBM per accelerator"
    ),
    Float(
        "hbm_bw_tbps",
        0.1,
        20.0,
        default_value=2.039,
        unit="TB/s",
        doc="HBM bandwidth per accelerator (A100 80GB: 2.039)",
    ),
    Categorical(
        "exp_mem_topology",
        EXP_TOPOLOGIES,
        default_value="none",
        doc="memory expansion: none, a device per accelerator, per node, or one pool",
    ),
    Float(
        "exp_mem_capacity_gb",
        0.0,
        1048576.0,
        default_value=0.0,
        unit="GB",
        doc="capacity of one expansion device",
    ),
    Float(
        "exp_mem_bw_gbps",
        1.0,
        4000.0,
        default_value=64.0,
        unit="GB/s",
        doc="bandwidth of one expansion device (assumed 64: CXL x16 / PCIe 5 x16)",
    ),
    Float(
        "exp_mem_latency_ns",
        0.0,
        100000.0,
        default_value=500.0,
        unit="ns",
        doc="latency of one expansion request (assumed 500 ns for CXL-attached DRAM)",
    ),
    Float(
        "intra_bw_gbps",
        1.0,
        4000.0,
        default_value=300.0,
        unit="GB/s",
        doc="scale-up bandwidth per accelerator per direction (NVLink3: 300)",
    ),
    Float(
        "intra_latency_us",
        0.0,
        100.0,
        default_value=1.0,
        unit="us",
        doc="scale-up latency per ring step (ASTRA-sim HGX-H100-validated: 0.94 us)",
    ),
    Float(
        "inter_bw_gbps",
        0.5,
        1000.0,
        default_value=25.0,
        unit="GB/s",
        doc="scale-out bandwidth per accelerator (HDR InfiniBand: 25)",
    ),
    Float(
        "inter_latency_us",
        0.0,
        1000.0,
        default_value=5.0,
        unit="us",
        doc="scale-out latency per ring step (assumed 5 us: NIC + switch + NCCL protocol)",
    ),
    Categorical(
        "inter_topology",
        INTER_TOPOLOGIES,
        default_value="fat_tree",
        doc="scale-out fabric: fat tree or rail-only",
    ),
    Float(
        "oversubscription",
        1.0,
        16.0,
        default_value=1.0,
        doc="fat-tree oversubscription (divides the bandwidth of traffic crossing the spine)",
    ),
    Int(
        "leaf_nodes",
        1,
        16384,
        default_value=20,
        doc="nodes under one leaf switch level (DGX SuperPOD scalable unit: 20 A100 nodes)",
    ),
    Categorical(
        "collective_algo",
        ("hierarchical", "ring"),
        default_value="hierarchical",
        doc="cross-node collectives: 2-level (NCCL today) or one flat ring (2021 DDP)",
    ),
    Categorical(
        "tp_network",
        NETWORK_TIERS,
        default_value="auto",
        doc="network of TP traffic: scale_up (must fit a node), auto (by placement), scale_out",
    ),
    Categorical(
        "dp_network",
        NETWORK_TIERS,
        default_value="auto",
        doc="network of DP traffic: scale_up (must fit a node), auto (by placement), scale_out",
    ),
    Categorical(
        "pp_network",
        NETWORK_TIERS,
        default_value="auto",
        doc="network of PP traffic: scale_up (must fit a node), auto (by placement), scale_out",
    ),
)
PRICE_INPUTS: tuple[Param, ...] = (
    Float(
        "gpu_price_usd",
        0.0,
        1e6,
        default_value=20000.0,
        unit="USD",
        doc="accelerator without HBM (Calculon SC'23 price model: 20,000)",
    ),
    Float(
        "node_price_usd",
        0.0,
        1e7,
        default_value=40000.0,
        unit="USD",
        doc="node without accelerators: CPUs, DRAM, chassis (assumed)",
    ),
    Float(
        "intra_usd_per_gbps",
        0.0,
        1e4,
        default_value=10.0,
        unit="USD/(GB/s)",
        doc="scale-up fabric per accelerator per GB/s (assumed: 3,000 at 300 GB/s)",
    ),
    Float(
        "nic_usd_per_gbps",
        0.0,
        1e4,
        default_value=60.0,
        unit="USD/(GB/s)",
        doc="NIC per GB/s (assumed: HDR 200 Gb/s NIC about 1,500)",
    ),
    Float(
        "switch_port_usd_per_gbps",
        0.0,
        1e4,
        default_value=40.0,
        unit="USD/(GB/s)",
        doc="switch port per GB/s (assumed: 40-port HDR switch about 40,000)",
    ),
    Float(
        "gpu_power_w",
        0.0,
        5000.0,
        default_value=400.0,
        unit="W",
        doc="accelerator power (A100 SXM TDP: 400)",
    ),
    Float(
        "node_power_w",
        0.0,
        50000.0,
        default_value=3300.0,
        unit="W",
        doc="node power besides accelerators (DGX A100: 6.5 kW max - 8 x 400 W)",
    ),
    Float("pue", 1.0, 3.0, default_value=1.2, doc="power usage effectiveness (assumed 1.2)"),
    Float("budget_usd", 0.0, 1e12, default_value=0.0, unit="USD", doc="capex budget; 0 = none"),
)
WORKLOAD_INPUTS: tuple[Param, ...] = (
    Int(
        "global_batch",
        0,
        1 << 22,
        default_value=0,
        unit="sequences",
        doc="global batch; 0 = the workload's own",
    ),
    Float(
        "train_tokens",
        0.0,
        1e16,
        default_value=0.0,
        unit="tokens",
        doc="token budget for time to train; 0 = the workload's own",
    ),
)
EXECUTION_INPUTS: tuple[Param, ...] = (
    Int("tp", 1, 1024, default_value=8, doc="tensor-parallel degree"),
    Int("pp", 1, 1024, default_value=64, doc="pipeline-parallel degree"),
    Int("microbatch", 1, 4096, default_value=1, unit="sequences", doc="micro-batch size"),
    Int("interleave", 1, 128, default_value=1, doc="interleaved model chunks per stage"),
    Categorical("seq_parallel", _BOOL, default_value=False, doc="sequence parallelism"),
    Categorical(
        "recompute",
        ("none", "selective", "full"),
        default_value="full",
        doc="activation recomputation",
    ),
    Categorical(
        "zero_stage",
        (0, 1, 2, 3),
        default_value=0,
        doc="ZeRO stage (1 = Megatron's distributed optimizer)",
    ),
    Categorical(
        "offload_weights",
        _BOOL,
        default_value=False,
        doc="weights and gradients in expansion memory",
    ),
    Categorical(
        "offload_activations",
        _BOOL,
        default_value=False,
        doc="stored activations in expansion memory",
    ),
    Categorical(
        "offload_optimizer", _BOOL, default_value=False, doc="optimizer state in expansion memory"
    ),
    Categorical("tp_overlap", _BOOL, default_value=False, doc="overlap TP collectives with GEMMs"),
    Categorical(
        "dp_overlap",
        _BOOL,
        default_value=False,
        doc="overlap DP collectives with the backward pass",
    ),
    Categorical(
        "dtype",
        DTYPES,
        default_value="fp16",
        doc="datatype: GEMMs and stored tensors (fp8: GEMMs only; fp32: everything 4 B)",
    ),
    Categorical(
        "mode",
        MODES,
        default_value="training",
        doc="training (forward, backward, optimizer) or inference (forward passes only)",
    ),
    Categorical(
        "fp32_grads",
        _BOOL,
        default_value=True,
        doc="fp32 gradient accumulation (Megatron default; 18 B/param of state)",
    ),
)

TIME_OUTPUTS = (
    "time_fwd_s",
    "time_bwd_s",
    "time_recompute_s",
    "time_bubble_s",
    "time_tp_comm_s",
    "time_pp_comm_s",
    "time_dp_comm_s",
    "time_offload_s",
    "time_optimizer_s",
)
MEMORY_OUTPUTS = (
    "mem_weights_gb",
    "mem_grads_gb",
    "mem_optimizer_gb",
    "mem_activations_gb",
    "mem_workspace_gb",
)


def _is(column: Any, value: str, choices: tuple[str, ...]) -> np.ndarray:
    """``column == value`` for a validated categorical column, fast for numpy unicode arrays.

    Compares one UTF-32 code unit at a position where ``value`` differs from every other
    choice (a strided view, no copy) instead of whole strings, which is ~10x faster.
    """
    col = np.asarray(column)
    if col.dtype.kind != "U" or col.ndim != 1:
        return _squeeze(np.asarray(col == value))
    width = col.dtype.itemsize // 4
    others = [c for c in choices if c != value]
    for pos in range(len(value) + 1):
        code = ord(value[pos]) if pos < len(value) else 0
        if all((ord(c[pos]) if pos < len(c) else 0) != code for c in others):
            if pos >= width:
                return np.full(col.shape, code == 0)
            return _squeeze(col.view(np.uint32).reshape(len(col), width)[:, pos] == code)
    return _squeeze(np.asarray(col == value))


def _squeeze(col: np.ndarray) -> np.ndarray:
    """A constant column as one broadcastable element: later arithmetic on it is cheaper."""
    if col.ndim == 1 and col.size > 1 and col[0] == col[-1] and (col == col[0]).all():
        return col[:1]
    return col


def _col(batch: Mapping[str, Any], key: str) -> np.ndarray:
    return _squeeze(np.asarray(batch[key], dtype=np.float64))


def _flag(batch: Mapping[str, Any], key: str) -> np.ndarray:
    return _squeeze(np.asarray(batch[key], dtype=bool))


def prepare(batch: Mapping[str, Any], workload: Mapping[str, Any]) -> dict[str, Any]:
    """Model-internal columns (SI units, numeric codes) from a batch and workload columns.

    ``workload`` maps ``L, h, a, ffn, kv, hkv, hq, nmlp, s, V, B, tokens`` (see
    :func:`workload_columns`) to scalars or arrays (several
    workloads can be evaluated at once this way).
    """
    nodes = _col(batch, "num_nodes")
    g = _col(batch, "gpus_per_node")
    n = nodes * g
    t = _col(batch, "tp")
    p = _col(batch, "pp")
    b = _col(batch, "microbatch")
    d = n / (t * p)
    gb = _col(batch, "global_batch")
    B = np.where(gb > 0, gb, workload["B"])
    tokens = _col(batch, "train_tokens")
    recompute = batch["recompute"]
    rc_choices = ("none", "selective", "full")
    topo = batch["exp_mem_topology"]
    per_node = _is(topo, "per_node", EXP_TOPOLOGIES)
    pooled = _is(topo, "pooled", EXP_TOPOLOGIES)
    sharers = np.where(per_node, g, np.where(pooled, n, 1.0))
    exp_cap = _col(batch, "exp_mem_capacity_gb")
    fp8 = _is(batch["dtype"], "fp8", DTYPES)
    fp32 = _is(batch["dtype"], "fp32", DTYPES)
    peak_fp8 = _col(batch, "peak_tflops_fp8")
    peak_fp32 = _col(batch, "peak_tflops_fp32")
    train = _is(batch["mode"], "training", MODES)
    # Inference runs forward passes only: nothing is recomputed, no activations or optimizer
    # state are kept (offloading them is moot), and only ZeRO-3's weight sharding remains.
    zero_stage = _col(batch, "zero_stage")
    x: dict[str, Any] = {
        "L": workload["L"],
        "h": workload["h"],
        "a": workload["a"],
        "ffn": workload["ffn"],
        "kv": workload["kv"],
        "hkv": workload["hkv"],
        "hq": workload["hq"],
        "nmlp": workload["nmlp"],
        "s": workload["s"],
        "V": workload["V"],
        "B": B,
        "tokens": np.where(tokens > 0, tokens, workload["tokens"]),
        "nodes": nodes,
        "g": g,
        "n": n,
        "t": t,
        "p": p,
        "d": d,
        "b": b,
        "v": _col(batch, "interleave"),
        "m": B / (d * b),
        "sp": _flag(batch, "seq_parallel"),
        "rc": train
        * (
            _is(recompute, "selective", rc_choices) * 1.0
            + _is(recompute, "full", rc_choices) * 2.0
        ),
        "zero": np.where(train | (zero_stage >= 3), zero_stage, 0.0),
        "train": train,
        "off_w": _flag(batch, "offload_weights"),
        "off_a": _flag(batch, "offload_activations") & train,
        "off_o": _flag(batch, "offload_optimizer") & train,
        "tp_overlap": _flag(batch, "tp_overlap"),
        "dp_overlap": _flag(batch, "dp_overlap"),
        "fp32_grads": _flag(batch, "fp32_grads"),
        "fp8": fp8,
        "peak_fp8": peak_fp8,
        "fp32": fp32,
        "peak_fp32": peak_fp32,
        "eb": np.where(fp32, 4.0, 2.0),  # bytes per stored weight, activation, message element
        # fp8 (fp32) without an fp8 (fp32) engine is flagged invalid and timed at the 16-bit peak.
        "peak": np.where(
            fp8 & (peak_fp8 > 0),
            peak_fp8,
            np.where(fp32 & (peak_fp32 > 0), peak_fp32, _col(batch, "peak_tflops")),
        )
        * 1e12,
        "mm_eff": _col(batch, "mm_eff"),
        "hbm_cap": _col(batch, "hbm_capacity_gb"),
        "hbm_bw": _col(batch, "hbm_bw_tbps") * 1e12,
        "exp_cap": exp_cap,
        "exp_sharers": sharers,
        "exp_share_gb": np.where(_is(topo, "none", EXP_TOPOLOGIES), 0.0, exp_cap / sharers),
        "exp_devices": np.where(
            _is(topo, "per_accelerator", EXP_TOPOLOGIES),
            n,
            np.where(per_node, nodes, pooled * 1.0),
        ),
        "exp_bw": _col(batch, "exp_mem_bw_gbps") * 1e9,
        "exp_lat": _col(batch, "exp_mem_latency_ns") * 1e-9,
        "intra_bw_gbps": _col(batch, "intra_bw_gbps"),
        "inter_bw_gbps": _col(batch, "inter_bw_gbps"),
        "oversub": _col(batch, "oversubscription"),
        "rail_only": _is(batch["inter_topology"], "rail_only", INTER_TOPOLOGIES),
        "flat_ring": _is(batch["collective_algo"], "ring", ("hierarchical", "ring")),
        "lat_intra": _col(batch, "intra_latency_us") * 1e-6,
        "lat_inter": _col(batch, "inter_latency_us") * 1e-6,
        "gpu_usd": _col(batch, "gpu_price_usd"),
        "node_usd": _col(batch, "node_price_usd"),
        "intra_usd_per_gbps": _col(batch, "intra_usd_per_gbps"),
        "nic_usd_per_gbps": _col(batch, "nic_usd_per_gbps"),
        "port_usd_per_gbps": _col(batch, "switch_port_usd_per_gbps"),
        "gpu_power_w": _col(batch, "gpu_power_w"),
        "node_power_w": _col(batch, "node_power_w"),
        "pue": _col(batch, "pue"),
        "budget": _col(batch, "budget_usd"),
    }
    x["bw_intra"] = x["intra_bw_gbps"] * 1e9 * ETA_INTRA
    x["bw_inter"] = x["inter_bw_gbps"] * 1e9 * ETA_INTER
    x["bw_spine"] = x["bw_inter"] / x["oversub"]
    x["leaf_nodes"] = _col(batch, "leaf_nodes")
    tiers = (
        _tier_code(batch["tp_network"]),
        _tier_code(batch["dp_network"]),
        _tier_code(batch["pp_network"]),
    )
    x["tp_group"], x["dp_group"], x["pp_group"], x["placement_broken"] = place_groups(
        t, d, p, g, tiers
    )
    return x


def _tier_code(column: Any) -> np.ndarray:
    """0 / 1 / 2 for scale_up / auto / scale_out (the order of :data:`NETWORK_TIERS`)."""
    return _squeeze(
        _is(column, "auto", NETWORK_TIERS) * 1.0 + _is(column, "scale_out", NETWORK_TIERS) * 2.0
    )


def _indivisible(num: Any, den: Any) -> Any:
    # Division and floor instead of np.fmod: several times faster, exact for these magnitudes.
    q = num / den
    return q != np.floor(q)


def _invalid(x: Mapping[str, Any]) -> np.ndarray:
    """Number of broken validity rules (0 = a runnable execution configuration)."""
    t, p, d, b, v, m = x["t"], x["p"], x["d"], x["b"], x["v"], x["m"]
    g = x["g"]
    bad = (
        _indivisible(d, 1.0) * 1.0  # t p must divide the accelerator count
        + (d < 1)
        + _indivisible(x["a"], t)  # TP splits heads, key/value heads ...
        + _indivisible(x["kv"], t)
        + _indivisible(x["ffn"], t)  # ... and the FFN
        + _indivisible(g, t) * (t <= g)  # a TP group tiles its node
        + _indivisible(x["L"], p * v)  # whole layers per stage and chunk
        + _indivisible(m, 1.0)  # whole micro-batches per data-parallel rank
        + (v > 1) * ((p == 1) | _indivisible(m, p))  # Megatron's interleaving rule
        + x["sp"] * ((t == 1) | _indivisible(x["s"] * b, t))
        + (x["zero"] >= 2) * (p > 1)  # DeepSpeed: ZeRO-2/3 exclude pipeline parallelism
        + x["fp8"] * (x["peak_fp8"] <= 0)  # no fp8 engine
        + x["fp32"] * (x["peak_fp32"] <= 0)  # no fp32 engine
        + x["placement_broken"]  # scale_up dimensions must fit in (and tile) a node
    )
    return np.asarray(bad, dtype=np.float64)


def model_flops(x: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """FLOPs per iteration: Megatron eq. 3 (reported TF/s), 6 P B s (MFU) and executed (HFU);
    in inference the forward pass's share (2 P B s for MFU)."""
    L, h, s, V, ffn, B = x["L"], x["h"], x["s"], x["V"], x["ffn"], x["B"]
    hkv, hq, nmlp = x["hkv"], x["hq"], x["nmlp"]
    # 2 x weights per token (QKV, projection, MLP) + attention scores and context.
    layer_fwd = L * B * s * (4.0 * h * hq + 4.0 * h * hkv + 2.0 * nmlp * h * ffn + 4.0 * s * hq)
    logit_fwd = 2.0 * B * s * h * V
    train = x["train"]
    # Training: = 96 B s L h^2 (1 + s/6h + V/16Lh); inference: the forward pass alone.
    megatron = np.where(train, 4.0 * layer_fwd + 3.0 * logit_fwd, layer_fwd + logit_fwd)
    params = L * layer_params(h, hq, hkv, nmlp, ffn) + (V + s) * h
    mfu_flops = np.where(train, 6.0, 2.0) * params * B * s
    rc_flops = np.where(x["rc"] == 2, layer_fwd, np.where(x["rc"] == 1, L * B * s * 4 * s * hq, 0))
    executed = np.where(train, 3.0, 1.0) * (layer_fwd + logit_fwd) + rc_flops
    return megatron, mfu_flops, executed


def evaluate_columns(x: Mapping[str, Any], size: int | None = None) -> dict[str, np.ndarray]:
    """Every output of the model from prepared columns (see :func:`prepare`).

    ``size`` is the batch length (columns may have been squeezed to one element); by default
    the length of the longest column.
    """
    if size is None:
        size = max(int(np.size(v)) for v in x.values())
    mem = memory(x)
    out = timing(x, mem)
    it = out["iter_time_s"]
    n = x["n"]
    megatron, mfu_flops, executed = model_flops(x)
    capex = capex_usd(x)  # type: ignore[arg-type]
    train_s = x["tokens"] / (x["B"] * x["s"]) * it
    out.update(
        {
            "tokens_per_s": x["B"] * x["s"] / it,
            "hw_tflops_per_gpu": megatron / (n * it) * 1e-12,
            "mfu": mfu_flops / (n * x["peak"] * it),
            "hfu": executed / (n * x["peak"] * it),
            "time_to_train_days": train_s / 86400.0,
            "capex_usd": capex,
            "energy_mwh": power_w(x) * train_s / 3.6e9,  # type: ignore[arg-type]
            "num_gpus": n * 1.0,
            "mem_weights_gb": mem["weights"],
            "mem_grads_gb": mem["grads"],
            "mem_optimizer_gb": mem["optimizer"],
            "mem_activations_gb": mem["activations"],
            "mem_workspace_gb": mem["workspace"],
            "mem_total_gb": mem["hbm_total"],
            "mem_expansion_gb": mem["expansion"],
            "invalid_config": _invalid(x),
            "tp_outside_node": np.where(
                x["tp_group"].span > 1, np.maximum(x["t"] - x["g"], 1.0), x["t"] - x["g"]
            ),
            "mem_over_gb": mem["over"],
            "budget_over_usd": np.where(x["budget"] > 0, capex - x["budget"], 0.0),
        }
    )
    return {k: _full(v, size) for k, v in out.items()}


def _full(value: Any, size: int) -> np.ndarray:
    col = np.asarray(value, dtype=np.float64)
    if col.shape == (size,):
        return col
    return np.full(size, col.reshape(-1)[0])


def workload_columns(w: Workload) -> dict[str, float]:
    return {
        "L": w.layers,
        "h": w.hidden,
        "a": w.heads,
        "ffn": w.ffn,
        "kv": w.kv_heads,
        "hkv": w.kv_width,
        "hq": w.q_width,
        "nmlp": w.mlp_matrices,
        "s": w.seq_len,
        "V": w.vocab,
        "B": w.global_batch,
        "tokens": w.train_tokens,
    }


class ClusterModel(CostModel):
    """Distributed dense-transformer training on a provisioned cluster (COMET-style).

    Options:
        workload: A built-in workload name (``megatron_1t``, ``gpt3_175b``, ...), a file path
            (``.toml``/``.json``/``.csv``, optionally ``path:name``) or a mapping of fields.
        preset: Hardware defaults from :data:`~costmodels.cluster.PRESETS` (``selene_a100``,
            ``h100_sxm``).
        defaults: Input name -> default value, applied after the preset (e.g. prices, power
            or a budget a study does not search).
    """

    name = "cluster"
    version = "1"
    doc = (
        "Megatron-style TP/PP/DP training of a dense transformer on a cluster with memory "
        "expansion: iteration-time breakdown, memory per accelerator, MFU, time to train, "
        "capex and energy (Narayanan et al. SC'21, Korthikanti et al. 2022, COMET)."
    )
    inputs = CLUSTER_INPUTS + PRICE_INPUTS + WORKLOAD_INPUTS + EXECUTION_INPUTS
    outputs = (
        Output("iter_time_s", "s", "minimize", "time of one training iteration"),
        Output("time_fwd_s", "s", "minimize", "forward compute (GEMMs + element-wise)"),
        Output("time_bwd_s", "s", "minimize", "backward compute"),
        Output("time_recompute_s", "s", "minimize", "activation recomputation"),
        Output("time_bubble_s", "s", "minimize", "pipeline fill and drain"),
        Output("time_tp_comm_s", "s", "minimize", "exposed tensor-parallel collectives"),
        Output("time_pp_comm_s", "s", "minimize", "pipeline point-to-point transfers"),
        Output("time_dp_comm_s", "s", "minimize", "exposed data-parallel collectives"),
        Output("time_offload_s", "s", "minimize", "exposed expansion-memory traffic"),
        Output("time_optimizer_s", "s", "minimize", "optimizer step"),
        Output("tokens_per_s", "tokens/s", "maximize", "training throughput"),
        Output(
            "hw_tflops_per_gpu",
            "TFLOP/s",
            "maximize",
            "Megatron-LM eq. 3 FLOPs per GPU per second (its reporting convention)",
        ),
        Output("mfu", "", "maximize", "model FLOPs utilization, 6 P B s / (n peak T)"),
        Output("hfu", "", "maximize", "hardware FLOPs utilization (executed FLOPs)"),
        Output("time_to_train_days", "days", "minimize", "time to train the token budget"),
        Output("capex_usd", "USD", "minimize", "cluster capital cost"),
        Output("energy_mwh", "MWh", "minimize", "facility energy to train the token budget"),
        Output("num_gpus", "", "minimize", "accelerators in the cluster"),
        Output("mem_weights_gb", "GB", "minimize", "weights in HBM per accelerator"),
        Output("mem_grads_gb", "GB", "minimize", "gradients in HBM per accelerator"),
        Output("mem_optimizer_gb", "GB", "minimize", "optimizer state in HBM per accelerator"),
        Output("mem_activations_gb", "GB", "minimize", "stored activations in HBM"),
        Output("mem_workspace_gb", "GB", "minimize", "recompute/logit workspace and reserve"),
        Output("mem_total_gb", "GB", "minimize", "HBM needed per accelerator"),
        Output("mem_expansion_gb", "GB", "minimize", "expansion memory used per accelerator"),
        Output(
            "invalid_config",
            "",
            None,
            "broken divisibility/validity rules (TP | heads, PP | layers, batch, ...)",
        ),
        Output(
            "tp_outside_node",
            "",
            None,
            "tp - gpus_per_node, at least 1 when the TP group spans nodes (> 0: TP leaves it)",
        ),
        Output("mem_over_gb", "GB", None, "GB over HBM (or expansion) capacity; <= 0 fits"),
        Output("budget_over_usd", "USD", None, "capex - budget (> 0: over budget)"),
    )

    def __init__(
        self,
        workload: str | Mapping[str, Any] | Workload = "megatron_1t",
        preset: str | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.workload = resolve_workload(workload)
        self._workload_cols = workload_columns(self.workload)
        values: dict[str, Any] = {}
        if preset is not None:
            if preset not in PRESETS:
                raise ModelError(
                    f"model 'cluster': unknown preset {preset!r}; expected one of "
                    f"{', '.join(PRESETS)}"
                )
            values.update(PRESETS[preset].values)
        values.update(defaults or {})
        if values:
            # Instance-level inputs with new defaults: what a study's un-searched inputs take.
            known = {p.name: p for p in type(self).inputs}
            for name in values:
                if name not in known:
                    raise ModelError(
                        f"model 'cluster': defaults name unknown input {name!r}; expected one "
                        f"of {', '.join(known)}"
                    )
            self.inputs = tuple(  # type: ignore[misc]
                _with_default(p, values[p.name]) if p.name in values else p
                for p in type(self).inputs
            )

    def batch(self, n: int | None = None, /, **columns: Any) -> dict[str, np.ndarray]:
        """A validated batch (see :meth:`CostModel.batch`), fast for large ``n``.

        Scalars are validated once and broadcast; string columns that already hold valid
        choices are checked with one vectorized ``isin`` instead of per-element parsing.
        Anything else (unknown names, out-of-range values, strings to parse) takes the
        protocol's path, with its error messages.
        """
        arrays = {k: v for k, v in columns.items() if np.ndim(v) == 1}
        scalars = {k: v for k, v in columns.items() if np.ndim(v) != 1}
        if n is None:
            lengths = {len(v) for v in arrays.values()}
            if len(lengths) != 1:
                return super().batch(n, **columns)  # raises for mixed lengths, or n = 1
            n = lengths.pop()
        one = super().batch(1, **scalars)
        out = {k: np.full(n, v[0], dtype=v.dtype) for k, v in one.items()}
        known = {p.name: p for p in self.inputs}
        for name, raw in arrays.items():
            col = np.asarray(raw)
            param = known.get(name)
            if param is None or len(col) != n or not param.contains(col).all():
                return super().batch(n, **columns)
            if col.dtype.kind in "US" or col.dtype == object:
                if not isinstance(param, Categorical) or col.dtype == object:
                    return super().batch(n, **columns)
            out[name] = col.astype(param.dtype, copy=False)
        return out

    def evaluate(
        self, batch: Mapping[str, np.ndarray], context: EvalContext | None = None
    ) -> dict[str, np.ndarray]:
        missing = [p.name for p in self.inputs if p.name not in batch]
        if missing:
            full = self.batch(len(next(iter(batch.values()))) if batch else 1)
            full.update({k: np.asarray(v) for k, v in batch.items()})
            batch = full
        size = len(next(iter(batch.values())))
        if size <= CHUNK:
            return evaluate_columns(prepare(batch, self._workload_cols), size)
        # Chunks keep the temporaries in cache: ~2x faster than whole-batch numpy on 1e6 rows.
        out: dict[str, np.ndarray] = {}
        for start in range(0, size, CHUNK):
            part = {k: np.asarray(v)[start : start + CHUNK] for k, v in batch.items()}
            res = evaluate_columns(prepare(part, self._workload_cols), len(part["tp"]))
            if not out:
                out = {k: np.empty(size, dtype=np.float64) for k in res}
            for k, v in res.items():
                out[k][start : start + len(v)] = v
        return out

    # -- detail and native form --------------------------------------------------------------
    def breakdown(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Time components (``{"component", "seconds"}``) then memory rows (``{..., "gb"}``)."""
        out = self.evaluate(self.batch(**dict(params)))
        rows: list[dict[str, Any]] = [
            {"component": k.removeprefix("time_").removesuffix("_s"), "seconds": float(out[k][0])}
            for k in TIME_OUTPUTS
        ]
        rows += [
            {"component": k.removesuffix("_gb"), "gb": float(out[k][0])}
            for k in MEMORY_OUTPUTS + ("mem_expansion_gb",)
        ]
        return rows

    def native_config(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Calculon-like schema: ``workload``, ``cluster``, ``prices``, ``execution`` tables."""
        full = {p.name: p.default for p in self.inputs}
        for k, v in params.items():
            full[k] = self.input(k).coerce(v)

        def group(ps: tuple[Param, ...]) -> dict[str, Any]:
            return {p.name: _plain(full[p.name]) for p in ps}

        # A workload input at 0 means "the workload's own value": export that value, so the
        # record shows the global batch and token budget the point was evaluated with.
        own = self.workload.as_dict()
        workload = own | {k: v for k, v in group(WORKLOAD_INPUTS).items()
                          if not (v == 0 and own.get(k))}
        return {
            "workload": workload,
            "cluster": group(CLUSTER_INPUTS),
            "prices": group(PRICE_INPUTS),
            "execution": group(EXECUTION_INPUTS),
        }

    def from_native(self, config: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for section in ("cluster", "prices", "execution", "workload"):
            table = config.get(section, {})
            if not isinstance(table, Mapping):
                raise ModelError(f"native config: [{section}] must be a table")
            for k, v in table.items():
                if section == "workload" and k not in {p.name for p in WORKLOAD_INPUTS}:
                    # The workload's own fields travel with the model option; they must match.
                    mine = self.workload.as_dict().get(k)
                    if k not in ("name", "source") and mine is not None and mine != v:
                        raise ModelError(
                            f"native config: workload.{k}={v!r}, but this model trains "
                            f"{self.workload.name!r} ({k}={mine!r}); build the model with "
                            "that workload"
                        )
                    continue
                out[k] = self.input(k).coerce(v)
        return out

    def anchors(self) -> list[Anchor]:
        from costmodels.cluster._anchors import anchors

        return anchors()


def _with_default(param: Param, value: Any) -> Param:
    """``param`` with a new (validated) default; every input kind has ``default_value``."""
    new: Param = replace(param, default_value=param.coerce(value))  # type: ignore[call-arg]
    return new


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
