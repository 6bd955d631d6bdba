"""The cluster: accelerator compute and memory, memory expansion, network, prices and power.

Every function is vectorized over design points (numpy arrays broadcast against each other).

Compute efficiency (size-dependent matmul efficiency)::

    eta_mm(F) = mm_eff * F / (F + F_half),   F = FLOPs of one (batched) GEMM, F_half = 1 GFLOP

``mm_eff`` is the large-GEMM efficiency (an input). The saturating curve is a smooth stand-in for
Calculon's size buckets (``systems/a100_80g.json``: 0.60 / 0.90 / 0.95 at >= 1 / 16 / 128
GFLOP, i.e. 0.63 / 0.95 / 1.0 of the top bucket); with ``F_half = 1 GFLOP`` the curve gives
0.50 / 0.94 / 0.99 of ``mm_eff`` there.

Element-wise kernels (layer norm, dropout, GeLU, softmax, residual adds) are memory bound::

    t = bytes / (hbm_bw * ETA_HBM),   ETA_HBM = 0.9 (Calculon's HBM efficiency at >= 100 MB)

Collectives (reference notes §2.3, ring algorithms; ``S`` = full buffer bytes, ``N`` ranks,
``k`` of them per node, ``c = 2`` for all-reduce and ``1`` for reduce-scatter or all-gather)::

    inside a node (k = N):  c (N-1)/N S / (B_intra eta_intra) + c (N-1) alpha_intra
    across nodes, "hierarchical" (2-level: reduce-scatter in the node, ring across the
    N/k nodes on each GPU's own NIC rail, all-gather in the node):
        c (k-1)/k S / (B_intra eta_intra) + c (k-1) alpha_intra
      + c (N/k-1)/(N/k) (S/k) / (B_inter eta_inter) + c (N/k-1) alpha_inter
    across nodes, "ring" (one flat ring over all N ranks, each rank's traffic through its own
    NIC, as PyTorch DDP / DeepSpeed over a flat process group did in 2021):
        c (N-1)/N S / (B_inter eta_inter) + c (N-1) alpha_inter

``alpha`` is a per-step latency. ``eta_intra = 0.65`` (NVLink) and ``eta_inter = 0.9`` (IB) are
Calculon's fitted network efficiencies (``systems/a100_80g.json``). Inter-node bandwidth is
divided by the fabric's oversubscription.

Memory expansion (ASTRA-sim 2.0 remote-memory backend, ``AnalyticalRemoteMemory``): one request
of ``S`` bytes takes ``latency + S / bw``; a device shared by ``k`` accelerators (per node:
``k = g``; pooled: ``k = n``) serializes their requests, so each accelerator sees ``bw / k`` and
``k`` times the latency.

Prices (Calculon SC'23 artifact price model, reference notes §4.1): GPU base $20,000; HBM
$2,250 / $5,000 / $10,000 / $20,000 for 20 / 40 / 80 / 120 GB; DDR expansion $2,500 / $10,000 /
$20,000 for 256 / 512 / 1024 GB; both interpolated linearly (and extrapolated at the last
slope). Node, NIC, switch-port and scale-up prices are *assumed* constants (see the inputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


__all__ = [
    "ETA_HBM",
    "ETA_INTER",
    "ETA_INTRA",
    "EXP_TOPOLOGIES",
    "GEMM_HALF_FLOPS",
    "INTER_TOPOLOGIES",
    "PRESETS",
    "ClusterPreset",
    "capex_usd",
    "collective_cost",
    "exp_price_usd",
    "hbm_price_usd",
    "matmul_efficiency",
    "power_w",
]

# Calculon systems/a100_80g.json: HBM efficiency for transfers >= 100 MB.
ETA_HBM = 0.9
# Calculon systems/a100_80g.json: NVLink tier efficiency 0.65, InfiniBand tier 0.9.
ETA_INTRA = 0.65
ETA_INTER = 0.9
# Calculon's processor_usage: compute lost while a collective overlaps it (NVLink 0.15, IB 0.02).
OVERLAP_COST_INTRA = 0.15
OVERLAP_COST_INTER = 0.02
# GEMM size at which the matmul engine reaches half its large-GEMM efficiency (see docstring).
GEMM_HALF_FLOPS = 1e9

EXP_TOPOLOGIES = ("none", "per_accelerator", "per_node", "pooled")
INTER_TOPOLOGIES = ("fat_tree", "rail_only")

# Calculon SC'23 price model (reference notes §4.1).
_HBM_PRICE_GB = np.array([0.0, 20.0, 40.0, 80.0, 120.0])
_HBM_PRICE_USD = np.array([0.0, 2250.0, 5000.0, 10000.0, 20000.0])
_EXP_PRICE_GB = np.array([0.0, 256.0, 512.0, 1024.0])
_EXP_PRICE_USD = np.array([0.0, 2500.0, 10000.0, 20000.0])


def _interp_extrapolate(x: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
    return np.where(x > xs[-1], ys[-1] + (x - xs[-1]) * slope, np.interp(x, xs, ys))


def hbm_price_usd(capacity_gb: np.ndarray) -> np.ndarray:
    """Price of one accelerator's HBM (Calculon SC'23 price model, interpolated)."""
    return _interp_extrapolate(
        np.asarray(capacity_gb, dtype=np.float64), _HBM_PRICE_GB, _HBM_PRICE_USD
    )


def exp_price_usd(capacity_gb: np.ndarray) -> np.ndarray:
    """Price of one expansion-memory device (DDR5 in the Calculon SC'23 price model)."""
    return _interp_extrapolate(
        np.asarray(capacity_gb, dtype=np.float64), _EXP_PRICE_GB, _EXP_PRICE_USD
    )


def matmul_efficiency(flops: np.ndarray, mm_eff: np.ndarray) -> np.ndarray:
    """Fraction of peak a GEMM of ``flops`` FLOPs reaches (saturating in GEMM size)."""
    return mm_eff * flops / (flops + GEMM_HALF_FLOPS)


def collective_cost(
    ranks: np.ndarray,
    per_node: np.ndarray,
    bw_intra: np.ndarray,
    lat_intra: np.ndarray,
    bw_inter: np.ndarray,
    lat_inter: np.ndarray,
    flat_ring: np.ndarray | bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per byte and latency of one ring reduce-scatter or all-gather (factor 1).

    A collective of ``S`` bytes then takes ``factor (S spb + latency)`` with ``factor = 2`` for
    an all-reduce (see the module docstring for the equations).

    Args:
        ranks: Group size ``N`` (1 means no communication).
        per_node: Ranks of the group inside one node ``k`` (``k >= N``: all in one node).
        bw_intra, lat_intra: Effective scale-up bandwidth (B/s, efficiency applied) and
            per-step latency (s).
        bw_inter, lat_inter: The same for the scale-out network, per accelerator.
        flat_ring: Use one flat ring over every rank instead of the 2-level algorithm when the
            group spans nodes.

    Returns:
        ``(spb, latency)`` arrays.
    """
    k = np.minimum(per_node, ranks)
    nodes = ranks / k
    spans = nodes > 1
    intra_steps = (k - 1) / k
    inter_steps = np.where(spans, (nodes - 1) / nodes, 0.0)
    hier_spb = intra_steps / bw_intra + inter_steps / (k * bw_inter)
    hier_lat = (k - 1) * lat_intra + (nodes - 1) * lat_inter
    flat = spans & flat_ring
    spb = np.where(flat, (ranks - 1) / ranks / bw_inter, hier_spb)
    lat = np.where(flat, (ranks - 1) * lat_inter, hier_lat)
    return spb, lat


@dataclass(frozen=True)
class ClusterPreset:
    """Named hardware values for the model's inputs (vendor specifications, cited)."""

    name: str
    values: dict[str, float | int | str]
    source: str


PRESETS: dict[str, ClusterPreset] = {
    p.name: p
    for p in (
        ClusterPreset(
            "selene_a100",
            {
                "num_nodes": 384,
                "gpus_per_node": 8,
                "peak_tflops": 312.0,
                "peak_tflops_fp8": 0.0,
                "hbm_capacity_gb": 80.0,
                "hbm_bw_tbps": 2.039,
                "intra_bw_gbps": 300.0,
                "inter_bw_gbps": 25.0,
                "gpu_power_w": 400.0,
            },
            "Selene (Megatron-LM §5): DGX A100 80GB nodes, 8 GPUs on NVSwitch (300 GB/s per "
            "direction), 8x HDR 200 Gb/s InfiniBand per node (25 GB/s per GPU); A100 SXM 312 "
            "TFLOP/s dense fp16/bf16, 2039 GB/s HBM2e, 400 W",
        ),
        ClusterPreset(
            "h100_sxm",
            {
                "gpus_per_node": 8,
                "peak_tflops": 989.0,
                "peak_tflops_fp8": 1979.0,
                "hbm_capacity_gb": 80.0,
                "hbm_bw_tbps": 3.35,
                "intra_bw_gbps": 450.0,
                "inter_bw_gbps": 50.0,
                "gpu_power_w": 700.0,
            },
            "DGX H100: H100 SXM 989 TFLOP/s dense bf16, 1979 fp8, 3.35 TB/s HBM3, NVLink4 450 "
            "GB/s per direction, NDR 400 Gb/s per GPU, 700 W (vendor specifications)",
        ),
    )
}


def capex_usd(x: dict[str, np.ndarray]) -> np.ndarray:
    """Capital cost of the cluster.

    ``n (gpu + hbm(cap) + intra_bw $intra + inter_bw ($nic + ports $port)) + N $node
    + devices x exp(cap)``, with ``ports = 1 + 2/oversubscription`` switch ports per NIC on a
    two-level fat tree (leaf down-port, leaf up-port and spine port, the up-links thinned by the
    oversubscription) and 1 on a rail-only fabric (Wang et al. 2023: rail switches only), and
    ``devices`` = 0 / n / N / 1 expansion devices for none / per accelerator / per node / pooled.
    """
    n, nodes = x["n"], x["nodes"]
    ports = np.where(x["rail_only"], 1.0, 1.0 + 2.0 / x["oversub"])
    per_gpu = (
        x["gpu_usd"]
        + hbm_price_usd(x["hbm_cap"])
        + x["intra_bw_gbps"] * x["intra_usd_per_gbps"]
        + x["inter_bw_gbps"] * (x["nic_usd_per_gbps"] + ports * x["port_usd_per_gbps"])
    )
    return n * per_gpu + nodes * x["node_usd"] + x["exp_devices"] * exp_price_usd(x["exp_cap"])


def power_w(x: dict[str, np.ndarray]) -> np.ndarray:
    """Facility power: ``(n W_gpu + N W_node) PUE`` (accelerators at their rated power)."""
    return (x["n"] * x["gpu_power_w"] + x["nodes"] * x["node_power_w"]) * x["pue"]
