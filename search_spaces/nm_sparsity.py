"""Search space of N:M sparse training recipes (``costmodels.nm_training``).

Ranges follow the paper's sweeps and recommendations (Bambhaniya et al., CPAL 2025; reference
notes §8): N:M with M in {4, 8, 16, 32} (the proxy's layer widths 64 and 256 are multiples of all
of them), the recipe, the sparsified projections, the mask axis, the MDGF backward rule, dense
warm-up 0-10 % ("essential", Table 9), fine-tune 0-20 % (Table 10), decay end 30-90 % of
training (the paper advises about 70 %), the MDGF decay factor reached there (1e-4 .. 1e-2),
SDGF-geometric k in {4, 8, 16} (paper 16, code 8), SR-STE ``lambda_w`` 1e-5 .. 1e-2 (default
2e-4), the mask update interval and the deployed format.

Recipe-specific knobs are conditional on the recipe. Constraints (violation ``<= 0`` feasible):

* ``n_below_m``: a sparse recipe keeps fewer than M of every M weights (``n - m + 1``);
* ``decay_after_warmup``: the decay ends after the dense warm-up ends (``w - e``);
* ``decay_before_finetune``: the decay ends before the fine-tune begins (``e - (1 - f)``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from search_spaces._params import Categorical, Condition, Fixed, Float, Int
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
    return Space(
        params=(
            Categorical("recipe", _RECIPES, default_value="mdgf_exp", doc="training recipe"),
            Int("n", 1, 8, default_value=1, doc="kept weights per group (N of N:M)"),
            Categorical("m", (4, 8, 16, 32), default_value=32, doc="group size (M of N:M)"),
            Categorical(
                "sparse_layers",
                ("ff", "ff+qk", "ff+qkv"),
                default_value="ff",
                doc="sparsified projections",
            ),
            Categorical(
                "mask_axis",
                ("input", "output"),
                default_value="input",
                doc="group along the reduction (input) or output dimension",
            ),
            Categorical(
                "backward",
                ("ste", "scaled"),
                default_value="ste",
                condition=Condition("recipe", _MDGF),
                doc="MDGF gradient of decayed weights: straight-through or scaled by D",
            ),
            Float(
                "srste_lambda_w",
                1e-5,
                1e-2,
                log=True,
                default_value=2e-4,
                condition=Condition("recipe", ("srste",)),
                doc="SR-STE lambda_w",
            ),
            Float("dense_warmup_frac", 0.0, 0.1, default_value=0.05, doc="dense warm-up fraction"),
            Float(
                "decay_end_frac",
                0.3,
                0.9,
                default_value=0.7,
                condition=Condition("recipe", _DECAY),
                doc="fraction of training where the decay ends",
            ),
            Float(
                "decay_final",
                1e-4,
                1e-2,
                log=True,
                default_value=1e-3,
                condition=Condition("recipe", _MDGF),
                doc="MDGF D at the decay end",
            ),
            Float("finetune_frac", 0.0, 0.2, default_value=0.15, doc="binary fine-tune fraction"),
            Categorical(
                "sdgf_k",
                (4, 8, 16),
                default_value=16,
                condition=Condition("recipe", ("sdgf_geometric",)),
                doc="SDGF-geometric start multiple k",
            ),
            Int(
                "mask_update_interval",
                1,
                64,
                log=True,
                default_value=1,
                unit="steps",
                doc="steps between mask recomputations",
            ),
            Fixed("seed", 0, doc="first proxy seed (the model option n_seeds trains more)"),
            Categorical(
                "value_bits", (8, 16), default_value=16, unit="bit", doc="bits per stored value"
            ),
            Categorical(
                "metadata_format",
                ("index", "combinatorial"),
                default_value="index",
                doc="N:M metadata encoding",
            ),
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
