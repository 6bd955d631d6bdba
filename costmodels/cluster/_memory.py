"""Memory per accelerator, by kind, on the most loaded pipeline stage (the first one).

Notation (reference notes §2): ``L`` layers, ``h`` hidden, ``a`` heads, ``h_ff`` FFN width,
``s`` sequence, ``V`` vocabulary, ``b`` micro-batch, ``t``/``p``/``d`` tensor/pipeline/data
degrees, ``v`` interleaved chunks, ``m = B/(d b)`` micro-batches per iteration.

Model state (Megatron-LM eq. 2 per layer; mixed-precision Adam, ZeRO accounting)::

    P_layer = 2h h_q + 2h h_kv + n_mlp h h_ff + h_q + 2h_kv + 6h + h_ff
                                                     (= 12h^2 + 13h for h_q = h_kv = h, h_ff = 4h)
    P_stage = (L/p) P_layer / t + V h / t + s h      (first stage holds the embeddings)
    weights 2 B/param, gradients 4 B/param (fp32 accumulation, Megatron's default; 2 with
    fp16 gradients), optimizer 12 B/param (fp32 master, Adam m and v).
    ZeRO-1 / distributed optimizer divides the optimizer by d, ZeRO-2 also the gradients,
    ZeRO-3 also the weights.

With 4 B gradients this is the 18 B/param that Korthikanti et al. (arXiv 2205.05198, Fig. 1)
imply; their figure excludes the embeddings, which this model includes. With ``dtype = fp32``
weights take 4 B and Adam 8 B (no separate master copy); in inference only the weights stay.

Activations per layer per micro-batch, bytes (Korthikanti et al. §4), with ``x = 5 a s / h``
and ``c`` the terms inside the TP region::

    none,      no SP:  s b h (10 + c/t + x/t)       [= 10 + 24/t + 5as/(ht) for c = 24]
    none,      SP:     s b h (10 + c + x) / t       [= (34 + 5as/h) / t]
    selective, no SP:  s b h (10 + c/t)
    selective, SP:     s b h (10 + c) / t
    full:              2 s b h (over t with SP)     (the layer input only)

    c = 4 h_q/h + 4 h_kv/h + 4 h_ff/h   (Q 2 + K 2 + V 2 + projection input 2 + two h_ff
                                  tensors) = 24 for standard attention and h_ff = 4h (Korthikanti);
    h_q = a d_head is the attention width (h unless the head width is set independently);
    a gated MLP stores three h_ff tensors (gate, up, product): + 2 h_ff/h [assumed];
    grouped-query attention shrinks K and V to h_kv = kv_heads d_head.

Activation bytes scale with ``e/2`` (``e`` = 4 B for fp32, else 2). Inference stores none;
one layer's un-recomputed activations are its working set (workspace).

In-flight micro-batches on the first stage under 1F1B: ``min(p, m)`` of its ``L/p`` layers,
times ``1 + (p-1)/(p v)`` with interleaving (``v > 1``), as Korthikanti et al. Fig. 1 counts.

Workspace: one layer's un-recomputed activations during full recompute (the attention scores of
one layer during selective recompute); gathered weights under ZeRO-3 (the layer in use and the
prefetched one, at most DeepSpeed's default 1e9 live parameters); ``RESERVED_GB`` for the CUDA
context, NCCL buffers and fragmentation; and, when the last stage (one micro-batch in flight
plus fp32 logits ``4 s b V / t``) needs more than the first stage's activations, the excess, so
the total is the larger of the two stages.

Offload to expansion memory keeps a double buffer of two layers in HBM for what is offloaded
(weights with their gradients, stored activations); offloaded optimizer state keeps nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from costmodels.cluster._hardware import select
from costmodels.cluster._workloads import layer_params


__all__ = ["RESERVED_GB", "activation_bytes_per_layer", "memory"]

# Assumed: CUDA context, NCCL buffers and allocator fragmentation. The reference notes (§6) give
# 2-5 GB; the low end is used because Megatron's runs were tuned to fit.
RESERVED_GB = 2.0
# Adam's optimizer state bytes per parameter: fp32 master weights, first and second moments.
OPTIMIZER_BYTES = 12.0
# Pure fp32 training keeps no separate master copy: Adam's two fp32 moments.
FP32_OPTIMIZER_BYTES = 8.0
# DeepSpeed ZeRO-3's default stage3_max_live_parameters: gathered parameters kept at once.
ZERO3_MAX_LIVE_PARAMS = 1e9


def activation_bytes_per_layer(x: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Stored activation bytes of one layer and one micro-batch, and the un-recomputed value.

    Returns:
        ``(stored, full)``: stored under the configured recompute mode, and what a layer holds
        with nothing recomputed (the full-recompute workspace).
    """
    # Korthikanti's byte counts are for 2-byte tensors; fp32 doubles them (the 1-byte dropout
    # masks, 2 of the 34 bytes per element, are then over-counted by 3 %).
    sbh = x["s"] * x["b"] * x["h"] * (x["eb"] / 2.0)
    t = x["t"]
    sp = x["sp"]
    att = 5.0 * x["a"] * x["s"] / x["h"]
    # Inside the TP region: Q, K, V (2 + 2 + 2 with h_q = h_kv = h), the projection input (2),
    # and the MLP's two h_ff-wide tensors (2 x 2), three when gated (gate, up, product).
    inside = (
        4.0 * x["hq"] / x["h"]
        + 4.0 * x["hkv"] / x["h"]
        + 2.0 * (x["nmlp"] == 3) * x["ffn"] / x["h"]
        + (4.0 * x["ffn"] / x["h"])
    )
    outside = 10.0  # layer norms, dropout masks and residual inputs outside it
    full_rc = 2.0 * sbh / np.where(sp, t, 1.0)
    selective = sbh * np.where(sp, (outside + inside) / t, outside + inside / t)
    none = selective + sbh * att / t
    stored = np.where(x["rc"] == 0, none, np.where(x["rc"] == 1, selective, full_rc))
    return stored, none


def memory(x: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Memory per accelerator in GB (1e9 bytes), by kind, plus offload needs and overflow.

    Returns:
        ``weights``, ``grads``, ``optimizer``, ``activations``, ``workspace`` (all HBM-resident),
        ``hbm_total``, ``expansion`` (bytes placed in expansion memory), ``over`` (GB over the
        binding capacity, ``<= 0`` fits), and intermediate values the timing model reuses.
    """
    t, p, d = x["t"], x["p"], x["d"]
    h = x["h"]
    layers_per_stage = x["L"] / p
    p_layer = layer_params(h, x["hq"], x["hkv"], x["nmlp"], x["ffn"])
    p_stage = layers_per_stage * p_layer / t + x["V"] * h / t + x["s"] * h
    zero = x["zero"]
    train = x["train"]
    eb = x["eb"]
    grad_bytes = np.where(x["fp32_grads"] | x["fp32"], 4.0, 2.0)
    weights = eb * p_stage / np.where(zero >= 3, d, 1.0)
    grads = select(train, grad_bytes * p_stage / np.where(zero >= 2, d, 1.0), 0.0)
    opt_bytes = select(x["fp32"], FP32_OPTIMIZER_BYTES, OPTIMIZER_BYTES)
    optimizer = select(train, opt_bytes * p_stage / np.where(zero >= 1, d, 1.0), 0.0)

    stored, unrecomputed = activation_bytes_per_layer(x)
    inflight = np.minimum(p, x["m"])
    interleave = np.where(x["v"] > 1, 1.0 + (p - 1.0) / (p * x["v"]), 1.0)
    # Training keeps the stored activations of every in-flight micro-batch; a forward pass only
    # one layer's working set (counted as workspace below).
    activations = select(train, stored * layers_per_stage * inflight * interleave, 0.0)
    rc = x["rc"]
    rc_workspace = np.where(rc == 2, unrecomputed, np.where(rc == 1, unrecomputed - stored, 0.0))
    rc_workspace = select(train, rc_workspace, unrecomputed)
    # ZeRO-3 gathers weights before use and prefetches ahead: two layers, capped by DeepSpeed's
    # default live-parameter budget (stage3_max_live_parameters = 1e9).
    zero3_live = np.minimum(2.0 * p_layer / t, ZERO3_MAX_LIVE_PARAMS)
    zero3_buffers = np.where(zero >= 3, eb * zero3_live, 0.0)
    workspace = rc_workspace + zero3_buffers + RESERVED_GB * 1e9

    # Offload: what moves to expansion memory, keeping a two-layer double buffer in HBM.
    off_w, off_a, off_o = x["off_w"], x["off_a"], x["off_o"]
    layer_state = 2.0 * p_layer / t
    w_buf = np.minimum(weights, layer_state * eb)
    g_buf = np.minimum(grads, layer_state * grad_bytes)
    a_buf = np.minimum(activations, 2.0 * stored)
    expansion = (
        np.where(off_w, weights - w_buf + grads - g_buf, 0.0)
        + np.where(off_a, activations - a_buf, 0.0)
        + np.where(off_o, optimizer, 0.0)
    )
    weights_hbm = np.where(off_w, w_buf, weights)
    grads_hbm = np.where(off_w, g_buf, grads)
    optimizer_hbm = np.where(off_o, 0.0, optimizer)
    activations_hbm = np.where(off_a, a_buf, activations)
    # The last stage holds one micro-batch in flight plus the fp32 logits (4 s b V / t); when
    # that exceeds the first stage's activations, the difference is counted as workspace, so
    # the total is the larger of the two stages.
    last_act = select(train, np.minimum(stored * layers_per_stage, activations_hbm), 0.0)
    logits = 4.0 * x["s"] * x["b"] * x["V"] / t
    workspace = workspace + np.maximum(last_act + logits - activations_hbm, 0.0)
    hbm_total = weights_hbm + grads_hbm + optimizer_hbm + activations_hbm + workspace

    gb = 1e-9
    hbm_over = hbm_total * gb - x["hbm_cap"]
    exp_over = np.where(expansion > 0, expansion * gb - x["exp_share_gb"], hbm_over)
    return {
        "weights": weights_hbm * gb,
        "grads": grads_hbm * gb,
        "optimizer": optimizer_hbm * gb,
        "activations": activations_hbm * gb,
        "workspace": workspace * gb,
        "hbm_total": hbm_total * gb,
        "expansion": expansion * gb,
        "over": np.maximum(hbm_over, exp_over),
        # Bytes the timing model needs (full footprints, wherever they live).
        "p_layer": p_layer,
        "p_stage": p_stage,
        "weight_bytes": weights,
        "grad_bytes": grads,
        "optimizer_bytes": optimizer,
        "act_stored_layer": stored,
    }
