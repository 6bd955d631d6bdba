"""The one workload every layer of the co-design study sees: ViT-B/16.

The same architecture dimensions are what the training proxy *accounts* (``nm_training`` with
``workload = "vit_b"``: FLOPs and bytes of [PGF paper] Table 17), what the engine *executes*
(``sparse_gemm`` with ``workload = "vit_b16"``: the QKV, attention-output, FF1 and FF2 GEMMs of
``layers.csv``) and what the cluster *trains* (``cluster`` with the mapping of
:func:`cluster_workload`). The serving model serves OFA-MobileNetV3 SubNets, whose measured
accuracies are the only served-accuracy data shipped; how the transformer's sparsity transfers
to them is stated in :mod:`costmodels.codesign._serving` and ``docs/models/codesign.md``.

==============  =====  ======================================================
dimension       value  source
==============  =====  ======================================================
layers          12     ViT-B/16 (Dosovitskiy et al., ICLR'21, Table 1)
hidden          768    idem
heads           12     idem
FF width        3072   idem
tokens          197    196 patches + class token (the engine's ``layers.csv``)
classes         1000   ImageNet-1K head (the cluster's "vocabulary")
global batch    4096   ViT-B/16 pre-training batch (ibid., Table 3)
samples         350 x 1,281,167  the PGF recipe's 350 epochs (vit_base_training.yaml)
==============  =====  ======================================================

The training proxy itself is smaller (2 layers, width 64); its accuracy *change* under a recipe
is what transfers (``_serving``), its FLOPs are accounted on this workload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


__all__ = ["VIT_B16", "SharedWorkload", "cluster_workload"]


@dataclass(frozen=True)
class SharedWorkload:
    """Dimensions of the transformer every model of the co-design study describes."""

    name: str
    layers: int
    hidden: int
    heads: int
    ffn: int
    tokens: int
    classes: int
    global_batch: int
    train_samples: float

    @property
    def train_tokens(self) -> float:
        return self.train_samples * self.tokens


VIT_B16 = SharedWorkload(
    name="vit_b16",
    layers=12,
    hidden=768,
    heads=12,
    ffn=3072,
    tokens=197,
    classes=1000,
    global_batch=4096,
    train_samples=350 * 1_281_167,
)


def cluster_workload(w: SharedWorkload = VIT_B16) -> dict[str, Any]:
    """The ``cluster`` model's ``workload`` option for ``w`` (a mapping of its fields)."""
    return {
        "name": w.name,
        "layers": w.layers,
        "hidden": w.hidden,
        "heads": w.heads,
        "ffn": w.ffn,
        "seq_len": w.tokens,
        "vocab": w.classes,
        "global_batch": w.global_batch,
        "train_tokens": w.train_tokens,
    }
