"""Physics properties of the N:M training accounting: more sparsity never costs more.

At a fixed group size M, keeping fewer weights per group (smaller N, dense = N = M) never
raises the training FLOPs, the inference FLOPs or the deployed model bytes, for every recipe,
layer group, value width and metadata format, on sampled schedules. Accounting only: no
training runs.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from costmodels import get_model
from costmodels.nm_training._accounting import LAYER_GROUPS
from costmodels.nm_training._recipes import RECIPES


M_CHOICES = (4, 8, 16, 32, 64, 128)


def _grid(rng: np.random.Generator, recipe: str, m: int) -> dict[str, np.ndarray]:
    """Every N of one M, for every layer group, value width and metadata format, at one
    sampled schedule per combination (so the schedules differ across the grid)."""
    rows = list(
        itertools.product(
            range(1, m + 1),
            LAYER_GROUPS,
            (8, 16, 32),
            ("index", "combinatorial"),
            ("ste", "scaled"),
        )
    )
    n, layers, bits, fmt, backward = (np.asarray(c) for c in zip(*rows, strict=True))
    combos = len(rows) // m
    warm = rng.uniform(0.0, 0.3, combos)
    ft = rng.uniform(0.0, 0.3, combos)
    end = warm + rng.uniform(0.01, 1.0 - warm - ft - 0.01, combos) * 0.99 + 0.005
    return {
        "recipe": np.full(len(rows), recipe),
        "n": n,
        "m": np.full(len(rows), m),
        "sparse_layers": layers,
        "value_bits": bits,
        "metadata_format": fmt,
        "backward": backward,
        "dense_warmup_frac": np.tile(warm, m),
        "finetune_frac": np.tile(ft, m),
        "decay_end_frac": np.tile(end, m),
    }


@pytest.mark.parametrize("workload", ["proxy", "vit_b"])
@pytest.mark.parametrize("recipe", [r for r in RECIPES if r != "dense"])
def test_sparser_never_more_flops_or_bytes(workload: str, recipe: str) -> None:
    model = get_model("nm_training", workload=workload)
    rng = np.random.default_rng(len(recipe))
    for m in M_CHOICES:
        cols = _grid(rng, recipe, m)
        out = model.accounting(model.batch(**cols))
        combos = len(cols["n"]) // m
        for key in ("train_flops", "inference_flops", "model_bytes"):
            by_n = out[key].reshape(m, combos)  # rows: N = 1 .. M
            rise = np.diff(by_n, axis=0)
            assert np.all(rise >= -1e-9 * np.abs(by_n[1:])), (key, m, float(rise.min()))
            # ... and dense (N = M) is the most expensive
            assert np.all(by_n <= by_n[-1] * (1 + 1e-12)), (key, m)
