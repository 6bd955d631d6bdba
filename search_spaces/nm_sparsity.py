"""Search space of N:M sparse training recipes (``costmodels.nm_training``).

Ranges follow the paper's sweeps and recommendations (Bambhaniya et al., CPAL 2025; reference
notes §8): N:M with M in {4, 8, 16, 32} (the proxy's layer widths 64 and 256 are multiples of all
of them), the recipe, the sparsified projections, the mask axis, the MDGF backward rule, dense
warm-up 0-10 % ("essential", Table 9), fine-tune 0-20 % (Table 10), decay end 30-90 % of
training (the paper advises about 70 %), the MDGF decay factor reached there (1e-4 .. 1e-2),
SDGF-geometric k in {4, 8, 16} (paper 16, code 8), SR-STE ``lambda_w`` 1e-5 .. 1e-2 (default
2e-4), the mask update interval and the deployed format.

Every parameter is the model's own declaration (doc, unit, default), narrowed here; recipe-
specific knobs are conditional on the recipe. The constraints screen recipes before the
(expensive) proxy trains them, which is why they live here and not only in the model's
``recipe_violation`` (violation ``<= 0`` feasible):

* ``n_below_m``: a sparse recipe keeps fewer than M of every M weights (``n - m + 1``);
* ``decay_after_warmup``: the decay ends after the dense warm-up ends (``w - e``);
* ``decay_before_finetune``: the decay ends before the fine-tune begins (``e - (1 - f)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from costmodels.nm_training import NMTrainingModel
from search_spaces._declared import declared
from search_spaces._params import Condition, Param
from search_spaces._space import Constraint, Space


__all__ = ["space"]

_MDGF = ("mdgf_linear", "mdgf_exp")
_DECAY = ("mdgf_linear", "mdgf_exp", "sdgf_stepwise", "sdgf_geometric")
_RECIPES = ("srste", "ste", "mdgf_linear", "mdgf_exp", "sdgf_stepwise", "sdgf_geometric", "dense")


def _n_below_m(b: Mapping[str, np.ndarray]) -> np.ndarray:
    sparse = np.asarray(b["recipe"]) != "dense"
    n, m = np.asarray(b["n"], np.float64), np.asarray(b["m"], np.float64)
    return np.where(sparse, n - m + 1.0, -1.0)


def _decay_after_warmup(b: Mapping[str, np.ndarray]) -> np.ndarray:
    decay = np.isin(np.asarray(b["recipe"]), _DECAY)
    w = np.asarray(b["dense_warmup_frac"], np.float64)
    e = np.asarray(b["decay_end_frac"], np.float64)
    return np.where(decay, w - e, -1.0)


def _decay_before_finetune(b: Mapping[str, np.ndarray]) -> np.ndarray:
    decay = np.isin(np.asarray(b["recipe"]), _DECAY)
    e = np.asarray(b["decay_end_frac"], np.float64)
    f = np.asarray(b["finetune_frac"], np.float64)
    return np.where(decay, e - (1.0 - f), -1.0)


def space() -> Space:
    def p(name: str, narrow: Any = None, condition: Condition | None = None) -> Param:
        return declared(NMTrainingModel, name, narrow, condition=condition)

    return Space(
        params=(
            p("recipe", list(_RECIPES)),
            p("n", {"high": 8}),
            p("m", [4, 8, 16, 32]),
            p("sparse_layers", ["ff", "ff+qk", "ff+qkv"]),
            p("mask_axis"),
            p("backward", condition=Condition("recipe", _MDGF)),
            p("srste_lambda_w", {"low": 1e-5, "high": 1e-2},
              condition=Condition("recipe", ("srste",))),
            p("dense_warmup_frac", {"high": 0.1}),
            p("decay_end_frac", {"low": 0.3, "high": 0.9}, condition=Condition("recipe", _DECAY)),
            p("decay_final", {"low": 1e-4, "high": 1e-2}, condition=Condition("recipe", _MDGF)),
            p("finetune_frac", {"high": 0.2}),
            p("sdgf_k", [4, 8, 16], condition=Condition("recipe", ("sdgf_geometric",))),
            p("mask_update_interval", {"high": 64}),
            p("seed", 0),
            p("value_bits", [8, 16]),
            p("metadata_format"),
        ),
        constraints=(
            Constraint(
                "n_below_m",
                _n_below_m,
                ("recipe", "n", "m"),
                "a sparse recipe keeps N < M of every M weights",
            ),
            Constraint(
                "decay_after_warmup",
                _decay_after_warmup,
                ("recipe", "dense_warmup_frac", "decay_end_frac"),
                "the decay ends after the dense warm-up",
            ),
            Constraint(
                "decay_before_finetune",
                _decay_before_finetune,
                ("recipe", "decay_end_frac", "finetune_frac"),
                "the decay ends before the fine-tune begins",
            ),
        ),
        name="nm_sparsity",
        doc="N:M sparse training recipes with decay schedules (Progressive Gradient Flow)",
    )
