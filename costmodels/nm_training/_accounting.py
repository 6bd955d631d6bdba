"""FLOPs and memory accounting for N:M sparse transformers: pure numpy, no torch, no training.

Inference FLOPs ([paper] App. D, Tables 17-18)::

    FLOPs_tot = FLOPs_SA + FLOPs_FF * N/M
    FLOPs_SA  = FLOPs_Q + FLOPs_K + FLOPs_V + FLOPs_O + FLOPs_L + FLOPs_A

generalised to any set of sparsified projections (Q/K/V/O too): ``O + F * N/M`` with ``F`` the
dense forward FLOPs of the sparsified layers and ``O`` everything else. Per sample and encoder
layer with ``T`` tokens, width ``d`` and FF width ``d_ff`` (one multiply-add = 2 FLOPs): each of
Q/K/V/O costs ``2 T d^2``, each of the logit and attend einsums ``2 T^2 d``, each FF matmul
``2 T d d_ff``. ViT-B/16 (``T = 196``, ``d = 768``, ``d_ff = 3072``, 12 layers) gives Table 17's
2.77 G per projection, 0.70 G per einsum and 11.1 G per FF matmul; 196 is the token count that
reproduces Table 17 (197 with the class token gives 0.5 % more).

Training FLOPs per step (phase-aware model of the reference notes §4, RigL convention: forward
``f``, input-gradient ``f``, weight-gradient ``f``)::

    dense warm-up / MDGF decay with D > 0     3F + 3O
    binary N:M step, gradient to all weights  (2 rho + 1) F + 3O      (STE, SR-STE, SDGF stage i
                                                                       with rho_i, fine-tune)
    binary N:M step, pruned weights no grad   3 rho F + 3O            (backward="scaled", D = 0)

so ``train = steps * batch * (F * (2 <rho_fwd> + <rho_dW>) + 3 O)`` with ``<.>`` the averages over
the schedule. Not counted: mask recomputation (one top-N selection per group, ``O(#W)``) and the
SR-STE ``lambda_w`` term (``O(#W)`` per step), both negligible next to the matmuls.

Memory ([reference notes] §4): a kept value costs ``value_bits``; metadata per dense weight slot is
``(N/M) ceil(log2 M)`` bits for an index encoding (NVIDIA 2:4 stores a 2-bit index per kept value)
or ``ceil(log2 C(M, N)) / M`` bits for a combinatorial encoding of each group's pattern; a sparse
layer is deployed in the smaller of that format and dense storage. Adam keeps
``m`` and ``v`` in fp32 for every weight under every recipe (pruned weights keep their dense
state), so optimizer memory does not shrink with N:M.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from costmodels._protocol import ModelError
from costmodels.nm_training._recipes import MDGF_RECIPES, Recipe


__all__ = [
    "ARCHS",
    "LAYER_GROUPS",
    "ArchSpec",
    "inference_flops",
    "layer_flops",
    "layer_params",
    "mean_step_densities",
    "metadata_bits_per_weight",
    "model_bytes",
    "optimizer_bytes",
    "reduction_dims",
    "sparse_split",
    "training_flops",
    "training_flops_by_phase",
    "weight_bits_per_slot",
]

# Sparsified projections per ``sparse_layers`` choice. As in the official code, the patch
# embedding, the classifier head and (except for "all") the attention output stay dense.
LAYER_GROUPS: dict[str, tuple[str, ...]] = {
    "ff": ("fc1", "fc2"),
    # Only the FF down-projection, whose reduction dimension (d_ff) is the wide one: a small
    # model's FF1 keeps very few inputs per neuron at 1:32 (2 of 64 in the proxy, 24 of 768 in
    # ViT-B); reference notes §6.2 advise keeping >= 8 nonzeros per neuron.
    "ff2": ("fc2",),
    "qk": ("q", "k"),
    "qkv": ("q", "k", "v"),
    "ff+qk": ("fc1", "fc2", "q", "k"),
    "ff+qkv": ("fc1", "fc2", "q", "k", "v"),
    "all": ("q", "k", "v", "o", "fc1", "fc2"),
}


@dataclass(frozen=True)
class ArchSpec:
    """Shape of a pre-LN transformer encoder for accounting.

    Attributes:
        name: Workload name.
        tokens: Sequence length ``T``.
        d_model: Width ``d``.
        d_ff: FF hidden width.
        n_layers: Encoder layers.
        in_dim: Input features per token (the embedding's reduction dimension).
        n_classes: Classifier outputs.
        count_io: Count the embedding and head (Table 17/18 count the encoder blocks only).
        train_samples: Samples seen in the workload's training budget.
    """

    name: str
    tokens: int
    d_model: int
    d_ff: int
    n_layers: int
    in_dim: int
    n_classes: int
    count_io: bool
    train_samples: float


ARCHS: dict[str, ArchSpec] = {
    # ViT-B/16 of [paper] Table 17 (196 patch tokens); budget of vit_base_training.yaml:
    # 350 epochs of ImageNet-1K (1,281,167 images).
    "vit_b": ArchSpec("vit_b", 196, 768, 3072, 12, 768, 1000, False, 350 * 1_281_167),
}


def layer_flops(arch: ArchSpec) -> dict[str, float]:
    """Forward FLOPs per sample of each projection kind, summed over the layers."""
    t, d, f, n = arch.tokens, arch.d_model, arch.d_ff, arch.n_layers
    proj = 2.0 * t * d * d * n
    out = {
        "q": proj,
        "k": proj,
        "v": proj,
        "o": proj,
        "logits": 2.0 * t * t * d * n,
        "attend": 2.0 * t * t * d * n,
        "fc1": 2.0 * t * d * f * n,
        "fc2": 2.0 * t * f * d * n,
    }
    if arch.count_io:
        out["embed"] = 2.0 * t * arch.in_dim * d
        out["head"] = 2.0 * d * arch.n_classes
    return out


def layer_params(arch: ArchSpec) -> dict[str, float]:
    """Weights (no biases) of each projection kind, summed over the layers."""
    d, f, n = arch.d_model, arch.d_ff, arch.n_layers
    out = {"q": d * d * n, "k": d * d * n, "v": d * d * n, "o": d * d * n}
    out |= {"fc1": d * f * n, "fc2": f * d * n}
    if arch.count_io:
        out |= {"embed": arch.in_dim * d, "head": d * arch.n_classes}
    return {k: float(v) for k, v in out.items()}


def reduction_dims(arch: ArchSpec, sparse_layers: str) -> dict[str, int]:
    """Reduction (input) dimension of each sparsified projection kind."""
    dims = {"q": arch.d_model, "k": arch.d_model, "v": arch.d_model, "o": arch.d_model}
    dims |= {"fc1": arch.d_model, "fc2": arch.d_ff}
    return {k: dims[k] for k in _group(sparse_layers)}


def _group(sparse_layers: str) -> tuple[str, ...]:
    try:
        return LAYER_GROUPS[sparse_layers]
    except KeyError:
        raise ModelError(
            f"sparse_layers={sparse_layers!r}: expected one of {', '.join(LAYER_GROUPS)}"
        ) from None


def sparse_split(per_layer: dict[str, float], sparse_layers: str) -> tuple[float, float]:
    """``(F, O)``: the part on sparsified projections and the rest."""
    group = _group(sparse_layers)
    f = sum(v for k, v in per_layer.items() if k in group)
    return f, sum(per_layer.values()) - f


def inference_flops(arch: ArchSpec, sparse_layers: str, density: np.ndarray | float) -> np.ndarray:
    """Forward FLOPs per sample: ``O + F * density`` ([paper] App. D, Table 18)."""
    f, o = sparse_split(layer_flops(arch), sparse_layers)
    return o + f * np.asarray(density, dtype=np.float64)


def metadata_bits_per_weight(
    n: np.ndarray | int, m: np.ndarray | int, encoding: np.ndarray | str = "index"
) -> np.ndarray:
    """Metadata bits per dense weight slot of an N:M format.

    ``index``: ``(N/M) ceil(log2 M)``; ``combinatorial``: ``ceil(log2 C(M, N)) / M``.
    """
    n_arr, m_arr = np.atleast_1d(np.asarray(n, np.int64)), np.atleast_1d(np.asarray(m, np.int64))
    n_arr, m_arr = np.broadcast_arrays(n_arr, m_arr)
    enc = np.broadcast_to(np.asarray(encoding), n_arr.shape)
    out = np.empty(n_arr.shape, dtype=np.float64)
    # Exact integer ceil(log2 x) = (x - 1).bit_length(); loop over distinct (N, M) pairs only.
    pairs = np.stack([n_arr.ravel(), m_arr.ravel()], axis=1)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    index_bits = np.array([(int(mm) - 1).bit_length() * nn / mm for nn, mm in uniq])
    comb_bits = np.array([(math.comb(int(mm), int(nn)) - 1).bit_length() / mm for nn, mm in uniq])
    inv = inverse.reshape(n_arr.shape)
    out = np.where(enc == "combinatorial", comb_bits[inv], index_bits[inv])
    dense = n_arr >= m_arr
    return np.where(dense, 0.0, out)


def weight_bits_per_slot(
    n: np.ndarray | int,
    m: np.ndarray | int,
    value_bits: np.ndarray | int = 16,
    encoding: np.ndarray | str = "index",
) -> np.ndarray:
    """Stored bits per dense weight slot: ``(N/M) value_bits + metadata``."""
    density = np.asarray(n, np.float64) / np.asarray(m, np.float64)
    return density * np.asarray(value_bits, np.float64) + metadata_bits_per_weight(n, m, encoding)


def model_bytes(
    arch: ArchSpec,
    sparse_layers: str,
    n: np.ndarray | int,
    m: np.ndarray | int,
    value_bits: np.ndarray | int = 16,
    encoding: np.ndarray | str = "index",
) -> np.ndarray:
    """Bytes of the deployed weights: sparse layers in the N:M format, the rest dense.

    A sparse layer is stored dense when that is smaller (both are lossless): at high density
    the metadata outweighs the dropped values, e.g. 7:8 with 8-bit values and a 3-bit index
    per kept value takes 9.6 bits per slot against 8 dense, so without this a sparser model
    could take more bytes than the dense one.
    """
    f, o = sparse_split(layer_params(arch), sparse_layers)
    dense_bits = np.asarray(value_bits, np.float64)
    bits = f * np.minimum(weight_bits_per_slot(n, m, value_bits, encoding), dense_bits)
    return (bits + o * np.asarray(value_bits, np.float64)) / 8.0


def optimizer_bytes(arch: ArchSpec, state_bytes_per_weight: float = 8.0) -> float:
    """Adam state (``m`` and ``v`` in fp32): dense for every recipe."""
    return sum(layer_params(arch).values()) * state_bytes_per_weight


def _stepwise_stage_stats(n: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number of non-target SDGF-stepwise stages and the sum of their densities."""
    count = (m - 1 > n).astype(np.float64)
    dens = np.where(m - 1 > n, (m - 1) / m, 0.0)
    for d in range(1, 16):
        nd = m // 2**d
        keep = (nd > n) & (nd < m - 1)
        count += keep
        dens += np.where(keep, nd / m, 0.0)
    return count, dens


def mean_step_densities(
    recipe: np.ndarray,
    n: np.ndarray,
    m: np.ndarray,
    dense_warmup_frac: np.ndarray,
    finetune_frac: np.ndarray,
    decay_end_frac: np.ndarray,
    backward: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Schedule-averaged density of the forward (and input-gradient) and weight-gradient matmuls.

    Vectorized over design points; phases as in :mod:`._recipes`, in fractions of training.
    """
    recipe = np.asarray(recipe)
    n, m = np.asarray(n, np.float64), np.asarray(m, np.float64)
    w = np.asarray(dense_warmup_frac, np.float64)
    ft = np.asarray(finetune_frac, np.float64)
    e = np.asarray(decay_end_frac, np.float64)
    scaled = np.asarray(backward) == "scaled"
    rho = n / m
    mdgf = np.isin(recipe, MDGF_RECIPES)
    stepwise, geometric = recipe == "sdgf_stepwise", recipe == "sdgf_geometric"
    plain = np.isin(recipe, ("ste", "srste"))
    mid = np.clip(1.0 - ft - e, 0.0, None)  # binary phase between decay end and fine-tune

    # SDGF: non-target stages share [w, e); geometric stages keep density N/M.
    count, dens_sum = _stepwise_stage_stats(n.astype(np.int64), m.astype(np.int64))
    sdgf_stage_rho = np.where(count > 0, dens_sum / np.maximum(count, 1), rho)
    sdgf_stage_rho = np.where(geometric, rho, sdgf_stage_rho)

    fwd = np.select(
        [recipe == "dense", plain, mdgf, stepwise | geometric],
        [
            np.ones_like(rho),
            w + (1 - w) * rho,
            e + (1 - e) * rho,
            w + (e - w) * sdgf_stage_rho + (1 - e) * rho,
        ],
        default=np.nan,
    )
    dw_mdgf = e + mid * np.where(scaled, rho, 1.0) + (1 - e - mid)
    dw = np.select([mdgf], [dw_mdgf], default=np.where(np.isnan(fwd), np.nan, 1.0))
    return fwd, dw


def training_flops(
    arch: ArchSpec,
    sparse_layers: str,
    samples: np.ndarray | float,
    fwd_density: np.ndarray,
    dw_density: np.ndarray,
) -> np.ndarray:
    """Training FLOPs: ``samples * (F (2 <rho_fwd> + <rho_dW>) + 3 O)``."""
    f, o = sparse_split(layer_flops(arch), sparse_layers)
    return np.asarray(samples, np.float64) * (f * (2.0 * fwd_density + dw_density) + 3.0 * o)


def training_flops_by_phase(
    recipe: Recipe, arch: ArchSpec, sparse_layers: str, batch: float
) -> list[dict[str, float | int | str]]:
    """One row per phase (and per SDGF interval) of a recipe: steps, densities and FLOPs."""
    f, o = sparse_split(layer_flops(arch), sparse_layers)
    rows: list[dict[str, float | int | str]] = []
    for seg in recipe.segments():
        rho = seg.n / seg.m
        if seg.kind in ("dense", "soft"):
            fwd = dw = 1.0
        else:
            scaled = recipe.backward == "scaled" and recipe.recipe in MDGF_RECIPES
            fwd, dw = rho, (rho if scaled and seg.kind == "sparse" else 1.0)
        steps = seg.end - seg.start
        rows.append(
            {
                "phase": seg.name,
                "start_step": seg.start,
                "end_step": seg.end,
                "pattern": f"{seg.n}:{seg.m}",
                "fwd_density": fwd,
                "dw_density": dw,
                "train_flops": steps * batch * (f * (2 * fwd + dw) + 3 * o),
            }
        )
    return rows
