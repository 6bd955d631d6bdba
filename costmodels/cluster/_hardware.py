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
Calculon's fitted network efficiencies (``systems/a100_80g.json``). Every collective (TP, DP)
uses the configured algorithm.

Placement and topology (:func:`place_groups`): ranks are numbered node by node; the dimensions
mapped to the scale-up tier are innermost, then ``auto`` ones, then those mapped to the
scale-out tier (ties in Megatron's order TP, DP, PP), so a group has ``k`` ranks per node and
spans ``floor((N-1) stride / g) + 1`` nodes. A dimension mapped to the scale-out tier sends all
its traffic through the NICs (a flat ring), as Calculon's per-dimension network does.

* Fat tree: a group spanning more than ``leaf_nodes`` nodes crosses the spine, where each NIC
  gets ``B_inter / oversubscription``; traffic under one leaf runs at ``B_inter``.
* Rail-only (Wang et al. 2023, "How to build low-cost networks for large language models"): one
  switch per local rank, no spine, so no oversubscription. The 2-level algorithm only talks
  between equal local ranks and is unaffected; a flat ring with ``k > 1`` ranks per node has
  hops between different rails, each forwarded over the scale-up link first::

      c (N-1)/N S (1/B_inter + 1/B_intra) + c (N-1) (alpha_inter + alpha_intra)

* Pipeline point-to-point: neighbouring stages ``stride`` ranks apart talk over the scale-up
  link when that is less than a node, else between equal local ranks of two nodes; on a fat
  tree a share ``min(1, (stride/g)/leaf_nodes)`` of the boundaries crosses the spine once the
  pipeline spans more than one leaf.

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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


__all__ = [
    "ETA_HBM",
    "ETA_INTER",
    "ETA_INTRA",
    "EXP_TOPOLOGIES",
    "GEMM_HALF_FLOPS",
    "INTER_TOPOLOGIES",
    "NETWORK_TIERS",
    "PRESETS",
    "ClusterPreset",
    "Group",
    "capex_usd",
    "collective_cost",
    "p2p_cost",
    "place_groups",
    "select",
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
# Network a parallelism dimension's traffic uses (codes 0, 1, 2; see place_groups).
NETWORK_TIERS = ("scale_up", "auto", "scale_out")

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


@dataclass(frozen=True)
class Group:
    """Where the ranks of one parallelism dimension sit (arrays over design points).

    Attributes:
        ranks: Group size ``N``.
        per_node: Ranks of one group inside one node ``k`` (1 when the group's stride is a
            whole number of nodes).
        span: Nodes from the group's first member to its last, inclusive.
        stride: Rank distance between consecutive members.
        nic_only: The dimension is mapped to the scale-out network: its traffic goes through
            the NICs even between members in one node (Calculon's per-dimension network).
    """

    ranks: np.ndarray
    per_node: np.ndarray
    span: np.ndarray
    stride: np.ndarray
    nic_only: np.ndarray


def select(mask: Any, a: Any, b: Any = 0.0) -> Any:
    """``np.where(mask, a, b)``, without the pass over the data when ``mask`` is one constant
    (a squeezed column: the common case of a study that does not search the flag)."""
    m = np.asarray(mask)
    if m.size == 1:
        return a if bool(m.reshape(-1)[0]) else b
    return np.where(m, a, b)


def place_groups(
    t: np.ndarray, d: np.ndarray, p: np.ndarray, g: np.ndarray, tiers: tuple[Any, Any, Any]
) -> tuple[Group, Group, Group, np.ndarray]:
    """Rank layout of the TP, DP and PP groups, and the count of broken placement rules.

    Ranks are numbered node by node. Dimensions mapped to the scale-up tier are innermost,
    then ``auto`` ones, then those mapped to the scale-out tier; ties keep Megatron's order
    (TP, then DP, then PP). A dimension's stride is the product of the degrees inside it.
    Broken rules: the scale-up dimensions together must fit in a node and tile it.

    Args:
        t, d, p: Degrees; g: accelerators per node.
        tiers: Tier codes of TP, DP and PP (0 scale_up, 1 auto, 2 scale_out).
    """
    degrees = (t, d, p)
    codes = [np.asarray(c) for c in tiers]
    if all(c.size == 1 and c.reshape(-1)[0] == 1 for c in codes):  # all auto: Megatron's layout
        no = np.zeros(1, dtype=bool)
        out = []
        for deg, stride in ((t, 1.0), (d, t), (p, t * d)):
            per_node = np.where(stride < g, np.clip(g / stride, 1.0, deg), 1.0)
            span = np.floor((deg - 1.0) * stride / g) + 1.0
            out.append(Group(deg, per_node, span, np.asarray(stride), no))
        return out[0], out[1], out[2], np.zeros(1)
    keys = tuple(c * 3 + i for i, c in enumerate(codes))
    groups = []
    for i, deg in enumerate(degrees):
        stride = np.ones(np.broadcast(*degrees, *keys).shape)
        for j, other in enumerate(degrees):
            if j != i:
                stride = stride * np.where(keys[j] < keys[i], other, 1.0)
        per_node = np.where(stride < g, np.clip(g / stride, 1.0, deg), 1.0)
        span = np.floor((deg - 1.0) * stride / g) + 1.0
        groups.append(Group(deg, per_node, span, stride, np.asarray(tiers[i]) == 2))
    up = np.ones_like(groups[0].stride)
    for i, deg in enumerate(degrees):
        up = up * np.where(np.asarray(tiers[i]) == 0, deg, 1.0)
    q = g / up
    broken = (up > g) + (q != np.floor(q))
    return groups[0], groups[1], groups[2], np.asarray(broken, dtype=np.float64)


def collective_cost(group: Group, net: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per byte and latency of one ring reduce-scatter or all-gather (factor 1).

    A collective of ``S`` bytes then takes ``factor (S spb + latency)`` with ``factor = 2`` for
    an all-reduce (see the module docstring for the equations).

    Args:
        group: Where the group's ranks sit (:func:`place_groups`).
        net: ``bw_intra``, ``lat_intra`` (effective scale-up bandwidth in B/s and per-step
            latency in s), ``bw_inter``, ``bw_spine``, ``lat_inter`` (scale-out bandwidth per
            accelerator under one leaf and across the spine), ``leaf_nodes``, ``rail_only`` and
            ``flat_ring`` (one flat ring instead of the 2-level algorithm across nodes).

    Returns:
        ``(spb, latency)`` arrays.
    """
    ranks = group.ranks
    k = np.minimum(group.per_node, ranks)
    nodes = ranks / k
    spans = nodes > 1
    crosses_spine = ~net["rail_only"] & (group.span > net["leaf_nodes"])
    bw_out = select(crosses_spine, net["bw_spine"], net["bw_inter"])
    intra_steps = (k - 1) / k
    inter_steps = np.where(spans, (nodes - 1) / nodes, 0.0)
    hier_spb = intra_steps / net["bw_intra"] + inter_steps / (k * bw_out)
    hier_lat = (k - 1) * net["lat_intra"] + (nodes - 1) * net["lat_inter"]
    # One flat ring through the NICs: every hop leaves the node. On a rail-only fabric a hop
    # between different local ranks has no direct path and is forwarded over the scale-up
    # link first (Wang et al. 2023), which every step of the ring then waits for.
    flat = (spans & net["flat_ring"]) | (group.nic_only & (ranks > 1))
    if not np.any(flat):
        return hier_spb, hier_lat
    forwarded = net["rail_only"] & (k > 1)
    hop_spb = 1.0 / bw_out + select(forwarded, 1.0 / net["bw_intra"])
    flat_spb = (ranks - 1) / ranks * hop_spb
    flat_lat = (ranks - 1) * (net["lat_inter"] + select(forwarded, net["lat_intra"]))
    spb = np.where(flat, flat_spb, hier_spb)
    lat = np.where(flat, flat_lat, hier_lat)
    return spb, lat


def p2p_cost(group: Group, net: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per byte and latency of one pipeline point-to-point transfer, averaged over the
    stage boundaries.

    Neighbouring stages are ``stride`` ranks apart: inside a node when that is less than a
    node (and PP is not mapped to the scale-out tier), else between the same local rank of
    two nodes (rail-aligned). On a fat tree a share ``min(1, (stride / g) / leaf_nodes)`` of
    the boundaries crosses the spine once the pipeline spans more than one leaf.
    """
    g = net["g"]
    in_node = (group.stride < g) & ~group.nic_only
    stage_nodes = group.stride / g
    spine_share = np.where(
        ~net["rail_only"] & (group.span > net["leaf_nodes"]),
        np.minimum(1.0, stage_nodes / net["leaf_nodes"]),
        0.0,
    )
    out_spb = (1.0 - spine_share) / net["bw_inter"] + spine_share / net["bw_spine"]
    spb = np.where(in_node, 1.0 / net["bw_intra"], out_spb)
    lat = np.where(in_node, net["lat_intra"], net["lat_inter"])
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
                "peak_tflops_fp32": 19.5,
                "hbm_capacity_gb": 80.0,
                "hbm_bw_tbps": 2.039,
                "intra_bw_gbps": 300.0,
                "inter_bw_gbps": 25.0,
                "gpu_power_w": 400.0,
            },
            "Selene (Megatron-LM §5): DGX A100 80GB nodes, 8 GPUs on NVSwitch (300 GB/s per "
            "direction), 8x HDR 200 Gb/s InfiniBand per node (25 GB/s per GPU); A100 SXM 312 "
            "TFLOP/s dense fp16/bf16 (19.5 fp32), 2039 GB/s HBM2e, 400 W",
        ),
        ClusterPreset(
            "h100_sxm",
            {
                "gpus_per_node": 8,
                "peak_tflops": 989.0,
                "peak_tflops_fp8": 1979.0,
                "peak_tflops_fp32": 67.0,
                "hbm_capacity_gb": 80.0,
                "hbm_bw_tbps": 3.35,
                "intra_bw_gbps": 450.0,
                "inter_bw_gbps": 50.0,
                "gpu_power_w": 700.0,
            },
            "DGX H100: H100 SXM 989 TFLOP/s dense bf16, 1979 fp8, 67 fp32, 3.35 TB/s HBM3, "
            "NVLink4 450 GB/s per direction, NDR 400 Gb/s per GPU, 700 W (vendor specifications)",
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
