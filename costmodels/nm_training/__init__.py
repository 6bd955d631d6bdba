"""N:M sparse training with decay schedules (Progressive Gradient Flow) as a cost model.

Bambhaniya et al., "Progressive Gradient Flow for Robust N:M Sparsity Training in
Transformers", CPAL 2025 (PMLR v280; arXiv 2402.04744). Three parts:

* **Recipes** (:mod:`._recipes`, :mod:`._sparse_linear`, :mod:`._masks`): dense, STE, SR-STE,
  MDGF-linear/exponential (decayed soft mask ``W~ = W (Phi + D (1 - Phi))``), SDGF-stepwise and
  -geometric (binary masks whose N:M tightens over equal intervals), wrapped by a dense warm-up
  and a binary fine-tune, applied to chosen ``nn.Linear`` layers of any ``nn.Module``.
* **A proxy** (:mod:`._proxy`): a small transformer trained on a locally generated
  teacher-student task; validation accuracy of the deployed, exactly N:M weights.
* **Accounting** (:mod:`._accounting`, numpy only): inference FLOPs ``O + F N/M`` ([paper]
  App. D), phase-aware training FLOPs, weight bytes with index or combinatorial metadata, Adam
  state bytes.

Importing this package, the accounting and the anchors need no torch; only training does, and a
missing torch is a one-line :class:`costmodels.ModelError` saying ``pip install 'dse[train]'``.
Equations, sources and the measured recipe table: ``docs/models/nm_training.md``.
"""

from __future__ import annotations

from costmodels.nm_training._accounting import (
    ARCHS,
    LAYER_GROUPS,
    ArchSpec,
    inference_flops,
    mean_step_densities,
    metadata_bits_per_weight,
    model_bytes,
    optimizer_bytes,
    training_flops,
    training_flops_by_phase,
    weight_bits_per_slot,
)
from costmodels.nm_training._model import NMTrainingModel
from costmodels.nm_training._recipes import RECIPES, Recipe, sdgf_chain


__all__ = [
    "ARCHS",
    "LAYER_GROUPS",
    "RECIPES",
    "ArchSpec",
    "NMTrainingModel",
    "Recipe",
    "inference_flops",
    "mean_step_densities",
    "metadata_bits_per_weight",
    "model_bytes",
    "optimizer_bytes",
    "sdgf_chain",
    "training_flops",
    "training_flops_by_phase",
    "weight_bits_per_slot",
]
