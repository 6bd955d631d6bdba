"""Cost models: the protocol, the registry, the pipeline, and one sub-package per model.

Models are plain vectorized numpy (or torch); they import neither optuna, ray, ``dse`` nor
``dashboards``.
"""

from __future__ import annotations

from costmodels._pipeline import Pipeline
from costmodels._pipeline import Stage
from costmodels._pipeline import check_batch
from costmodels._protocol import Anchor
from costmodels._protocol import CostModel
from costmodels._protocol import EvalContext
from costmodels._protocol import ModelError
from costmodels._protocol import Output
from costmodels._protocol import PruneRequested
from costmodels._registry import available_models
from costmodels._registry import get_model
from costmodels._registry import get_model_class
from costmodels._registry import register


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
    "check_batch",
    "get_model",
    "get_model_class",
    "register",
]
