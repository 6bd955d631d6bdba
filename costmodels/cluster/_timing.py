"""Iteration time and its breakdown (forward, backward, recompute, bubble, TP/PP/DP, offload).

All times are per iteration on the bottleneck accelerator (a GPU of the last pipeline stage,
which also runs the logit layer). ``l = L/p`` layers per stage.

Compute, per layer and micro-batch (Megatron-LM §3 / eq. 3 GEMMs, split over ``t``)::

    GEMMs  QKV 2bsh(h_q + 2h_kv), projection 2bs h_q h, MLP n_mlp x 2bsh h_ff (n_mlp = 2, 3
           gated), scores + context 2 x 2bs^2 h_q (each / t; h_q = a d_head, h_kv = kv d_head;
           both = h for standard attention)
    time   sum_i F_i / (peak eta_mm(F_i))          backward = 2 x forward (dgrad + wgrad)
    element-wise bytes: 30 per (s b h) element outside the TP region (2 layer norms r2 w2,
        2 dropouts r2 w2 + 1 B mask, 2 residual adds r4 w2; divided by t with SP),
        4 per (s b h_ff / t) for bias-GeLU (6 for a gated MLP's SiLU-and-multiply),
        9 per (b a s^2 / t) for the fused scale-mask-softmax (r2 w2) and attention dropout
        (r2 w2 + mask); backward moves 2x the forward bytes. The byte counts are for 2-byte
        elements; ``dtype = fp32`` doubles them (and every message below).
    logits (last stage): 2bshV/t forward, 2x backward, 12 B per logit for the cross entropy.
    recompute: full = one more forward of each layer; selective = the attention core only.

Pipeline (Megatron-LM §2.2, 1F1B with ``v`` interleaved chunks)::

    T_fwd + T_bwd + T_rc + T_tp = m x (per micro-batch on the bottleneck stage)
    T_bubble = (p - 1)/v x (per micro-batch time of a stage without the logit layer)

Tensor-parallel communication: 4 all-reduces of ``2bsh`` bytes per layer and micro-batch
(forward 2, backward 2), 2 more with full recompute; with sequence parallelism each becomes a
reduce-scatter plus an all-gather of the same volume. They use the configured collective
algorithm and the TP group's placement (``_hardware.place_groups``). With ``tp_overlap`` the
collectives hide behind the layer's GEMMs, costing Calculon's processor usage (15% of the
hidden time on NVLink).

Pipeline communication: each micro-batch crosses each chunk boundary forward and backward,
``2 (m v + p - 1)`` point-to-point transfers of ``2bsh/t`` bytes (scatter/gather, Megatron-LM
§4.1) on the critical path, plus the all-gather inside the TP group on arrival.

Data-parallel communication (Megatron ordering: TP innermost, then DP, then PP, so a DP group
has ``min(d, g/t)`` ranks per node): an all-reduce of the gradients per iteration (ZeRO-0);
reduce-scatter of gradients + all-gather of weights (ZeRO-1 / distributed optimizer); the
reduce-scatter per micro-batch (ZeRO-2); and the weight all-gather per pass per micro-batch
(ZeRO-3). With ``dp_overlap`` the per-iteration collectives hide behind the last micro-batch's
backward and the per-micro-batch ones behind each micro-batch's compute (2% processor usage).

Optimizer step: Adam reads fp32 gradients, reads and writes master weights and moments, writes
fp16 weights: 30 B per parameter of the local shard at HBM speed.

Offload (memory expansion): weights and gradients stream in per micro-batch and pass
(``passes x W + 2 G`` bytes per micro-batch); stored activations are written in the forward
and read back in the backward (``2 x`` their bytes); these streams run on the expansion link
under the rest of the iteration (compute, bubble and collectives) and only the excess is
exposed. Offloaded optimizer state is read and written once per step,
exposed. Each transfer costs ``latency + bytes / (bw / sharers)`` and ``sharers`` times the
latency (ASTRA-sim's serialized remote memory).

Inference (``mode = "inference"``): forward passes only. No backward, recompute, gradient
reduction or optimizer step; 2 TP all-reduces per layer; pipeline transfers one way,
``(m v + p - 1)`` of them; ZeRO-3's weight gathers once per micro-batch; weights stream from
expansion memory once per micro-batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from costmodels.cluster._hardware import (
    ETA_HBM,
    GEMM_HALF_FLOPS,
    OVERLAP_COST_INTER,
    OVERLAP_COST_INTRA,
    collective_cost,
    p2p_cost,
    select,
)


__all__ = ["ADAM_STEP_BYTES", "FP32_ADAM_STEP_BYTES", "timing"]

# Adam step traffic per parameter: fp32 grad read 4, master r/w 8, m r/w 8, v r/w 8, fp16 write 2.
ADAM_STEP_BYTES = 30.0
# Pure fp32: gradient read 4, weight r/w 8, m r/w 8, v r/w 8 (no 16-bit copy to write).
FP32_ADAM_STEP_BYTES = 28.0
# Bytes per element of the element-wise kernels (see the module docstring for the count).
OUTSIDE_TP_BYTES = 30.0
# Bias-GeLU reads and writes 2 B (4 B per h_ff element); a gated MLP's SiLU-and-multiply reads
# two and writes one (6 B): 2 B per MLP weight matrix either way.
ACTIVATION_BYTES_PER_MATRIX = 2.0
SOFTMAX_DROPOUT_BYTES = 9.0
CROSS_ENTROPY_BYTES = 12.0


def _gemms_time(total_flops: Any, count: Any, rate: Any) -> Any:
    """Time of ``count`` GEMMs of ``total_flops`` together at ``rate = peak mm_eff``.

    ``F / (peak mm_eff F/(F + F_half)) = (F + F_half) / (peak mm_eff)``: the saturating
    efficiency makes a GEMM cost ``F_half`` extra FLOPs at the large-GEMM rate, so a sum of
    GEMMs is one division.
    """
    return (total_flops + count * GEMM_HALF_FLOPS) / rate


def _overlapped(comm: np.ndarray, window: np.ndarray, on: np.ndarray, cost: float) -> np.ndarray:
    hidden = np.minimum(comm, window)
    return np.where(on, comm - hidden + cost * hidden, comm)


def timing(x: Mapping[str, Any], mem: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-iteration time components in seconds (see the module docstring)."""
    t, p, d, b, v, m = x["t"], x["p"], x["d"], x["b"], x["v"], x["m"]
    h, s, ffn = x["h"], x["s"], x["ffn"]
    peak, mm_eff = x["peak"], x["mm_eff"]
    hbm_bw = x["hbm_bw"] * ETA_HBM
    bs = b * s
    layers = x["L"] / p

    # -- compute per layer and micro-batch ---------------------------------------------------
    rate = peak * mm_eff
    nmlp = x["nmlp"]
    # GEMMs: scores + context (2), QKV, projection, MLP (n_mlp).
    hq = x["hq"]
    t_attn_mm = _gemms_time(4.0 * bs * s * hq / t, 2.0, rate)
    weights_flops = 2.0 * bs * h * (2.0 * hq + 2.0 * x["hkv"] + nmlp * ffn) / t
    t_mm = _gemms_time(weights_flops, 2.0 + nmlp, rate) + t_attn_mm
    sbh = bs * h
    train, eb = x["train"], x["eb"]
    ew_scale = eb / 2.0  # the byte counts below are for 2-byte elements
    t_attn_ew = SOFTMAX_DROPOUT_BYTES * ew_scale * b * x["a"] * s * s / t / hbm_bw
    t_ew = (
        OUTSIDE_TP_BYTES * sbh / np.where(x["sp"], t, 1.0)
        + ACTIVATION_BYTES_PER_MATRIX * x["nmlp"] * bs * ffn / t
    ) * ew_scale / hbm_bw + t_attn_ew
    layer_fwd = t_mm + t_ew
    layer_bwd = select(train, 2.0 * layer_fwd, 0.0)
    rc = x["rc"]
    layer_rc = np.where(rc == 2, layer_fwd, np.where(rc == 1, t_attn_mm + t_attn_ew, 0.0))

    logit_flops = 2.0 * bs * h * x["V"] / t
    logit_fwd = _gemms_time(logit_flops, 1.0, rate) + CROSS_ENTROPY_BYTES * bs * x["V"] / t / (
        hbm_bw
    )
    logit_bwd = select(train, 2.0 * logit_fwd, 0.0)

    # -- tensor parallel ---------------------------------------------------------------------
    tp_bytes = eb * sbh
    tp_spb, tp_lat = collective_cost(x["tp_group"], x)
    gather = tp_bytes * tp_spb + tp_lat  # one all-gather (or reduce-scatter) of the b s h tensor
    tp_one = 2.0 * gather  # one all-reduce
    passes = select(train, 2.0 + (rc == 2), 1.0)  # forward, backward, recompute passes
    # 2 all-reduces per forward pass (attention and MLP outputs), 2 per backward pass.
    tp_layer = 2.0 * passes * tp_one
    gemm_window = t_mm * (passes + train)  # the backward runs twice the forward's GEMMs
    tp_layer = _overlapped(tp_layer, gemm_window, x["tp_overlap"], OVERLAP_COST_INTRA)

    stage_mb = layers * (layer_fwd + layer_bwd + layer_rc + tp_layer)
    time_fwd = m * (layers * layer_fwd + logit_fwd)
    time_bwd = m * (layers * layer_bwd + logit_bwd)
    time_rc = m * layers * layer_rc
    time_tp = m * layers * tp_layer
    time_bubble = (p - 1.0) / v * stage_mb

    # -- pipeline point-to-point ---------------------------------------------------------------
    pp_spb, pp_lat = p2p_cost(x["pp_group"], x)
    p2p = pp_lat + tp_bytes / t * pp_spb + gather
    directions = select(train, 2.0, 1.0)  # activations forward, gradients backward
    time_pp = np.where(p > 1, directions * (m * v + p - 1.0) * p2p, 0.0)

    # -- data parallel -------------------------------------------------------------------------
    grad_full = mem["p_stage"] * np.where(x["fp32_grads"] | x["fp32"], 4.0, 2.0)
    weight_full = mem["p_stage"] * eb
    dp_spb, dp_lat = collective_cost(x["dp_group"], x)
    rs = grad_full * dp_spb + dp_lat
    ar = 2.0 * rs
    ag = weight_full * dp_spb + dp_lat
    zero = x["zero"]
    # ZeRO-0 all-reduces gradients; ZeRO-1 reduce-scatters them and all-gathers the updated
    # weights; ZeRO-2 reduces per micro-batch (below) and all-gathers weights once; ZeRO-3
    # keeps weights sharded and gathers them per pass (below).
    # Inference has no gradients: only ZeRO-3's per-pass weight gathers remain.
    per_iter = np.where(zero == 0, ar, np.where(zero == 1, rs + ag, np.where(zero == 2, ag, 0.0)))
    per_iter = select(train, per_iter, 0.0)
    per_mb = np.where(train & (zero >= 2), rs, 0.0) + np.where(zero >= 3, passes * ag, 0.0)
    mb_compute = layers * (layer_fwd + layer_bwd + layer_rc)
    time_dp = np.where(
        d > 1,
        _overlapped(per_iter, layers * layer_bwd, x["dp_overlap"], OVERLAP_COST_INTER)
        + m * _overlapped(per_mb, mb_compute, x["dp_overlap"], OVERLAP_COST_INTER),
        0.0,
    )

    # -- optimizer step and offload --------------------------------------------------------------
    shard = mem["p_stage"] / np.where(zero >= 1, d, 1.0)
    step_bytes = select(x["fp32"], FP32_ADAM_STEP_BYTES, ADAM_STEP_BYTES)
    time_opt = select(train, step_bytes * shard / hbm_bw, 0.0)
    sharers = x["exp_sharers"]
    exp_bw = x["exp_bw"] / sharers
    exp_lat = x["exp_lat"] * sharers
    off_w, off_a, off_o = x["off_w"], x["off_a"], x["off_o"]
    stream_bytes = m * (
        np.where(off_w, passes * mem["weight_bytes"] + 2.0 * mem["grad_bytes"], 0.0)
        + np.where(off_a, 2.0 * mem["act_stored_layer"] * layers, 0.0)
    )
    stream_requests = m * layers * (off_w * (passes + 2.0 * train) + off_a * 2.0)
    stream = stream_bytes / exp_bw + stream_requests * exp_lat
    # The expansion link is its own DMA path: the stream runs under everything else of the
    # iteration (compute, bubble, collectives), so iter = max(stream, rest); a faster GPU then
    # never exposes more collective time behind an offload-bound iteration.
    covered = time_fwd + time_bwd + time_rc + time_tp + time_bubble + time_pp + time_dp
    opt_off = np.where(off_o, 2.0 * mem["optimizer_bytes"] / exp_bw + layers * exp_lat, 0.0)
    time_offload = np.maximum(stream - covered, 0.0) + opt_off

    iter_time = (
        time_fwd
        + time_bwd
        + time_rc
        + time_tp
        + time_bubble
        + time_pp
        + time_dp
        + time_offload
        + time_opt
    )
    return {
        "iter_time_s": iter_time,
        "time_fwd_s": time_fwd,
        "time_bwd_s": time_bwd,
        "time_recompute_s": time_rc,
        "time_bubble_s": time_bubble,
        "time_tp_comm_s": time_tp,
        "time_pp_comm_s": time_pp,
        "time_dp_comm_s": time_dp,
        "time_offload_s": time_offload,
        "time_optimizer_s": time_opt,
    }
