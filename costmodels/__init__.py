"""Cost models: the protocol, the registry, the pipeline, and one sub-package per model.

Models are plain vectorized numpy (or torch); they import neither optuna, ray, ``dse`` nor
``dashboards``.
"""

from __future__ import annotations

from costmodels._pipeline import Pipeline, Stage
from costmodels._protocol import Anchor, CostModel, EvalContext, ModelError, Output, PruneRequested
from costmodels._registry import available_models, get_model, get_model_class, register


__all__ = [
    "Anchor",
    "CostModel",
    "EvalContext",
    "ModelError",
    "Output",
    "Pipeline",
    "PruneRequested",
    "Stage",
    "available_models",
    "get_model",
    "get_model_class",
    "register",
]
