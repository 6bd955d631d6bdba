"""Published (and reference-derived) numbers reproduced live by the accounting functions.

* [paper] Table 17: ViT-B/16 per-image GFLOPs of one Q projection (2.77), one attention einsum
  (0.70) and one FF matmul (11.1), summed over 12 layers.
* [paper] Table 18: ViT-B/16 inference GFLOPs, attention part 12.51, dense FF 22.19, and the
  totals from dense (34.71) to 1:128 (12.69) with only the FF sparse.
* [paper] Table 1: ViT-B parameter counts of the FF (56.62 M) and Q/K/V/O projections (28.31 M)
  and the FLOP shares of FF (64 %), projections (32 %) and einsums (4 %); the shares are printed
  as whole percents, so their tolerance is half a percent point relative to the printed value.
* Reference notes §4 [derived, not from the paper]: bits per weight slot of N:M formats at bf16.

Kinds (``dse validate``): the paper's FLOP and parameter counts are ``held_out`` (the accounting
computes them from the architecture alone; nothing was fitted on them); the reference notes'
bit counts are ``consistency`` checks (the notes derive them with the same formulas the
accounting implements).

No anchor trains anything; the proxy's qualitative result lives in ``benchmarks/nm_recipes.py``
and ``docs/models/nm_training.md``.
"""

from __future__ import annotations

from costmodels._protocol import Anchor
from costmodels.nm_training._accounting import (
    ARCHS,
    inference_flops,
    layer_flops,
    layer_params,
    metadata_bits_per_weight,
    sparse_split,
    weight_bits_per_slot,
)


__all__ = ["anchors"]

_PAPER = "Bambhaniya et al., Progressive Gradient Flow for N:M sparsity, CPAL 2025"
_NOTES = "reference notes nm_sparsity.md §4 [derived]"

# Table 18 of [paper]: FF pattern -> total GFLOPs per image.
_TABLE18 = {
    "dense": (1, 1, 34.71),
    "2:4": (2, 4, 23.61),
    "1:4": (1, 4, 18.06),
    "1:8": (1, 8, 15.29),
    "1:16": (1, 16, 13.90),
    "1:32": (1, 32, 13.20),
    "1:128": (1, 128, 12.69),
}


def _paper(model: str, name: str, where: str, published: float, modeled: float, tol: float,
           note: str = "") -> Anchor:
    """A number printed in the paper, reproduced from the architecture (held out)."""
    return Anchor(model, name, f"{_PAPER}, {where}", published, modeled, tol, note,
                  kind="held_out")


def _notes(model: str, name: str, published: float, modeled: float) -> Anchor:
    """A number the reference notes derive with the accounting's own formulas (consistency)."""
    return Anchor(model, name, _NOTES, published, modeled, 0.005, kind="consistency")


def anchors(model: str) -> list[Anchor]:
    vit = ARCHS["vit_b"]
    flops = layer_flops(vit)
    ff, sa = sparse_split(flops, "ff")
    out = [
        _paper(model, "vit_b.q_proj_gflops", "Table 17", 2.77, flops["q"] / 1e9, 0.01),
        _paper(
            model,
            "vit_b.logits_gflops",
            "Table 17",
            0.70,
            flops["logits"] / 1e9,
            0.015,
            "printed to two digits",
        ),
        _paper(model, "vit_b.fc1_gflops", "Table 17", 11.1, flops["fc1"] / 1e9, 0.01),
        _paper(model, "vit_b.attention_gflops", "Table 18", 12.51, sa / 1e9, 0.01),
        _paper(model, "vit_b.ff_dense_gflops", "Table 18", 22.19, ff / 1e9, 0.01),
    ]
    for label, (n, m, published) in _TABLE18.items():
        modeled = float(inference_flops(vit, "ff", n / m)) / 1e9
        out.append(
            _paper(
                model,
                f"vit_b.inference_gflops[{label} FF]",
                "Table 18",
                published,
                modeled,
                0.01,
            )
        )
    params = layer_params(vit)
    ff_p, _ = sparse_split(params, "ff")
    proj_p = sum(params[k] for k in ("q", "k", "v", "o"))
    total = sum(flops.values())
    proj_f = sum(flops[k] for k in ("q", "k", "v", "o"))
    out += [
        _paper(model, "vit_b.ff_params_M", "Table 1", 56.62, ff_p / 1e6, 0.01),
        _paper(model, "vit_b.qkvo_params_M", "Table 1", 28.31, proj_p / 1e6, 0.01),
        _paper(
            model,
            "vit_b.ff_flops_share_pct",
            "Table 1",
            64.0,
            100 * ff / total,
            0.5 / 64,
            "printed as a whole percent",
        ),
        _paper(
            model,
            "vit_b.qkvo_flops_share_pct",
            "Table 1",
            32.0,
            100 * proj_f / total,
            0.5 / 32,
            "printed as a whole percent",
        ),
        _paper(
            model,
            "vit_b.einsum_flops_share_pct",
            "Table 1",
            4.0,
            100 * (flops["logits"] + flops["attend"]) / total,
            0.5 / 4,
            "printed as a whole percent",
        ),
    ]
    for n, m, published in ((2, 4, 9.0), (1, 8, 2.375), (1, 32, 0.656), (4, 32, 2.625)):
        modeled = float(weight_bits_per_slot(n, m, 16, "index")[0])
        out.append(
            _notes(model, f"bits_per_weight[{n}:{m} bf16 index]", published, modeled)
        )
    for n, m, published in ((2, 4, 0.750), (8, 64, 0.516), (2, 8, 0.625)):
        modeled = float(metadata_bits_per_weight(n, m, "combinatorial")[0])
        out.append(
            _notes(model, f"meta_bits_per_weight[{n}:{m} combinatorial]", published, modeled)
        )
    modeled = 16.0 / float(weight_bits_per_slot(1, 128, 16, "index")[0])
    out.append(_notes(model, "compression_vs_bf16[1:128 index]", 89.04, modeled))
    return out
